"""Writing the sales ledger, in the caller's transaction (the payment's or the refund's)."""
from datetime import datetime

from marketplace.common.time import business_day
from marketplace.extensions import db
from marketplace.reports.models import SalesLedgerEntry, SalesLedgerQueue


def _append(rows: list[SalesLedgerEntry]) -> None:
    db.session.add_all(rows)
    db.session.flush()
    db.session.add_all([SalesLedgerQueue(ledger_id=row.id) for row in rows])


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
