"""The error codes of accounts, roles and tokens, as clients see them."""
import enum


class AccountErrorCode(enum.StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    ACCOUNT_DISABLED = "account_disabled"
    USER_NOT_FOUND = "user_not_found"
    PHONE_TAKEN = "phone_taken"
    EMAIL_TAKEN = "email_taken"
    PHONE_OR_EMAIL_REQUIRED = "phone_or_email_required"
    PASSWORD_TOO_COMMON = "password_too_common"
    PASSWORD_IS_PHONE = "password_is_phone"
    ROLE_NOT_SELF_SERVICE = "role_not_self_service"
    ROLES_REQUIRED = "roles_required"
    CANNOT_DEMOTE_SELF = "cannot_demote_self"
    UNKNOWN_REPORT_SCOPE = "unknown_report_scope"
    REPORT_SCOPE_NEEDS_OFFICIAL = "report_scope_needs_official"
    # About an account, wherever it is checked (the catalog and the reports raise them too).
    COUNTY_REQUIRED = "county_required"
    NOT_A_SELLER = "not_a_seller"
