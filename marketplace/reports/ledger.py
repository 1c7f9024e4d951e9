"""Writing the sales ledger, in the caller's transaction (the payment's or the refund's)."""
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, text

from marketplace.common.queue import defer
from marketplace.common.sql import write_in_session
from marketplace.common.time import business_day
from marketplace.extensions import db
from marketplace.reports.models import SaleExclusion, SalesLedgerEntry, SalesLedgerQueue

ROLL_UP_TASK = "roll_up_sales"


def _append(rows: list[SalesLedgerEntry]) -> None:
    """Add the rows and queue them for the rollup, and have the jobs worker roll them up soon.

    One rollup job waits at a time (its queueing lock), ROLLUP_DELAY_SECONDS after the first
    payment that asked for it: a burst of payments enqueues about one job per delay, each rolling
    up every row queued by then, and a payment finding that job waiting writes nothing."""
    db.session.add_all(rows)
    db.session.flush()
    db.session.add_all([SalesLedgerQueue(ledger_id=row.id) for row in rows])
    _roll_up_soon()


def _roll_up_soon() -> None:
    defer(ROLL_UP_TASK, queueing_lock=ROLL_UP_TASK,
          delay=timedelta(seconds=current_app.config["ROLLUP_DELAY_SECONDS"]))


def record_sale(order, paid_at: datetime) -> None:
    """One +row per line of an order that has just been paid (goods only; shipping is not produce)."""
    day = business_day(paid_at)
    _append([
        SalesLedgerEntry(kind="sale", business_day=day, occurred_at=paid_at, order_id=order.id, order_line_id=line.id,
                         product_id=line.product_id, category=line.category,
                         origin_county_adcode=line.origin_county_adcode, seller_user_id=order.seller_user_id,
                         buyer_user_id=order.buyer_user_id, station_id=order.station_id,
                         units=line.quantity, amount_fen=line.line_total_fen)
        for line in order.lines
    ])


# record_sale's rows for the lines of orders paid by plain SQL (record_sale_lines), queued for the
# rollup in the same statement.
_RECORD_SALE_LINES = text("""
WITH added AS (
    INSERT INTO sales_ledger (kind, business_day, occurred_at, order_id, order_line_id, product_id, category,
                              origin_county_adcode, seller_user_id, buyer_user_id, station_id, units, amount_fen)
    SELECT 'sale', :day, :at, order_id, line_id, product_id, category, county, seller, buyer, station, units, amount
    FROM unnest(CAST(:orders AS integer[]), CAST(:lines AS integer[]), CAST(:products AS integer[]),
                CAST(:categories AS varchar[]), CAST(:counties AS varchar[]), CAST(:sellers AS integer[]),
                CAST(:buyers AS integer[]), CAST(:stations AS integer[]), CAST(:units AS integer[]),
                CAST(:amounts AS integer[]))
         WITH ORDINALITY AS l(order_id, line_id, product_id, category, county, seller, buyer, station, units, amount, n)
    ORDER BY n
    RETURNING id
)
INSERT INTO sales_ledger_queue (ledger_id) SELECT id FROM added RETURNING ledger_id
""")


def record_sale_lines(lines: list, paid_at: datetime) -> None:
    """record_sale for lines given as rows (orders.pay_unpaid_checkout's: order_id, line_id,
    product_id, category, origin_county_adcode, seller_user_id, buyer_user_id, station_id,
    quantity, line_total_fen): the same rows, in one statement."""
    write_in_session(_RECORD_SALE_LINES, {
        "day": business_day(paid_at), "at": paid_at,
        "orders": [line.order_id for line in lines], "lines": [line.line_id for line in lines],
        "products": [line.product_id for line in lines], "categories": [line.category for line in lines],
        "counties": [line.origin_county_adcode for line in lines],
        "sellers": [line.seller_user_id for line in lines], "buyers": [line.buyer_user_id for line in lines],
        "stations": [line.station_id for line in lines], "units": [line.quantity for line in lines],
        "amounts": [line.line_total_fen for line in lines]})
    _roll_up_soon()


def record_refund(refund, order, confirmed_at: datetime) -> None:
    """One −row per refund line of a confirmed refund: the units given back and the money the line
    accounts for (refunds by amount spread their money over the lines without units)."""
    day = business_day(confirmed_at)
    lines = {line.id: line for line in order.lines}
    _append([
        SalesLedgerEntry(kind="refund", business_day=day, occurred_at=confirmed_at, order_id=order.id,
                         order_line_id=item.order_line_id, refund_id=refund.id,
                         product_id=lines[item.order_line_id].product_id, category=lines[item.order_line_id].category,
                         origin_county_adcode=lines[item.order_line_id].origin_county_adcode,
                         seller_user_id=order.seller_user_id, buyer_user_id=order.buyer_user_id,
                         station_id=order.station_id, units=-item.quantity, amount_fen=-item.amount_fen)
        for item in refund.lines if item.quantity or item.amount_fen
    ])
    exclusion = active_exclusion(order.id)
    if exclusion is not None:
        # An excluded sale stays out of the official figures whatever happens to it later (it is
        # already out of the counts).
        adjust(order.id, exclusion, "exclusion", confirmed_at, counts=False)


def active_exclusion(order_id: int) -> SaleExclusion | None:
    return db.session.scalar(select(SaleExclusion).where(SaleExclusion.order_id == order_id,
                                                         SaleExclusion.lifted_at.is_(None)))


def adjust(order_id: int, exclusion: SaleExclusion, kind: str, at: datetime, *, counts: bool = True) -> int:
    """Append the rows that bring an order's official figures to zero (``exclusion``) or back to
    what was sold and refunded (``inclusion``), line by line and day by day; returns how many.

    With ``counts`` (an administrator excludes or includes the sale) each line's row on the day of
    its sale, written even when no money moves that day, also takes the line out of (or back into)
    the counts of orders, buyers and sellers."""
    L = SalesLedgerEntry
    sums = db.session.execute(
        select(L.order_line_id, L.business_day,
               func.sum(L.units), func.sum(L.amount_fen),
               func.sum(L.units).filter(L.kind.in_(("sale", "refund"))),
               func.sum(L.amount_fen).filter(L.kind.in_(("sale", "refund"))))
        .where(L.order_id == order_id).group_by(L.order_line_id, L.business_day)
        .order_by(L.order_line_id, L.business_day)
    ).all()
    sales = {row.order_line_id: row for row in db.session.scalars(select(L).where(L.order_id == order_id, L.kind == "sale"))}
    rows = []
    for line_id, day, units, fen, raw_units, raw_fen in sums:
        target_units, target_fen = (0, 0) if kind == "exclusion" else (raw_units or 0, raw_fen or 0)
        delta_units, delta_fen = target_units - units, target_fen - fen
        sale = sales[line_id]
        count_change = (-1 if kind == "exclusion" else 1) if counts and day == sale.business_day else 0
        if delta_units or delta_fen or count_change:
            rows.append(SalesLedgerEntry(
                kind=kind, business_day=day, occurred_at=at, order_id=order_id, order_line_id=line_id,
                exclusion_id=exclusion.id, product_id=sale.product_id, category=sale.category,
                origin_county_adcode=sale.origin_county_adcode, seller_user_id=sale.seller_user_id,
                buyer_user_id=sale.buyer_user_id, station_id=sale.station_id, units=delta_units, amount_fen=delta_fen,
                count_change=count_change))
    if rows:
        _append(rows)
    return len(rows)
