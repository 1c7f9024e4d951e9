"""Input and output schemas for service stations."""
import marshmallow as ma
from marshmallow import validate

from marketplace.common.schemas import (
    NOT_BLANK,
    PageArgs,
    PageMeta,
    Schema,
    UtcDateTime,
    adcode_field,
    id_field,
    page_of,
)

PHONE = validate.Regexp(r"^[0-9+\-() ]{5,20}$", error="A phone number of 5 to 20 digits, spaces, +, - or brackets.")


class StationIn(Schema):
    name = ma.fields.String(required=True, validate=[validate.Length(min=1, max=80), NOT_BLANK])
    village_id = id_field(required=True)
    partner_user_id = id_field(required=True)
    address = ma.fields.String(required=True, validate=[validate.Length(min=1, max=200), NOT_BLANK])
    phone = ma.fields.String(required=True, validate=PHONE)


class StationUpdateIn(Schema):
    name = ma.fields.String(validate=[validate.Length(min=1, max=80), NOT_BLANK])
    partner_user_id = id_field()
    address = ma.fields.String(validate=[validate.Length(min=1, max=200), NOT_BLANK])
    phone = ma.fields.String(validate=PHONE)
    is_active = ma.fields.Boolean()


class StationListArgs(PageArgs):
    county = adcode_field(load_default=None)
    include_inactive = ma.fields.Boolean(load_default=False, metadata={"description": "Administrators only"})


class StationOut(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True)
    village_id = ma.fields.Integer(required=True)
    village_name = ma.fields.String(required=True, attribute="village.name")
    county_adcode = ma.fields.String(required=True, attribute="village.county_adcode")
    partner_user_id = ma.fields.Integer(required=True)
    partner_name = ma.fields.String(required=True, attribute="partner.display_name")
    address = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    is_active = ma.fields.Boolean(required=True)
    created_at = UtcDateTime(dump_only=True)


StationPageOut = page_of(StationOut, "StationPageOut")


class CashEntryOut(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "collection, refund or remittance"})
    amount_fen = ma.fields.Integer(required=True, metadata={"description": "Signed: + cash taken in, − cash out"})
    checkout_id = ma.fields.Integer(allow_none=True)
    refund_id = ma.fields.Integer(allow_none=True)
    reference = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    recorded_by_user_id = ma.fields.Integer(required=True)
    created_at = UtcDateTime(required=True)


class CashLedgerOut(PageMeta):
    station_id = ma.fields.Integer(required=True)
    balance_fen = ma.fields.Integer(required=True, metadata={"description": "Cash the station owes the platform"})
    items = ma.fields.List(ma.fields.Nested(CashEntryOut), required=True)
