"""Browser pages: a landing page, cookie-session login with CSRF-protected forms, the language
switch, the error texts and filters every page uses (the administration pages: web.admin)."""
import enum
from datetime import datetime

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from marketplace.accounts import services as accounts
from marketplace.common.schemas import unstorable_text
from marketplace.common.time import BUSINESS_TZ
from marketplace.errors import AppError, ErrorCode
from marketplace.extensions import login_attempts, registrations
from marketplace.reports import charts
from marketplace.web import language, storefront
from marketplace.web.buy_forms import SIGNUP_REFUSALS, SignupForm
from marketplace.web.cart import merge_visitor_cart
from marketplace.web.session import landing_path, local_path, sign_in, sign_out

# Not /static: the app reserves that URL for its own (absent) static folder, which would shadow these files.
bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")


@bp.app_context_processor
def _page_language() -> dict:
    locale = str(get_locale())
    return {"current_locale": locale, "html_lang": language.html_lang(locale), "languages": language.LANGUAGES}


@bp.get("/")
def home():
    """The storefront's home page, for everyone (web.storefront)."""
    return storefront.home_page()


@bp.route("/login", methods=["GET", "POST"])
@login_attempts  # one allowance with the API's login (extensions.login_attempts)
def login():
    error = None
    identifier = request.form.get("identifier", "").strip()
    next_path = local_path(request.form.get("next") or request.args.get("next"))
    if request.method == "POST":
        password = request.form.get("password", "")
        try:
            if unstorable_text([identifier, password]):  # no account has such a phone or password
                raise accounts.InvalidCredentials()
            user = accounts.authenticate_password(identifier, password)
        except AppError as exc:
            error = _("Wrong phone number or password.") if exc.status == 401 else _("This account is disabled.")
        else:
            sign_in(user)
            merge_visitor_cart(user)
            return redirect(next_path or landing_path(user))
    return render_template("pages/login.html", error=error, identifier=identifier, next_path=next_path), \
        401 if error else 200


@bp.route("/signup", methods=["GET", "POST"])
@registrations  # one allowance with the API's registration (extensions.registrations)
def signup():
    """A buyer's account (phone, name, password), signed in at once, with the visitor's cart."""
    next_path = local_path(request.form.get("next") or request.args.get("next"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.register_user(phone=form.phone.data.strip(), display_name=form.display_name.data.strip(),
                                          password=form.password.data, roles=["buyer"],
                                          locale="en" if str(get_locale()) == "en" else "zh_CN")
        except AppError as error:
            if error.code not in SIGNUP_REFUSALS:
                raise
            field, message = SIGNUP_REFUSALS[error.code]
            form[field].errors = [message]
        else:
            sign_in(user)
            merge_visitor_cart(user)
            return redirect(next_path or landing_path(user))
    return render_template("pages/signup.html", form=form, next_path=next_path), 422 if form.is_submitted() else 200


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("web.login"))


@bp.get("/language/<any(zh, en):locale>")
def set_language(locale):
    """The language switch: remembered in a cookie, then back to the page it was pressed on."""
    response = redirect(local_path(request.args.get("next")) or url_for("web.home"))
    response.set_cookie(language.COOKIE, locale, max_age=language.COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _error_messages() -> dict[enum.StrEnum, str]:
    """The errors any page may answer with, in the reader's language (error.html)."""
    return {
        ErrorCode.CSRF_FAILED: _("This form has expired. Go back, reload the page and send it again."),
        ErrorCode.PAYLOAD_TOO_LARGE: _("What you sent is too large. Photos may be at most 10 MB each."),
        ErrorCode.RATE_LIMITED: _("Too many tries. Wait a minute and try again."),
        ErrorCode.CONFLICT_RETRY: _("Someone else changed this at the same moment. Go back, reload the page and try again."),
        ErrorCode.NOT_FOUND: _("There is no such page."),
        ErrorCode.INTERNAL_ERROR: _("Something went wrong on our side. Please try again."),
    }


@bp.app_template_global()
def error_page_text(code: enum.StrEnum, message: str) -> tuple[str, str | None]:
    """An error page's headline, in the reader's language when the error is a known one, and the
    service's own (English) message under it when that says more (an internal error's does not)."""
    known = _error_messages().get(code)
    if known is None:
        return message, None
    return known, None if code == ErrorCode.INTERNAL_ERROR or message == known else message


@bp.app_template_filter("yuan")
def _yuan(fen: int) -> str:
    return charts.yuan(fen)


@bp.app_template_filter("percent")
def _percent(share: float | None) -> str:
    return charts.percent(share)


@bp.app_template_filter("growth")
def _growth(share: float | None) -> str:
    return charts.percent(share, signed=True)


@bp.app_template_filter("shanghai_time")
def _shanghai_time(moment) -> str:
    """A moment (a datetime, or ISO 8601 text as the campaigns' dicts give it) in Beijing time."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")
