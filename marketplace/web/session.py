"""Browser sign-in for people's pages: who is signed in, the page decorator, and typed forms kept
across an expired sign-in.

The session cookie outlives a sign-in (SIGN_IN_HOURS), so a form sent after the sign-in ran out
still carries a valid CSRF token: its text fields are kept in the session, the person logs in
again and finds the form filled as they left it (photos must be chosen again: files are not kept).
"""
import enum
import time
from functools import wraps
from urllib.parse import quote, urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from marketplace.accounts import services as accounts
from marketplace.errors import AppError, ErrorCode

SIGN_IN_KEYS = ("user_id", "signed_in_at", "session_generation")
KEPT_FORM = "kept_form"
# A session cookie holds at most 4 KB; longer typed text is not kept rather than breaking the cookie.
KEPT_FIELD_MAX_CHARS = 600
NOT_KEPT = ("csrf_token", "password")


def signed_in_user():
    """The active user of this browser's sign-in, if it has not run out nor been ended (a logout
    anywhere, a deactivation, a new password: accounts.end_page_sessions); cached for the request.

    The account's row, read here anyway, carries the generation to compare, so the check costs
    nothing more; requests that never load the page session (the API, /healthz) never make it."""
    if "page_user" in g:
        return g.page_user
    user = None
    user_id, signed_in_at = session.get("user_id"), session.get("signed_in_at", 0)
    if user_id is not None and time.time() - signed_in_at < current_app.config["SIGN_IN_HOURS"] * 3600:
        try:
            user = accounts.get_user(user_id)
        except AppError:
            user = None
        if user is not None and not accounts.page_session_is_current(user, session.get("session_generation")):
            user = None
    g.page_user = user
    return user


def sign_in(user) -> None:
    """A fresh session for the user (no fixation), keeping only a form typed before the login."""
    kept = session.get(KEPT_FORM)
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["signed_in_at"] = int(time.time())
    session["session_generation"] = user.session_generation
    if kept:
        session[KEPT_FORM] = kept
    g.page_user = user


def sign_out() -> None:
    """End the sign-in, here and in every other browser of the user (a saved copy of this cookie
    stops working too); the CSRF token stays, so a form open in another tab can still be kept.
    Only a sign-in that still holds ends the others: an old cookie cannot sign the user out."""
    user = signed_in_user()
    if user is not None:
        accounts.end_page_sessions(user)
    for key in (*SIGN_IN_KEYS, KEPT_FORM):
        session.pop(key, None)
    g.page_user = None


def local_path(target: str | None) -> str | None:
    """A path on this site to return to after login; anything that could lead elsewhere is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(character) < 0x20 for character in target):
        return None
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else None


def login_url(next_path: str | None = None) -> str:
    return f"{url_for('web.login')}?next={quote(next_path, safe='/')}" if next_path else url_for("web.login")


def here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def _page_of_the_form() -> str | None:
    """The page a sent form was on: its own address if that page can be opened (the listing form),
    else the local page it came from (a ship button on the orders page), else none."""
    try:
        current_app.url_map.bind("").match(request.path, method="GET")
    except HTTPException:
        referrer = urlsplit(request.referrer or "")
        same_site = referrer.netloc in ("", request.host)
        return local_path(referrer.path + (f"?{referrer.query}" if referrer.query else "")) if same_site else None
    return request.path


def _keep_typed_form(path: str) -> None:
    fields = {name: values for name, values in request.form.lists()
              if name not in NOT_KEPT and sum(len(value) for value in values) <= KEPT_FIELD_MAX_CHARS}
    session[KEPT_FORM] = {"path": path, "fields": fields}


def take_kept_form(path: str | None = None):
    """The fields typed into the form at ``path`` (default: this page) before a login, once; or None."""
    kept = session.get(KEPT_FORM)
    if not kept or kept.get("path") != (path or request.path):
        return None
    session.pop(KEPT_FORM)
    return MultiDict([(name, value) for name, values in kept["fields"].items() for value in values])


def error_page(status: int, message: str, code: enum.StrEnum | None = None):
    return render_template("pages/error.html", status=status, message=message, code=code), status


def people_page(*roles: str, refusal=None):
    """A page for signed-in people with one of ``roles``; the view gets the user first.

    Not signed in (or the sign-in ran out): sent to log in and brought back, a sent form's text
    kept. Signed in without the role: a 403 page (``refusal`` says why, if given)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = signed_in_user()
            if user is None:
                if request.method == "POST":
                    form_page = _page_of_the_form()
                    if form_page:
                        _keep_typed_form(form_page)
                    flash(_("Your sign-in ran out. Log in again: what you typed is kept."), "notice")
                    return redirect(login_url(form_page))
                return redirect(login_url(here()))
            if roles and not user.has_role(*roles):
                return error_page(403, str(refusal or _("This page is not for your account.")), ErrorCode.FORBIDDEN)
            return view(user, *args, **kwargs)

        return wrapper

    return decorator


# Each role's home, first match wins: staff to their reports, sellers and partners to their
# desks; buyers (and anyone else) to the storefront.
ROLE_HOMES = (("admin", "admin.reports"), ("official", "admin.reports"), ("seller", "sell.products"),
              ("partner", "station.desk"))


def landing_path(user) -> str:
    """Where a person lands after logging in without a page to return to."""
    for role, endpoint in ROLE_HOMES:
        if user.has_role(role) and endpoint in current_app.view_functions:
            return url_for(endpoint)
    return url_for("web.home")
