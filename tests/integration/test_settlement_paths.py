"""Money arriving for a checkout whose orders all await it is settled in plain SQL
(settlement.settle_unpaid_checkout); every other case on the mapped objects (settle_checkout).
The two must write the same rows: orders, their events, the checkout, the sellers' entries, the
sales ledger and its rollup queue."""
from datetime import datetime

import pytest
from sqlalchemy import text

from marketplace.common.time import business_day
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.payments import settlement

NOTE = "paid through Stripe (pi_twin)"


def written(checkout_id: int) -> dict:
    """What settling wrote for a checkout, with ids replaced by positions and each time by whether it
    is the checkout's paid_at (the two paths take the time at different moments)."""
    paid_at, status = db.session.execute(text("SELECT paid_at, status FROM checkouts WHERE id = :id"),
                                         {"id": checkout_id}).one()
    order_ids = db.session.scalars(text("SELECT id FROM orders WHERE checkout_id = :id ORDER BY id"),
                                   {"id": checkout_id}).all()
    line_ids = db.session.scalars(text("SELECT l.id FROM order_lines l JOIN orders o ON o.id = l.order_id "
                                       "WHERE o.checkout_id = :id ORDER BY l.id"), {"id": checkout_id}).all()
    position = {**{("order", i): n for n, i in enumerate(order_ids)}, **{("line", i): n for n, i in enumerate(line_ids)}}

    def rows(sql: str, *, order_columns=("order_id",), line_columns=()) -> list[tuple]:
        found = []
        for row in db.session.execute(text(sql), {"ids": order_ids}).mappings():
            found.append(tuple(sorted(
                (key, position[("order", value)] if key in order_columns else
                 position[("line", value)] if key in line_columns else
                 ("paid_at" if value == paid_at else "another time") if isinstance(value, datetime) else value)
                for key, value in row.items())))
        return sorted(found)

    return {
        "checkout": (status, paid_at is not None),
        "orders": rows("SELECT id AS order_id, status, paid_at, updated_at, total_fen FROM orders "
                       "WHERE id = ANY(:ids)"),
        "events": rows("SELECT order_id, action, from_status, to_status, actor_user_id, note, created_at "
                       "FROM order_events WHERE order_id = ANY(:ids) AND action = 'pay'"),
        "seller_entries": rows("SELECT order_id, seller_user_id, kind, amount_fen, refund_id, reference, note, "
                               "recorded_by_user_id FROM seller_ledger_entries WHERE order_id = ANY(:ids)"),
        "sales_ledger": rows("SELECT s.order_id, s.order_line_id, s.kind, s.business_day = :day AS on_business_day, "
                             "s.occurred_at, s.refund_id, s.exclusion_id, s.product_id, s.category, "
                             "s.origin_county_adcode, s.seller_user_id, s.buyer_user_id, s.station_id, s.units, "
                             "s.amount_fen, s.count_change, q.ledger_id IS NOT NULL AS queued "
                             "FROM sales_ledger s LEFT JOIN sales_ledger_queue q ON q.ledger_id = s.id "
                             "WHERE s.order_id = ANY(:ids)".replace(":day", f"'{business_day(paid_at)}'"),
                             line_columns=("order_line_id",)),
    }


@pytest.mark.parametrize("station", [False, True])
def test_the_plain_sql_settlement_writes_what_the_mapped_objects_write(build, station):
    first_seller, second_seller = build.user("seller"), build.user("seller")
    products = [build.product(first_seller, price_fen=1250), build.product(first_seller, price_fen=333),
                build.product(second_seller, price_fen=9999)]
    buyer = build.user("buyer")
    at = build.station() if station else None
    twins = [build.checkout(buyer, products, quantities=[1, 3, 2], station=at) for _ in range(2)]

    paid_at = twins[0].created_at
    paid = settlement.settle_unpaid_checkout(twins[0].id, paid_at=paid_at, note=NOTE)
    outcome = settlement.settle_checkout(orders.lock_checkout(twins[1].id), covers_orders_since=paid_at, note=NOTE)
    db.session.flush()

    assert paid == [order.id for order in twins[0].orders]
    assert [order.id for order in outcome.paid] == [order.id for order in twins[1].orders]
    sql_path, objects_path = written(twins[0].id), written(twins[1].id)
    assert sql_path == objects_path
    # The rows compared are really there: two orders paid, two entries each, one ledger row a line.
    assert sql_path["checkout"] == ("paid", True)
    assert len(sql_path["orders"]) == 2 and len(sql_path["seller_entries"]) == 4 and len(sql_path["sales_ledger"]) == 3
    assert all(dict(row)["queued"] and dict(row)["on_business_day"] for row in sql_path["sales_ledger"])


def test_a_checkout_with_an_order_no_longer_awaiting_payment_is_left_to_the_mapped_objects(build):
    first_seller, second_seller = build.user("seller"), build.user("seller")
    checkout = build.checkout(products=[build.product(first_seller), build.product(second_seller)])
    expired = checkout.orders[0]
    db.session.execute(text("UPDATE orders SET status = 'expired' WHERE id = :id"), {"id": expired.id})

    assert settlement.settle_unpaid_checkout(checkout.id, paid_at=checkout.created_at, note=NOTE) is None
    assert db.session.scalars(text("SELECT status FROM orders WHERE checkout_id = :id ORDER BY id"),
                              {"id": checkout.id}).all() == ["expired", "pending_payment"]
    assert db.session.scalar(text("SELECT count(*) FROM seller_ledger_entries e JOIN orders o ON o.id = e.order_id "
                                  "WHERE o.checkout_id = :id"), {"id": checkout.id}) == 0
