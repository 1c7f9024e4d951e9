"""localstripe itself delivers a signed payment_intent.succeeded webhook to the app listening on a
local port, and the orders become paid: the whole path a production payment takes.

Real commits: the served app's requests run in other threads, each with its own session and
connection, so they can only see data this test has really committed.
"""
import json
import threading
import time
import urllib.request

import pytest
import stripe
from sqlalchemy import select
from werkzeug.serving import make_server

from marketplace.extensions import db
from marketplace.orders.models import Order
from marketplace.payments.models import StripeEvent
from tests.stripe_server import free_port
from tests.webhooks import WEBHOOK_PATH

pytestmark = pytest.mark.real_commits

ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}
DELIVERY_WAIT_SECONDS = 15


@pytest.fixture
def served_app(app):
    """The app answering HTTP on a free local port (its base URL); stopped after the test."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="served-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the app's server thread did not stop"


def post_json(url: str, token: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, json.loads(response.read())


def wait_for_orders(checkout_id: int, status: str) -> list[str]:
    """The checkout's order statuses once they are all ``status``, or as they are after the wait."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        statuses = list(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout_id)))
        db.session.rollback()  # end the read: no transaction stays open between looks
        if (statuses and set(statuses) == {status}) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def test_a_webhook_delivered_by_localstripe_pays_the_orders(app, build, served_app, stripe_configured):
    buyer = build.user("buyer")
    products = [build.product(), build.product()]
    lines = [{"product_id": product.id, "quantity": 1} for product in products]
    token = build.token(buyer)
    db.session.commit()
    stripe_configured.register_webhook(served_app + WEBHOOK_PATH, app.config["STRIPE_WEBHOOK_SECRET"],
                                       name="delivery-test")

    status, checkout = post_json(f"{served_app}/api/v1/checkouts", token,
                                 {"lines": lines, "delivery": {"address": ADDRESS}, "payment_method": "card"},
                                 {"Idempotency-Key": "delivery-test-0001"})
    assert status == 201
    status, payment = post_json(f"{served_app}/api/v1/checkouts/{checkout['id']}/payment", token)
    assert status == 201
    intent_id = payment["payment_intent_id"]
    buyer_stripe = stripe.StripeClient(stripe_configured.secret_key, base_addresses={"api": stripe_configured.base_url})
    buyer_stripe.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    assert buyer_stripe.v1.payment_intents.confirm(intent_id).status == "succeeded"

    assert wait_for_orders(checkout["id"], "paid") == ["paid", "paid"]
    recorded = db.session.execute(select(StripeEvent.source, StripeEvent.outcome).where(
        StripeEvent.type == "payment_intent.succeeded", StripeEvent.stripe_payment_intent_id == intent_id)).all()
    db.session.rollback()
    assert [tuple(row) for row in recorded] == [("webhook", "applied")]
