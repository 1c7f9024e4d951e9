"""The localstripe fixture stands in for Stripe: the real SDK pays, gets declined, and receives signed events."""
import http.server
import queue
import threading
import time

import pytest
import stripe

WEBHOOK_SECRET = "whsec_test"
EVENT_WAIT_SECONDS = 10


def stripe_client(localstripe) -> stripe.StripeClient:
    return stripe.StripeClient(localstripe.secret_key, base_addresses={"api": localstripe.base_url})


def intent_ready_to_confirm(client: stripe.StripeClient, payment_method: str) -> stripe.PaymentIntent:
    """A 12.50 yuan intent for checkout 1 that will be paid with one of Stripe's test payment methods."""
    intent = client.v1.payment_intents.create(
        params={"amount": 1250, "currency": "cny", "metadata": {"checkout_id": "1"}}
    )
    return client.v1.payment_intents.update(intent.id, params={"payment_method": payment_method})


class _WebhookRecorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.deliveries.put((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format, *args):
        pass  # keep the test output quiet


@pytest.fixture
def webhook_receiver():
    """An HTTP server on a free port that queues the (body, Stripe-Signature) of every POST it gets."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebhookRecorder)
    server.deliveries = queue.Queue()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def next_event(deliveries: queue.Queue, event_type: str, object_id: str) -> stripe.Event:
    """The first event of ``event_type`` about ``object_id`` delivered soon, verified with the webhook secret."""
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            body, signature = deliveries.get(timeout=remaining)
        except queue.Empty:
            break
        event = stripe.Webhook.construct_event(body, signature, WEBHOOK_SECRET, tolerance=300)
        if event.type == event_type and event.data.object.id == object_id:
            return event
    pytest.fail(f"no {event_type} event for {object_id} within {EVENT_WAIT_SECONDS} s")


def test_payment_with_a_good_card_succeeds(localstripe):
    client = stripe_client(localstripe)
    intent = intent_ready_to_confirm(client, "pm_card_visa")

    assert client.v1.payment_intents.confirm(intent.id).status == "succeeded"


def test_declined_card_raises_card_error_and_the_intent_awaits_another_method(localstripe):
    client = stripe_client(localstripe)
    intent = intent_ready_to_confirm(client, "pm_card_chargeCustomerFail")

    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(intent.id)

    assert declined.value.code == "card_declined"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_succeeded_event_reaches_the_webhook_signed_with_its_secret(localstripe, webhook_receiver):
    host, port = webhook_receiver.server_address
    localstripe.register_webhook(f"http://{host}:{port}/webhook", WEBHOOK_SECRET)
    client = stripe_client(localstripe)
    intent = intent_ready_to_confirm(client, "pm_card_visa")

    client.v1.payment_intents.confirm(intent.id)

    event = next_event(webhook_receiver.deliveries, "payment_intent.succeeded", intent.id)
    paid = event.data.object
    assert (paid.amount, paid.currency, paid.metadata["checkout_id"]) == (1250, "cny", "1")
