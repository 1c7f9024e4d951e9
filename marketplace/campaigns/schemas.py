"""Campaign input and output schemas; times are given and shown in Asia/Shanghai."""
from datetime import datetime

import marshmallow as ma
from marshmallow import validate

from marketplace.campaigns.models import CampaignStatus, ItemState
from marketplace.catalog.schemas import ProductSummaryOut
from marketplace.catalog.services import STOCK_UNITS_MAX
from marketplace.common.schemas import MAX_AMOUNT_FEN, NOT_BLANK, PageArgs, Schema, UtcDateTime, id_field, page_of
from marketplace.common.time import BUSINESS_TZ

# The most units one buyer may be allowed: a cart line's most (orders.cart.MAX_QUANTITY).
MAX_PER_BUYER = 10_000


class ShanghaiDateTime(ma.fields.DateTime):
    """An ISO 8601 moment in Asia/Shanghai time: without an offset it is read as Beijing time, with
    one it is converted; loaded as UTC-aware, shown with +08:00."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BUSINESS_TZ)
        try:
            return moment.astimezone(BUSINESS_TZ)
        except (OverflowError, ValueError):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        return None if value is None else value.astimezone(BUSINESS_TZ).isoformat()


def _name(**kwargs) -> ma.fields.String:
    return ma.fields.String(validate=[validate.Length(min=1, max=60), NOT_BLANK], **kwargs)


class CampaignIn(Schema):
    name_zh = _name(required=True, metadata={"example": "双十一扶贫专场"})
    name_en = _name(required=True, metadata={"example": "Double 11 poverty-county session"})
    starts_at = ShanghaiDateTime(required=True, metadata={"example": "2026-11-11T20:00:00",
                                                          "description": "Start (inclusive), Asia/Shanghai time"})
    ends_at = ShanghaiDateTime(required=True, metadata={"example": "2026-11-12T00:00:00",
                                                        "description": "End (exclusive), Asia/Shanghai time"})
    poverty_counties_only = ma.fields.Boolean(load_default=False, metadata={
        "description": "Only listings from national poverty counties may join"})


class CampaignUpdateIn(Schema):
    name_zh = _name()
    name_en = _name()
    starts_at = ShanghaiDateTime(metadata={"description": "Only before the campaign starts"})
    ends_at = ShanghaiDateTime()
    poverty_counties_only = ma.fields.Boolean(metadata={"description": "Only while no listing has joined"})

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.")


class CampaignOut(Schema):
    id = ma.fields.Integer(required=True)
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    starts_at = ShanghaiDateTime(required=True)
    ends_at = ShanghaiDateTime(required=True)
    poverty_counties_only = ma.fields.Boolean(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(list(CampaignStatus)))
    created_by_user_id = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


CampaignPageOut = page_of(CampaignOut, "CampaignPageOut")


class CampaignListArgs(PageArgs):
    status = ma.fields.Enum(CampaignStatus, by_value=True)


class CampaignItemIn(Schema):
    product_id = id_field(required=True)
    campaign_price_fen = ma.fields.Integer(required=True, strict=True,
                                           validate=validate.Range(min=1, max=MAX_AMOUNT_FEN), metadata={
                                               "description": "A whole number of fen, below the listing's price"})
    stock_cap = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=STOCK_UNITS_MAX),
                                  metadata={"description": "Units the campaign may sell, at most the listing's stock"})
    per_buyer_limit = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_PER_BUYER))


class CampaignItemUpdateIn(Schema):
    campaign_price_fen = ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT_FEN), metadata={
        "description": "A whole number of fen, below the listing's price; only before the campaign starts"})
    stock_cap = ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=STOCK_UNITS_MAX), metadata={
        "description": "At least the units sold in the campaign, at most those and the listing's stock left"})
    per_buyer_limit = ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_PER_BUYER))


class CampaignItemOut(Schema):
    id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.Integer(required=True)
    product_id = ma.fields.Integer(required=True)
    product_title = ma.fields.String(required=True, attribute="product.title")
    campaign_price_fen = ma.fields.Integer(required=True)
    stock_cap = ma.fields.Integer(required=True)
    per_buyer_limit = ma.fields.Integer(required=True)
    units_sold = ma.fields.Integer(required=True)
    units_left = ma.fields.Integer(required=True)
    state = ma.fields.String(required=True, validate=validate.OneOf(list(ItemState)))
    reject_reason = ma.fields.String(allow_none=True)
    starts_at = ShanghaiDateTime(required=True)
    ends_at = ShanghaiDateTime(required=True)
    proposed_by_user_id = ma.fields.Integer(required=True)
    decided_by_user_id = ma.fields.Integer(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)


CampaignItemPageOut = page_of(CampaignItemOut, "CampaignItemPageOut")


class ItemListArgs(Schema):
    state = ma.fields.Enum(ItemState, by_value=True)


class ProposalListArgs(PageArgs):
    state = ma.fields.Enum(ItemState, by_value=True)


class RejectIn(Schema):
    reason = ma.fields.String(required=True, validate=[validate.Length(min=1, max=300), NOT_BLANK])


class PublicCampaignOut(Schema):
    campaign = ma.fields.Nested(CampaignOut, required=True)
    live = ma.fields.Boolean(required=True, metadata={"description": "On now (else it opens at its starts_at)"})
    listings = ma.fields.List(ma.fields.Nested(ProductSummaryOut), required=True, metadata={
        "description": "Its approved listings as the catalog shows them (price_fen: the price that applies now)"})
