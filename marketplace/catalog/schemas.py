"""Input and output schemas for the catalog."""
from datetime import date

import marshmallow as ma
from marshmallow import validate

from marketplace.catalog.taxonomy import (
    EARLIEST_HARVEST_DATE,
    PRICE_FEN_MAX,
    SOLD_OUT,
    STOCK_UNITS_MAX,
    Category,
    ProductStatus,
    Unit,
    latest_harvest_date,
)
from marketplace.common import storage
from marketplace.common.schemas import NOT_BLANK, PageArgs, Schema, UtcDateTime, adcode_field, id_field, page_of

CATEGORIES = [c.value for c in Category]
UNITS = [u.value for u in Unit]
LISTING_STATUSES = [s.value for s in ProductStatus] + [SOLD_OUT]


def _harvest_date_in_range(value: date) -> None:
    if not EARLIEST_HARVEST_DATE <= value <= latest_harvest_date():
        raise ma.ValidationError("Harvest date must be between 2000-01-01 and a year from today.")


class ProductFields(Schema):
    """Fields a seller sets; all optional here, required ones enforced by ProductCreate."""

    title = ma.fields.String(validate=[validate.Length(min=2, max=120), NOT_BLANK])
    description = ma.fields.String(validate=validate.Length(max=4000))
    category = ma.fields.String(validate=validate.OneOf(CATEGORIES))
    unit = ma.fields.String(validate=validate.OneOf(UNITS), metadata={"description": "jin = 500 g"})
    net_weight_grams = ma.fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "Fixed for jin (500) and kg (1000); required for box and bag"},
    )
    price_fen = ma.fields.Integer(
        strict=True, validate=validate.Range(min=1, max=PRICE_FEN_MAX),
        metadata={"description": "Price of one unit in fen (1 yuan = 100 fen)", "example": 1250},
    )
    min_order_units = ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=10_000))
    origin_county_adcode = adcode_field(metadata={"description": "Defaults to the seller's county"})
    origin_village_id = id_field(allow_none=True)
    harvest_date = ma.fields.Date(allow_none=True, validate=_harvest_date_in_range)
    ships_within_days = ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=60))


class ProductCreate(ProductFields):
    title = ma.fields.String(required=True, validate=[validate.Length(min=2, max=120), NOT_BLANK])
    category = ma.fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    unit = ma.fields.String(required=True, validate=validate.OneOf(UNITS))
    price_fen = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=PRICE_FEN_MAX))
    stock_units = ma.fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=STOCK_UNITS_MAX))
    publish = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Submit for sale now (review first unless the seller is verified); false keeps a draft"},
    )


class ProductUpdate(ProductFields):
    pass


class StockAdjustment(Schema):
    delta = ma.fields.Integer(
        required=True, strict=True,
        validate=[validate.Range(min=-STOCK_UNITS_MAX, max=STOCK_UNITS_MAX), validate.NoneOf([0], error="Must not be 0.")],
        metadata={"description": "Units to add (positive) or remove (negative)"},
    )


class RejectionIn(Schema):
    reason = ma.fields.String(required=True, validate=[validate.Length(min=2, max=500), NOT_BLANK])


class ImageUpload(Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImageOut(Schema):
    id = ma.fields.Integer(required=True)
    position = ma.fields.Integer(required=True)
    url = ma.fields.Function(lambda image: storage.url(image.image_key), required=True)
    thumbnail_url = ma.fields.Function(lambda image: storage.url(image.thumbnail_key), required=True)
    width = ma.fields.Integer(required=True)
    height = ma.fields.Integer(required=True)


class OriginOut(Schema):
    county_adcode = ma.fields.String(required=True, attribute="origin_county.adcode")
    county_name = ma.fields.String(required=True, attribute="origin_county.name")
    province_name = ma.fields.String(required=True, attribute="origin_county.province.name")
    is_national_poverty_county = ma.fields.Boolean(required=True, attribute="origin_county.is_national_poverty_county")
    poverty_exit_year = ma.fields.Integer(
        allow_none=True, dump_only=True, attribute="origin_county.poverty_exit_year",
        metadata={"description": "The year a national poverty county exited poverty (all 832 had by 2020)"})
    is_demonstration_county = ma.fields.Boolean(required=True, attribute="origin_county.is_demonstration_county")
    village_id = ma.fields.Integer(allow_none=True, attribute="origin_village_id")
    village_name = ma.fields.Function(lambda p: p.origin_village.name if p.origin_village else None, allow_none=True)


ORIGIN = OriginOut()


class ListingCampaignOut(Schema):
    """The campaign a listing is in now (live) or next (upcoming), as catalog.stock.campaign_of draws it."""

    id = ma.fields.Integer(required=True, metadata={"description": "The campaign's id"})
    item_id = ma.fields.Integer(required=True, metadata={"description": "The listing's item in the campaign"})
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    live = ma.fields.Boolean(required=True, metadata={
        "description": "True: the campaign price applies now (price_fen is it). False: it opens at opens_at, and "
                       "until then the listing cannot be ordered"})
    campaign_price_fen = ma.fields.Integer(required=True)
    listing_price_fen = ma.fields.Integer(required=True, metadata={"description": "The listing's own price"})
    opens_at = ma.fields.String(required=True, metadata={"description": "Start, ISO 8601 in Asia/Shanghai time"})
    ends_at = ma.fields.String(required=True, metadata={
        "description": "End (exclusive), ISO 8601 in Asia/Shanghai time; the listing's own price applies from then"})
    units_left = ma.fields.Integer(required=True)
    per_buyer_limit = ma.fields.Integer(required=True)


class ProductSummaryOut(Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    category = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    net_weight_grams = ma.fields.Integer(allow_none=True)
    price_fen = ma.fields.Integer(required=True)
    stock_units = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, attribute="public_status", validate=validate.OneOf(LISTING_STATUSES))
    seller_name = ma.fields.String(required=True, attribute="seller.display_name")
    origin = ma.fields.Function(lambda p: ORIGIN.dump(p), required=True)
    thumbnail_url = ma.fields.Function(
        lambda p: storage.url(p.images[0].thumbnail_key) if p.images else None, allow_none=True
    )
    cover_image_url = ma.fields.Function(
        lambda p: storage.url(p.images[0].image_key) if p.images else None, allow_none=True, dump_only=True,
        metadata={"description": "The first photo at display size (at most 1600 px wide); thumbnail_url is 400 px"})
    harvest_date = ma.fields.Date(allow_none=True, dump_only=True)
    created_at = UtcDateTime(required=True)
    campaign = ma.fields.Nested(ListingCampaignOut, allow_none=True, dump_default=None, dump_only=True, metadata={
        "description": "The listing's live or next campaign on public reads (null otherwise); price_fen is the price "
                       "that applies now"})


class ProductOut(ProductSummaryOut):
    description = ma.fields.String(required=True)
    seller_user_id = ma.fields.Integer(required=True)
    min_order_units = ma.fields.Integer(required=True)
    ships_within_days = ma.fields.Integer(required=True)
    images = ma.fields.List(ma.fields.Nested(ImageOut), required=True)
    review_note = ma.fields.String(allow_none=True, metadata={"description": "Why the listing was rejected"})
    version = ma.fields.Integer(required=True)
    updated_at = UtcDateTime(required=True)
    trace_token = ma.fields.UUID(dump_only=True, metadata={
        "description": "The public name of the listing's trace page (/trace/<token>, GET /api/v1/trace/<token>)"})


class ProductCursorPageOut(Schema):
    items = ma.fields.List(ma.fields.Nested(ProductSummaryOut), required=True)
    limit = ma.fields.Integer(required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True,
                                   metadata={"description": "Pass as cursor for the next page; null on the last page"})
ProductDetailPageOut = page_of(ProductOut, "ProductDetailPageOut")

SORTS = ("newest", "price_asc", "price_desc", "best_selling")


class BrowseArgs(Schema):
    """The listing's filters and sort have no load default: with a cursor, only those given are
    checked against the cursor's own (catalog.browse.LISTING_DEFAULTS fills the rest)."""
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=validate.Length(min=1, max=1000), metadata={
        "description": "next_cursor of the previous page. It carries the filters and sort of its listing: "
                       "pass it alone, or with the same filters and sort (any other is 422 invalid_cursor); "
                       "limit may change"})
    q = ma.fields.String(validate=[validate.Length(min=1, max=50), NOT_BLANK], metadata={"description": "Part of the title (works for Chinese)"})
    category = ma.fields.String(validate=validate.OneOf(CATEGORIES))
    county = adcode_field()
    province = adcode_field(metadata={"description": "Province code, e.g. 650000"})
    poverty_only = ma.fields.Boolean(metadata={"default": False})
    demonstration_only = ma.fields.Boolean(metadata={"default": False})
    min_price_fen = ma.fields.Integer(validate=validate.Range(min=0, max=PRICE_FEN_MAX))
    max_price_fen = ma.fields.Integer(validate=validate.Range(min=0, max=PRICE_FEN_MAX))
    in_stock = ma.fields.Boolean(metadata={"default": False})
    sort = ma.fields.String(validate=validate.OneOf(SORTS), metadata={"default": "newest",
        "description": "newest, price_asc, price_desc, or best_selling (units in orders not cancelled or expired)"})

    @ma.validates_schema
    def _price_range(self, data, **kwargs):
        low, high = data.get("min_price_fen"), data.get("max_price_fen")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError("min_price_fen must not exceed max_price_fen.", "min_price_fen")


class SellerListArgs(PageArgs):
    status = ma.fields.String(load_default=None, validate=validate.OneOf(LISTING_STATUSES))


class ReviewOut(Schema):
    decision = ma.fields.String(required=True, metadata={"description": "submitted, approved or rejected"})
    reason = ma.fields.String(allow_none=True)
    actor_user_id = ma.fields.Integer(required=True)
    product_version = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class CategoryOut(Schema):
    code = ma.fields.String(required=True)
    label_zh = ma.fields.String(required=True)
    label_en = ma.fields.String(required=True)
