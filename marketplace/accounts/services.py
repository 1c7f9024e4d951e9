"""Account use cases: registering, logging in and out, resolving tokens, granting roles and report scopes."""
import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import Integer, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from marketplace.accounts import passwords
from marketplace.accounts.errors import AccountErrorCode
from marketplace.accounts.models import ROLES_NEEDING_COUNTY, ApiToken, ReportScope, Role, User, UserRole
from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import read_alone
from marketplace.common.time import utcnow
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from marketplace.extensions import db
from marketplace.geo import services as geo


class InvalidCredentials(NotAuthenticated):
    code = AccountErrorCode.INVALID_CREDENTIALS

    def __init__(self):
        super().__init__("The phone/email or password is wrong.")


class InvalidToken(NotAuthenticated):
    code = AccountErrorCode.INVALID_TOKEN

    def __init__(self, reason: str = "The bearer token is not valid."):
        super().__init__(reason)


class TokenExpired(NotAuthenticated):
    code = AccountErrorCode.TOKEN_EXPIRED

    def __init__(self):
        super().__init__("The bearer token has expired; log in again.")


class AccountDisabled(Forbidden):
    code = AccountErrorCode.ACCOUNT_DISABLED

    def __init__(self):
        super().__init__("This account is disabled.")


class UserNotFound(NotFound):
    code = AccountErrorCode.USER_NOT_FOUND

    def __init__(self, user_id: int):
        super().__init__(f"No user with id {user_id}.", details={"user_id": user_id})


class PasswordRefused(InvalidInput):
    MESSAGES = {
        AccountErrorCode.PASSWORD_TOO_COMMON: "This password is one of the most common ones (or one character "
                                              "repeated) and easily guessed; choose another.",
        AccountErrorCode.PASSWORD_IS_PHONE: "The password must not be the account's phone number; choose another.",
    }

    def __init__(self, code: AccountErrorCode):
        super().__init__(self.MESSAGES[code], code=code, details={"password": [self.MESSAGES[code]]})


def _check_new_password(password: str, phone: str | None) -> None:
    """Wherever a password is set: not a common one, not the phone number (accounts.passwords)."""
    code = passwords.refusal(password, phone)
    if code is not None:
        raise PasswordRefused(code)


@lru_cache(maxsize=4)
def _hasher(profile_name: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(getattr(profiles, profile_name))


def _password_hasher() -> PasswordHasher:
    return _hasher(current_app.config["PASSWORD_HASH_PROFILE"])


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def _password_matches(password_hash: str | None, password: str) -> bool:
    if password_hash is None:  # an account that cannot log in (a villager)
        return False
    try:
        return _password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _find_by_identifier(identifier: str) -> User | None:
    identifier = identifier.strip()
    if "@" in identifier:
        return db.session.scalar(select(User).where(User.email == identifier.lower()))
    return db.session.scalar(select(User).where(User.phone == identifier))


def _check_roles_and_county(roles: set[str], county_adcode: str | None) -> None:
    needing = sorted(r.value for r in ROLES_NEEDING_COUNTY if r in roles)
    if needing and not county_adcode:
        raise InvalidInput(
            f"Role {', '.join(needing)} needs a county: give county_adcode.",
            code=AccountErrorCode.COUNTY_REQUIRED,
            details={"county_adcode": ["Required for sellers and partners."]},
        )
    if county_adcode:
        geo.get_county(county_adcode)


def _ensure_unique(phone: str | None, email: str | None, *, except_user_id: int | None = None) -> None:
    if phone:
        other = db.session.scalar(select(User.id).where(User.phone == phone))
        if other is not None and other != except_user_id:
            raise Conflict("An account with this phone number already exists.", code=AccountErrorCode.PHONE_TAKEN)
    if email:
        other = db.session.scalar(select(User.id).where(User.email == email))
        if other is not None and other != except_user_id:
            raise Conflict("An account with this email already exists.", code=AccountErrorCode.EMAIL_TAKEN)


def _new_user(*, phone, email, display_name, password, roles, county_adcode, locale) -> User:
    email = email.strip().lower() if email else None
    if not phone and not email:
        raise InvalidInput("Give a phone number or an email address.", code=AccountErrorCode.PHONE_OR_EMAIL_REQUIRED)
    _check_new_password(password, phone)
    roles = {Role(r) for r in roles}
    _check_roles_and_county(roles, county_adcode)
    _ensure_unique(phone, email)
    user = User(
        phone=phone or None,
        email=email,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        locale=locale,
        county_adcode=county_adcode or None,
        role_rows=[UserRole(role=r.value) for r in sorted(roles)],
    )
    db.session.add(user)
    return user


def register_user(
    *,
    display_name: str,
    password: str,
    phone: str | None = None,
    email: str | None = None,
    roles: list[str] = ("buyer",),
    county_adcode: str | None = None,
    locale: str = "zh_CN",
) -> User:
    """Self-registration: buyers and sellers only; partner and admin roles are granted by admins."""
    if not set(roles) <= {Role.BUYER, Role.SELLER}:
        raise Forbidden("Only buyer and seller accounts can be registered; ask an administrator for other roles.",
                        code=AccountErrorCode.ROLE_NOT_SELF_SERVICE)
    user = _new_user(phone=phone, email=email, display_name=display_name, password=password,
                     roles=roles, county_adcode=county_adcode, locale=locale)
    _commit_new_user(user)
    return user


def _commit_new_user(user: User) -> None:
    """Commit a new account; a concurrent registration of the same phone/email is a 409, not a 500."""
    phone, email = user.phone, user.email
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _ensure_unique(phone, email)
        raise


def create_account(
    *,
    display_name: str,
    password: str,
    roles: list[str],
    phone: str | None = None,
    email: str | None = None,
    county_adcode: str | None = None,
    locale: str = "zh_CN",
) -> User:
    """Create an account with any roles (command line, seeding and administrators)."""
    user = _new_user(phone=phone, email=email, display_name=display_name, password=password,
                     roles=roles, county_adcode=county_adcode, locale=locale)
    _commit_new_user(user)
    return user


def add_villager_account(*, display_name: str, county_adcode: str) -> User:
    """The account of a villager a station partner sells and buys for: a seller and a buyer with no
    password, phone or email, so nobody can ever log in to it (the caller commits)."""
    geo.get_county(county_adcode)
    user = User(phone=None, email=None, display_name=display_name.strip(), password_hash=None, locale="zh_CN",
                county_adcode=county_adcode, role_rows=[UserRole(role=Role.BUYER.value), UserRole(role=Role.SELLER.value)])
    db.session.add(user)
    db.session.flush()
    return user


def log_in(identifier: str, password: str) -> tuple[str, ApiToken]:
    """Check the password and issue a new bearer token; the plain token is returned once."""
    user = _find_by_identifier(identifier)
    if user is None:
        hash_password(password)  # spend the same time as a real check
        raise InvalidCredentials()
    if not _password_matches(user.password_hash, password):
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled()
    plain = secrets.token_urlsafe(32)
    token = ApiToken(user=user, token_digest=_digest(plain), expires_at=utcnow() + current_app.config["TOKEN_TTL"])
    db.session.add(token)
    db.session.commit()
    return plain, token


def authenticate_password(identifier: str, password: str) -> User:
    """For browser sessions: the user behind a phone/email and password, or an error."""
    user = _find_by_identifier(identifier)
    if user is None or not _password_matches(user.password_hash, password):
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled()
    return user


@dataclass(frozen=True)
class Caller:
    """Who sent a request with a bearer token: enough to check roles without loading the account."""

    user_id: int
    token_id: int
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


# Plain SQL, one row per role: this runs on every authenticated request, and building ORM objects
# for the token, the user and each role cost more than the query itself.
_CALLER = text(
    "SELECT api_tokens.id AS token_id, api_tokens.user_id, api_tokens.expires_at, api_tokens.revoked_at,"
    " users.is_active, user_roles.role"
    " FROM api_tokens JOIN users ON users.id = api_tokens.user_id"
    " LEFT JOIN user_roles ON user_roles.user_id = users.id"
    " WHERE api_tokens.token_digest = :token_digest"
).columns(token_id=Integer, user_id=Integer, expires_at=ApiToken.expires_at.type, revoked_at=ApiToken.revoked_at.type,
          is_active=User.is_active.type, role=UserRole.role.type)


def caller_for(plain: str) -> Caller:
    """The caller behind a bearer string; raises if the token is unknown, revoked, expired or disabled."""
    rows = read_alone(_CALLER, {"token_digest": _digest(plain)})
    if not rows or rows[0].revoked_at is not None:
        raise InvalidToken()
    if rows[0].expires_at <= utcnow():
        raise TokenExpired()
    if not rows[0].is_active:
        raise AccountDisabled()
    return Caller(user_id=rows[0].user_id, token_id=rows[0].token_id,
                  roles=frozenset(Role(row.role) for row in rows if row.role is not None))


def log_out(token_id: int) -> None:
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    db.session.commit()


def get_user(user_id: int) -> User:
    """The account with its roles, in one query."""
    user = db.session.get(User, user_id, options=[joinedload(User.role_rows)])
    if user is None:
        raise UserNotFound(user_id)
    return user


def list_users(*, role: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    query = select(User).order_by(User.id).options(selectinload(User.report_scope))
    if role:
        query = query.where(User.role_rows.any(UserRole.role == role))
    return paginate(query, page, per_page)


UNCHANGED = object()  # an argument left out, where None has a meaning of its own


class UnknownReportScope(InvalidInput):
    code = AccountErrorCode.UNKNOWN_REPORT_SCOPE

    def __init__(self, adcode: str):
        super().__init__(f"No province or county with code {adcode} in the registry.",
                         details={"report_scope": [f"{adcode} is neither a province nor a county of the registry."]})


def _report_scope(adcode: str, granted_by_user_id: int) -> ReportScope:
    """A scope of one province (its 6-digit code, e.g. 650000) or one county, checked against the registry."""
    try:
        return ReportScope(province_adcode=geo.get_province(adcode).adcode, granted_by_user_id=granted_by_user_id)
    except geo.ProvinceNotFound:
        pass
    try:
        return ReportScope(county_adcode=geo.get_county(adcode).adcode, granted_by_user_id=granted_by_user_id)
    except geo.CountyNotFound:
        raise UnknownReportScope(adcode) from None


def _set_report_scope(user: User, roles: set[Role], report_scope, acting_user_id: int) -> None:
    """Officials read the reports of their scope; an account that stops being an official loses it."""
    if Role.OFFICIAL not in roles:
        if report_scope not in (UNCHANGED, None):
            raise InvalidInput("Only officials have a report scope: grant the role official too.",
                               code=AccountErrorCode.REPORT_SCOPE_NEEDS_OFFICIAL,
                               details={"report_scope": ["Only for officials."]})
        user.report_scope = None
    elif report_scope is None:
        user.report_scope = None
    elif report_scope is not UNCHANGED and (user.report_scope is None or user.report_scope.adcode != report_scope):
        user.report_scope = None
        db.session.flush()  # one scope per official: the old row goes before the new one arrives
        user.report_scope = _report_scope(report_scope, acting_user_id)


def update_user(
    user_id: int,
    *,
    roles: list[str] | None = None,
    is_active: bool | None = None,
    county_adcode: str | None = None,
    seller_verified: bool | None = None,
    report_scope=UNCHANGED,
    acting_user_id: int,
) -> User:
    """Administrators grant roles, set the county and an official's report scope (a province or
    county code; None takes it away), and (de)activate accounts."""
    user = get_user(user_id)
    new_roles = {Role(r) for r in roles} if roles is not None else {Role(r) for r in user.roles}
    new_county = county_adcode if county_adcode is not None else user.county_adcode
    if user.id == acting_user_id and (Role.ADMIN not in new_roles or is_active is False):
        raise Conflict("Administrators cannot remove their own admin role or disable themselves.",
                       code=AccountErrorCode.CANNOT_DEMOTE_SELF)
    if not new_roles:
        raise InvalidInput("A user needs at least one role.", code=AccountErrorCode.ROLES_REQUIRED)
    _check_roles_and_county(new_roles, new_county)
    if roles is not None:
        current = {row.role: row for row in user.role_rows}
        user.role_rows = [current.get(r.value) or UserRole(role=r.value) for r in sorted(new_roles)]
    user.county_adcode = new_county
    _set_report_scope(user, new_roles, report_scope, acting_user_id)
    if seller_verified is not None:
        user.seller_verified_at = (user.seller_verified_at or utcnow()) if seller_verified else None
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            revoke_all_tokens(user)
            _end_page_sessions(user)  # else reactivating the account would bring its old cookies back
    db.session.commit()
    return user


def revoke_all_tokens(user: User) -> None:
    db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )


def _end_page_sessions(user: User) -> None:
    # In SQL, so that two of them at once both count.
    user.session_generation = User.session_generation + 1


def end_page_sessions(user: User) -> None:
    """Logging out of the pages: every browser sign-in of the user ends, in this browser and in
    any other (a page session is valid only for the generation it began in)."""
    _end_page_sessions(user)
    db.session.commit()


def page_session_is_current(user: User, generation: int | None) -> bool:
    """Whether a browser sign-in that began in ``generation`` still holds for the user."""
    return user.is_active and generation == user.session_generation


def set_password(identifier: str, password: str) -> User:
    """A new password for the account with this phone number or email: every browser sign-in and
    bearer token it had ends, so whoever knew the old password is out."""
    user = _find_by_identifier(identifier)
    if user is None:
        raise NotFound("No account has this phone number or email.", code=AccountErrorCode.USER_NOT_FOUND,
                       details={"identifier": identifier})
    _check_new_password(password, user.phone)
    user.password_hash = hash_password(password)
    _end_page_sessions(user)
    revoke_all_tokens(user)
    db.session.commit()
    return user



def report_scope_of(user: User) -> ReportScope | None:
    """The counties an official's reports cover, if an administrator granted any."""
    return user.report_scope if user.has_role(Role.OFFICIAL) else None


def display_names(user_ids) -> dict[int, str]:
    """{user id: display name} for the given users, in one query."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def is_verified_seller(user: User) -> bool:
    """Verified sellers publish listings without review."""
    return user.has_role(Role.SELLER) and user.seller_verified_at is not None
