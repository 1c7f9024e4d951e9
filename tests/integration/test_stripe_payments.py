"""Paying checkouts through Stripe, with the real stripe SDK against this run's localstripe server:
intents, signed events, declined cards, a Stripe that is down, refunds, and reconciliation
repairing what webhooks missed.

localstripe can only deliver webhooks to an app listening on a real port (see
test_stripe_webhook_delivery.py); here each event is fetched from localstripe with the SDK and
delivered, signed, to the test client.
"""
import re
from datetime import timedelta
from itertools import count

import pytest
import stripe
from sqlalchemy import func, select

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.payments import reconcile
from marketplace.payments.models import PaymentIntent, Refund, SellerLedgerEntry
from marketplace.payments.settlement import commission_fen
from tests.stripe_server import free_port
from tests.webhooks import WEBHOOK_PATH, signed_delivery

pytestmark = pytest.mark.usefixtures("stripe_configured")

ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}
GOOD_CARD = "pm_card_visa"
DECLINED_CARD = "pm_card_chargeCustomerFail"  # 4000000000000341: attaches, then the charge is declined
_keys = count(1)


# ---------------------------------------------------------------- helpers


def auth(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def error_code(response) -> str:
    return response.json["error"]["code"]


def place(client, headers: dict, *products, station=None, payment_method: str = "card") -> dict:
    """A checkout of one unit of each product, placed through the API; its JSON."""
    delivery = {"station_id": station.id} if station is not None else {"address": ADDRESS}
    body = {"lines": [{"product_id": product.id, "quantity": 1} for product in products],
            "delivery": delivery, "payment_method": payment_method}
    response = client.post("/api/v1/checkouts", json=body,
                           headers={**headers, "Idempotency-Key": f"stripe-test-{next(_keys):06d}"})
    assert response.status_code == 201, response.json
    return response.json


def payment_url(checkout: dict) -> str:
    return f"/api/v1/checkouts/{checkout['id']}/payment"


def start_payment(client, headers: dict, checkout: dict) -> dict:
    response = client.post(payment_url(checkout), headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def sdk(localstripe) -> stripe.StripeClient:
    """The buyer's side of Stripe (what Stripe.js does in the browser)."""
    return stripe.StripeClient(localstripe.secret_key, base_addresses={"api": localstripe.base_url})


def confirm(stripe_client: stripe.StripeClient, intent_id: str, payment_method: str = GOOD_CARD):
    stripe_client.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
    return stripe_client.v1.payment_intents.confirm(intent_id)


def stripe_event(stripe_client: stripe.StripeClient, kind: str, intent_id: str) -> dict:
    """The event of ``kind`` localstripe recorded about this PaymentIntent, as a webhook body."""
    page = stripe_client.v1.events.list(params={"type": kind, "limit": 100})
    found = [event.to_dict() for event in page.auto_paging_iter() if event.data.object.id == intent_id]
    assert len(found) == 1, f"{len(found)} {kind} events for {intent_id}"
    return found[0]


def deliver(client, event: dict) -> str:
    """POST the event to the webhook, signed with the endpoint secret; the outcome it answers."""
    response = client.post(WEBHOOK_PATH, **signed_delivery(event))
    assert response.status_code == 200, response.json
    return response.json["outcome"]


def pay(client, localstripe, headers: dict, checkout: dict) -> str:
    """Pay a checkout as in production: intent, the buyer confirms with a good card, the event
    arrives. Returns the PaymentIntent id."""
    intent_id = start_payment(client, headers, checkout)["payment_intent_id"]
    stripe_client = sdk(localstripe)
    confirm(stripe_client, intent_id)
    assert deliver(client, stripe_event(stripe_client, "payment_intent.succeeded", intent_id)) == "applied"
    return intent_id


def order_statuses(client, headers: dict, checkout: dict) -> list[str]:
    response = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=headers)
    return [order["status"] for order in response.json["orders"]]


def stripe_refunds(localstripe, intent_id: str) -> list:
    return list(sdk(localstripe).v1.refunds.list(params={"payment_intent": intent_id, "limit": 100}).data)


def sale_entries(order_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)
                             .where(SellerLedgerEntry.order_id == order_id, SellerLedgerEntry.kind == "sale"))


def intents_of(checkout: dict) -> int:
    return db.session.scalar(select(func.count()).select_from(PaymentIntent)
                             .where(PaymentIntent.checkout_id == checkout["id"]))


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def run_reconcile(**kwargs) -> list[str]:
    # Reconciliation rolls back between Stripe calls; end the test's own transaction first so
    # that rollback cannot reach back over what the requests committed.
    db.session.commit()
    return reconcile.reconcile(**kwargs)


@pytest.fixture
def buyer(build):
    return build.user("buyer")


@pytest.fixture
def buyer_headers(build, buyer) -> dict:
    return auth(build, buyer)


# ---------------------------------------------------------------- starting a payment


def test_paying_a_card_checkout_creates_one_intent_for_its_grand_total(client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product(), build.product())

    first = client.post(payment_url(checkout), headers=buyer_headers)
    again = client.post(payment_url(checkout), headers=buyer_headers)

    assert first.status_code == 201
    assert first.json["payment_intent_id"].startswith("pi_")
    assert first.json["client_secret"]
    assert first.json["amount_fen"] == checkout["grand_total_fen"]
    assert first.json["currency"] == "cny"
    assert again.status_code == 200
    assert again.json["payment_intent_id"] == first.json["payment_intent_id"]
    assert again.json["client_secret"]
    remote = sdk(localstripe).v1.payment_intents.retrieve(first.json["payment_intent_id"])
    assert remote.amount == checkout["grand_total_fen"]
    assert remote.currency == "cny"
    assert remote.metadata["checkout_id"] == str(checkout["id"])
    assert intents_of(checkout) == 1


def test_a_card_payment_confirmed_by_the_buyer_pays_the_orders_when_its_event_arrives(client, build, buyer_headers,
                                                                                       localstripe):
    checkout = place(client, buyer_headers, build.product(), build.product())
    intent_id = start_payment(client, buyer_headers, checkout)["payment_intent_id"]
    stripe_client = sdk(localstripe)

    assert confirm(stripe_client, intent_id).status == "succeeded"
    assert order_statuses(client, buyer_headers, checkout) == ["pending_payment", "pending_payment"]
    outcome = deliver(client, stripe_event(stripe_client, "payment_intent.succeeded", intent_id))

    assert outcome == "applied"
    assert order_statuses(client, buyer_headers, checkout) == ["paid", "paid"]
    payment = client.get(payment_url(checkout), headers=buyer_headers).json
    assert payment["status"] == "succeeded"
    assert payment["last_error"] is None
    assert all(sale_entries(order["id"]) == 1 for order in checkout["orders"])


def test_a_declined_card_leaves_the_checkout_payable_and_shows_why(client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product())
    intent_id = start_payment(client, buyer_headers, checkout)["payment_intent_id"]
    stripe_client = sdk(localstripe)

    with pytest.raises(stripe.CardError):
        confirm(stripe_client, intent_id, DECLINED_CARD)
    outcome = deliver(client, stripe_event(stripe_client, "payment_intent.payment_failed", intent_id))

    assert outcome == "applied"
    payment = client.get(payment_url(checkout), headers=buyer_headers).json
    assert payment["status"] == "requires_payment_method"
    assert payment["last_error"]
    assert order_statuses(client, buyer_headers, checkout) == ["pending_payment"]
    retry = client.post(payment_url(checkout), headers=buyer_headers)
    assert retry.status_code == 200
    assert retry.json["payment_intent_id"] == intent_id
    assert retry.json["client_secret"]


def test_after_a_decline_a_cancelled_intent_is_replaced_and_a_good_card_pays(client, build, buyer_headers,
                                                                            localstripe):
    # Real Stripe lets the buyer confirm the declined intent again with another card;
    # localstripe 1.15.10 cannot (the failed charge keeps it in requires_payment_method and
    # confirm answers 400), so the retry goes through the other door: the intent is cancelled at
    # Stripe, reconciliation records that, and the checkout gets a fresh intent.
    checkout = place(client, buyer_headers, build.product())
    declined_id = start_payment(client, buyer_headers, checkout)["payment_intent_id"]
    stripe_client = sdk(localstripe)
    with pytest.raises(stripe.CardError):
        confirm(stripe_client, declined_id, DECLINED_CARD)
    deliver(client, stripe_event(stripe_client, "payment_intent.payment_failed", declined_id))
    stripe_client.v1.payment_intents.cancel(declined_id)

    changes = run_reconcile()
    fresh = start_payment(client, buyer_headers, checkout)
    confirm(stripe_client, fresh["payment_intent_id"])
    outcome = deliver(client, stripe_event(stripe_client, "payment_intent.succeeded", fresh["payment_intent_id"]))

    assert any(declined_id in line and "canceled" in line for line in changes), changes
    assert fresh["payment_intent_id"] != declined_id
    assert fresh["amount_fen"] == checkout["grand_total_fen"]
    assert outcome == "applied"
    assert order_statuses(client, buyer_headers, checkout) == ["paid"]


def test_stripe_down_answers_503_retryable_writes_nothing_and_the_checkout_stays_payable(
        client, build, buyer_headers, app, stripe_configured, monkeypatch):
    checkout = place(client, buyer_headers, build.product())
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", closed_port_url())

    down = client.post(payment_url(checkout), headers=buyer_headers)

    assert down.status_code == 503
    assert error_code(down) == "payment_provider_unavailable"
    assert down.json["error"]["details"]["retryable"] is True
    assert intents_of(checkout) == 0
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_configured.base_url)
    back = client.post(payment_url(checkout), headers=buyer_headers)
    assert back.status_code == 201
    assert back.json["amount_fen"] == checkout["grand_total_fen"]
    assert intents_of(checkout) == 1


# ---------------------------------------------------------------- checkouts that cannot be paid online


def test_an_expired_checkout_cannot_be_paid(client, build, buyer_headers):
    checkout = place(client, buyer_headers, build.product())
    assert orders.expire_due_checkouts(now=utcnow() + timedelta(days=365)) == 1

    response = client.post(payment_url(checkout), headers=buyer_headers)

    assert response.status_code == 409
    assert error_code(response) == "checkout_not_payable"
    assert intents_of(checkout) == 0


def test_a_cancelled_checkout_cannot_be_paid(client, build, buyer_headers):
    checkout = place(client, buyer_headers, build.product())
    cancelled = client.post(f"/api/v1/orders/{checkout['orders'][0]['id']}/cancel", json={}, headers=buyer_headers)
    assert cancelled.status_code == 200

    response = client.post(payment_url(checkout), headers=buyer_headers)

    assert response.status_code == 409
    assert error_code(response) == "checkout_not_payable"
    assert intents_of(checkout) == 0


def test_a_cash_at_station_checkout_is_paid_at_the_station_not_online(client, build, buyer_headers):
    station = build.station()
    checkout = place(client, buyer_headers, build.product(), station=station, payment_method="cash_at_station")

    response = client.post(payment_url(checkout), headers=buyer_headers)

    assert response.status_code == 409
    assert error_code(response) == "paid_at_station"
    assert intents_of(checkout) == 0


def test_someone_elses_checkout_is_not_found(client, build, buyer_headers):
    checkout = place(client, buyer_headers, build.product())

    response = client.post(payment_url(checkout), headers=build.headers("buyer"))

    assert response.status_code == 404
    assert intents_of(checkout) == 0


# ---------------------------------------------------------------- refunds


def seller_entries(client, admin_headers: dict, seller_id: int, order_id: int) -> tuple[list[tuple[str, int]], int]:
    """The (kind, amount) entries of one order in its seller's ledger, oldest first, and the balance."""
    ledger = client.get(f"/api/v1/sellers/{seller_id}/ledger", headers=admin_headers).json
    entries = [(item["kind"], item["amount_fen"]) for item in reversed(ledger["items"]) if item["order_id"] == order_id]
    return entries, ledger["balance_fen"]


def test_an_admin_refund_goes_through_stripe_and_reaches_the_seller_ledger(client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product(price_fen=3000))
    order = checkout["orders"][0]
    intent_id = pay(client, localstripe, buyer_headers, checkout)
    admin_headers = build.headers("admin")

    response = client.post(f"/api/v1/orders/{order['id']}/refunds", json={"reason": "两个苹果坏了", "amount_fen": 500},
                           headers=admin_headers)

    assert response.status_code == 201, response.json
    refund = response.json
    assert refund["status"] == "succeeded"
    assert refund["amount_fen"] == 500
    assert refund["stripe_refund_id"].startswith("re_")
    in_stripe = stripe_refunds(localstripe, intent_id)
    assert [(r.id, r.amount, r.metadata["refund_id"]) for r in in_stripe] == [
        (refund["stripe_refund_id"], 500, str(refund["id"]))]
    entries, balance = seller_entries(client, admin_headers, order["seller_user_id"], order["id"])
    total = order["total_fen"]
    assert entries == [("sale", total), ("commission", -commission_fen(total)), ("refund", -500),
                       ("commission", commission_fen(total) - commission_fen(total - 500))]
    assert balance == total - 500 - commission_fen(total - 500)


def test_cancelling_a_paid_order_refunds_its_whole_total_through_stripe(client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product())
    order = checkout["orders"][0]
    intent_id = pay(client, localstripe, buyer_headers, checkout)

    response = client.post(f"/api/v1/orders/{order['id']}/cancel", json={"note": "不要了"}, headers=buyer_headers)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    refunds = client.get(f"/api/v1/orders/{order['id']}/refunds", headers=buyer_headers).json["items"]
    assert [(r["method"], r["amount_fen"], r["status"]) for r in refunds] == [("stripe", order["total_fen"], "succeeded")]
    assert [(r.id, r.amount) for r in stripe_refunds(localstripe, intent_id)] == [
        (refunds[0]["stripe_refund_id"], order["total_fen"])]


# ---------------------------------------------------------------- reconciliation


def test_reconcile_pays_the_orders_of_a_payment_whose_webhook_was_missed(client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product(), build.product())
    intent_id = start_payment(client, buyer_headers, checkout)["payment_intent_id"]
    stripe_client = sdk(localstripe)
    confirm(stripe_client, intent_id)  # ... and the webhook never comes

    changes = run_reconcile()

    assert any(f"checkout {checkout['id']}" in line and intent_id in line for line in changes), changes
    assert order_statuses(client, buyer_headers, checkout) == ["paid", "paid"]
    assert run_reconcile() == []
    late = deliver(client, stripe_event(stripe_client, "payment_intent.succeeded", intent_id))
    assert late == "unchanged"
    assert order_statuses(client, buyer_headers, checkout) == ["paid", "paid"]
    assert [sale_entries(order["id"]) for order in checkout["orders"]] == [1, 1]


def pending_refund_while_stripe_is_down(client, build, app, monkeypatch, localstripe, buyer_headers) -> tuple[dict, str]:
    """A paid order's refund asked for while Stripe does not answer (then Stripe is back);
    the refund's JSON and the PaymentIntent id."""
    checkout = place(client, buyer_headers, build.product())
    intent_id = pay(client, localstripe, buyer_headers, checkout)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", closed_port_url())
    response = client.post(f"/api/v1/orders/{checkout['orders'][0]['id']}/refunds",
                           json={"reason": "缺货退款", "amount_fen": 700}, headers=build.headers("admin"))
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", localstripe.base_url)
    assert response.status_code == 201, response.json
    assert (response.json["status"], response.json["stripe_refund_id"]) == ("pending", None)
    return response.json, intent_id


def test_reconcile_sends_a_refund_left_pending_while_stripe_was_down(client, build, app, monkeypatch,
                                                                     stripe_configured, buyer_headers):
    refund, intent_id = pending_refund_while_stripe_is_down(client, build, app, monkeypatch, stripe_configured,
                                                            buyer_headers)

    changes = run_reconcile()

    assert any(f"refund {refund['id']}" in line for line in changes), changes
    assert db.session.get(Refund, refund["id"]).status == "succeeded"
    assert [(r.amount, r.metadata["refund_id"]) for r in stripe_refunds(stripe_configured, intent_id)] == [
        (700, str(refund["id"]))]
    assert run_reconcile() == []


def test_reconcile_records_a_refund_whose_answer_was_lost_without_refunding_twice(client, build, app, monkeypatch,
                                                                                  stripe_configured, buyer_headers):
    refund, intent_id = pending_refund_while_stripe_is_down(client, build, app, monkeypatch, stripe_configured,
                                                            buyer_headers)
    # Stripe did make the refund; the answer never reached the marketplace.
    sdk(stripe_configured).v1.refunds.create(params={"payment_intent": intent_id, "amount": 700,
                                                     "metadata": {"refund_id": str(refund["id"])}})

    changes = run_reconcile()

    assert any(f"checkout {refund['checkout_id']}" in line for line in changes), changes
    stored = db.session.get(Refund, refund["id"])
    assert stored.status == "succeeded"
    assert [r.id for r in stripe_refunds(stripe_configured, intent_id)] == [stored.stripe_refund_id]


def test_flask_payments_reconcile_prints_what_it_changed(app, client, build, buyer_headers, localstripe):
    checkout = place(client, buyer_headers, build.product())
    intent_id = start_payment(client, buyer_headers, checkout)["payment_intent_id"]
    confirm(sdk(localstripe), intent_id)  # the webhook never comes
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    db.session.commit()

    first = app.test_cli_runner().invoke(args=["payments", "reconcile", "--since", since])
    second = app.test_cli_runner().invoke(args=["payments", "reconcile", "--since", since])

    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert any(f"checkout {checkout['id']}" in line and intent_id in line for line in lines[:-1]), first.output
    assert re.search(r"\b1 change", lines[-1]), first.output
    assert order_statuses(client, buyer_headers, checkout) == ["paid"]
    assert second.exit_code == 0, second.output
    assert re.search(r"\b0 change", second.output.strip().splitlines()[-1]), second.output
