"""The jobs worker's rounds read only what is due, through partial indexes, on PostgreSQL: a
round must not read every order the marketplace ever had.

The statements are the ones the job sends (recorded as it runs), planned with sequential scans
discouraged, as on an orders table far larger than the test's.
"""
from datetime import timedelta

from sqlalchemy import event, text

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders


def _statements_sent(run) -> list[tuple[str, dict]]:
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    engine = db.session.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def _plan(statement: str, parameters) -> str:
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    return "\n".join(row[0] for row in rows)


def test_settling_orders_reads_the_due_ones_from_their_partial_indexes(build, session):
    for status, moment in (("shipped", "shipped_at"), ("delivered", "delivered_at")):
        for order in build.checkout(status=status).orders:
            setattr(order, moment, utcnow())
    db.session.flush()
    sent = _statements_sent(lambda: orders.advance_settled_orders(now=utcnow() + timedelta(days=60)))

    picks = [(statement, parameters) for statement, parameters in sent
             if "FROM orders" in statement and "SKIP LOCKED" in statement]
    assert len(picks) == 2, [s for s, _ in sent]
    plans = [_plan(statement, parameters) for statement, parameters in picks]
    assert "ix_orders_shipped_to_address" in plans[0], plans[0]
    assert "ix_orders_delivered" in plans[1], plans[1]
    assert all("Sort" not in plan for plan in plans), plans  # read in index order: oldest due first
    assert dict(session.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all()) == {
        "delivered": 1, "completed": 1}  # the shipped order was received, the delivered one completed
