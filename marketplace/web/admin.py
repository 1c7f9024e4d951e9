"""Administration pages (/admin) on the people's layout: the reports dashboard of administrators and
officials (an official's within their report scope), and for administrators the review of listings,
flagged sales and exclusions from the official figures, stations' cash and remittances, Stripe
events that need attention, and users' roles. Each page calls the services the API's endpoints
call, with the same rules of who may do what."""
import enum

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.accounts import services as accounts
from marketplace.accounts.errors import AccountErrorCode
from marketplace.catalog import services as catalog
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.taxonomy import CATEGORY_LABELS
from marketplace.claims import services as claims
from marketplace.common.sql import read_replica
from marketplace.errors import AppError, ErrorCode
from marketplace.geo import services as geo
from marketplace.geo.errors import GeoErrorCode
from marketplace.payments import events
from marketplace.reports import access, charts, export, review
from marketplace.reports.errors import ReportErrorCode
from marketplace.reports.periods import PRESETS, InvalidPeriod, PeriodProblem, resolve
from marketplace.reports.schemas import ExportArgs, PeriodArgs
from marketplace.stations import cash
from marketplace.stations import services as stations
from marketplace.stations.errors import StationErrorCode
from marketplace.web import security_headers
from marketplace.web.admin_forms import (
    ROLE_LABELS,
    ApproveForm,
    ExcludeForm,
    RejectForm,
    RemittanceForm,
    RestoreForm,
    RolesForm,
)
from marketplace.web.services import claim_form_token, record_form_result, release_form_token
from marketplace.web.session import error_page, local_path, people_page

bp = Blueprint("admin", __name__, url_prefix="/admin")

STAFF = ("admin", "official")
staff_page = people_page(*STAFF, refusal=_l("This page is for administrators and commerce bureau officials only."))
admin_page = people_page("admin", refusal=_l("This page is for administrators only."))

# The shell's menu: (endpoint, label, roles that see it). Officials read the reports of their
# scope only: every other page acts on the whole platform, which the API keeps for administrators.
MENU = (("admin.reports", _l("Reports"), STAFF), ("admin.review_queue", _l("Listings to review"), ("admin",)),
        ("admin.flags", _l("Flagged sales"), ("admin",)), ("admin.claim_queue", _l("Claims to decide"), ("admin",)),
        ("admin.exclusions", _l("Exclusions"), ("admin",)),
        ("admin.station_list", _l("Stations and cash"), ("admin",)),
        ("admin.payment_events", _l("Payment events"), ("admin",)), ("admin.users", _l("Users and roles"), ("admin",)),
        ("admin_campaigns.campaign_list", _l("Campaigns"), ("admin",)))
# The pages each menu entry stands for (its own and the ones opened from it).
MENU_SECTIONS = {"admin.station": "admin.station_list", "admin.user": "admin.users", "admin.claim": "admin.claim_queue",
                 "admin.claim_act": "admin.claim_queue", "admin_campaigns.campaign": "admin_campaigns.campaign_list"}

PRESET_LABELS = {"today": _l("Today"), "last_7_days": _l("Last 7 days"), "last_30_days": _l("Last 30 days"),
                 "month": _l("This month"), "year": _l("This year"), "double11": _l("Double 11 (1–11 November)")}
# report -> its CSV link on the dashboard; the county ranking is exported whole
EXPORTS = {"summary": _l("Summary"), "counties": _l("County ranking (all)"), "provinces": _l("Provinces"),
           "daily": _l("Daily"), "categories": _l("Categories"), "campaigns": _l("Campaigns")}
ALL_COUNTIES = 3000
PERIOD_FIELDS = {field.data_key or name for name, field in PeriodArgs().fields.items()}
FLAG_LABELS = {"self_dealing": _l("Self-dealing: the buyer is the seller or a station partner of the county"),
               "dominant_buyer": _l("One buyer made most of a county's sales"),
               "late_refund": _l("Refunded after the sale's month was closed"),
               "spike": _l("A county's day far above its usual days"),
               "claim_rate": _l("A seller's claims accepted above the limit"),
               "many_claims": _l("One buyer claimed against many sellers")}
CASH_KINDS = {"collection": _l("Cash collected"), "refund": _l("Cash paid back"),
              "remittance": _l("Handed to the platform")}
PER_PAGE = 20
REVIEW_PER_PAGE = 10
LAST_PAGE = 100_000  # as the API's PageArgs


@bp.context_processor
def shell() -> dict:
    """The administration shell's menu (web.admin_campaigns' pages use it too)."""
    user = g.get("page_user")
    section = MENU_SECTIONS.get(request.endpoint, request.endpoint)
    return {"admin_menu": [(endpoint, label) for endpoint, label, roles in MENU if user and user.has_role(*roles)],
            "admin_section": section, "role_labels": ROLE_LABELS}


class BadPageNumber(AppError):
    status = 400
    code = ErrorCode.VALIDATION_ERROR


def page_number() -> int:
    """The ?page= of a list (1 when absent); anything but a page number is refused."""
    typed = request.args.get("page", "1").strip() or "1"
    if not (typed.isascii() and typed.isdigit()) or not 1 <= int(typed) <= LAST_PAGE:
        raise BadPageNumber("Not a page number.", details={"page": typed[:20]})
    return int(typed)


def page_refused():
    return error_page(400, _("There is no such page number: pages are numbered from 1."), ErrorCode.VALIDATION_ERROR)


def _messages() -> dict[enum.StrEnum, str]:
    """Readers' messages for the domain errors these pages can meet (the services speak English)."""
    return {
        PeriodProblem.PRESET_AND_RANGE: _("Choose a preset period or “by dates”, not both."),
        PeriodProblem.YEAR_WITHOUT_DOUBLE11: _("A year goes with the Double 11 period only."),
        PeriodProblem.HALF_RANGE: _("Give both the first and the last day."),
        PeriodProblem.REVERSED_RANGE: _("The first day is after the last day."),
        PeriodProblem.TOO_LONG: _("A report covers at most five years."),
        PeriodProblem.UNKNOWN_PRESET: _("Pick one of the periods offered."),
        ReportErrorCode.OUT_OF_SCOPE: _("This is outside the counties your account may read."),
        ReportErrorCode.NO_REPORT_SCOPE: _("No report scope has been granted to your account yet: "
                                           "ask an administrator for a province or county."),
        GeoErrorCode.PROVINCE_NOT_FOUND: _("There is no such province in the registry."),
        GeoErrorCode.COUNTY_NOT_FOUND: _("There is no such county in the registry."),
        CatalogErrorCode.PRODUCT_NOT_FOUND: _("There is no such listing."),
        CatalogErrorCode.ILLEGAL_STATUS_CHANGE: _("This listing is no longer waiting for review: someone decided already."),
        ReportErrorCode.SALE_NOT_FOUND: _("This order has no paid sale to exclude."),
        ReportErrorCode.ALREADY_EXCLUDED: _("This sale is already out of the official figures."),
        ReportErrorCode.NOT_EXCLUDED: _("This sale is not excluded (any more)."),
        StationErrorCode.STATION_NOT_FOUND: _("There is no such station."),
        StationErrorCode.REMITTANCE_EXCEEDS_BALANCE: _("That is more than the station owes."),
        AccountErrorCode.USER_NOT_FOUND: _("There is no such account."),
        AccountErrorCode.CANNOT_DEMOTE_SELF: _("You cannot take away your own administrator role or disable your own account."),
        AccountErrorCode.ROLES_REQUIRED: _("Tick at least one role."),
        AccountErrorCode.COUNTY_REQUIRED: _("Sellers and station partners need a county."),
        AccountErrorCode.UNKNOWN_REPORT_SCOPE: _("No province or county has this code in the registry."),
        AccountErrorCode.REPORT_SCOPE_NEEDS_OFFICIAL: _("Only officials have a report scope: tick the official role too."),
    }


def _message(error: AppError) -> str:
    problem = error.details.get("problem") if isinstance(error, InvalidPeriod) else None
    return _messages().get(problem or error.code, _("This could not be done (%(code)s).", code=error.code))


def _show_on(form, error: AppError, fields: dict) -> None:
    """A domain error beside its field (``fields``: code -> field name), else above the form."""
    field = fields.get(error.code)
    if field:
        form[field].errors = [*form[field].errors, _message(error)]
    else:
        form.form_errors.append(_message(error))


def _refused(error: AppError):
    return error_page(error.status, _message(error), error.code)


def _back(default: str) -> str:
    """The page a button was pressed on (its ?next=, a path of this site), else ``default``."""
    return local_path(request.args.get("next")) or default


# ---------------------------------------------------------------- reports


class ReportRefused(Exception):
    """Report arguments that cannot be answered: the status, the messages beside the period form's
    fields and the one above it, all in the reader's language."""

    def __init__(self, status: int, code: enum.StrEnum, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def _field_message(name: str) -> str:
    return {"preset": _("Pick one of the periods offered."),
            "from": _("Pick a day between 2000-01-01 and 2100-12-31, for example 2026-11-11."),
            "to": _("Pick a day between 2000-01-01 and 2100-12-31, for example 2026-11-11."),
            "year": _("A year between 2000 and 2100."),
            "province": _("A 6-digit code, for example 652927."),
            "county": _("A 6-digit code, for example 652927.")}.get(name, _("This value is not valid."))


def _problem_field(problem: PeriodProblem) -> str | None:
    if problem == PeriodProblem.HALF_RANGE:
        return "to" if (request.args.get("from") or "").strip() else "from"
    return {PeriodProblem.PRESET_AND_RANGE: "preset", PeriodProblem.REVERSED_RANGE: "to",
            PeriodProblem.TOO_LONG: "to", PeriodProblem.UNKNOWN_PRESET: "preset"}.get(problem)


def _report_request(user, schema: type[ma.Schema]) -> tuple:
    """The period and counties the query string asks for (empty form fields count as absent; an
    official's within their report scope), and the other arguments the schema loaded."""
    filled = {name: value for name, value in request.args.items() if value.strip()}
    try:
        args = schema(unknown=ma.EXCLUDE).load(filled)
    except ma.ValidationError as error:
        fields = {name: _field_message(name) for name in error.messages}
        raise ReportRefused(422, ErrorCode.VALIDATION_ERROR, _("Please correct the period."), fields) from error
    try:
        scope = access.scope_for(user, province=args.pop("province"), county=args.pop("county"))
        period = resolve(preset=args.pop("preset"), first=args.pop("first"), last=args.pop("last"), year=args.pop("year"))
    except AppError as error:
        raise _report_refusal(error) from error
    return period, scope, args


def _report_refusal(error: AppError) -> ReportRefused:
    """A service's refusal of a report's arguments (the period, the counties), shown on the form."""
    if isinstance(error, InvalidPeriod):
        field = _problem_field(error.details["problem"])
    elif error.code in (ReportErrorCode.OUT_OF_SCOPE, GeoErrorCode.PROVINCE_NOT_FOUND):
        field = "province"
    else:
        field = None
    return ReportRefused(error.status, error.code, _message(error), {field: _message(error)} if field else {})


def _export_links() -> dict[str, str]:
    """The CSV download of each report, for the period and counties on the page."""
    period = {name: value for name, value in request.args.items() if name in PERIOD_FIELDS and value.strip()}
    return {str(label): url_for("admin.report_csv", report=report, **period,
                                **({"limit": ALL_COUNTIES} if report == "counties" else {}))
            for report, label in EXPORTS.items()}


def _chart_words() -> charts.ChartWords:
    """The charts' words in the reader's language."""
    return charts.ChartWords(daily_title=_("Net sales each day (yuan)"), province_title=_("Net sales by province (yuan)"),
                             poverty_series=_("National poverty counties"), other_series=_("Other counties"),
                             no_data=_("No data yet"), short_day=_("{month}/{day}"))


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


@bp.get("/reports")
@staff_page
def reports(user):
    """Where administrators and officials land: the figures, charts and rankings of a period."""
    english = str(get_locale()) == "en"
    page = {"form": request.args, "presets": {code: PRESET_LABELS.get(code, code) for code in PRESETS},
            "scope_label": _scope_label(user), "provinces": geo.list_provinces() if user.has_role("admin") else [],
            "categories": {code.value: en if english else zh for code, (zh, en) in CATEGORY_LABELS.items()}}
    nonce = security_headers.style_nonce()  # the charts' style elements apply by it
    try:
        period, scope, _unused = _report_request(user, PeriodArgs)
        with read_replica():  # as the reports' API (reports/routes.py): the scope is decided on the primary
            board = charts.dashboard(period, scope, style_nonce=nonce, words=_chart_words())
    except (AppError, ReportRefused) as error:  # the report checks the counties asked for itself
        refused = error if isinstance(error, ReportRefused) else _report_refusal(error)
        return render_template("pages/admin/reports.html", **page, error=refused.message,
                               field_errors=refused.fields), refused.status
    return (render_template("pages/admin/reports.html", **page, board=board, exports=_export_links(), field_errors={}),
            200, {"Content-Security-Policy": security_headers.page_policy(style_src=[f"'nonce-{nonce}'"])})


@bp.get(f"/reports/<any({', '.join(EXPORTS)}):report>.csv")
@staff_page
def report_csv(user, report):
    """A report as CSV for the signed-in administrator or official (the API's export needs a bearer token)."""
    try:
        period, scope, args = _report_request(user, ExportArgs)
        lang = args.pop("lang")
        with read_replica():
            rows = export.report_rows(report, period, scope, **args)
    except AppError as error:
        return error_page(error.status, _message(error), error.code)
    except ReportRefused as refused:
        return error_page(refused.status, " ".join([refused.message, *refused.fields.values()]), refused.code)
    return export.csv_response(report, period, rows, lang)


# ---------------------------------------------------------------- listings waiting for review


def _review_page(number: int, failed: tuple[int, RejectForm] | None = None, status: int = 200, problem: str = ""):
    queue = catalog.review_queue(page=number, per_page=REVIEW_PER_PAGE)
    forms = {product.id: RejectForm(formdata=None) for product in queue.items}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    rates = {seller: claims.seller_claim_rate(seller) for seller in {product.seller_user_id for product in queue.items}}
    return render_template("pages/admin/review.html", queue=queue, reject_forms=forms, approve_form=ApproveForm(),
                           claim_rates=rates,
                           problem=problem), status


@bp.get("/review")
@admin_page
def review_queue(user):
    """Listings waiting for review, oldest first, a page at a time."""
    try:
        return _review_page(page_number())
    except BadPageNumber:
        return page_refused()


def _queue_page_of_the_form() -> int:
    try:
        return page_number()
    except BadPageNumber:
        return 1


@bp.post("/review/<id:product_id>/approve")
@admin_page
def approve(user, product_id):
    number = _queue_page_of_the_form()
    if ApproveForm().validate():
        try:
            product = catalog.approve_product(product_id, user)
        except AppError as error:
            if error.status == 404:
                return _refused(error)
            return _review_page(number, status=error.status, problem=_message(error))
        flash(_("Approved: “%(title)s” is on sale.", title=product.title), "notice")
    return redirect(url_for(".review_queue", page=number))


@bp.post("/review/<id:product_id>/reject")
@admin_page
def reject(user, product_id):
    number = _queue_page_of_the_form()
    form = RejectForm()
    if not form.validate():
        return _review_page(number, failed=(product_id, form), status=422)
    try:
        product = catalog.reject_product(product_id, user, form.reason.data)
    except AppError as error:
        if error.status == 404:
            return _refused(error)
        return _review_page(number, status=error.status, problem=_message(error))
    flash(_("Rejected: “%(title)s”. The seller sees your reason.", title=product.title), "notice")
    return redirect(url_for(".review_queue", page=number))


# ---------------------------------------------------------------- flagged sales and exclusions


@bp.get("/flags")
@admin_page
def flags(user):
    """Anomaly flags on poverty-county sales in a period, each order with a button to exclude it."""
    page = {"form": request.args, "presets": {code: PRESET_LABELS.get(code, code) for code in PRESETS},
            "flag_labels": FLAG_LABELS}
    try:
        period, scope, _unused = _report_request(user, PeriodArgs)
        found = review.anomaly_flags(period, scope)
    except (AppError, ReportRefused) as error:
        refused = error if isinstance(error, ReportRefused) else _report_refusal(error)
        return render_template("pages/admin/flags.html", **page, error=refused.message,
                               field_errors=refused.fields), refused.status
    return render_template("pages/admin/flags.html", **page, period=period, found=found, field_errors={},
                           exclude_form=ExcludeForm(formdata=None))


EXCLUSION_FIELDS = {ReportErrorCode.SALE_NOT_FOUND: "order_id", ReportErrorCode.ALREADY_EXCLUDED: "order_id"}


def _exclusions_page(exclude_form=None, failed: tuple[int, RestoreForm] | None = None, status: int = 200,
                     number: int = 1, problem: str = ""):
    listed = review.exclusions(active_only=True, page=number, per_page=PER_PAGE)
    forms = {exclusion.order_id: RestoreForm(formdata=None) for exclusion in listed.items}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    return render_template("pages/admin/exclusions.html", listed=listed, restore_forms=forms, problem=problem,
                           exclude_form=exclude_form or ExcludeForm(formdata=None), flag_labels=FLAG_LABELS,
                           names=_names(exclusion.excluded_by_user_id for exclusion in listed.items)), status


def _names(user_ids) -> dict[int, str]:
    return {user_id: accounts.get_user(user_id).display_name for user_id in set(user_ids)}


@bp.get("/exclusions")
@admin_page
def exclusions(user):
    """Sales out of the official figures, newest first, each with a form to put it back; and a form
    to take an order's sales out."""
    try:
        return _exclusions_page(number=page_number())
    except BadPageNumber:
        return page_refused()


@bp.post("/exclusions")
@admin_page
def exclude(user):
    form = ExcludeForm()
    if form.validate():
        try:
            review.exclude_sale(form.order_id.data, user, reason=form.reason.data, flag=form.flag.data or None)
        except AppError as error:
            _show_on(form, error, EXCLUSION_FIELDS)
            return _exclusions_page(form, status=error.status)
        flash(_("Order %(id)d is out of the official figures.", id=form.order_id.data), "notice")
        return redirect(_back(url_for(".exclusions")))
    return _exclusions_page(form, status=422)


@bp.post("/exclusions/<id:order_id>/restore")
@admin_page
def restore(user, order_id):
    form = RestoreForm()
    if form.validate():
        try:
            review.include_sale(order_id, user, reason=form.reason.data)
        except AppError as error:
            return _exclusions_page(status=error.status, problem=_message(error))
        flash(_("Order %(id)d is back in the official figures.", id=order_id), "notice")
        return redirect(url_for(".exclusions"))
    return _exclusions_page(failed=(order_id, form), status=422)


# ---------------------------------------------------------------- stations and their cash


@bp.get("/stations")
@admin_page
def station_list(user):
    """Every station, closed ones too, with the cash each owes the platform."""
    try:
        listed = stations.list_stations(viewer=user, include_inactive=True, page=page_number(), per_page=PER_PAGE)
    except BadPageNumber:
        return page_refused()
    owed = {station.id: cash.balance_fen(station.id) for station in listed.items}
    return render_template("pages/admin/stations.html", listed=listed, owed=owed)


def _station_page(user, station_id: int, form: RemittanceForm | None = None, status: int = 200, number: int = 1):
    station = stations.get_station(station_id, include_inactive=True)
    ledger = cash.cash_ledger(station_id, user, page=number, per_page=PER_PAGE)
    return render_template("pages/admin/station.html", station=station, ledger=ledger, cash_kinds=CASH_KINDS,
                           form=form or RemittanceForm(formdata=None)), status


@bp.get("/stations/<id:station_id>")
@admin_page
def station(user, station_id):
    """A station's cash ledger and what it owes, with the form to record a remittance."""
    try:
        return _station_page(user, station_id, number=page_number())
    except BadPageNumber:
        return page_refused()
    except AppError as error:
        return _refused(error)


@bp.post("/stations/<id:station_id>/remittances")
@admin_page
def remit(user, station_id):
    """Record cash a station handed over, once however often the form is sent (a double tap, a
    resend after a slow answer): money must not be counted twice."""
    form = RemittanceForm()
    station_page = url_for(".station", station_id=station_id)
    try:
        if not form.validate():
            return _station_page(user, station_id, form, 422)
        token = form.form_token.data
        claimed, earlier = claim_form_token(token, user.id)
        if not claimed:
            flash(_("This form was already sent; it was acted on once."), "notice")
            return redirect(earlier or station_page)
        try:
            cash.record_remittance(station_id, user, amount_fen=form.amount.data,
                                   reference=form.reference.data, note=(form.note.data or "").strip() or None)
        except Exception as error:
            release_form_token(token)
            if not isinstance(error, AppError) or error.code != StationErrorCode.REMITTANCE_EXCEEDS_BALANCE:
                raise
            form.amount.errors = [_("That is more than the station owes (¥%(yuan)s).",
                                    yuan=charts.yuan(error.details["balance_fen"]))]
            return _station_page(user, station_id, form, error.status)
        record_form_result(token, station_page)
        flash(_("Remittance of ¥%(yuan)s recorded.", yuan=charts.yuan(form.amount.data)), "notice")
        return redirect(station_page)
    except AppError as error:
        return _refused(error)


# ---------------------------------------------------------------- payments


@bp.get("/payments")
@admin_page
def payment_events(user):
    """Stripe events recorded but not applied (an amount that does not match, an unknown intent...)."""
    try:
        listed = events.flagged_events(page=page_number(), per_page=PER_PAGE)
    except BadPageNumber:
        return page_refused()
    return render_template("pages/admin/payments.html", listed=listed)


# ---------------------------------------------------------------- users and roles


ROLE_FIELDS = {AccountErrorCode.CANNOT_DEMOTE_SELF: "roles", AccountErrorCode.ROLES_REQUIRED: "roles",
               AccountErrorCode.COUNTY_REQUIRED: "county_adcode", GeoErrorCode.COUNTY_NOT_FOUND: "county_adcode",
               AccountErrorCode.UNKNOWN_REPORT_SCOPE: "report_scope",
               AccountErrorCode.REPORT_SCOPE_NEEDS_OFFICIAL: "report_scope"}


@bp.get("/users")
@admin_page
def users(user):
    """Accounts, oldest first, optionally of one role."""
    role = request.args.get("role") or None
    if role is not None and role not in {code.value for code in ROLE_LABELS}:
        return error_page(400, _("There is no such role."), ErrorCode.VALIDATION_ERROR)
    try:
        listed = accounts.list_users(role=role, page=page_number(), per_page=PER_PAGE)
    except BadPageNumber:
        return page_refused()
    return render_template("pages/admin/users.html", listed=listed, role=role)


def _account_form(account) -> RolesForm:
    scope = account.report_scope
    return RolesForm(formdata=None, roles=list(account.roles), county_adcode=account.county_adcode or "",
                     report_scope=scope.adcode if scope is not None else "", is_active=account.is_active)


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@admin_page
def user(user, user_id):
    """One account: its roles, county, an official's report scope, and whether it may sign in."""
    try:
        account = accounts.get_user(user_id)
    except AppError as error:
        return _refused(error)
    if request.method == "GET":
        return render_template("pages/admin/user.html", account=account, form=_account_form(account))
    form = RolesForm()
    if form.validate():
        try:
            accounts.update_user(user_id, acting_user_id=user.id, **form.changes())
        except AppError as error:
            _show_on(form, error, ROLE_FIELDS)
            return render_template("pages/admin/user.html", account=account, form=form), error.status
        flash(_("Saved the account of %(name)s.", name=account.display_name), "notice")
        return redirect(url_for(".user", user_id=user_id))
    return render_template("pages/admin/user.html", account=account, form=form), 422

