"""Schema building blocks shared by every package."""
import marshmallow as ma
from marshmallow import validate

from marketplace.common.time import as_utc

MAINLAND_MOBILE = r"^1[3-9]\d{9}$"
ADCODE = r"^\d{6}$"


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 timestamp with its UTC offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else super()._serialize(as_utc(value), attr, obj, **kwargs)


def phone_field(**kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=validate.Regexp(MAINLAND_MOBILE, error="Must be an 11-digit mainland mobile number, e.g. 13800138000."),
        metadata={"example": "13800138000"},
        **kwargs,
    )


def adcode_field(**kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=validate.Regexp(ADCODE, error="Must be a 6-digit GB/T 2260 administrative code."),
        metadata={"example": "652901"},
        **kwargs,
    )


class PageArgs(ma.Schema):
    """Page-number pagination for list endpoints."""

    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PageMeta(ma.Schema):
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


def page_of(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """An envelope schema ``{"items": [...], "page", "per_page", "total"}``."""
    return type(name, (PageMeta,), {"items": ma.fields.List(ma.fields.Nested(item_schema), required=True)})
