"""Query arguments and output schemas of the reports."""
from datetime import date

import marshmallow as ma
from marshmallow import validate

from marketplace.common.schemas import NOT_BLANK, PageArgs, Schema, UtcDateTime, adcode_field, page_of
from marketplace.common.time import BUSINESS_TZ
from marketplace.reports.models import HOUSEHOLD_STATUSES
from marketplace.reports.periods import PRESETS
from marketplace.reports.review import FLAG_KINDS

# The days a report may name (as for the double11 year); beyond them the year-earlier comparison
# could fall outside the calendar.
REPORT_DAYS = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31))


class PeriodArgs(Schema):
    preset = ma.fields.String(load_default=None, validate=validate.OneOf(PRESETS), metadata={
        "description": "today, last_7_days, last_30_days (the default), month, year (to date), or double11 "
                       "(1-11 November; the summary adds 11 November alone)"})
    first = ma.fields.Date(data_key="from", load_default=None, validate=REPORT_DAYS,
                           metadata={"description": "First day (Asia/Shanghai), inclusive"})
    last = ma.fields.Date(data_key="to", load_default=None, validate=REPORT_DAYS,
                          metadata={"description": "Last day (Asia/Shanghai), inclusive"})
    year = ma.fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100),
                             metadata={"description": "The year of a double11 period"})
    province = adcode_field(load_default=None, metadata={"description": "Only this province (its code)"})
    county = adcode_field(load_default=None, metadata={"description": "Only this county"})


class RankingArgs(PeriodArgs):
    poverty_only = ma.fields.Boolean(load_default=False)
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=3000))


class TopProductsArgs(PeriodArgs):
    limit = ma.fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))

    class Meta:
        exclude = ("province", "county")


class ExportArgs(RankingArgs):
    lang = ma.fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")),
                            metadata={"description": "Column headers in Chinese (default) or English"})


class PeriodOut(Schema):
    first_day = ma.fields.Date(required=True, attribute="first")
    last_day = ma.fields.Date(required=True, attribute="last")
    days = ma.fields.Integer(required=True)
    preset = ma.fields.String(allow_none=True)


class FreshnessOut(Schema):
    last_rollup_at = UtcDateTime(allow_none=True, metadata={"description": "When the rollups were last brought up to date"})
    rows_waiting = ma.fields.Integer(required=True, metadata={"description": "Ledger rows not yet in the figures"})


class FiguresOut(Schema):
    net_fen = ma.fields.Integer(required=True, metadata={
        "description": "Rural online sales: paid goods minus refunds and sales excluded by review"})
    gross_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    excluded_fen = ma.fields.Integer(required=True, metadata={"description": "Taken out of the official figures by review"})
    units = ma.fields.Integer(required=True)
    orders = ma.fields.Integer(required=True, metadata={
        "description": "Orders per county and day, added up; sales excluded by review are not counted"})
    buyers = ma.fields.Integer(required=True, metadata={
        "description": "Distinct buyers in the period with a sale that counts (not excluded by review)"})
    sellers = ma.fields.Integer(required=True, metadata={
        "description": "Distinct sellers in the period with a sale that counts (not excluded by review)"})
    poverty_net_fen = ma.fields.Integer(required=True, metadata={"description": "Of which national poverty counties"})
    poverty_share = ma.fields.Float(allow_none=True)
    demonstration_net_fen = ma.fields.Integer(required=True, metadata={"description": "Of which demonstration counties"})
    demonstration_share = ma.fields.Float(allow_none=True)


class PreviousYearOut(Schema):
    first_day = ma.fields.Date(required=True)
    last_day = ma.fields.Date(required=True)
    net_fen = ma.fields.Integer(required=True)
    poverty_net_fen = ma.fields.Integer(required=True)
    growth = ma.fields.Float(allow_none=True, metadata={"description": "Null when the year before sold nothing"})
    poverty_growth = ma.fields.Float(allow_none=True)


class ShanghaiTime(ma.fields.DateTime):
    """A moment shown in Asia/Shanghai time (+08:00), as campaigns are given and shown."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.astimezone(BUSINESS_TZ).isoformat()


class CampaignRowOut(Schema):
    campaign_id = ma.fields.Integer(required=True)
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    starts_at = ShanghaiTime(required=True, metadata={"description": "Start, ISO 8601 in Asia/Shanghai time"})
    ends_at = ShanghaiTime(required=True, metadata={"description": "End (exclusive), ISO 8601 in Asia/Shanghai time"})
    status = ma.fields.String(required=True, metadata={"description": "active or cancelled"})
    poverty_counties_only = ma.fields.Boolean(required=True)
    net_fen = ma.fields.Integer(required=True, metadata={
        "description": "Paid goods sold at the campaign's price, less refunds and sales excluded by review, "
                       "whatever day they were confirmed"})
    gross_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    excluded_fen = ma.fields.Integer(required=True)
    units = ma.fields.Integer(required=True, metadata={"description": "Units sold less units refunded or excluded"})
    orders = ma.fields.Integer(required=True, metadata={"description": "Paid orders with a campaign line that counts"})
    buyers = ma.fields.Integer(required=True, metadata={"description": "Distinct buyers of those orders"})
    poverty_net_fen = ma.fields.Integer(required=True, metadata={"description": "Of which national poverty counties"})
    poverty_share = ma.fields.Float(allow_none=True, metadata={"description": "Null when the campaign sold nothing"})


class CampaignListingRowOut(Schema):
    item_id = ma.fields.Integer(required=True)
    product_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    campaign_price_fen = ma.fields.Integer(required=True)
    net_fen = ma.fields.Integer(required=True)
    units = ma.fields.Integer(required=True)
    orders = ma.fields.Integer(required=True)


class CampaignReportOut(CampaignRowOut):
    listings = ma.fields.List(ma.fields.Nested(CampaignListingRowOut), required=True)


class CampaignListOut(Schema):
    period = ma.fields.Nested(PeriodOut, required=True)
    items = ma.fields.List(ma.fields.Nested(CampaignRowOut), required=True, metadata={
        "description": "Campaigns whose window overlaps the period, earliest first"})


class CampaignReportArgs(Schema):
    province = adcode_field(load_default=None, metadata={"description": "Only sales of this province's counties"})
    county = adcode_field(load_default=None, metadata={"description": "Only sales of this county"})


class SummaryOut(Schema):
    period = ma.fields.Nested(PeriodOut, required=True)
    figures = ma.fields.Nested(FiguresOut, required=True)
    previous_year = ma.fields.Nested(PreviousYearOut, required=True)
    peak_day = ma.fields.Date(allow_none=True)
    peak_day_net_fen = ma.fields.Integer(required=True)
    double11_day = ma.fields.Dict(allow_none=True, attribute="extra.double11_day",
                                  metadata={"description": "11 November alone, for the double11 preset"})
    double11_campaigns = ma.fields.List(ma.fields.Nested(CampaignRowOut), attribute="extra.campaigns", metadata={
        "description": "For the double11 preset: the campaigns whose window overlaps it, with their figures"})
    freshness = ma.fields.Nested(FreshnessOut, required=True)


class CountyRowOut(Schema):
    rank = ma.fields.Integer(required=True)
    county_adcode = ma.fields.String(required=True)
    county = ma.fields.String(required=True)
    province = ma.fields.String(required=True)
    is_poverty_county = ma.fields.Boolean(required=True)
    is_demonstration_county = ma.fields.Boolean(required=True)
    net_fen = ma.fields.Integer(required=True)
    gross_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    units = ma.fields.Integer(required=True)
    orders = ma.fields.Integer(required=True)


class ProvinceRowOut(Schema):
    rank = ma.fields.Integer(required=True)
    province_adcode = ma.fields.String(required=True)
    province = ma.fields.String(required=True)
    net_fen = ma.fields.Integer(required=True)
    poverty_net_fen = ma.fields.Integer(required=True)
    poverty_share = ma.fields.Float(allow_none=True)
    demonstration_net_fen = ma.fields.Integer(required=True)
    orders = ma.fields.Integer(required=True)
    counties_with_sales = ma.fields.Integer(required=True)


class DayRowOut(Schema):
    day = ma.fields.Date(required=True)
    net_fen = ma.fields.Integer(required=True)
    gross_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    poverty_net_fen = ma.fields.Integer(required=True)
    orders = ma.fields.Integer(required=True)


class CategoryRowOut(Schema):
    category = ma.fields.String(required=True)
    net_fen = ma.fields.Integer(required=True)
    gross_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    units = ma.fields.Integer(required=True)


class ProductRowOut(Schema):
    rank = ma.fields.Integer(required=True)
    product_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    net_fen = ma.fields.Integer(required=True)
    units = ma.fields.Integer(required=True)


def rows_of(row_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """``{"period": ..., "freshness": ..., "items": [...]}``"""
    return type(name, (Schema,), {"period": ma.fields.Nested(PeriodOut, required=True),
                                  "freshness": ma.fields.Nested(FreshnessOut, required=True),
                                  "items": ma.fields.List(ma.fields.Nested(row_schema), required=True)})


CountyRankingOut = rows_of(CountyRowOut, "CountyRankingOut")
ProvinceRankingOut = rows_of(ProvinceRowOut, "ProvinceRankingOut")
DailySeriesOut = rows_of(DayRowOut, "DailySeriesOut")
CategoryReportOut = rows_of(CategoryRowOut, "CategoryReportOut")
TopProductsOut = rows_of(ProductRowOut, "TopProductsOut")


# ---------------------------------------------------------------- review

class HouseholdReviewIn(Schema):
    status = ma.fields.String(required=True, validate=validate.OneOf(HOUSEHOLD_STATUSES),
                             metadata={"description": "Is the seller a registered poor household?"})
    evidence_note = ma.fields.String(required=True, validate=[validate.Length(min=2, max=500), NOT_BLANK],
                                     metadata={"description": "What was checked (e.g. the registration card number)"})


class HouseholdReviewOut(Schema):
    id = ma.fields.Integer(required=True)
    seller_user_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    evidence_note = ma.fields.String(required=True)
    reviewed_by_user_id = ma.fields.Integer(required=True)
    reviewed_at = UtcDateTime(required=True)


class HouseholdHistoryOut(Schema):
    seller_user_id = ma.fields.Integer(required=True)
    status = ma.fields.String(allow_none=True, metadata={"description": "The latest decision; null if never reviewed"})
    items = ma.fields.List(ma.fields.Nested(HouseholdReviewOut), required=True)


class ExclusionIn(Schema):
    reason = ma.fields.String(required=True, validate=[validate.Length(min=2, max=300), NOT_BLANK])
    flag = ma.fields.String(load_default=None, validate=validate.OneOf(FLAG_KINDS),
                            metadata={"description": "The anomaly that led to it, if any"})


class InclusionIn(Schema):
    reason = ma.fields.String(required=True, validate=[validate.Length(min=2, max=300), NOT_BLANK])


class ExclusionOut(Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    flag = ma.fields.String(allow_none=True)
    reason = ma.fields.String(required=True)
    excluded_by_user_id = ma.fields.Integer(required=True)
    excluded_at = UtcDateTime(required=True)
    lifted_by_user_id = ma.fields.Integer(allow_none=True)
    lifted_at = UtcDateTime(allow_none=True)
    lift_reason = ma.fields.String(allow_none=True)


class ExclusionListArgs(PageArgs):
    active_only = ma.fields.Boolean(load_default=True)
    per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class FlagOut(Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(FLAG_KINDS))
    county_adcode = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Where the sale's produce comes from; for claim flags, the county the seller or buyer is "
                       "registered in (null for a buyer without one)"})
    county = ma.fields.String(required=True, allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)
    day = ma.fields.Date(allow_none=True)
    buyer_user_id = ma.fields.Integer(allow_none=True)
    seller_user_id = ma.fields.Integer(allow_none=True)
    amount_fen = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    excluded = ma.fields.Boolean(required=True, metadata={"description": "The order is already out of the official figures"})


class ClaimRateOut(Schema):
    seller_user_id = ma.fields.Integer(required=True)
    claims_accepted = ma.fields.Integer(required=True, metadata={"description": "Claims settled with money in the window"})
    lines_delivered = ma.fields.Integer(required=True)
    granted_fen = ma.fields.Integer(required=True, metadata={"description": "What those claims granted, in fen"})
    rate_percent = ma.fields.Float(allow_none=True, metadata={"description": "null when no line was delivered"})
    days = ma.fields.Integer(required=True)
    until = UtcDateTime(required=True)
    flag_percent = ma.fields.Integer(required=True, metadata={"description": "CLAIM_RATE_FLAG"})
    flagged = ma.fields.Boolean(required=True, metadata={
        "description": "Above flag_percent with at least CLAIM_RATE_MIN_LINES lines delivered"})


class AuditEntryOut(Schema):
    id = ma.fields.Integer(required=True)
    actor_user_id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    subject_type = ma.fields.String(required=True)
    subject_id = ma.fields.Integer(required=True)
    note = ma.fields.String(required=True)
    created_at = UtcDateTime(required=True)


FlagListOut = rows_of(FlagOut, "FlagListOut")
ExclusionPageOut = page_of(ExclusionOut, "ExclusionPageOut")
AuditPageOut = page_of(AuditEntryOut, "AuditPageOut")
