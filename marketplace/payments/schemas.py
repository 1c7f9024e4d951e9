"""Input and output schemas for payments, refunds, cash and the settlement ledgers."""
import marshmallow as ma
from marshmallow import validate

from marketplace.common.schemas import NOT_BLANK, PageMeta, Schema, UtcDateTime, amount_field, id_field, page_of
from marketplace.orders.schemas import MAX_CART_LINES, MAX_QUANTITY


class PaymentOut(Schema):
    checkout_id = ma.fields.Integer(required=True)
    payment_intent_id = ma.fields.String(required=True, attribute="intent.stripe_id",
                                         metadata={"description": "The Stripe PaymentIntent"})
    status = ma.fields.String(required=True, metadata={"description": "Stripe's status of the PaymentIntent"})
    amount_fen = ma.fields.Integer(required=True, attribute="intent.amount_fen")
    currency = ma.fields.String(required=True, attribute="intent.currency")
    payment_method = ma.fields.String(required=True, attribute="intent.payment_method")
    client_secret = ma.fields.String(allow_none=True, metadata={
        "description": "For the buyer's app to confirm the payment with Stripe; null when read back"})
    next_action = ma.fields.Dict(allow_none=True, metadata={"description": "Stripe's next action (redirect, QR code)"})
    last_error = ma.fields.String(allow_none=True, attribute="intent.last_error")
    expires_at = UtcDateTime(required=True, attribute="checkout.expires_at",
                             metadata={"description": "Pay before this or the orders expire"})


class RefundLineIn(Schema):
    order_line_id = id_field(required=True)
    quantity = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class RefundIn(Schema):
    reason = ma.fields.String(required=True, validate=[validate.Length(min=2, max=300), NOT_BLANK])
    lines = ma.fields.List(ma.fields.Nested(RefundLineIn), validate=validate.Length(min=1, max=MAX_CART_LINES),
                           metadata={"description": "Refund these units (at their unit price)"})
    amount_fen = amount_field(required=False)

    @ma.validates_schema
    def _lines_or_amount(self, data, **kwargs):
        if "lines" in data and "amount_fen" in data:
            raise ma.ValidationError("Give lines or amount_fen, not both (neither refunds the whole order).", "_schema")


class RefundLineOut(Schema):
    order_line_id = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(required=True)
    amount_fen = ma.fields.Integer(required=True)


class RefundOut(Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    checkout_id = ma.fields.Integer(required=True)
    method = ma.fields.String(required=True, metadata={"description": "stripe, or cash paid back at the station"})
    amount_fen = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={
        "description": "pending until Stripe confirms (or the partner pays the cash back), then succeeded or failed"})
    reason = ma.fields.String(required=True)
    requested_by_user_id = ma.fields.Integer(allow_none=True, metadata={"description": "None for automatic refunds"})
    stripe_refund_id = ma.fields.String(allow_none=True)
    failure = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)
    confirmed_at = UtcDateTime(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(RefundLineOut), required=True)


class RefundListOut(Schema):
    items = ma.fields.List(ma.fields.Nested(RefundOut), required=True)


class CashCollectionIn(Schema):
    amount_fen = amount_field(metadata={"description": "Cash taken, in fen; must equal what the checkout owes"})


class SellerEntryOut(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "sale, commission, refund or payout"})
    amount_fen = ma.fields.Integer(required=True, metadata={"description": "Signed: + owed to the seller, − not"})
    order_id = ma.fields.Integer(allow_none=True)
    refund_id = ma.fields.Integer(allow_none=True)
    reference = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class SellerLedgerOut(PageMeta):
    seller_user_id = ma.fields.Integer(required=True)
    balance_fen = ma.fields.Integer(required=True, metadata={"description": "What the platform owes the seller"})
    items = ma.fields.List(ma.fields.Nested(SellerEntryOut), required=True)


class StripeEventOut(Schema):
    stripe_event_id = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    stripe_payment_intent_id = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(required=True)
    note = ma.fields.String(allow_none=True)
    source = ma.fields.String(required=True)
    received_at = UtcDateTime(required=True)


StripeEventPageOut = page_of(StripeEventOut, "StripeEventPageOut")


class WebhookOut(Schema):
    outcome = ma.fields.String(required=True, metadata={
        "description": "applied, unchanged, ignored (a type we do not use), flagged (recorded for review), duplicate"})
