"""Whole-country reports for the standard periods, computed by the rollup job and served as stored.

Live, a report over the rollups costs time in proportion to the county-days (and, for distinct
buyers and sellers, the people) in its period: a year of the whole country at ten million ledger
rows is seconds. The reports administrators open most (every preset, all counties) are therefore
computed once per change by the jobs worker, right after it rolls new sales up, and stored as
the JSON the endpoint would have answered. A stored report is served only while its basis
holds: the same Asia/Shanghai day (presets move at midnight), the same rollup version (any new
sale, refund or exclusion rolled up changes it) and the same county flags. Anything else (other
periods, a province or county, a stored report whose basis moved) is computed live. Either way
the answer says when its figures were rolled up.
"""
import json

from flask import current_app
from sqlalchemy import func, select

from marketplace.common.sql import upsert
from marketplace.common.time import as_utc, utcnow
from marketplace.extensions import db
from marketplace.geo.models import County
from marketplace.reports import queries, rollup
from marketplace.reports.models import ReportSnapshot
from marketplace.reports.periods import PRESETS, current_day, resolve
from marketplace.reports.schemas import (
    CategoryReportOut,
    CountyRankingOut,
    DailySeriesOut,
    ProvinceRankingOut,
    SummaryOut,
)

# A stored county ranking keeps this many counties (all, and poverty counties only); requests for
# at most as many take the first `limit`, longer ones are computed live. Storing every county would
# make reading it grow with the number of counties that sold.
STORED_RANKING = 100


# report -> (how to compute it for a period of the whole country, the schema that dumps it)
REPORTS = {
    "summary": (lambda period: queries.summary(period, queries.Scope()), SummaryOut),
    "counties": (lambda period: queries.with_freshness(
        period, queries.county_ranking(period, queries.Scope(), limit=STORED_RANKING)), CountyRankingOut),
    "poverty_counties": (lambda period: queries.with_freshness(
        period, queries.county_ranking(period, queries.Scope(), poverty_only=True, limit=STORED_RANKING)),
        CountyRankingOut),
    "provinces": (lambda period: queries.with_freshness(period, queries.province_ranking(period, queries.Scope())), ProvinceRankingOut),
    "daily": (lambda period: queries.with_freshness(period, queries.daily_series(period, queries.Scope())), DailySeriesOut),
    "categories": (lambda period: queries.with_freshness(period, queries.by_category(period, queries.Scope())), CategoryReportOut),
}


def _basis() -> tuple:
    counties_at = db.session.scalar(select(func.max(County.updated_at)))
    return current_day(), rollup.version(), counties_at


def _holds(snapshot: ReportSnapshot, basis: tuple) -> bool:
    day, version, counties_at = basis
    stored_at = snapshot.counties_updated_at
    same_counties = (stored_at is None and counties_at is None) or (
        stored_at is not None and counties_at is not None and as_utc(stored_at) == as_utc(counties_at))
    return snapshot.business_day == day and snapshot.rollup_version == version and same_counties


def refresh(*, force: bool = False) -> int:
    """Recompute the stored reports whose basis moved; returns how many were stored."""
    basis = _basis()
    stored = {(s.report, s.preset): s for s in db.session.scalars(select(ReportSnapshot))}
    refreshed = 0
    for preset in PRESETS:
        period = resolve(preset=preset, today=basis[0])
        for report, (compute, schema) in REPORTS.items():
            snapshot = stored.get((report, preset))
            if snapshot is not None and not force and _holds(snapshot, basis):
                continue
            _store(report, preset, basis, json.dumps(schema().dump(compute(period)), ensure_ascii=False))
            refreshed += 1
    db.session.commit()
    return refreshed


def _store(report: str, preset: str, basis: tuple, body: str) -> None:
    """Insert or replace one stored report in one statement: two workers storing the same report
    for the first time at once must not collide on its key (the later one replaces it)."""
    day, version, counties_at = basis
    statement = upsert(ReportSnapshot).values(report=report, preset=preset, business_day=day, rollup_version=version,
                                              counties_updated_at=counties_at, computed_at=utcnow(), body=body)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["report", "preset"],
        set_={column: statement.excluded[column]
              for column in ("business_day", "rollup_version", "counties_updated_at", "computed_at", "body")}))


def stored(report: str, args: dict, scope: queries.Scope):
    """The stored answer (a response) to a report request, if it asks for a standard period of
    the whole country (``scope``: the counties the caller asked for and may read) and the stored
    report's basis still holds; None means compute it live."""
    if report not in REPORTS or scope != queries.Scope() or not _standard(args):
        return None
    if report == "counties":
        if args.get("limit", 50) > STORED_RANKING:
            return None
        report = "poverty_counties" if args.get("poverty_only") else "counties"
    snapshot = db.session.get(ReportSnapshot, (report, args.get("preset") or "last_30_days"))
    if snapshot is None or not _holds(snapshot, _basis()):
        return None
    body = json.loads(snapshot.body)
    if "limit" in args:
        body["items"] = body["items"][:args["limit"]]
    return current_app.json.response(body)


def _standard(args: dict) -> bool:
    return args.get("first") is None and args.get("last") is None and args.get("year") is None
