"""Payments under contention, on PostgreSQL with real commits: an event applied once however many
deliveries race, a late payment racing the expiry job, and two refunds racing for one order.

Each racer runs in its own thread, application context, session and database connection,
released together by a barrier. Stripe is not configured, so refunds stay pending (which is
enough: a pending refund already counts against what may still be refunded).
"""
import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order, OrderEvent, OrderLine
from marketplace.payments import events
from marketplace.payments.models import Refund, SellerLedgerEntry, StripeEvent
from tests.together import run_together

pytestmark = pytest.mark.real_commits


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def _sale_entries(order_id: int) -> int:
    return _count(select(SellerLedgerEntry.id).where(SellerLedgerEntry.order_id == order_id,
                                                     SellerLedgerEntry.kind == "sale"))


def test_a_succeeded_event_delivered_eight_times_at_once_is_applied_once(app, build):
    checkout = build.checkout(products=[build.product(), build.product()])
    event = build.stripe_event(build.intent(checkout))
    checkout_id = checkout.id
    db.session.commit()

    results = run_together(app, [lambda: events.apply_stripe_event(event) for _ in range(8)])

    assert sorted(result.outcome for result in results) == ["applied"] + ["duplicate"] * 7
    db.session.expire_all()
    order_ids = db.session.scalars(select(Order.id).where(Order.checkout_id == checkout_id)).all()
    assert set(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout_id))) == {"paid"}
    assert [_sale_entries(order_id) for order_id in order_ids] == [1, 1]
    assert _count(select(StripeEvent.id).where(StripeEvent.stripe_event_id == event["id"])) == 1
    assert _count(select(OrderEvent.id).where(OrderEvent.order_id.in_(order_ids), OrderEvent.action == "pay")) == 2


ROUNDS = 25
STOCK = 10
UNITS = 3


def _overdue_checkout_and_its_event(build) -> tuple[int, int, dict]:
    """A checkout of UNITS units whose payment deadline has passed (product id, checkout id) and
    the success event of its payment, which was confirmed just before the deadline."""
    product = build.product(stock_units=STOCK)
    checkout = build.checkout(products=[product], quantity=UNITS)
    event = build.stripe_event(build.intent(checkout))
    checkout.expires_at = utcnow() - timedelta(seconds=1)
    ids = product.id, checkout.id
    db.session.commit()
    return *ids, event


def _after(seconds: float, task, *args):
    def delayed():
        time.sleep(seconds)
        return task(*args)

    return delayed


def test_a_late_payment_racing_the_expiry_job_takes_stock_exactly_once(app, build):
    rng = random.Random(11)

    for round_number in range(ROUNDS):
        # one overdue checkout at a time: the expiry job would take every overdue checkout at once
        product_id, checkout_id, event = _overdue_checkout_and_its_event(build)
        # a small head start, to either side in turn, so that both orders of arrival happen
        delay = rng.uniform(0, 0.02)
        event_delay, expiry_delay = (delay, 0.0) if round_number % 2 else (0.0, delay)
        result, expired = run_together(app, [_after(event_delay, events.apply_stripe_event, event),
                                             _after(expiry_delay, orders.expire_due_checkouts)])

        db.session.expire_all()
        assert result.outcome == "applied"
        order = db.session.scalars(select(Order).where(Order.checkout_id == checkout_id)).one()
        moves = db.session.scalars(select(OrderEvent.action).where(OrderEvent.order_id == order.id,
                                                                   OrderEvent.action != "place")
                                   .order_by(OrderEvent.id)).all()
        sold = db.session.scalar(select(func.sum(OrderLine.quantity)).where(OrderLine.order_id == order.id))
        assert order.status == "paid"
        assert moves in (["pay"], ["expire", "pay_late"]), moves
        assert expired == (1 if moves[0] == "expire" else 0)
        # stock + units held by the paid order is what the product started with: taken once, never lost
        assert db.session.get(Product, product_id).stock_units + sold == STOCK
        assert sold == UNITS
        assert db.session.get(Checkout, checkout_id).status == "paid"
        assert _sale_entries(order.id) == 1
        db.session.rollback()


def test_two_admins_refunding_one_order_beyond_its_total_at_once_refund_it_once(app, build, client):
    checkout = build.pay(build.checkout(products=[build.product(price_fen=4000)]))
    order = checkout.orders[0]
    order_id, total = order.id, order.total_fen
    admins = [{"Authorization": f"Bearer {build.token(build.user('admin'))}"} for _ in range(2)]
    db.session.commit()
    amount = total // 2 + 100  # each alone is refundable, together they exceed what was paid

    def refund_by(headers):
        return lambda: client.post(f"/api/v1/orders/{order_id}/refunds",
                                   json={"reason": "质量问题", "amount_fen": amount}, headers=headers)

    responses = run_together(app, [refund_by(headers) for headers in admins])

    assert sorted(response.status_code for response in responses) == [201, 422]
    refused = next(response for response in responses if response.status_code == 422)
    assert refused.json["error"]["code"] == "refund_exceeds_paid"
    db.session.expire_all()
    refunds = db.session.scalars(select(Refund.amount_fen).where(Refund.order_id == order_id)).all()
    assert refunds == [amount]
    assert sum(refunds) <= total
