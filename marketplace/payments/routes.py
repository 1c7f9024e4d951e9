"""Payment endpoints: paying a checkout, the Stripe webhook, refunds, the sellers' settlement ledgers."""
from flask import current_app, request
from flask.views import MethodView

from marketplace.accounts.auth import current_user, requires
from marketplace.common.metrics import stripe_event_applied
from marketplace.common.schemas import LedgerEntryIn, LedgerPageArgs
from marketplace.errors import ErrorOut
from marketplace.extensions import Blueprint
from marketplace.payments import events, intents, refunds, settlement
from marketplace.payments.models import EventOutcome
from marketplace.payments.schemas import (
    PaymentOut,
    RefundIn,
    RefundListOut,
    RefundOut,
    SellerEntryOut,
    SellerLedgerOut,
    StripeEventPageOut,
    WebhookOut,
)

bp = Blueprint("payments", __name__, url_prefix="/api/v1",
               description="Payments: Stripe, refunds, seller settlement")


def _payment_body(start: intents.PaymentStart) -> dict:
    remote = start.remote
    return {"checkout_id": start.checkout.id, "intent": start.intent, "checkout": start.checkout,
            "status": remote.status if remote else start.intent.status,
            "client_secret": remote.client_secret if remote else None,
            "next_action": remote.next_action if remote else None}


@bp.route("/checkouts/<id:checkout_id>/payment")
class CheckoutPayment(MethodView):
    @requires("buyer", "partner")
    @bp.response(201, PaymentOut)
    @bp.alt_response(200, schema=PaymentOut, description="The checkout's live PaymentIntent, already created")
    def post(self, checkout_id):
        """Start paying a checkout online: its Stripe PaymentIntent and client secret"""
        start = intents.start_payment(checkout_id, current_user())
        return _payment_body(start), 201 if start.created else 200

    @requires("buyer", "partner", "admin")
    @bp.response(200, PaymentOut)
    def get(self, checkout_id):
        """The checkout's latest online payment as recorded here"""
        return _payment_body(intents.payment_of(checkout_id, current_user()))


@bp.route("/payments/stripe/webhook")
class StripeWebhook(MethodView):
    @bp.doc(parameters=[{"in": "header", "name": "Stripe-Signature", "required": True, "schema": {"type": "string"},
                         "description": "Stripe's signature of the raw body: t=<unix time>,v1=<HMAC-SHA256>"}],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "description": "A Stripe event, byte for byte as Stripe sent it"}}}})
    @bp.response(200, WebhookOut)
    @bp.alt_response(400, schema=ErrorOut, description=(
        "missing_signature or invalid_signature (wrong, older than the tolerance, or dated ahead of now); "
        "malformed_json (the body is not JSON: not UTF-8, not parseable, or nested too deeply); "
        "invalid_payload (JSON that is not a Stripe event). Nothing is applied."))
    def post(self):
        """Stripe events (signed with the endpoint secret); each is applied once"""
        request.max_content_length = current_app.config["STRIPE_WEBHOOK_MAX_BYTES"]
        result = events.receive_webhook(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
        if result.outcome == EventOutcome.APPLIED:
            stripe_event_applied(result.event_type, result.event_created)
        return {"outcome": result.outcome}


@bp.route("/payments/stripe/events")
class FlaggedEvents(MethodView):
    @requires("admin")
    @bp.arguments(LedgerPageArgs(), location="query")
    @bp.response(200, StripeEventPageOut)
    def get(self, args):
        """Stripe events recorded but not applied (amount mismatch, unknown intent...) (administrators)"""
        return events.flagged_events(**args)


@bp.route("/orders/<id:order_id>/refunds")
class OrderRefunds(MethodView):
    @requires()
    @bp.response(200, RefundListOut)
    def get(self, order_id):
        """Refunds of one order"""
        return {"items": refunds.refunds_of(order_id, current_user())}

    @requires("seller", "admin")
    @bp.arguments(RefundIn())
    @bp.response(201, RefundOut)
    def post(self, fields, order_id):
        """Refund a paid order: whole, by lines, or an amount (administrators; its seller before shipping)"""
        return refunds.request_refund(order_id, current_user(), **fields)


@bp.route("/sellers/<id:seller_user_id>/ledger")
class SellerLedger(MethodView):
    @requires("seller", "admin")
    @bp.arguments(LedgerPageArgs(), location="query")
    @bp.response(200, SellerLedgerOut)
    def get(self, args, seller_user_id):
        """A seller's settlement ledger and balance (the seller, administrators)"""
        return settlement.seller_ledger(seller_user_id, current_user(), **args)


@bp.route("/sellers/<id:seller_user_id>/payouts")
class SellerPayouts(MethodView):
    @requires("admin")
    @bp.arguments(LedgerEntryIn())
    @bp.response(201, SellerEntryOut)
    def post(self, fields, seller_user_id):
        """Record a payout sent to a seller, with its transfer reference (administrators)"""
        return settlement.record_payout(seller_user_id, current_user(), **fields)
