"""Signing webhook deliveries the way Stripe does (``t=<unix time>,v1=<HMAC-SHA256>``)."""
import hashlib
import hmac
import json
import time

WEBHOOK_PATH = "/api/v1/payments/stripe/webhook"
TEST_WEBHOOK_SECRET = "whsec_test_marketplace"


def signature(body: bytes, secret: str = TEST_WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def signed_delivery(event: dict | bytes, secret: str = TEST_WEBHOOK_SECRET, at: int | None = None) -> dict:
    """Keyword arguments for ``client.post(WEBHOOK_PATH, **...)`` delivering ``event`` signed."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return {"data": body, "content_type": "application/json",
            "headers": {"Stripe-Signature": signature(body, secret, at)}}
