"""Rolling the sales ledger up into county/day figures.

Checkouts and payments only append to the ledger (and its queue); this job adds queued rows to
the rollups in batches, so a flash sale in one county never makes buyers wait on that county's
rollup row. Each batch is taken from the queue with ``FOR UPDATE SKIP LOCKED`` and
deleted in the same transaction that adds it, so several workers can run the job at once and
every ledger row is counted exactly once. ``rebuild`` recomputes everything from the ledger and
must give the same figures.
"""
from collections import defaultdict

from sqlalchemy import case, delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.reports.models import (
    CountyDailyCategorySales,
    CountyDailyMember,
    CountyDailySales,
    RollupState,
    SalesLedgerEntry,
    SalesLedgerQueue,
)

ROLLUP = "county_daily_sales"
MONEY = ("units_sold", "units_refunded", "gross_fen", "refunded_fen", "units_excluded", "excluded_fen", "net_fen")


def _figures(rows) -> dict:
    """Units and money of ledger rows, by the columns a rollup adds up."""
    totals = dict.fromkeys(MONEY, 0)
    for row in rows:
        if row.kind == "sale":
            totals["units_sold"] += row.units
            totals["gross_fen"] += row.amount_fen
        elif row.kind == "refund":
            totals["units_refunded"] -= row.units
            totals["refunded_fen"] -= row.amount_fen
        else:  # exclusion or inclusion
            totals["units_excluded"] -= row.units
            totals["excluded_fen"] -= row.amount_fen
        totals["net_fen"] += row.amount_fen
    return totals


def _add(model, keys: dict, figures: dict) -> None:
    statement = insert(model).values(**keys, **figures)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: getattr(model, name) + statement.excluded[name] for name in figures}))


# kind of member -> the ledger column naming it, and the rollup column counting such members
MEMBERS = {"order": ("order_id", "orders"), "buyer": ("buyer_user_id", "buyers"), "seller": ("seller_user_id", "sellers")}


def _count_members(day, county: str, kind: str, changes: dict[int, int]) -> int:
    """Add to the members' counted sale lines; returns by how much the number of members with any
    changed (one that gets its first counts +1, one whose last is excluded −1). Additions commute,
    so batches may arrive in any order (an exclusion before its sale gives −1 then 0: no change)."""
    statement = insert(CountyDailyMember).values(
        [{"business_day": day, "county_adcode": county, "kind": kind, "member_id": member, "sale_lines": change}
         for member, change in sorted(changes.items())])
    # RETURNING gives each member's total after the addition; before it, it was that less the change.
    totals = db.session.execute(statement.on_conflict_do_update(
        index_elements=["business_day", "county_adcode", "kind", "member_id"],
        set_={"sale_lines": CountyDailyMember.sale_lines + statement.excluded.sale_lines},
    ).returning(CountyDailyMember.member_id, CountyDailyMember.sale_lines)).all()
    return sum(int(total > 0) - int(total - changes[member] > 0) for member, total in totals)


def _member_counts(day, county: str, rows: list[SalesLedgerEntry]) -> dict:
    counts = {}
    for kind, (column, counted) in MEMBERS.items():
        changes: dict[int, int] = defaultdict(int)
        for row in rows:
            if row.counted_lines:
                changes[getattr(row, column)] += row.counted_lines
        counts[counted] = _count_members(day, county, kind, changes) if changes else 0
    return counts


def _apply(rows: list[SalesLedgerEntry]) -> None:
    by_county = defaultdict(list)
    by_category = defaultdict(list)
    for row in rows:
        by_county[(row.business_day, row.origin_county_adcode)].append(row)
        by_category[(row.business_day, row.origin_county_adcode, row.category)].append(row)
    for (day, county), county_rows in sorted(by_county.items()):
        _add(CountyDailySales, {"business_day": day, "county_adcode": county},
             {**_member_counts(day, county, county_rows), **_figures(county_rows)})
    for (day, county, category), category_rows in sorted(by_category.items()):
        _add(CountyDailyCategorySales, {"business_day": day, "county_adcode": county, "category": category},
             _figures(category_rows))


def _mark_run(rows: int, *, changed: bool) -> None:
    statement = insert(RollupState).values(name=ROLLUP, last_run_at=utcnow(), rows_rolled_up=rows, version=int(changed))
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["name"], set_={"last_run_at": statement.excluded.last_run_at,
                                       "rows_rolled_up": RollupState.rows_rolled_up + statement.excluded.rows_rolled_up,
                                       "version": RollupState.version + statement.excluded.version}))


def roll_up(batch: int = 5000) -> int:
    """Add one batch of queued ledger rows to the rollups; returns how many rows it took."""
    taken = db.session.scalars(
        select(SalesLedgerQueue.ledger_id).order_by(SalesLedgerQueue.ledger_id).limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    if taken:
        rows = db.session.scalars(select(SalesLedgerEntry).where(SalesLedgerEntry.id.in_(taken))).all()
        _apply(rows)
        db.session.execute(delete(SalesLedgerQueue).where(SalesLedgerQueue.ledger_id.in_(taken)))
    _mark_run(len(taken), changed=bool(taken))
    db.session.commit()
    return len(taken)


def roll_up_all(batch: int = 5000) -> int:
    """Roll up until the queue is empty (what the job does each round)."""
    total = 0
    while True:
        taken = roll_up(batch)
        total += taken
        if taken < batch:
            return total


def rebuild() -> int:
    """Recompute every rollup from the whole ledger in one transaction; returns the ledger rows read.

    The rollup tables are locked for the duration, so the incremental job waits rather than
    adding a batch twice."""
    db.session.execute(text("LOCK TABLE sales_ledger_queue, county_daily_sales, county_daily_category_sales, "
                            "county_daily_members IN EXCLUSIVE MODE"))
    for model in (SalesLedgerQueue, CountyDailySales, CountyDailyCategorySales, CountyDailyMember):
        db.session.execute(delete(model))
    ledger = SalesLedgerEntry
    sale = ledger.kind == "sale"
    day_county = (ledger.business_day, ledger.origin_county_adcode)
    counted_lines = case((sale, 1), else_=ledger.count_change)
    for kind, (column, _) in MEMBERS.items():
        member = getattr(ledger, column)
        db.session.execute(insert(CountyDailyMember).from_select(
            ["business_day", "county_adcode", "kind", "member_id", "sale_lines"],
            select(*day_county, literal(kind), member, func.sum(counted_lines))
            .where(sale | (ledger.count_change != 0)).group_by(*day_county, member)))
    refund = ledger.kind == "refund"
    adjustment = ledger.kind.in_(("exclusion", "inclusion"))
    money = [func.coalesce(total, 0) for total in (
        func.sum(ledger.units).filter(sale), -func.sum(ledger.units).filter(refund),
        func.sum(ledger.amount_fen).filter(sale), -func.sum(ledger.amount_fen).filter(refund),
        -func.sum(ledger.units).filter(adjustment), -func.sum(ledger.amount_fen).filter(adjustment),
        func.sum(ledger.amount_fen))]
    members = {kind: (select(func.count()).where(CountyDailyMember.business_day == ledger.business_day,
                                                 CountyDailyMember.county_adcode == ledger.origin_county_adcode,
                                                 CountyDailyMember.kind == kind, CountyDailyMember.sale_lines > 0)
                      .scalar_subquery())
               for kind in MEMBERS}
    db.session.execute(insert(CountyDailySales).from_select(
        ["business_day", "county_adcode", "orders", "buyers", "sellers", *MONEY],
        select(*day_county, members["order"], members["buyer"], members["seller"],
               *money).group_by(*day_county)))
    db.session.execute(insert(CountyDailyCategorySales).from_select(
        ["business_day", "county_adcode", "category", *MONEY],
        select(*day_county, ledger.category, *money)
        .group_by(*day_county, ledger.category)))
    rows = db.session.scalar(select(func.count()).select_from(ledger))
    _mark_run(0, changed=True)
    db.session.commit()
    return rows


def freshness() -> dict:
    """When the rollups were last brought up to date and how many ledger rows still wait."""
    state = db.session.get(RollupState, ROLLUP)
    waiting = db.session.scalar(select(func.count()).select_from(SalesLedgerQueue))
    return {"last_rollup_at": state.last_run_at if state else None, "rows_waiting": waiting}


def version() -> int:
    """Grows with every change to the rollups."""
    return db.session.scalar(select(RollupState.version).where(RollupState.name == ROLLUP)) or 0


def lag_seconds() -> float:
    """How long the oldest ledger row still waiting for the rollups has waited (0 when none waits).
    For /metrics at every scrape, so one primary-key probe: the lowest queued id is the oldest row
    near enough (ids are given in insertion order; commits may reorder them by moments)."""
    oldest = db.session.execute(text(
        "SELECT extract(epoch FROM now() - l.occurred_at) FROM sales_ledger l "
        "WHERE l.id = (SELECT min(ledger_id) FROM sales_ledger_queue)")).scalar()
    return max(float(oldest), 0.0) if oldest is not None else 0.0
