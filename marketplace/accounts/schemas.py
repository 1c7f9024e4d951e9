"""Input and output schemas for accounts."""
import marshmallow as ma
from marshmallow import validate

from marketplace.accounts.models import LOCALES, Role
from marketplace.common.schemas import NOT_BLANK, PageArgs, Schema, UtcDateTime, adcode_field, page_of, phone_field

ROLE_CHOICES = [r.value for r in Role]
password_field = ma.fields.String(
    required=True,
    load_only=True,
    validate=validate.Length(min=8, max=128, error="Passwords are 8 to 128 characters."),
    metadata={"description": "8 to 128 characters; a common password or one character repeated is refused "
                             "(422 password_too_common), and so is the account's phone number (password_is_phone)"},
)
display_name_field = ma.fields.String(required=True, validate=[validate.Length(min=1, max=60), NOT_BLANK])


class RegisterIn(Schema):
    phone = phone_field(load_default=None)
    email = ma.fields.Email(load_default=None, validate=validate.Length(max=254))
    display_name = display_name_field
    password = password_field
    roles = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(["buyer", "seller"])),
        load_default=lambda: ["buyer"],
        validate=validate.Length(min=1, max=2),
        metadata={"description": "buyer and/or seller; sellers need county_adcode"},
    )
    county_adcode = adcode_field(load_default=None)
    locale = ma.fields.String(load_default="zh_CN", validate=validate.OneOf(LOCALES))

    @ma.validates_schema
    def _phone_or_email(self, data, **kwargs):
        if not data.get("phone") and not data.get("email"):
            raise ma.ValidationError("Give a phone number or an email address.", "phone")


class LoginIn(Schema):
    identifier = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Phone number or email address"},
    )
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))


class ReportScopeOut(Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(["province", "county"]))
    adcode = ma.fields.String(required=True, metadata={"example": "652927"})
    granted_by_user_id = ma.fields.Integer(allow_none=True)
    granted_at = UtcDateTime(required=True)


class UserOut(Schema):
    id = ma.fields.Integer(dump_only=True)
    phone = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    display_name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String(validate=validate.OneOf(ROLE_CHOICES)))
    locale = ma.fields.String()
    is_active = ma.fields.Boolean()
    county_adcode = ma.fields.String(allow_none=True)
    seller_verified_at = UtcDateTime(allow_none=True, metadata={"description": "Verified sellers publish without review"})
    report_scope = ma.fields.Nested(ReportScopeOut, allow_none=True, metadata={
        "description": "Officials: the province or county whose sales reports they may read (null: none yet)"})
    created_at = UtcDateTime(dump_only=True)


class TokenOut(Schema):
    token = ma.fields.String(required=True, metadata={"description": "Send as 'Authorization: Bearer <token>'"})
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_at = UtcDateTime(required=True)
    user = ma.fields.Nested(UserOut, required=True)


class UserListArgs(PageArgs):
    role = ma.fields.String(load_default=None, validate=validate.OneOf(ROLE_CHOICES))


UserPageOut = page_of(UserOut, "UserPageOut")


class UserUpdateIn(Schema):
    roles = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(ROLE_CHOICES)), validate=validate.Length(min=1, max=len(ROLE_CHOICES))
    )
    is_active = ma.fields.Boolean()
    county_adcode = adcode_field()
    seller_verified = ma.fields.Boolean(metadata={"description": "Let this seller publish without review"})
    report_scope = adcode_field(allow_none=True, metadata={
        "description": "Officials only: the 6-digit code of the province (e.g. 650000) or county (e.g. 652927) of the "
                       "registry whose sales reports they may read; null takes the scope away. Removing the role "
                       "official takes it away too."})
