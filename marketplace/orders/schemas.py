"""Input and output schemas for checkouts and orders."""
import marshmallow as ma
from marshmallow import validate

from marketplace.catalog.schemas import ListingCampaignOut
from marketplace.common.schemas import (
    ID_MAX,
    NOT_BLANK,
    PageArgs,
    Schema,
    UtcDateTime,
    adcode_field,
    id_field,
    page_of,
    phone_field,
)
from marketplace.orders.cart import MAX_CART_LINES, MAX_QUANTITY, CartProblem
from marketplace.orders.lifecycle import OrderStatus
from marketplace.orders.models import PAYMENT_METHODS

ORDER_STATUSES = [s.value for s in OrderStatus]
ORDER_VIEWS = ("bought", "sold", "to_ship", "station", "all")


class CartLineIn(Schema):
    product_id = id_field(required=True)
    quantity = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class AddressIn(Schema):
    recipient = ma.fields.String(required=True, validate=[validate.Length(min=1, max=60), NOT_BLANK])
    phone = phone_field(required=True)
    county_adcode = adcode_field(required=True)
    detail = ma.fields.String(required=True, validate=[validate.Length(min=2, max=200), NOT_BLANK])


class DeliveryIn(Schema):
    station_id = id_field(metadata={"description": "Deliver to this service station (pick up there)"})
    address = ma.fields.Nested(AddressIn, metadata={"description": "Or deliver to an address"})

    @ma.validates_schema
    def _exactly_one(self, data, **kwargs):
        if ("station_id" in data) == ("address" in data):
            raise ma.ValidationError("Give either station_id or address.", "_schema")


class CheckoutIn(Schema):
    lines = ma.fields.List(ma.fields.Nested(CartLineIn), required=True,
                           validate=validate.Length(min=1, max=MAX_CART_LINES, error="A cart has 1 to 50 lines."))
    delivery = ma.fields.Nested(DeliveryIn, required=True)
    payment_method = ma.fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))


class IdempotencyHeader(Schema):
    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key", required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9._:-]{8,100}$", error="8 to 100 letters, digits or . _ : -"),
        metadata={"description": "A fresh random key per checkout; retries reuse it. Kept at least 24 h."},
    )


class OrderLineOut(Schema):
    id = ma.fields.Integer(required=True, metadata={
        "description": "The line's id: refund some of its units with POST /api/v1/orders/{order_id}/refunds "
                       "(lines[].order_line_id)"})
    product_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    category = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    net_weight_grams = ma.fields.Integer(allow_none=True)
    origin_county_adcode = ma.fields.String(required=True)
    unit_price_fen = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(required=True)
    line_total_fen = ma.fields.Integer(required=True)
    campaign_item_id = ma.fields.Integer(allow_none=True, dump_default=None, metadata={
        "description": "The campaign item it was sold under, at the campaign price unit_price_fen keeps"})
    trace_token = ma.fields.UUID(required=True, metadata={
        "description": "The public name of the line's trace page (/trace/<token>, GET /api/v1/trace/<token>)"})


class OrderEventOut(Schema):
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(required=True)
    actor_user_id = ma.fields.Integer(allow_none=True, metadata={"description": "None when the system moved it"})
    note = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)


class OrderOut(Schema):
    id = ma.fields.Integer(required=True)
    checkout_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(ORDER_STATUSES))
    buyer_user_id = ma.fields.Integer(required=True)
    seller_user_id = ma.fields.Integer(required=True)
    delivery_kind = ma.fields.String(required=True)
    station_id = ma.fields.Integer(allow_none=True)
    items_total_fen = ma.fields.Integer(required=True)
    shipping_fee_fen = ma.fields.Integer(required=True)
    total_fen = ma.fields.Integer(required=True)
    carrier = ma.fields.String(allow_none=True)
    tracking_number = ma.fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)
    paid_at = UtcDateTime(allow_none=True)
    shipped_at = UtcDateTime(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(OrderLineOut), required=True)
    events = ma.fields.List(ma.fields.Nested(OrderEventOut), required=True)


class CheckoutOut(Schema):
    id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    payment_method = ma.fields.String(required=True)
    delivery_kind = ma.fields.String(required=True)
    station_id = ma.fields.Integer(allow_none=True)
    address_county_adcode = ma.fields.String(allow_none=True)
    items_total_fen = ma.fields.Integer(required=True)
    shipping_total_fen = ma.fields.Integer(required=True)
    grand_total_fen = ma.fields.Integer(required=True, metadata={"description": "What the payment covers"})
    currency = ma.fields.String(required=True)
    expires_at = UtcDateTime(required=True, metadata={"description": "Unpaid orders expire and release stock then"})
    paid_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    orders = ma.fields.List(ma.fields.Nested(OrderOut), required=True)


OrderPageOut = page_of(OrderOut, "OrderPageOut")


class OrderListArgs(PageArgs):
    view = ma.fields.String(load_default="bought", validate=validate.OneOf(ORDER_VIEWS),
                            metadata={"description": "bought (mine), sold / to_ship (sellers), station (partners), all (administrators)"})
    status = ma.fields.String(load_default=None, validate=validate.OneOf(ORDER_STATUSES))
    # Not id_field: that one is strict, and a query string always carries text ("?station_id=2").
    station_id = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=ID_MAX))

    @ma.validates_schema
    def _station_only_with_station_view(self, data, **kwargs):
        if data.get("station_id") is not None and data.get("view") != "station":
            raise ma.ValidationError("station_id filters view=station only.", "station_id")


class ShipIn(Schema):
    carrier = ma.fields.String(required=True, validate=[validate.Length(min=1, max=40), NOT_BLANK])
    tracking_number = ma.fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9-]{4,40}$"))


class NoteIn(Schema):
    note = ma.fields.String(load_default=None, validate=validate.Length(max=300))


class CartQuantityIn(Schema):
    quantity = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_QUANTITY),
                                 metadata={"description": "Units of the product in the cart; 0 removes it"})


class CartLineOut(Schema):
    product_id = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(required=True)
    title = ma.fields.String(allow_none=True, metadata={"description": "None when the listing no longer exists"})
    unit = ma.fields.String(allow_none=True)
    price_fen = ma.fields.Integer(allow_none=True, metadata={"description": "Price of one unit now"})
    stock_units = ma.fields.Integer(required=True)
    min_order_units = ma.fields.Integer(required=True)
    seller_user_id = ma.fields.Integer(allow_none=True)
    seller_name = ma.fields.String(allow_none=True)
    thumbnail_url = ma.fields.String(allow_none=True)
    county_name = ma.fields.String(allow_none=True)
    is_national_poverty_county = ma.fields.Boolean(required=True)
    line_total_fen = ma.fields.Integer(required=True)
    problem = ma.fields.Enum(CartProblem, by_value=True, allow_none=True, metadata={
        "description": "Why the line cannot be bought now (None: it can, stock permitting)"})
    campaign = ma.fields.Nested(ListingCampaignOut, allow_none=True, metadata={
        "description": "The listing's live campaign (price_fen is its price) or the one it opens at"})


class CartSellerOut(Schema):
    seller_user_id = ma.fields.Integer(required=True)
    seller_name = ma.fields.String(required=True)
    lines = ma.fields.List(ma.fields.Nested(CartLineOut), required=True)
    items_total_fen = ma.fields.Integer(required=True)
    shipping_fee_fen = ma.fields.Integer(required=True)
    total_fen = ma.fields.Integer(required=True)


class CartOut(Schema):
    """The saved cart priced as a checkout would price it now: one group (order) per seller."""

    groups = ma.fields.List(ma.fields.Nested(CartSellerOut), required=True)
    unbuyable = ma.fields.List(ma.fields.Nested(CartLineOut), required=True,
                               metadata={"description": "Lines that cannot be bought now, each with its problem"})
    items_total_fen = ma.fields.Integer(required=True)
    shipping_total_fen = ma.fields.Integer(required=True)
    grand_total_fen = ma.fields.Integer(required=True)


class SavedAddressIn(AddressIn):
    pass


class SavedAddressOut(Schema):
    id = ma.fields.Integer(required=True)
    recipient = ma.fields.String(required=True, attribute="recipient_name")
    phone = ma.fields.String(required=True, attribute="recipient_phone")
    county_adcode = ma.fields.String(required=True)
    detail = ma.fields.String(required=True)
    last_used_at = UtcDateTime(required=True)
