"""The report queries: plain SQL aggregates over the county/day rollups (a read side).

Every figure is in fen or units and comes from the rollups, so a report's cost follows the
number of county-days in its period, not the number of sales. Distinct buyers and sellers over a
period are counted from the rollups' per-day members; orders, buyers and sellers leave out sales
excluded by review, as the money does. Top products read the ledger itself, for
one county.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, desc, func, select

from marketplace.extensions import db
from marketplace.geo import services as geo
from marketplace.geo.models import County, Province
from marketplace.orders.models import OrderLine
from marketplace.reports import campaign_sales, rollup
from marketplace.reports.models import CountyDailyCategorySales, CountyDailyMember, CountyDailySales, SalesLedgerEntry
from marketplace.reports.periods import Period

S = CountyDailySales
C = County


@dataclass(frozen=True)
class Scope:
    """Which counties a report covers: all, one province, or one county."""

    province_adcode: str | None = None
    county_adcode: str | None = None

    def check(self) -> "Scope":
        if self.county_adcode:
            geo.get_county(self.county_adcode)
        if self.province_adcode:
            geo.get_province(self.province_adcode)
        return self

    def where(self, county_column) -> list:
        conditions = []
        if self.county_adcode:
            conditions.append(county_column == self.county_adcode)
        if self.province_adcode:
            conditions.append(C.province_adcode == self.province_adcode)
        return conditions


def _in_period(day_column, period: Period) -> list:
    return [day_column >= period.first, day_column <= period.last]


def _rollup_rows(period: Period, scope: Scope, *columns) -> Select:
    return (select(*columns).select_from(S).join(C, C.adcode == S.county_adcode)
            .where(*_in_period(S.business_day, period), *scope.where(S.county_adcode)))


def with_freshness(period: Period, items: list) -> dict:
    """A report's rows with its period and how fresh the rollups behind it are."""
    return {"period": period, "freshness": rollup.freshness(), "items": items}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _distinct_members(period: Period, scope: Scope, kind: str) -> int:
    query = (select(func.count(func.distinct(CountyDailyMember.member_id))).select_from(CountyDailyMember)
             .join(C, C.adcode == CountyDailyMember.county_adcode)
             .where(CountyDailyMember.kind == kind, CountyDailyMember.sale_lines > 0,
                    *_in_period(CountyDailyMember.business_day, period),
                    *scope.where(CountyDailyMember.county_adcode)))
    return db.session.scalar(query) or 0


def _totals(period: Period, scope: Scope) -> dict:
    poverty, demonstration = C.is_national_poverty_county.is_(True), C.is_demonstration_county.is_(True)
    row = db.session.execute(_rollup_rows(
        period, scope,
        func.coalesce(func.sum(S.net_fen), 0), func.coalesce(func.sum(S.gross_fen), 0),
        func.coalesce(func.sum(S.refunded_fen), 0), func.coalesce(func.sum(S.excluded_fen), 0),
        func.coalesce(func.sum(S.units_sold - S.units_refunded - S.units_excluded), 0),
        func.coalesce(func.sum(S.orders), 0),
        func.coalesce(func.sum(case((poverty, S.net_fen), else_=0)), 0),
        func.coalesce(func.sum(case((demonstration, S.net_fen), else_=0)), 0),
    )).one()
    net, gross, refunded, excluded, units, orders, poverty_net, demonstration_net = (int(value) for value in row)
    return {"net_fen": net, "gross_fen": gross, "refunded_fen": refunded, "excluded_fen": excluded, "units": units,
            "orders": orders,
            "poverty_net_fen": poverty_net, "demonstration_net_fen": demonstration_net}


@dataclass
class Summary:
    period: Period
    figures: dict
    previous_year: dict
    peak_day: date | None
    peak_day_net_fen: int
    freshness: dict
    extra: dict = field(default_factory=dict)


def summary(period: Period, scope: Scope) -> Summary:
    """Rural online sales of a period, with the poverty and demonstration counties' shares, orders,
    distinct buyers and sellers, growth on the same days a year earlier, and the day of the peak; a
    Double 11 adds the day itself and the campaigns within the period."""
    scope.check()
    figures = _totals(period, scope)
    figures["poverty_share"] = _share(figures["poverty_net_fen"], figures["net_fen"])
    figures["demonstration_share"] = _share(figures["demonstration_net_fen"], figures["net_fen"])
    figures["buyers"] = _distinct_members(period, scope, "buyer")
    figures["sellers"] = _distinct_members(period, scope, "seller")
    before = _totals(period.a_year_earlier(), scope)
    previous = {"first_day": period.a_year_earlier().first, "last_day": period.a_year_earlier().last,
                "net_fen": before["net_fen"], "poverty_net_fen": before["poverty_net_fen"],
                "growth": _share(figures["net_fen"] - before["net_fen"], before["net_fen"]),
                "poverty_growth": _share(figures["poverty_net_fen"] - before["poverty_net_fen"], before["poverty_net_fen"])}
    peak = db.session.execute(
        _rollup_rows(period, scope, S.business_day, func.sum(S.net_fen).label("net"))
        .group_by(S.business_day).order_by(desc("net"), S.business_day).limit(1)
    ).first()
    result = Summary(period, figures, previous, peak[0] if peak and peak[1] > 0 else None,
                     int(peak[1]) if peak and peak[1] > 0 else 0, rollup.freshness())
    if period.preset == "double11":
        day = Period(period.last, period.last)
        result.extra["double11_day"] = {**_totals(day, scope), "previous_year_net_fen": _totals(day.a_year_earlier(), scope)["net_fen"]}
        result.extra["campaigns"] = campaign_sales.campaigns_in_period(period, scope)
    return result


def county_ranking(period: Period, scope: Scope, *, poverty_only: bool = False, limit: int = 50) -> list[dict]:
    """Counties by net sales in the period, with their flags."""
    scope.check()
    query = (_rollup_rows(period, scope, C.adcode, C.name, Province.name.label("province"),
                          C.is_national_poverty_county, C.is_demonstration_county,
                          func.sum(S.net_fen).label("net"), func.sum(S.gross_fen), func.sum(S.refunded_fen),
                          func.sum(S.units_sold - S.units_refunded - S.units_excluded), func.sum(S.orders))
             .join(Province, Province.adcode == C.province_adcode)
             .group_by(C.adcode, C.name, Province.name, C.is_national_poverty_county, C.is_demonstration_county)
             .order_by(desc("net"), C.adcode).limit(limit))
    if poverty_only:
        query = query.where(C.is_national_poverty_county.is_(True))
    return [{"rank": rank, "county_adcode": adcode, "county": name, "province": province, "is_poverty_county": poor,
             "is_demonstration_county": demo, "net_fen": int(net), "gross_fen": int(gross), "refunded_fen": int(refunded),
             "units": int(units), "orders": int(orders)}
            for rank, (adcode, name, province, poor, demo, net, gross, refunded, units, orders)
            in enumerate(db.session.execute(query).all(), start=1)]


def province_ranking(period: Period, scope: Scope) -> list[dict]:
    """Provinces by net sales, with how much of it came from poverty and demonstration counties."""
    scope.check()
    query = (_rollup_rows(period, scope, Province.adcode, Province.name, func.sum(S.net_fen).label("net"),
                          func.sum(case((C.is_national_poverty_county.is_(True), S.net_fen), else_=0)),
                          func.sum(case((C.is_demonstration_county.is_(True), S.net_fen), else_=0)),
                          func.sum(S.orders), func.count(func.distinct(C.adcode)))
             .join(Province, Province.adcode == C.province_adcode)
             .group_by(Province.adcode, Province.name).order_by(desc("net"), Province.adcode))
    return [{"rank": rank, "province_adcode": adcode, "province": name, "net_fen": int(net),
             "poverty_net_fen": int(poor), "poverty_share": _share(int(poor), int(net)),
             "demonstration_net_fen": int(demo), "orders": int(orders), "counties_with_sales": int(counties)}
            for rank, (adcode, name, net, poor, demo, orders, counties) in enumerate(db.session.execute(query).all(), start=1)]


def daily_series(period: Period, scope: Scope) -> list[dict]:
    """One row per day of the period (days without sales are zeros)."""
    scope.check()
    rows = {day: (int(net), int(gross), int(refunded), int(poor), int(orders)) for day, net, gross, refunded, poor, orders
            in db.session.execute(_rollup_rows(
                period, scope, S.business_day, func.sum(S.net_fen), func.sum(S.gross_fen), func.sum(S.refunded_fen),
                func.sum(case((C.is_national_poverty_county.is_(True), S.net_fen), else_=0)), func.sum(S.orders))
                .group_by(S.business_day)).all()}
    series = []
    for offset in range(period.days):
        day = period.first + timedelta(days=offset)
        net, gross, refunded, poor, orders = rows.get(day, (0, 0, 0, 0, 0))
        series.append({"day": day, "net_fen": net, "gross_fen": gross, "refunded_fen": refunded,
                       "poverty_net_fen": poor, "orders": orders})
    return series


def by_category(period: Period, scope: Scope) -> list[dict]:
    scope.check()
    K = CountyDailyCategorySales
    query = (select(K.category, func.sum(K.net_fen).label("net"), func.sum(K.gross_fen), func.sum(K.refunded_fen),
                    func.sum(K.units_sold - K.units_refunded - K.units_excluded))
             .select_from(K).join(C, C.adcode == K.county_adcode)
             .where(*_in_period(K.business_day, period), *scope.where(K.county_adcode))
             .group_by(K.category).order_by(desc("net"), K.category))
    return [{"category": category, "net_fen": int(net), "gross_fen": int(gross), "refunded_fen": int(refunded),
             "units": int(units)} for category, net, gross, refunded, units in db.session.execute(query).all()]


def top_products(period: Period, county_adcode: str, *, limit: int = 10) -> list[dict]:
    """A county's best-selling products in the period, read from the ledger (one county, indexed)."""
    geo.get_county(county_adcode)
    L = SalesLedgerEntry
    query = (select(L.product_id, func.max(OrderLine.title), func.sum(L.amount_fen).label("net"), func.sum(L.units))
             .select_from(L).join(OrderLine, OrderLine.id == L.order_line_id)
             .where(and_(L.origin_county_adcode == county_adcode, *_in_period(L.business_day, period)))
             .group_by(L.product_id).order_by(desc("net"), L.product_id).limit(limit))
    return [{"rank": rank, "product_id": product_id, "title": title, "net_fen": int(net), "units": int(units)}
            for rank, (product_id, title, net, units) in enumerate(db.session.execute(query).all(), start=1)]
