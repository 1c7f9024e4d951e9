"""Schema building blocks shared by every package."""
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC

import marshmallow as ma
from marshmallow import validate

MAINLAND_MOBILE = r"^1[3-9]\d{9}$"
ADCODE = r"^\d{6}$"
# Services strip names and addresses, so text of spaces only would be stored empty.
NOT_BLANK = validate.Regexp(r"\s*\S", error="Must not be blank.")
# Ids are PostgreSQL integers; anything larger cannot exist and must not reach the database.
ID_MAX = 2_147_483_647


def unstorable_text(value) -> bool:
    """NUL characters and lone surrogates cannot be stored as PostgreSQL text."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(unstorable_text(k) or unstorable_text(value[k]) for k in value)
    if isinstance(value, (list, tuple)):
        return any(unstorable_text(v) for v in value)
    return False


# Set while a schema loads its input: the outermost load has checked the whole of it, so the
# schemas nested in it (a checkout's lines, its address...) do not walk their part again.
_TEXT_CHECKED: ContextVar[bool] = ContextVar("input_text_checked", default=False)


class Schema(ma.Schema):
    """Base for every input and output schema: rejects text that no database can store."""

    def load(self, data, **kwargs):
        if _TEXT_CHECKED.get():
            return super().load(data, **kwargs)
        if unstorable_text(data):  # the shape a pre_load hook's error had: {"_schema": [message]}
            raise ma.ValidationError({"_schema": ["Text must not contain NUL characters or unpaired surrogates."]})
        token = _TEXT_CHECKED.set(True)
        try:
            return super().load(data, **kwargs)
        finally:
            _TEXT_CHECKED.reset(token)


def id_field(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(validate=validate.Range(min=1, max=ID_MAX), strict=True, **kwargs)


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 timestamp with its UTC offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        # psycopg gives timestamps in the connection's time zone; the API always answers in UTC.
        return None if value is None else super()._serialize(value.astimezone(UTC), attr, obj, **kwargs)


def phone_field(*, metadata: dict | None = None, **kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=validate.Regexp(MAINLAND_MOBILE, error="Must be an 11-digit mainland mobile number, e.g. 13800138000."),
        metadata={"example": "13800138000", **(metadata or {})},
        **kwargs,
    )


def adcode_field(*, metadata: dict | None = None, **kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=validate.Regexp(ADCODE, error="Must be a 6-digit GB/T 2260 administrative code."),
        metadata={"example": "652901", **(metadata or {})},
        **kwargs,
    )


class PageArgs(Schema):
    """Page-number pagination for list endpoints."""

    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PageMeta(Schema):
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


def page_of(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """An envelope schema ``{"items": [...], "page", "per_page", "total"}``."""
    return type(name, (PageMeta,), {"items": ma.fields.List(ma.fields.Nested(item_schema), required=True)})


# The most one payment can take (8 digits of fen); it also keeps every money column in 32 bits.
MAX_AMOUNT_FEN = 99_999_999


def amount_field(**kwargs) -> ma.fields.Integer:
    metadata = {"description": "Amount in fen (1 yuan = 100 fen)", **kwargs.pop("metadata", {})}
    return ma.fields.Integer(required=kwargs.pop("required", True), strict=True,
                             validate=validate.Range(min=1, max=MAX_AMOUNT_FEN), metadata=metadata, **kwargs)


class LedgerEntryIn(Schema):
    """Money an administrator records as moved outside the platform (a payout, a remittance)."""

    amount_fen = amount_field()
    reference = ma.fields.String(required=True, validate=[validate.Length(min=1, max=100), NOT_BLANK],
                                 metadata={"description": "Bank transfer or receipt reference"})
    note = ma.fields.String(load_default=None, validate=validate.Length(max=300))


class LedgerPageArgs(PageArgs):
    """Ledgers page by 50 by default."""

    per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
