"""The one door to Stripe: every Stripe call of the application goes through this module.

Configured from STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE (unset means Stripe
itself; the demo and the tests point it at a local localstripe server). Calls have short
timeouts; a Stripe that is down, slow or rate-limiting becomes ``PaymentProviderUnavailable``
(503, retryable), any other refusal ``PaymentProviderError`` (502). Nothing secret (keys, client
secrets) ever goes into an error message.

Results come back as plain dataclasses so no other module sees a Stripe object.
"""
import enum
import json
import logging
import time
from dataclasses import dataclass, field

import stripe
from flask import current_app

from marketplace.errors import AppError, ErrorCode
from marketplace.payments.errors import PaymentErrorCode

log = logging.getLogger(__name__)

# Stripe's payment_method_types for each of our payment methods.
METHOD_TYPES = {"card": ["card"], "alipay": ["alipay"], "wechat_pay": ["wechat_pay"]}


class PaymentProviderUnavailable(AppError):
    status = 503
    code = PaymentErrorCode.PAYMENT_PROVIDER_UNAVAILABLE

    def __init__(self, message: str = "The payment provider is not answering; try again in a moment."):
        super().__init__(message, details={"retryable": True})


class PaymentProviderError(AppError):
    status = 502
    code = PaymentErrorCode.PAYMENT_PROVIDER_ERROR

    def __init__(self, message: str = "The payment provider refused the request.", *, retryable: bool = False):
        super().__init__(message, details={"retryable": retryable})


class PaymentsNotConfigured(AppError):
    status = 503
    code = PaymentErrorCode.PAYMENTS_NOT_CONFIGURED

    def __init__(self):
        super().__init__("Online payments are not configured on this server (STRIPE_SECRET_KEY is unset).",
                         details={"retryable": False})


class CardDeclined(AppError):
    """The card was refused when the payment was confirmed; ``reason`` is Stripe's decline code
    (card_declined, insufficient_funds, expired_card, authentication_required...)."""

    status = 402
    code = PaymentErrorCode.CARD_DECLINED

    def __init__(self, reason: str | None, message: str | None = None):
        super().__init__(f"The card was declined: {message or reason or 'card declined'}.",
                         details={"reason": reason or "generic_decline"})


class MethodNotAvailable(AppError):
    """Stripe (or the emulator standing in for it) cannot take this payment method."""

    status = 409
    code = PaymentErrorCode.METHOD_NOT_AVAILABLE

    def __init__(self, method: str):
        super().__init__(f"Paying by {method} is not available right now.", details={"method": method})


class InvalidWebhook(AppError):
    status = 400
    code = PaymentErrorCode.INVALID_WEBHOOK


class StripeRefundStatus(enum.StrEnum):
    """A Stripe refund's status (Stripe's strings; a refund only reaches the ledgers once succeeded)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount: int
    currency: str
    metadata: dict = field(default_factory=dict)
    client_secret: str | None = None
    next_action: dict | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class StripeRefund:
    id: str
    status: str
    amount: int
    payment_intent: str | None
    metadata: dict = field(default_factory=dict)
    failure_reason: str | None = None


def _as_dict(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def intent_from(obj) -> Intent:
    """An Intent from a PaymentIntent as Stripe returns it (an SDK object or a webhook's dict)."""
    obj = _as_dict(obj)
    error = obj.get("last_payment_error") or None
    if error is not None:
        error = error.get("message") or error.get("code")  # an object in Stripe's shape, or it raises
    return Intent(id=obj["id"], status=obj["status"], amount=int(obj["amount"]), currency=obj["currency"],
                  metadata=dict(obj.get("metadata") or {}), client_secret=obj.get("client_secret"),
                  next_action=_plain(obj.get("next_action")), last_error=str(error) if error else None)


def refund_from(obj) -> StripeRefund:
    obj = _as_dict(obj)
    return StripeRefund(id=obj["id"], status=obj.get("status") or StripeRefundStatus.SUCCEEDED, amount=int(obj["amount"]),
                        payment_intent=obj.get("payment_intent"), metadata=dict(obj.get("metadata") or {}),
                        failure_reason=obj.get("failure_reason"))


def _plain(value):
    return json.loads(json.dumps(value)) if value is not None else None


def _client() -> stripe.StripeClient:
    config = current_app.config
    if not config.get("STRIPE_SECRET_KEY"):
        raise PaymentsNotConfigured()
    key = (config["STRIPE_SECRET_KEY"], config.get("STRIPE_API_BASE"), config["STRIPE_TIMEOUT_SECONDS"])
    cached = current_app.extensions.get("stripe_client")
    if cached is None or cached[0] != key:
        base = {"api": config["STRIPE_API_BASE"]} if config.get("STRIPE_API_BASE") else None
        timeout = config["STRIPE_TIMEOUT_SECONDS"]
        client = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"], base_addresses=base,
            max_network_retries=config["STRIPE_MAX_NETWORK_RETRIES"],
            http_client=stripe.RequestsClient(timeout=(min(3.0, timeout), timeout)),
        )
        cached = (key, client)
        current_app.extensions["stripe_client"] = cached
    return cached[1]


def _call(what: str, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        log.warning("stripe %s: provider unavailable (%s)", what, type(error).__name__)
        raise PaymentProviderUnavailable() from None
    except stripe.APIError as error:
        log.warning("stripe %s: provider error %s", what, error.http_status)
        raise PaymentProviderUnavailable() from None
    except stripe.CardError as error:
        raise CardDeclined(getattr(error, "code", None), error.user_message) from None
    except stripe.AuthenticationError:
        log.error("stripe %s: authentication failed; check STRIPE_SECRET_KEY", what)
        raise PaymentProviderError("The payment provider rejected this server's credentials.") from None
    except stripe.StripeError as error:
        log.warning("stripe %s: refused (%s, %s)", what, type(error).__name__, error.http_status)
        raise PaymentProviderError() from None


def create_payment_intent(*, amount_fen: int, currency: str, method: str, idempotency_key: str,
                          metadata: dict[str, str]) -> Intent:
    params = {"amount": amount_fen, "currency": currency, "payment_method_types": METHOD_TYPES[method],
              "metadata": metadata}
    if method == "wechat_pay":
        params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
    intent = _call("create payment intent", _client().v1.payment_intents.create, params=params,
                   options={"idempotency_key": idempotency_key})
    return intent_from(intent)


def pay_with_card_token(stripe_id: str, card_token: str) -> Intent:
    """Pay a PaymentIntent with the card of a Stripe.js token (``tok_...``): the token's card
    becomes the intent's payment method, then the intent is confirmed.

    A refused card raises CardDeclined; a card that needs authentication (3-D Secure, which this
    server-side confirmation cannot show) raises CardDeclined("authentication_required").
    An unknown or used token is a PaymentProviderError."""
    client = _client()
    token = _call("retrieve card token", client.v1.tokens.retrieve, card_token)
    card = getattr(token, "card", None)
    if card is None:
        raise PaymentProviderError("The card token holds no card.")
    _call("attach card", client.v1.payment_intents.update, stripe_id, params={"payment_method": card.id})
    intent = intent_from(_call("confirm payment intent", client.v1.payment_intents.confirm, stripe_id))
    if intent.status == "requires_action":
        raise CardDeclined("authentication_required")
    return intent


def confirm_with_redirect(stripe_id: str, method: str, return_url: str) -> Intent:
    """Confirm an Alipay or WeChat Pay PaymentIntent from the server: Stripe answers with the
    next step for the buyer (``next_action``: Alipay's page to go to, or WeChat Pay's QR code)."""
    params = {"payment_method_data": {"type": METHOD_TYPES[method][0]}, "return_url": return_url}
    client = _client()

    def confirm():
        try:
            return client.v1.payment_intents.confirm(stripe_id, params=params)
        except stripe.InvalidRequestError:  # the account (or localstripe, which knows cards only) cannot take it
            raise MethodNotAvailable(method) from None

    return intent_from(_call("confirm payment intent", confirm))


def retrieve_payment_intent(stripe_id: str) -> Intent:
    return intent_from(_call("retrieve payment intent", _client().v1.payment_intents.retrieve, stripe_id))


def cancel_payment_intent(stripe_id: str) -> Intent:
    return intent_from(_call("cancel payment intent", _client().v1.payment_intents.cancel, stripe_id))


def create_refund(*, payment_intent: str, amount_fen: int, idempotency_key: str, metadata: dict[str, str]) -> StripeRefund:
    refund = _call("create refund", _client().v1.refunds.create,
                   params={"payment_intent": payment_intent, "amount": amount_fen, "metadata": metadata},
                   options={"idempotency_key": idempotency_key})
    return refund_from(refund)


def list_refunds(payment_intent: str) -> list[StripeRefund]:
    page = _call("list refunds", _client().v1.refunds.list, params={"payment_intent": payment_intent, "limit": 100})
    return [refund_from(refund) for refund in page.data]


def _signed_at(signature_header: str) -> int:
    """The ``t=`` of a Stripe-Signature header that verify_header has already accepted."""
    for item in signature_header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            return int(value)
    raise InvalidWebhook("The Stripe-Signature header has no time.", code=PaymentErrorCode.INVALID_SIGNATURE)


def verify_webhook(payload: bytes, signature_header: str | None) -> dict:
    """The event of a webhook delivery whose signature is valid and fresh, as a plain dict.

    Raises InvalidWebhook (400) for a missing, wrong or stale signature (``missing_signature``,
    ``invalid_signature``), a body that is not JSON (``malformed_json``, as on every API route:
    not UTF-8, not parseable, or nested deeper than the parser goes) or JSON that is not a Stripe
    event (``invalid_payload``)."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise PaymentsNotConfigured()
    if not signature_header:
        raise InvalidWebhook("The Stripe-Signature header is missing.", code=PaymentErrorCode.MISSING_SIGNATURE)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWebhook("The webhook body is not JSON: it is not UTF-8.", code=ErrorCode.MALFORMED_JSON) from None
    tolerance = current_app.config["STRIPE_WEBHOOK_TOLERANCE_SECONDS"]
    try:
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance)
    except stripe.SignatureVerificationError:
        raise InvalidWebhook("The Stripe signature does not match this body, or is too old.",
                             code=PaymentErrorCode.INVALID_SIGNATURE) from None
    # The library refuses signatures older than the tolerance but takes any from the future; a
    # delivery dated ahead of now by more than the tolerance was not made by Stripe just now.
    if _signed_at(signature_header) > time.time() + tolerance:
        raise InvalidWebhook("The Stripe signature is dated in the future.", code=PaymentErrorCode.INVALID_SIGNATURE)
    try:
        event = json.loads(text)
    except ValueError:
        raise InvalidWebhook("The webhook body is not valid JSON.", code=ErrorCode.MALFORMED_JSON) from None
    except RecursionError:  # [[[[...]]]] deeper than the parser's stack
        raise InvalidWebhook("The webhook body is not valid JSON: it is nested too deeply.",
                             code=ErrorCode.MALFORMED_JSON) from None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and 0 < len(event["id"]) <= 255
            and isinstance(event.get("type"), str) and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)):
        raise InvalidWebhook("The webhook body is not a Stripe event.", code=PaymentErrorCode.INVALID_PAYLOAD)
    return event
