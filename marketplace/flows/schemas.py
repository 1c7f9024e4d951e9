"""Output schemas of the flows' own endpoints: the public trace of a listing or a sold order line."""
import marshmallow as ma
from marshmallow import validate

from marketplace.common.schemas import Schema

TRACE_KINDS = ("listing", "sale")


class TraceProductOut(Schema):
    title = ma.fields.String(required=True)
    category = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    net_weight_grams = ma.fields.Integer(allow_none=True)
    product_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The listing, while it is on sale (GET /api/v1/products/<id>); null otherwise"})


class TraceOriginOut(Schema):
    county_adcode = ma.fields.String(required=True)
    county_name = ma.fields.String(required=True)
    province_name = ma.fields.String(required=True)
    is_national_poverty_county = ma.fields.Boolean(required=True)
    poverty_exit_year = ma.fields.Integer(allow_none=True, metadata={
        "description": "The year the national poverty county exited poverty (all 832 had by 2020)"})
    is_demonstration_county = ma.fields.Boolean(required=True)
    village_name = ma.fields.String(allow_none=True)


class TraceSellerOut(Schema):
    display_name = ma.fields.String(required=True)
    is_verified = ma.fields.Boolean(required=True)


class TraceStationOut(Schema):
    name = ma.fields.String(required=True)
    village_name = ma.fields.String(allow_none=True)
    county_name = ma.fields.String(allow_none=True)


class TraceOut(Schema):
    """Where a listing or a parcel's order line comes from; nothing about its buyer."""

    kind = ma.fields.String(required=True, validate=validate.OneOf(TRACE_KINDS), metadata={
        "description": "listing (a listing's code) or sale (an order line's code, printed on the parcel)"})
    product = ma.fields.Nested(TraceProductOut, required=True)
    origin = ma.fields.Nested(TraceOriginOut, required=True)
    harvest_date = ma.fields.Date(allow_none=True)
    seller = ma.fields.Nested(TraceSellerOut, required=True)
    station = ma.fields.Nested(TraceStationOut, allow_none=True, metadata={
        "description": "The service station the parcel went to, if it was delivered to one"})
    sold_on = ma.fields.Date(allow_none=True, metadata={
        "description": "The day (Asia/Shanghai) the order line was paid; null for a listing or an unpaid order"})
