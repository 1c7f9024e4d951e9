"""Browser pages: a landing page, cookie-session login with CSRF-protected forms, the language
switch, and the reports dashboard of administrators and officials (an official's within their
report scope)."""
import enum
from functools import wraps

import marshmallow as ma
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from marketplace.accounts import services as accounts
from marketplace.catalog.taxonomy import CATEGORY_LABELS
from marketplace.common.schemas import unstorable_text
from marketplace.common.sql import read_replica
from marketplace.common.time import BUSINESS_TZ
from marketplace.errors import AppError, ErrorCode, InvalidInput
from marketplace.extensions import login_attempts, registrations
from marketplace.geo import services as geo
from marketplace.reports import access, charts, export
from marketplace.reports.periods import PRESETS, resolve
from marketplace.reports.schemas import ExportArgs, PeriodArgs
from marketplace.web import language, storefront
from marketplace.web.buy_forms import SIGNUP_REFUSALS, SignupForm
from marketplace.web.cart import merge_visitor_cart
from marketplace.web.session import here, landing_path, local_path, login_url, sign_in, sign_out, signed_in_user

# Not /static: the app reserves that URL for its own (absent) static folder, which would shadow these files.
bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

PRESET_LABELS = {"today": "今天", "last_7_days": "近 7 天", "last_30_days": "近 30 天", "month": "本月",
                 "year": "今年", "double11": "双 11（11月1日—11日）"}
# report -> its CSV link on the dashboard; the county ranking is exported whole
EXPORTS = {"summary": "汇总", "counties": "县域排名（全部）", "provinces": "各省", "daily": "每日", "categories": "品类"}
ALL_COUNTIES = 3000


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


def reports_page(view):
    """Administrators and officials only: others are sent to log in, or shown a 403 page; the view
    gets the user."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user = signed_in_user()
        if user is None:
            return redirect(login_url(here()))
        if not user.has_role("admin", "official"):
            return _error_page(user, 403, ErrorCode.FORBIDDEN, "此页面仅限管理员和商务主管部门人员访问。")
        return view(user, *args, **kwargs)

    return wrapper


def _error_page(user, status: int, code: enum.StrEnum, message: str):
    return render_template("error.html", user=user, status=status, code=code, message=message), status


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


PERIOD_FIELDS = {field.data_key or name for name, field in PeriodArgs().fields.items()}


def _period_and_scope(user, schema: type[ma.Schema]) -> tuple:
    """The period and counties the query string asks for (empty form fields count as absent; an
    official's within their report scope), and the other arguments the schema loaded."""
    filled = {name: value for name, value in request.args.items() if value.strip()}
    try:
        args = schema(unknown=ma.EXCLUDE).load(filled)
    except ma.ValidationError as error:
        problems = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in error.messages.items())
        raise InvalidInput(f"Invalid report arguments: {problems}", details=error.messages) from error
    scope = access.scope_for(user, province=args.pop("province"), county=args.pop("county"))
    period = resolve(preset=args.pop("preset"), first=args.pop("first"), last=args.pop("last"), year=args.pop("year"))
    return period, scope, args


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
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


def _export_links() -> dict[str, str]:
    """The CSV download of each report, for the period and counties on the page."""
    period = {name: value for name, value in request.args.items() if name in PERIOD_FIELDS and value.strip()}
    return {label: url_for("web.admin_report_csv", report=report, **period,
                           **({"limit": ALL_COUNTIES} if report == "counties" else {}))
            for report, label in EXPORTS.items()}


def _scope_label(user) -> str | None:
    """What an official's dashboard covers, in words (None for administrators, who choose)."""
    if user.has_role("admin"):
        return None
    granted = accounts.report_scope_of(user)
    if granted is None:
        return None
    if granted.province_adcode:
        return geo.get_province(granted.province_adcode).name
    county = geo.get_county(granted.county_adcode)
    return f"{county.province.name} {county.name}"


@bp.get("/admin/reports")
@reports_page
def admin_reports(user):
    page = {"user": user, "form": request.args, "presets": {code: PRESET_LABELS.get(code, code) for code in PRESETS},
            "scope_label": _scope_label(user), "provinces": geo.list_provinces() if user.has_role("admin") else [],
            "categories": {code.value: zh for code, (zh, _) in CATEGORY_LABELS.items()}}
    try:
        period, scope, _ = _period_and_scope(user, PeriodArgs)
        with read_replica():  # as the reports' API (reports/routes.py): the scope is decided on the primary
            board = charts.dashboard(period, scope)
    except AppError as error:
        return render_template("admin_reports.html", **page, error=error.message), error.status
    return render_template("admin_reports.html", **page, board=board, exports=_export_links())


@bp.get(f"/admin/reports/<any({', '.join(EXPORTS)}):report>.csv")
@reports_page
def admin_report_csv(user, report):
    """A report as CSV for the signed-in administrator or official (the API's export needs a bearer token)."""
    try:
        period, scope, args = _period_and_scope(user, ExportArgs)
        lang = args.pop("lang")
        with read_replica():
            rows = export.report_rows(report, period, scope, **args)
    except AppError as error:
        return _error_page(user, error.status, error.code, error.message)
    return export.csv_response(report, period, rows, lang)

