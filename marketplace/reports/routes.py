"""Report endpoints for administrators and officials (within their report scope): summary, rankings,
daily series, categories, top products, CSV; review endpoints for administrators.

The reports read the read replica (``common.sql.read_replica``; the primary when none is
configured): their figures come from rollups that already trail the sales by the rollup job's
interval and say how fresh they are, so a replica's lag of seconds only adds to that, and the
stored reports are read on the replica together with the basis they are checked against. Who
may read what (the caller's roles and report scope) is decided on the primary first, so that a
scope taken away holds at once. The review endpoints stay on the primary: an administrator
acts on what they list and must see the exclusion just made.
"""
from flask.views import MethodView

from marketplace.accounts.auth import current_user, requires
from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.common.sql import read_replica
from marketplace.errors import ErrorOut
from marketplace.extensions import Blueprint
from marketplace.reports import access, campaign_sales, export, queries, review, snapshots
from marketplace.reports.periods import resolve
from marketplace.reports.schemas import (
    AuditPageOut,
    CampaignListOut,
    CampaignReportArgs,
    CampaignReportOut,
    CategoryReportOut,
    ClaimRateOut,
    CountyRankingOut,
    DailySeriesOut,
    ExclusionIn,
    ExclusionListArgs,
    ExclusionOut,
    ExclusionPageOut,
    ExportArgs,
    FlagListOut,
    HouseholdHistoryOut,
    HouseholdReviewIn,
    HouseholdReviewOut,
    InclusionIn,
    PeriodArgs,
    ProvinceRankingOut,
    RankingArgs,
    SummaryOut,
    TopProductsArgs,
    TopProductsOut,
)

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description=(
    "Poverty-alleviation sales reports; days are Asia/Shanghai days. Administrators read every county. "
    "Officials (role official) read their report scope only, one province or one county granted by an "
    "administrator: without province/county a report covers the whole scope; naming a province or county "
    "outside it is 403 out_of_scope (CSV too); an official without a scope gets 403 no_report_scope."))
READERS = ("admin", "official")
SCOPE_ERRORS = ("forbidden (neither an administrator nor an official), out_of_scope (a province or county outside "
                "the official's report scope) or no_report_scope (an official without one)")


def _scope(args: dict) -> queries.Scope:
    """The counties the caller asked for, within what they may read (pops province and county)."""
    return access.scope_for(current_user(), province=args.pop("province", None), county=args.pop("county", None))


def _period(args: dict):
    return resolve(preset=args.pop("preset"), first=args.pop("first"), last=args.pop("last"), year=args.pop("year"))


def _period_and_scope(args: dict):
    scope = _scope(args)
    return _period(args), scope


@bp.route("/summary")
class Summary(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(PeriodArgs(), location="query")
    @bp.response(200, SummaryOut)
    def get(self, args):
        """Rural online sales of a period: poverty and demonstration counties' shares, growth on a year earlier, peak day"""
        scope = _scope(args)
        with read_replica():
            if (stored := snapshots.stored("summary", args, scope)) is not None:
                return stored
            return queries.summary(_period(args), scope)


@bp.route("/counties")
class CountyRanking(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(RankingArgs(), location="query")
    @bp.response(200, CountyRankingOut)
    def get(self, args):
        """Counties ranked by net sales, with their poverty and demonstration flags"""
        scope = _scope(args)
        with read_replica():
            if (stored := snapshots.stored("counties", args, scope)) is not None:
                return stored
            period = _period(args)
            return queries.with_freshness(period, queries.county_ranking(period, scope, **args))


@bp.route("/provinces")
class ProvinceRanking(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(PeriodArgs(), location="query")
    @bp.response(200, ProvinceRankingOut)
    def get(self, args):
        """Provinces ranked by net sales, with the poverty counties' share"""
        scope = _scope(args)
        with read_replica():
            if (stored := snapshots.stored("provinces", args, scope)) is not None:
                return stored
            period = _period(args)
            return queries.with_freshness(period, queries.province_ranking(period, scope))


@bp.route("/daily")
class DailySeries(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(PeriodArgs(), location="query")
    @bp.response(200, DailySeriesOut)
    def get(self, args):
        """Net sales day by day (zeros for days without sales)"""
        scope = _scope(args)
        with read_replica():
            if (stored := snapshots.stored("daily", args, scope)) is not None:
                return stored
            period = _period(args)
            return queries.with_freshness(period, queries.daily_series(period, scope))


@bp.route("/categories")
class Categories(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(PeriodArgs(), location="query")
    @bp.response(200, CategoryReportOut)
    def get(self, args):
        """Net sales by category"""
        scope = _scope(args)
        with read_replica():
            if (stored := snapshots.stored("categories", args, scope)) is not None:
                return stored
            period = _period(args)
            return queries.with_freshness(period, queries.by_category(period, scope))


@bp.route("/counties/<adcode>/top-products")
class TopProducts(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(TopProductsArgs(), location="query")
    @bp.response(200, TopProductsOut)
    def get(self, args, adcode):
        """A county's best-selling products in the period"""
        limit = args.pop("limit")
        county = access.county_for(current_user(), adcode)
        period = _period(args)
        with read_replica():
            return queries.with_freshness(period, queries.top_products(period, county, limit=limit))


@bp.route("/campaigns")
class Campaigns(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(PeriodArgs(), location="query")
    @bp.response(200, CampaignListOut)
    def get(self, args):
        """Campaigns whose window overlaps the period, each with its sales, units, orders, buyers and poverty share"""
        period, scope = _period_and_scope(args)
        with read_replica():
            return {"period": period, "items": campaign_sales.campaigns_in_period(period, scope)}


@bp.route("/campaigns/<id:campaign_id>")
class CampaignReport(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.alt_response(404, schema=ErrorOut, description=f"{CampaignErrorCode.CAMPAIGN_NOT_FOUND}: no campaign with this id")
    @bp.arguments(CampaignReportArgs(), location="query")
    @bp.response(200, CampaignReportOut)
    def get(self, args, campaign_id):
        """One campaign's figures (all its sales and refunds), and its listings'"""
        scope = _scope(args)
        with read_replica():
            return campaign_sales.campaign_report(campaign_id, scope)


@bp.route("/<any(summary, counties, provinces, daily, categories, campaigns):report>.csv")
class Export(MethodView):
    @requires(*READERS)
    @bp.alt_response(403, schema=ErrorOut, description=SCOPE_ERRORS)
    @bp.arguments(ExportArgs(), location="query")
    @bp.response(200, content_type="text/csv")
    @bp.doc(responses={"200": {"description": "UTF-8 with a byte-order mark; opens in Excel",
                               "content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, args, report):
        """A report as CSV, with Chinese (default) or English headers"""
        lang = args.pop("lang")
        period, scope = _period_and_scope(args)
        with read_replica():
            rows = export.report_rows(report, period, scope, **args)
        return export.csv_response(report, period, rows, lang)


review_bp = Blueprint("review", __name__, url_prefix="/api/v1/review",
                      description="Review of poverty-county sales: households, anomaly flags, exclusions, audit log")


@review_bp.route("/flags")
class Flags(MethodView):
    @requires("admin")
    @review_bp.arguments(PeriodArgs(), location="query")
    @review_bp.response(200, FlagListOut)
    def get(self, args):
        """Anomaly flags on poverty-county sales in a period (self-dealing, dominant buyer, late refund, spike)"""
        period, scope = _period_and_scope(args)
        return queries.with_freshness(period, review.anomaly_flags(period, scope))


@review_bp.route("/orders/<id:order_id>/exclusion")
class Exclusion(MethodView):
    @requires("admin")
    @review_bp.arguments(ExclusionIn())
    @review_bp.response(201, ExclusionOut)
    def post(self, fields, order_id):
        """Take an order's sales out of the official figures, with a reason"""
        return review.exclude_sale(order_id, current_user(), **fields)


@review_bp.route("/orders/<id:order_id>/inclusion")
class Inclusion(MethodView):
    @requires("admin")
    @review_bp.arguments(InclusionIn())
    @review_bp.response(200, ExclusionOut)
    def post(self, fields, order_id):
        """Put an excluded sale back into the official figures, with a reason"""
        return review.include_sale(order_id, current_user(), **fields)


@review_bp.route("/exclusions")
class Exclusions(MethodView):
    @requires("admin")
    @review_bp.arguments(ExclusionListArgs(), location="query")
    @review_bp.response(200, ExclusionPageOut)
    def get(self, args):
        """Sales excluded from the official figures (active ones by default)"""
        return review.exclusions(**args)


@review_bp.route("/sellers/<id:seller_user_id>/household")
class Household(MethodView):
    @requires("admin")
    @review_bp.response(200, HouseholdHistoryOut)
    def get(self, seller_user_id):
        """Whether a seller is a registered poor household, with every decision"""
        history = review.household_reviews(seller_user_id)
        return {"seller_user_id": seller_user_id, "status": history[0].status if history else None, "items": history}

    @requires("admin")
    @review_bp.arguments(HouseholdReviewIn())
    @review_bp.response(201, HouseholdReviewOut)
    def post(self, fields, seller_user_id):
        """Record that a seller is (or is not, or no longer) a registered poor household, with the evidence"""
        return review.review_household(seller_user_id, current_user(), **fields)


@review_bp.route("/audit-log")
class AuditLog(MethodView):
    @requires("admin")
    @review_bp.arguments(ExclusionListArgs(only=("page", "per_page")), location="query")
    @review_bp.response(200, AuditPageOut)
    def get(self, args):
        """Every review action, newest first"""
        return review.audit_log(**args)


@review_bp.route("/sellers/<id:seller_user_id>/claim-rate")
class SellerClaimRate(MethodView):
    @requires("admin")
    @review_bp.response(200, ClaimRateOut)
    def get(self, seller_user_id):
        """A seller's claims accepted / lines delivered over the last CLAIM_REVIEW_DAYS (flagged above CLAIM_RATE_FLAG %)"""
        return review.seller_claim_rate(seller_user_id)
