"""Who is calling: bearer tokens for the API, and the role check every endpoint declares."""
from functools import wraps

from flask import g, request

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.errors import Forbidden, NotAuthenticated
from marketplace.extensions import Blueprint


def _bearer_caller() -> accounts.Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, plain = header.partition(" ")
    if not header:
        raise NotAuthenticated("Log in and send 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not plain.strip():
        raise accounts.InvalidToken("The Authorization header must be 'Bearer <token>'.")
    return accounts.caller_for(plain.strip())


def current_caller() -> accounts.Caller:
    """Who is calling (user id, token id, roles), known without loading the account."""
    return g.caller


def current_user() -> User:
    """The caller's account, loaded on first use in a request."""
    if "current_user" not in g:
        g.current_user = accounts.get_user(g.caller.user_id)
    return g.current_user


def requires(*roles: str):
    """Require a valid bearer token and, if roles are given, one of them.

    Also documents the bearer security requirement and the roles in OpenAPI.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            caller = _bearer_caller()
            if roles and not caller.has_role(*roles):
                raise Forbidden(f"This needs the role {' or '.join(roles)}.", details={"required_roles": list(roles)})
            g.caller = caller
            return view(*args, **kwargs)

        return Blueprint.doc(security=[{"bearerAuth": []}], **{"x-required-roles": list(roles) or ["any"]})(wrapper)

    return decorator


def optional_user() -> User | None:
    """The caller if an Authorization header was sent (it must then be valid), else None."""
    if not request.headers.get("Authorization"):
        return None
    g.caller = _bearer_caller()
    return current_user()
