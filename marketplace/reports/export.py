"""CSV exports of the reports, written by common.spreadsheets (a byte-order mark, so Excel opens the
Chinese headers, and no cell a spreadsheet would run as a formula)."""
from flask import Response

from marketplace.common.spreadsheets import csv_document
from marketplace.common.time import BUSINESS_TZ
from marketplace.reports import campaign_sales, queries
from marketplace.reports.periods import Period

# column -> (Chinese header, English header)
HEADERS = {
    "rank": ("排名", "Rank"), "county_adcode": ("县级行政区划代码", "County code"), "county": ("县", "County"),
    "province_adcode": ("省级行政区划代码", "Province code"), "province": ("省", "Province"),
    "is_poverty_county": ("国家级贫困县", "National poverty county"),
    "is_demonstration_county": ("电子商务进农村综合示范县", "E-commerce demonstration county"),
    "net_fen": ("净销售额（分）", "Net sales (fen)"), "gross_fen": ("销售额（分）", "Gross sales (fen)"),
    "refunded_fen": ("退款额（分）", "Refunded (fen)"), "units": ("件数", "Units"), "orders": ("订单数", "Orders"),
    "poverty_net_fen": ("贫困县净销售额（分）", "Poverty counties' net sales (fen)"),
    "poverty_share": ("贫困县占比", "Poverty counties' share"),
    "demonstration_net_fen": ("示范县净销售额（分）", "Demonstration counties' net sales (fen)"),
    "counties_with_sales": ("有销售的县数", "Counties with sales"), "day": ("日期", "Day"),
    "category": ("品类", "Category"), "product_id": ("商品编号", "Product id"), "title": ("商品", "Product"),
    "figure": ("指标", "Figure"), "value": ("数值", "Value"),
    "buyers": ("买家数", "Buyers"), "sellers": ("卖家数", "Sellers"),
    "demonstration_share": ("示范县占比", "Demonstration counties' share"),
    "previous_year_net_fen": ("上年同期净销售额（分）", "Same period a year earlier (fen)"),
    "growth": ("同比增长", "Growth on a year earlier"), "peak_day": ("销售高峰日", "Peak day"),
    "peak_day_net_fen": ("高峰日净销售额（分）", "Peak day's net sales (fen)"),
    "excluded_fen": ("审核剔除额（分）", "Excluded by review (fen)"),
    "campaign_id": ("活动编号", "Campaign id"), "name_zh": ("活动名称", "Campaign (Chinese)"),
    "name_en": ("活动英文名称", "Campaign (English)"), "starts_at": ("开始时间（北京时间）", "Starts (Beijing time)"),
    "ends_at": ("结束时间（北京时间）", "Ends (Beijing time)"), "status": ("状态", "Status"),
}
# Each report's columns, in order (also when a period has no rows).
COLUMNS = {
    "summary": ["figure", "value"],
    "counties": ["rank", "county_adcode", "county", "province", "is_poverty_county", "is_demonstration_county",
                 "net_fen", "gross_fen", "refunded_fen", "units", "orders"],
    "provinces": ["rank", "province_adcode", "province", "net_fen", "poverty_net_fen", "poverty_share",
                  "demonstration_net_fen", "orders", "counties_with_sales"],
    "daily": ["day", "net_fen", "gross_fen", "refunded_fen", "poverty_net_fen", "orders"],
    "categories": ["category", "net_fen", "gross_fen", "refunded_fen", "units"],
    "campaigns": ["campaign_id", "name_zh", "name_en", "starts_at", "ends_at", "status", "net_fen", "gross_fen",
                  "refunded_fen", "units", "orders", "buyers", "poverty_net_fen", "poverty_share"],
}
YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}


def _beijing(moment) -> str:
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def report_rows(report: str, period: Period, scope: queries.Scope, *, poverty_only: bool = False,
                limit: int = 50) -> list[dict]:
    """The rows of a named report (the summary as one row per figure)."""
    if report == "summary":
        result = queries.summary(period, scope)
        figures = {**result.figures, "previous_year_net_fen": result.previous_year["net_fen"],
                   "growth": result.previous_year["growth"], "peak_day": result.peak_day,
                   "peak_day_net_fen": result.peak_day_net_fen}
        return [{"figure": name, "value": value} for name, value in figures.items()]
    if report == "counties":
        return queries.county_ranking(period, scope, poverty_only=poverty_only, limit=limit)
    if report == "provinces":
        return queries.province_ranking(period, scope)
    if report == "daily":
        return queries.daily_series(period, scope)
    if report == "campaigns":
        return [{**row, "starts_at": _beijing(row["starts_at"]), "ends_at": _beijing(row["ends_at"])}
                for row in campaign_sales.campaigns_in_period(period, scope)]
    return queries.by_category(period, scope)


def to_csv(report: str, rows: list[dict], lang: str) -> bytes:
    columns = COLUMNS[report]
    index = 0 if lang == "zh" else 1
    yes, no = YES_NO[lang]
    lines = [[HEADERS.get(column, (column, column))[index] for column in columns]]
    for row in rows:
        cells = [(yes if row[c] else no) if isinstance(row[c], bool) else ("" if row[c] is None else row[c])
                 for c in columns]
        if "figure" in row:  # the summary: its figures are named in the chosen language too
            cells[columns.index("figure")] = HEADERS.get(row["figure"], (row["figure"],) * 2)[index]
        lines.append(cells)
    return csv_document(lines)


def csv_response(report: str, period: Period, rows: list[dict], lang: str) -> Response:
    """The CSV as a download named after the report and its period."""
    filename = f"{report}_{period.first:%Y%m%d}_{period.last:%Y%m%d}.csv"
    return Response(to_csv(report, rows, lang), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
