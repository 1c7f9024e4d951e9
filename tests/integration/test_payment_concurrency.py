"""Payments under contention, on PostgreSQL with real commits: an event applied once however many
deliveries race, a late payment racing the expiry job, two refunds racing for one order, and a
refund racing the buyer's cancel.

Each racer runs in its own thread, application context, session and database connection,
released together by a barrier. Stripe is not configured, so refunds stay pending (which is
enough: a pending refund already counts against what may still be refunded).
"""
import random
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order, OrderEvent, OrderLine
from marketplace.payments import events, gateway, refunds
from marketplace.payments.models import PaymentIntent, Refund, SellerLedgerEntry, StripeEvent
from tests.together import run_together
from tests.webhooks import WEBHOOK_PATH, signed_delivery

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


RACES = 20
PART_FEN = 1000


def _post(client, path: str, body: dict, headers: dict):
    return lambda: client.post(path, json=body, headers=headers)


def _answer(response) -> tuple[int, str | None]:
    return response.status_code, response.json["error"]["code"] if response.status_code >= 400 else None


def _stripe_refunds_at_once(*, payment_intent: str, amount_fen: int, idempotency_key: str, metadata: dict):
    return gateway.StripeRefund(id=f"re_{idempotency_key}", status=gateway.StripeRefundStatus.SUCCEEDED,
                                amount=amount_fen, payment_intent=payment_intent, metadata=metadata)


@pytest.mark.parametrize("stripe", ["not configured", "refunds at once"])
def test_a_partial_refund_racing_the_buyers_cancel_neither_deadlocks_nor_refunds_more_than_paid(
        app, build, client, monkeypatch, stripe):
    """The administrator's partial refund and the buyer's cancel of the same paid order, at once,
    20 times. Both lock the order's checkout before the order (the refund's row refers to both), so
    neither waits on the other in a circle: the cancel always succeeds, the refund comes first
    (201, the cancel refunds the rest) or second (409 nothing_to_refund), and the refunds of each
    order add up to exactly what was paid."""
    admin = {"Authorization": f"Bearer {build.token(build.user('admin'))}"}
    buyer = build.user("buyer")
    as_buyer = {"Authorization": f"Bearer {build.token(buyer)}"}
    product = build.product(price_fen=3000, stock_units=RACES)
    sales = [(order.id, order.total_fen) for order in
             (build.pay(build.checkout(buyer, [product])).orders[0] for _ in range(RACES))]
    db.session.commit()
    if stripe == "refunds at once":  # each refund is then confirmed under its PaymentIntent's lock
        monkeypatch.setattr(gateway, "create_refund", _stripe_refunds_at_once)

    rng, answers = random.Random(18), []
    for round_number, (order_id, _) in enumerate(sales):
        # a head start of a few milliseconds, to either side in turn, so that both come first
        delay = rng.uniform(0, 0.005)
        refund_delay, cancel_delay = (delay, 0.0) if round_number % 2 else (0.0, delay)
        refund, cancel = run_together(app, [
            _after(refund_delay, _post(client, f"/api/v1/orders/{order_id}/refunds",
                                       {"reason": "一箱压坏了", "amount_fen": PART_FEN}, admin)),
            _after(cancel_delay, _post(client, f"/api/v1/orders/{order_id}/cancel", {}, as_buyer))])
        answers.append((_answer(refund), _answer(cancel)))

    seen = Counter(answers)
    assert all(status < 500 for pair in seen for status, _ in pair), seen
    assert set(seen) <= {((201, None), (200, None)), ((409, "nothing_to_refund"), (200, None))}, seen
    db.session.expire_all()
    for (order_id, paid_fen), ((refund_status, _), _) in zip(sales, answers, strict=True):
        refunded = db.session.scalars(select(Refund.amount_fen).where(Refund.order_id == order_id)
                                      .order_by(Refund.id)).all()
        assert db.session.get(Order, order_id).status == "cancelled"
        assert refunded == ([PART_FEN, paid_fen - PART_FEN] if refund_status == 201 else [paid_fen])
        assert sum(refunded) == paid_fen


def _refund_confirmed(refund: Refund, stripe_id: str) -> dict:
    """Stripe's charge.refunded event confirming a refund this marketplace asked for."""
    stripe_refund = {"id": f"re_{refund.id}", "object": "refund", "status": "succeeded", "amount": refund.amount_fen,
                     "payment_intent": stripe_id, "metadata": {"refund_id": str(refund.id)}}
    return {"id": f"evt_refunded_{refund.id}", "type": "charge.refunded",
            "data": {"object": {"object": "charge", "payment_intent": stripe_id, "refunds": {"data": [stripe_refund]}}}}


def test_stripe_confirming_a_refund_while_the_buyer_cancels_neither_deadlocks_nor_refunds_more_than_paid(
        app, build, client):
    """The webhook confirms a partial refund under its PaymentIntent's lock, then locks the
    checkout; the cancel holds the checkout while its own refund's row refers to the intent. The
    intent's lock lets that reference through, so neither waits on the other in a circle."""
    admin = build.user("admin")
    buyer = build.user("buyer")
    as_buyer = {"Authorization": f"Bearer {build.token(buyer)}"}
    product = build.product(price_fen=3000, stock_units=RACES)
    sales = []
    for _ in range(RACES):
        order = build.pay(build.checkout(buyer, [product])).orders[0]
        stripe_id = db.session.scalar(select(PaymentIntent.stripe_id).where(PaymentIntent.checkout_id == order.checkout_id))
        refund = refunds.request_refund(order.id, admin, reason="一箱压坏了", amount_fen=PART_FEN)
        sales.append((order.id, order.total_fen, _refund_confirmed(refund, stripe_id)))
    db.session.commit()

    rng, answers = random.Random(18), []
    for round_number, (order_id, _, event) in enumerate(sales):
        delay = rng.uniform(0, 0.005)
        event_delay, cancel_delay = (delay, 0.0) if round_number % 2 else (0.0, delay)
        delivered, cancel = run_together(app, [
            _after(event_delay, lambda event=event: client.post(WEBHOOK_PATH, **signed_delivery(event))),
            _after(cancel_delay, _post(client, f"/api/v1/orders/{order_id}/cancel", {}, as_buyer))])
        answers.append((_answer(delivered), _answer(cancel)))

    assert Counter(answers) == {((200, None), (200, None)): RACES}
    db.session.expire_all()
    for order_id, paid_fen, _ in sales:
        refunded = db.session.execute(select(Refund.amount_fen, Refund.status).where(Refund.order_id == order_id)
                                      .order_by(Refund.id)).all()
        assert db.session.get(Order, order_id).status == "cancelled"
        assert refunded == [(PART_FEN, "succeeded"), (paid_fen - PART_FEN, "pending")]
