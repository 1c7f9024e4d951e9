"""Input and output schemas for the county registry and villages."""
import marshmallow as ma
from marshmallow import validate

from marketplace.common.schemas import NOT_BLANK, PageArgs, Schema, UtcDateTime, page_of
from marketplace.geo.county_import import LIST_KINDS


class CountyListArgs(PageArgs):
    province = ma.fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Province code (650000) or full name (新疆维吾尔自治区)"},
    )
    poverty = ma.fields.Boolean(load_default=None, metadata={"description": "Only national poverty counties (true) or only others (false)"})
    demonstration = ma.fields.Boolean(load_default=None, metadata={"description": "Only e-commerce demonstration counties (true) or only others (false)"})
    q = ma.fields.String(load_default=None, validate=[validate.Length(min=1, max=40), NOT_BLANK], metadata={"description": "Part of the county or prefecture name"})


class CountyOut(Schema):
    adcode = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    province_adcode = ma.fields.String(required=True)
    province_name = ma.fields.String(required=True, attribute="province.name")
    prefecture_name = ma.fields.String(allow_none=True)
    is_national_poverty_county = ma.fields.Boolean(required=True)
    poverty_exit_year = ma.fields.Integer(allow_none=True)
    is_demonstration_county = ma.fields.Boolean(required=True)


CountyPageOut = page_of(CountyOut, "CountyPageOut")


class ProvinceOut(Schema):
    adcode = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class CountyImportIn(Schema):
    kind = ma.fields.String(load_default="all", validate=validate.OneOf(LIST_KINDS))
    skip_bad_rows = ma.fields.Boolean(load_default=False)


class CountyImportFile(Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class BadRowOut(Schema):
    line = ma.fields.Integer(required=True)
    adcode = ma.fields.String(required=True)
    reason = ma.fields.String(required=True)


class CountyImportOut(Schema):
    kind = ma.fields.String(required=True)
    rows = ma.fields.Integer(required=True)
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    skipped = ma.fields.Integer(required=True)
    repeated = ma.fields.Integer(required=True)
    applied = ma.fields.Boolean(required=True)
    bad_rows = ma.fields.List(ma.fields.Nested(BadRowOut), required=True)


class VillageIn(Schema):
    name = ma.fields.String(required=True, validate=[validate.Length(min=1, max=80), NOT_BLANK])


class VillageOut(Schema):
    id = ma.fields.Integer(dump_only=True)
    county_adcode = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    created_at = UtcDateTime(dump_only=True)
