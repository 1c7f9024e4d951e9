"""The Stripe webhook endpoint: signatures checked on the raw body, each event applied once in any
order, mismatches flagged for administrators, and late or partly cancelled payments settled."""
import json
import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order, OrderEvent
from marketplace.payments import refunds
from marketplace.payments.models import (
    PaymentIntent,
    Refund,
    SellerLedgerEntry,
    StripeEvent,
)
from marketplace.stations.models import StationCashEntry
from tests.webhooks import WEBHOOK_PATH, signed_delivery

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
CANCELED = "payment_intent.canceled"
REFUNDED = "charge.refunded"


def commission(amount_fen: int) -> int:
    """5 % of an amount, rounded half up to the fen (the test's own integer arithmetic)."""
    whole, rest = divmod(amount_fen * 5, 100)
    return whole + (1 if rest * 2 >= 100 else 0)


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def deliver(client, event: dict | bytes, **signing):
    return client.post(WEBHOOK_PATH, **signed_delivery(event, **signing))


def card_checkout(build, *, sellers: int = 1, quantity: int = 1, stock_units: int = 20, buyer: User | None = None):
    """A card checkout to an address with one order per seller; returns (checkout, products)."""
    products = [build.product(build.user("seller"), stock_units=stock_units, price_fen=1250 + 100 * i)
                for i in range(sellers)]
    return build.checkout(buyer, products, quantity=quantity), products


def order_statuses(checkout_id: int) -> list[str]:
    return list(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout_id).order_by(Order.id)))


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StripeEvent))


def ledger_of(seller_user_id: int) -> list[tuple[str, int]]:
    return [(entry.kind, entry.amount_fen) for entry in db.session.scalars(
        select(SellerLedgerEntry).where(SellerLedgerEntry.seller_user_id == seller_user_id).order_by(SellerLedgerEntry.id))]


def stock_of(product: Product) -> int:
    return db.session.scalar(select(Product.stock_units).where(Product.id == product.id))


def assert_nothing_applied(checkout) -> None:
    assert event_count() == 0
    assert order_statuses(checkout.id) == ["pending_payment"] * len(checkout.orders)
    assert db.session.scalar(select(Checkout.status).where(Checkout.id == checkout.id)) == "pending_payment"
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)) == 0


def flagged_listed(client, build) -> list[dict]:
    response = client.get("/api/v1/payments/stripe/events", headers=auth(build, build.user("admin")))
    assert response.status_code == 200
    return response.json["items"]


# ---------------------------------------------------------------- signatures and bodies


@pytest.fixture
def pending(build):
    """A pending card checkout with its PaymentIntent, and the success event Stripe would send."""
    checkout, _ = card_checkout(build)
    intent = build.intent(checkout)
    return checkout, build.stripe_event(intent, SUCCEEDED)


def test_tampered_body_is_refused_and_not_applied(client, pending):
    checkout, event = pending
    signed = signed_delivery(event)
    tampered = dict(event, data={"object": dict(event["data"]["object"], amount=1)})
    response = client.post(WEBHOOK_PATH, data=json.dumps(tampered).encode(), content_type="application/json",
                           headers=signed["headers"])
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_signature"
    assert_nothing_applied(checkout)


def test_body_signed_with_another_secret_is_refused(client, pending):
    checkout, event = pending
    response = deliver(client, event, secret="whsec_someone_else")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_signature"
    assert_nothing_applied(checkout)


def test_signature_ten_minutes_old_is_refused(client, pending):
    checkout, event = pending
    response = deliver(client, event, at=int((utcnow() - timedelta(minutes=10)).timestamp()))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_signature"
    assert_nothing_applied(checkout)


def test_signature_dated_ten_minutes_ahead_is_refused(client, pending):
    checkout, event = pending
    response = deliver(client, event, at=int((utcnow() + timedelta(minutes=10)).timestamp()))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_signature"
    assert "future" in response.json["error"]["message"]
    assert_nothing_applied(checkout)


def test_signature_a_little_ahead_of_our_clock_is_accepted(client, pending):
    checkout, event = pending
    response = deliver(client, event, at=int((utcnow() + timedelta(seconds=30)).timestamp()))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["outcome"] == "applied"


def test_delivery_without_signature_header_is_refused(client, pending):
    checkout, event = pending
    response = client.post(WEBHOOK_PATH, data=json.dumps(event).encode(), content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_signature"
    assert_nothing_applied(checkout)


def test_five_megabyte_body_is_refused_as_too_large(client, pending):
    checkout, event = pending
    padded = dict(event, padding="x" * (5 * 1024 * 1024))
    response = deliver(client, padded)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert_nothing_applied(checkout)


@pytest.mark.parametrize("body", [
    b"payment_intent.succeeded for everyone", b'{"id": "evt_1", "type": ', b"\xff\xfe{}",
], ids=["text", "truncated-json", "not-utf-8"])
def test_signed_body_that_is_not_json_is_malformed_json_as_on_the_api(client, pending, body):
    checkout, _ = pending
    response = deliver(client, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"
    assert_nothing_applied(checkout)


def test_the_openapi_document_names_each_refusal_of_the_webhook(client):
    operation = client.get("/api/v1/openapi.json").json["paths"][WEBHOOK_PATH]["post"]

    refusals = operation["responses"]["400"]
    assert refusals["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    for code in ("missing_signature", "invalid_signature", "malformed_json", "invalid_payload"):
        assert code in refusals["description"]


@pytest.mark.parametrize("body", [
    [1, 2, 3],
    {"id": "evt_no_type", "data": {"object": {}}},
    {"id": "evt_no_object", "type": SUCCEEDED, "data": {}},
    {"id": 42, "type": SUCCEEDED, "data": {"object": {}}},
], ids=["array", "no-type", "no-object", "numeric-id"])
def test_signed_json_that_is_not_an_event_is_refused(client, pending, body):
    checkout, _ = pending
    response = deliver(client, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_payload"
    assert_nothing_applied(checkout)


# ---------------------------------------------------------------- applying events


def test_payment_succeeded_pays_every_order_of_the_checkout_and_credits_each_seller(client, build):
    checkout, _ = card_checkout(build, sellers=2)
    intent = build.intent(checkout)

    response = deliver(client, build.stripe_event(intent, SUCCEEDED))

    assert response.status_code == 200
    assert response.json == {"outcome": "applied"}
    assert order_statuses(checkout.id) == ["paid", "paid"]
    db.session.refresh(checkout)
    assert checkout.status == "paid" and checkout.paid_at is not None
    for order in checkout.orders:
        assert ledger_of(order.seller_user_id) == [("sale", order.total_fen), ("commission", -commission(order.total_fen))]
    assert db.session.scalar(select(PaymentIntent.status).where(PaymentIntent.id == intent.id)) == "succeeded"


def test_same_event_delivered_again_is_a_duplicate_that_changes_nothing(client, build):
    checkout, products = card_checkout(build, sellers=2)
    event = build.stripe_event(build.intent(checkout), SUCCEEDED)
    assert deliver(client, event).json == {"outcome": "applied"}
    sellers = [order.seller_user_id for order in checkout.orders]
    ledgers = [ledger_of(seller) for seller in sellers]
    stock = [stock_of(product) for product in products]

    again = deliver(client, event)

    assert again.status_code == 200
    assert again.json == {"outcome": "duplicate"}
    assert [ledger_of(seller) for seller in sellers] == ledgers
    assert [stock_of(product) for product in products] == stock
    assert event_count() == 1
    paid_moves = db.session.scalar(select(func.count()).select_from(OrderEvent).where(
        OrderEvent.order_id.in_([o.id for o in checkout.orders]), OrderEvent.action == "pay"))
    assert paid_moves == 2


def test_event_types_the_marketplace_does_not_use_are_ignored(client, build, pending):
    checkout, _ = pending
    response = deliver(client, {"id": "evt_customer", "type": "customer.created",
                                "data": {"object": {"id": "cus_1", "object": "customer"}}})
    assert response.status_code == 200
    assert response.json == {"outcome": "ignored"}
    assert order_statuses(checkout.id) == ["pending_payment"]
    assert flagged_listed(client, build) == []


def test_event_for_an_unknown_payment_intent_is_flagged_for_admins_and_changes_nothing(client, build, pending):
    checkout, event = pending
    stranger = dict(event, id="evt_stranger", data={"object": dict(event["data"]["object"], id="pi_not_ours")})

    response = deliver(client, stranger)

    assert response.status_code == 200
    assert response.json == {"outcome": "flagged"}
    assert order_statuses(checkout.id) == ["pending_payment"]
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)) == 0
    [listed] = flagged_listed(client, build)
    assert listed["stripe_event_id"] == "evt_stranger"
    assert listed["stripe_payment_intent_id"] == "pi_not_ours"
    assert listed["outcome"] == "flagged" and "pi_not_ours" in listed["note"]


def test_flagged_events_are_for_administrators_only(client, build):
    response = client.get("/api/v1/payments/stripe/events", headers=build.headers("seller", "buyer", "partner"))
    assert response.status_code == 403


@pytest.mark.parametrize("mismatch", [{"amount": 1}, {"currency": "usd"}], ids=["amount", "currency"])
def test_amount_or_currency_mismatch_is_flagged_and_leaves_orders_unpaid(client, build, mismatch):
    checkout, _ = card_checkout(build)
    intent = build.intent(checkout)
    event = build.stripe_event(intent, SUCCEEDED, **mismatch)

    response = deliver(client, event)

    assert response.status_code == 200
    assert response.json == {"outcome": "flagged"}
    assert order_statuses(checkout.id) == ["pending_payment"]
    assert db.session.scalar(select(PaymentIntent.status).where(PaymentIntent.id == intent.id)) == "requires_payment_method"
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)) == 0
    assert [item["stripe_event_id"] for item in flagged_listed(client, build)] == [event["id"]]


def test_refund_made_outside_the_marketplace_is_flagged_and_changes_nothing(client, build):
    checkout, _ = card_checkout(build)
    intent = build.intent(checkout)
    deliver(client, build.stripe_event(intent, SUCCEEDED))
    order = checkout.orders[0]
    before = ledger_of(order.seller_user_id)
    charge = {"id": "ch_dashboard", "object": "charge", "payment_intent": intent.stripe_id,
              "refunds": {"data": [{"id": "re_dashboard", "object": "refund", "amount": 500, "status": "succeeded",
                                    "payment_intent": intent.stripe_id, "metadata": {}}]}}

    response = deliver(client, {"id": "evt_dashboard_refund", "type": REFUNDED, "data": {"object": charge}})

    assert response.json == {"outcome": "flagged"}
    assert ledger_of(order.seller_user_id) == before
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
    [listed] = flagged_listed(client, build)
    assert listed["stripe_event_id"] == "evt_dashboard_refund" and "re_dashboard" in listed["note"]


MALFORMED_OBJECTS = {
    "refund-without-amount": lambda pi: {"object": "charge", "payment_intent": pi,
                                         "refunds": {"data": [{"id": "re_no_amount", "status": "succeeded"}]}},
    "payment-error-as-text": lambda pi: {"id": pi, "object": "payment_intent", "status": "requires_payment_method",
                                         "amount": 100, "currency": "cny", "last_payment_error": "card_declined"},
}


@pytest.mark.parametrize("malformed", sorted(MALFORMED_OBJECTS))
def test_signed_event_with_a_malformed_object_is_flagged_not_a_server_error(client, build, pending, malformed):
    checkout, event = pending
    pi = event["data"]["object"]["id"]
    kind = REFUNDED if malformed.startswith("refund") else FAILED

    response = deliver(client, {"id": f"evt_{malformed}", "type": kind, "data": {"object": MALFORMED_OBJECTS[malformed](pi)}})

    assert response.status_code == 200, response.json
    assert response.json == {"outcome": "flagged"}
    assert order_statuses(checkout.id) == ["pending_payment"]
    assert db.session.scalar(select(PaymentIntent.status).where(PaymentIntent.stripe_id == pi)) == "requires_payment_method"


def test_signed_event_with_an_id_longer_than_stripe_ids_is_refused_without_a_server_error(client, pending):
    checkout, event = pending
    response = deliver(client, dict(event, id="evt_" + "x" * 300))
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid_payload"
    assert_nothing_applied(checkout)


# ---------------------------------------------------------------- replay in any order, any number of times


REQUEST_REFUND = "request the partial refund"
PARTIAL_REFUND_FEN = 300


@dataclass
class Replay:
    """One two-seller card checkout, its intent, and the events Stripe sends about it."""

    checkout_id: int
    order_ids: list[int]
    products: list[Product]
    admin: User
    intent: PaymentIntent
    events: dict[str, dict]
    stripe_refund_id: str
    refund_id: int | None = None
    deliveries: list[str] = field(default_factory=list)


def replay_scenario(build) -> Replay:
    checkout, products = card_checkout(build, sellers=2, quantity=2)
    intent = build.intent(checkout)
    events = {
        FAILED: build.stripe_event(intent, FAILED, last_payment_error={"message": "Your card was declined."}),
        SUCCEEDED: build.stripe_event(intent, SUCCEEDED),
        CANCELED: build.stripe_event(intent, CANCELED),
        # Its object names the local refund, which exists only once it is requested.
        REFUNDED: {"id": f"evt_refunded_{checkout.id}", "type": REFUNDED, "data": {"object": {}}},
    }
    return Replay(checkout.id, [order.id for order in checkout.orders], products, build.user("admin"), intent, events,
                  stripe_refund_id=f"re_replay_{checkout.id}")


def play(client, scenario: Replay, steps: list[str]) -> None:
    for step in steps:
        if step == REQUEST_REFUND:
            admin = db.session.get(User, scenario.admin.id)
            refund = refunds.request_refund(scenario.order_ids[0], admin, reason="三个苹果坏了",
                                             amount_fen=PARTIAL_REFUND_FEN)
            assert refund.status == "pending"  # Stripe is not configured: it waits for the charge event
            scenario.refund_id = refund.id
            pi = scenario.intent.stripe_id
            scenario.events[REFUNDED]["data"]["object"] = {
                "id": f"ch_{scenario.checkout_id}", "object": "charge", "payment_intent": pi,
                "refunds": {"data": [{"id": scenario.stripe_refund_id, "object": "refund", "amount": PARTIAL_REFUND_FEN,
                                      "status": "succeeded", "payment_intent": pi,
                                      "metadata": {"refund_id": str(refund.id)}}]}}
            continue
        response = deliver(client, scenario.events[step])
        assert response.status_code == 200, response.json
        scenario.deliveries.append(response.json["outcome"])


def shuffled_steps(seed: int) -> list[str]:
    """Each event three times in a random order, except that the refund is requested right after
    the first success (it needs a paid order) and its charge event comes only after that."""
    rng = random.Random(seed)
    steps = [kind for kind in (FAILED, SUCCEEDED, CANCELED) for _ in range(3)]
    rng.shuffle(steps)
    steps.insert(steps.index(SUCCEEDED) + 1, REQUEST_REFUND)
    for _ in range(3):
        steps.insert(rng.randint(steps.index(REQUEST_REFUND) + 1, len(steps)), REFUNDED)
    return steps


def final_state(scenario: Replay) -> dict:
    """Everything the events may change, with ids replaced by positions so two scenarios compare."""
    position = {order_id: i for i, order_id in enumerate(scenario.order_ids)}
    orders_ = [db.session.get(Order, order_id) for order_id in scenario.order_ids]
    intent = db.session.get(PaymentIntent, scenario.intent.id)
    refunds = db.session.scalars(select(Refund).where(Refund.checkout_id == scenario.checkout_id)).all()
    entries = db.session.scalars(select(SellerLedgerEntry).where(SellerLedgerEntry.order_id.in_(scenario.order_ids))).all()
    sellers = [order.seller_user_id for order in orders_]
    return {
        "checkout": db.session.scalar(select(Checkout.status).where(Checkout.id == scenario.checkout_id)),
        "orders": [(order.status, order.paid_at is not None) for order in orders_],
        "order_moves": [sorted(db.session.scalars(select(OrderEvent.action).where(OrderEvent.order_id == order.id)))
                        for order in orders_],
        "intent": (intent.status, intent.last_error),
        "refunds": sorted((position[r.order_id], r.method, r.amount_fen, r.status,
                           r.stripe_refund_id == scenario.stripe_refund_id) for r in refunds),
        "ledger": sorted((position[e.order_id], e.kind, e.amount_fen, e.refund_id is not None) for e in entries),
        "balances": [db.session.scalar(select(func.sum(SellerLedgerEntry.amount_fen))
                                       .where(SellerLedgerEntry.seller_user_id == seller)) for seller in sellers],
        "stock": [stock_of(product) for product in scenario.products],
        "recorded_events": sorted(db.session.scalars(select(StripeEvent.type).where(
            StripeEvent.stripe_payment_intent_id == scenario.intent.stripe_id))),
        "station_cash_entries": db.session.scalar(select(func.count()).select_from(StationCashEntry)),
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 42, 2024])
def test_events_replayed_in_any_order_any_number_of_times_end_in_the_natural_state(client, build, seed):
    natural = replay_scenario(build)
    play(client, natural, [FAILED, SUCCEEDED, REQUEST_REFUND, REFUNDED, CANCELED])
    expected = final_state(natural)
    # The natural order itself must land where the design says, or equality would prove nothing.
    totals = [db.session.get(Order, order_id).total_fen for order_id in natural.order_ids]
    assert natural.deliveries == ["applied", "applied", "applied", "unchanged"]
    assert expected["orders"] == [("paid", True), ("paid", True)]
    assert expected["intent"] == ("succeeded", None)
    assert expected["refunds"] == [(0, "stripe", PARTIAL_REFUND_FEN, "succeeded", True)]
    assert expected["balances"] == [
        totals[0] - PARTIAL_REFUND_FEN - commission(totals[0] - PARTIAL_REFUND_FEN),
        totals[1] - commission(totals[1])]
    assert expected["stock"] == [18, 18]
    assert expected["station_cash_entries"] == 0

    shuffled = replay_scenario(build)
    steps = shuffled_steps(seed)
    play(client, shuffled, steps)

    assert final_state(shuffled) == expected, steps
    assert shuffled.deliveries.count("duplicate") == 8


# ---------------------------------------------------------------- late and partly cancelled payments


def expire_everything_due() -> None:
    orders.expire_due_checkouts(now=utcnow() + timedelta(hours=2))
    db.session.expire_all()


def test_payment_for_an_expired_checkout_pays_it_late_when_the_stock_is_still_there(client, build):
    checkout, [product] = card_checkout(build, quantity=2, stock_units=5)
    intent = build.intent(checkout)
    expire_everything_due()
    assert order_statuses(checkout.id) == ["expired"] and stock_of(product) == 5
    event = build.stripe_event(intent, SUCCEEDED)

    first, again = deliver(client, event), deliver(client, event)

    assert (first.json, again.json) == ({"outcome": "applied"}, {"outcome": "duplicate"})
    assert order_statuses(checkout.id) == ["paid"]
    assert stock_of(product) == 3
    order = checkout.orders[0]
    moves = list(db.session.scalars(select(OrderEvent.action).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)))
    assert moves == ["place", "expire", "pay_late"]
    assert ledger_of(order.seller_user_id) == [("sale", order.total_fen), ("commission", -commission(order.total_fen))]
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


@pytest.mark.parametrize("expired", [False, True], ids=["all-orders-unpaid", "expired-orders"])
def test_a_succeeded_event_records_the_intent_as_succeeded_when_its_orders_were_paid(client, build, expired):
    checkout, _ = card_checkout(build, sellers=2)
    intent = build.intent(checkout)
    intent.last_error = "card declined"
    db.session.commit()
    before = intent.updated_at
    if expired:
        expire_everything_due()

    assert deliver(client, build.stripe_event(intent, SUCCEEDED)).json == {"outcome": "applied"}

    db.session.expire_all()
    paid_at = {order.paid_at for order in checkout.orders}
    assert order_statuses(checkout.id) == ["paid", "paid"]
    assert (intent.status, intent.last_error) == ("succeeded", None)
    assert intent.succeeded_at is not None
    if not expired:  # paid at the moment the payment succeeded (a late payment: when the stock was taken again)
        assert paid_at == {intent.succeeded_at}
    assert intent.updated_at > before
    note = db.session.scalar(select(StripeEvent.note).where(StripeEvent.stripe_payment_intent_id == intent.stripe_id))
    assert note == "2 order(s) paid"


def test_payment_for_an_expired_checkout_whose_stock_was_sold_meanwhile_is_refunded(client, build):
    checkout, products = card_checkout(build, sellers=2, quantity=2, stock_units=2)
    intent = build.intent(checkout)
    expire_everything_due()
    rival = build.checkout(build.user("buyer"), products, quantity=2)  # takes all the stock given back

    response = deliver(client, build.stripe_event(intent, SUCCEEDED))

    assert response.status_code == 200
    assert order_statuses(checkout.id) == ["expired", "expired"]
    assert [stock_of(product) for product in products] == [0, 0]
    assert order_statuses(rival.id) == ["pending_payment", "pending_payment"]
    refunds = db.session.scalars(select(Refund).where(Refund.checkout_id == checkout.id).order_by(Refund.order_id)).all()
    assert [(r.order_id, r.amount_fen, r.status, r.method) for r in refunds] == [
        (order.id, order.total_fen, "pending", "stripe") for order in checkout.orders]
    assert all("stock was gone" in refund.reason for refund in refunds)
    assert all(refund.payment_intent_id == intent.id for refund in refunds)
    assert db.session.scalar(select(PaymentIntent.status).where(PaymentIntent.id == intent.id)) == "succeeded"
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)) == 0


def test_late_payment_pays_each_expired_order_whose_own_stock_is_still_there(client, build):
    """The design: a late payment re-reserves stock for an expired order if it can, else refunds
    it. One seller's product being sold out is no reason to refund the other seller's order."""
    checkout, [gone, kept] = card_checkout(build, sellers=2, quantity=2, stock_units=2)
    intent = build.intent(checkout)
    expire_everything_due()
    build.checkout(build.user("buyer"), [gone], quantity=2)
    sold_out_order, in_stock_order = sorted(checkout.orders, key=lambda o: o.seller_user_id != gone.seller_user_id)

    deliver(client, build.stripe_event(intent, SUCCEEDED))

    assert db.session.get(Order, sold_out_order.id).status == "expired"
    assert db.session.get(Order, in_stock_order.id).status == "paid"
    assert stock_of(kept) == 0
    refunded = db.session.scalars(select(Refund.order_id).where(Refund.checkout_id == checkout.id)).all()
    assert refunded == [sold_out_order.id]


def test_order_cancelled_after_the_payment_started_is_refunded_when_the_payment_succeeds(client, build):
    buyer = build.user("buyer")
    checkout, products = card_checkout(build, sellers=2, buyer=buyer)
    intent = build.intent(checkout)
    cancelled, kept = checkout.orders
    response = client.post(f"/api/v1/orders/{cancelled.id}/cancel", json={"note": "买多了"}, headers=auth(build, buyer))
    assert response.status_code == 200 and response.json["status"] == "cancelled"

    response = deliver(client, build.stripe_event(intent, SUCCEEDED))

    assert response.json == {"outcome": "applied"}
    assert db.session.get(Order, kept.id).status == "paid"
    assert db.session.get(Order, cancelled.id).status == "cancelled"
    [refund] = db.session.scalars(select(Refund).where(Refund.checkout_id == checkout.id)).all()
    assert (refund.order_id, refund.amount_fen, refund.status, refund.method) == (
        cancelled.id, cancelled.total_fen, "pending", "stripe")
    assert refund.requested_by_user_id is None
    assert ledger_of(kept.seller_user_id) == [("sale", kept.total_fen), ("commission", -commission(kept.total_fen))]
    assert ledger_of(cancelled.seller_user_id) == []
    assert [stock_of(product) for product in products] == [20, 19]
