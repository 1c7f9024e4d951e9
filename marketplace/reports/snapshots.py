"""Whole-country reports for the standard periods, computed by the rollup job and served as stored.

Live, a report over the rollups costs time in proportion to the county-days (and, for distinct
buyers and sellers, the people) in its period: a year of the whole country at ten million ledger
rows is seconds. The reports administrators open most (every preset, all counties) are therefore
computed once per change by the jobs worker, right after it rolls new sales up, and stored as
the JSON the endpoint would have answered. A stored report is served only while its basis
holds: the same Asia/Shanghai day (presets move at midnight), the same rollup version (any new
sale, refund or exclusion rolled up changes it) and the same county flags, and while it has the
shape its schema dumps now: each stored report carries its schema's body version, derived from
the schema's fields (``body_version``), so a release that adds, renames or retypes a field
makes the stored reports of the old shape computed again. Anything else (other periods, a
province or county, a stored report whose basis moved) is computed live. Either way the answer
says when its figures were rolled up.
"""
import hashlib
import json

import marshmallow as ma
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from marketplace.common.time import utcnow
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


def body_version(schema: type[ma.Schema]) -> str:
    """A short hash of the shape of what ``schema`` dumps: each key with its field's type and the
    attribute it reads, and, recursively, what the field holds (a nested schema, a list's items,
    a dict's keys and values). Any change to them changes it; field options such as a date
    format do not."""
    shape = json.dumps(_shape_of(schema(), within=()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


def _shape_of(schema: ma.Schema, within: tuple[type, ...]) -> dict:
    within = (*within, type(schema))
    return {field.data_key or name: _field_shape(field, name, within) for name, field in schema.dump_fields.items()}


def _field_shape(field: ma.fields.Field, name: str | None, within: tuple[type, ...]) -> dict:
    shape = {"type": f"{type(field).__module__}.{type(field).__qualname__}", "attribute": field.attribute or name}
    if isinstance(field, ma.fields.Nested):
        nested = field.schema
        shape["many"] = field.many
        shape["schema"] = (f"recursive {type(nested).__qualname__}" if type(nested) in within  # a tree of itself
                           else _shape_of(nested, within))
        if isinstance(field, ma.fields.Pluck):
            shape["pluck"] = field.field_name
    elif isinstance(field, ma.fields.List):
        shape["items"] = _field_shape(field.inner, None, within)
    elif isinstance(field, ma.fields.Tuple):
        shape["items"] = [_field_shape(item, None, within) for item in field.tuple_fields]
    elif isinstance(field, ma.fields.Mapping):
        shape["keys"] = None if field.key_field is None else _field_shape(field.key_field, None, within)
        shape["values"] = None if field.value_field is None else _field_shape(field.value_field, None, within)
    return shape


# report -> the version of the shape its stored body has; computed once, when the code is loaded
BODY_VERSIONS = {report: body_version(schema) for report, (_, schema) in REPORTS.items()}


def _basis() -> tuple:
    counties_at = db.session.scalar(select(func.max(County.updated_at)))
    return current_day(), rollup.version(), counties_at


def _holds(snapshot: ReportSnapshot, basis: tuple) -> bool:
    day, version, counties_at = basis
    stored_at = snapshot.counties_updated_at
    same_counties = (stored_at is None and counties_at is None) or (
        stored_at is not None and counties_at is not None and stored_at == counties_at)
    return (snapshot.business_day == day and snapshot.rollup_version == version and same_counties
            and snapshot.body_version == BODY_VERSIONS[snapshot.report])


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
    statement = insert(ReportSnapshot).values(report=report, preset=preset, business_day=day, rollup_version=version,
                                              counties_updated_at=counties_at, computed_at=utcnow(),
                                              body_version=BODY_VERSIONS[report], body=body)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["report", "preset"],
        set_={column: statement.excluded[column] for column in (
            "business_day", "rollup_version", "counties_updated_at", "computed_at", "body_version", "body")}))


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
