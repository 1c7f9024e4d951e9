"""`flask seed demo --history N`: exactly N ledger rows of two years in every county, each carrying
its order line's or refund line's money on the Shanghai day it happened, Double 11 the busiest day,
rollups equal to the ledger, and the same rows for the same seed."""
from collections import Counter, defaultdict
from datetime import date
from statistics import median

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User, UserRole
from marketplace.catalog.models import Product
from marketplace.common.time import business_day
from marketplace.extensions import db
from marketplace.geo.models import County
from marketplace.orders.models import Checkout, Order, OrderLine
from marketplace.payments.models import PaymentIntent, Refund, RefundLine
from marketplace.reports.models import CountyDailySales, SalesLedgerEntry
from seed import demo
from seed.history import (
    FULL_REGISTRY,
    festival_factor,
    history_days,
    seed_history,
    short_county_name,
    split_exactly,
)

ROWS = 2000
END = date(2026, 11, 20)  # the window starts on 21 November 2024: Double 11 of 2025 and 2026 are in it
L = SalesLedgerEntry


def quiet(message: str) -> None:
    pass


def ledger() -> list[SalesLedgerEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(L).order_by(L.id)))


@pytest.fixture
def history(app):
    """The demo data (with its five stations) and 2,000 ledger rows of history ending on 20 November 2026,
    loaded with every row's foreign keys checked: a child written before its parent fails here."""
    demo.seed_demo(seed=7, say=quiet)
    return seed_history(ROWS, end=END, seed=7, say=quiet, check_foreign_keys=True)


def test_history_writes_exactly_the_ledger_rows_asked_for_sales_and_refunds(history):
    kinds = Counter(row.kind for row in ledger())

    assert kinds["sale"] + kinds["refund"] == ROWS == history.rows
    assert set(kinds) == {"sale", "refund"}
    assert 0.01 < kinds["refund"] / ROWS < 0.06  # about 3 % of the lines come back


def test_asking_again_for_as_many_rows_adds_nothing(history):
    again = seed_history(ROWS, end=END, seed=7, say=quiet)

    assert again.rows == 0
    assert len(ledger()) == ROWS


def test_every_sale_row_carries_its_order_line_and_its_paid_order(history):
    lines = {line.id: line for line in db.session.scalars(select(OrderLine))}
    orders = {order.id: order for order in db.session.scalars(select(Order))}
    sales = [row for row in ledger() if row.kind == "sale"]

    assert {row.order_line_id for row in sales} == set(lines)  # one sale row per line, none without
    for row in sales:
        line, order = lines[row.order_line_id], orders[row.order_id]
        assert (row.units, row.amount_fen) == (line.quantity, line.line_total_fen)
        assert (row.product_id, row.category, row.origin_county_adcode, row.seller_user_id) == (
            line.product_id, line.category, line.origin_county_adcode, line.seller_user_id)
        assert line.order_id == order.id
        assert (row.buyer_user_id, row.station_id) == (order.buyer_user_id, order.station_id)
        assert row.occurred_at == order.paid_at
        assert order.status in ("paid", "shipped", "delivered", "completed")
    assert any(row.station_id for row in sales) and any(row.station_id is None for row in sales)


def test_every_refund_row_carries_its_refund_line_and_its_confirmed_stripe_refund(history):
    refund_lines = {(item.refund_id, item.order_line_id): item for item in db.session.scalars(select(RefundLine))}
    refunds = {refund.id: refund for refund in db.session.scalars(select(Refund))}
    sold = {row.order_line_id: row for row in ledger() if row.kind == "sale"}
    refund_rows = [row for row in ledger() if row.kind == "refund"]

    assert {(row.refund_id, row.order_line_id) for row in refund_rows} == set(refund_lines)
    for row in refund_rows:
        item, refund = refund_lines[(row.refund_id, row.order_line_id)], refunds[row.refund_id]
        sale = sold[row.order_line_id]
        assert (row.units, row.amount_fen) == (-item.quantity, -item.amount_fen)
        assert 0 < item.amount_fen <= sale.amount_fen and 0 < item.quantity <= sale.units
        assert (refund.status, refund.method, refund.amount_fen, refund.order_id) == (
            "succeeded", "stripe", item.amount_fen, row.order_id)
        assert row.occurred_at == refund.confirmed_at > sale.occurred_at
        assert db.session.get(PaymentIntent, refund.payment_intent_id).checkout_id == refund.checkout_id


def test_checkouts_and_payment_intents_add_up_to_their_orders(history):
    orders = db.session.scalars(select(Order)).all()
    lines_total = dict(db.session.execute(select(OrderLine.order_id, func.sum(OrderLine.line_total_fen))
                                          .group_by(OrderLine.order_id)).all())
    intents = {intent.checkout_id: intent for intent in db.session.scalars(select(PaymentIntent))}
    checkouts = {checkout.id: checkout for checkout in db.session.scalars(select(Checkout))}

    for order in orders:
        checkout = checkouts[order.checkout_id]
        assert order.items_total_fen == lines_total[order.id]
        assert (checkout.items_total_fen, checkout.shipping_total_fen) == (
            order.items_total_fen, order.shipping_fee_fen)
        assert intents[checkout.id].amount_fen == checkout.grand_total_fen == order.total_fen
        assert intents[checkout.id].status == "succeeded" and checkout.status == "paid"


def test_business_day_is_the_shanghai_date_of_occurred_at_within_the_two_years(history):
    rows = ledger()

    assert all(business_day(row.occurred_at) == row.business_day for row in rows)
    days = history_days(END)
    assert days[0] == date(2024, 11, 21) and days[-1] == END
    assert all(days[0] <= row.business_day <= END for row in rows)


def test_double_11_is_the_busiest_day_of_its_year_by_far(history):
    sales_by_day = Counter(row.business_day for row in ledger() if row.kind == "sale")

    for year in (2025, 2026):
        year_days = {day: count for day, count in sales_by_day.items() if day.year == year}
        busiest = max(year_days, key=year_days.get)
        assert busiest == date(year, 11, 11)
        assert year_days[busiest] >= 4 * median(year_days.values())


def test_rollups_rebuilt_after_the_history_equal_the_ledger_sums(history):
    expected = defaultdict(lambda: {"orders": set(), "buyers": set(), "sellers": set(), "units_sold": 0,
                                    "units_refunded": 0, "gross_fen": 0, "refunded_fen": 0, "net_fen": 0})
    for row in ledger():
        day = expected[(row.business_day, row.origin_county_adcode)]
        if row.kind == "sale":
            day["orders"].add(row.order_id)
            day["buyers"].add(row.buyer_user_id)
            day["sellers"].add(row.seller_user_id)
            day["units_sold"] += row.units
            day["gross_fen"] += row.amount_fen
        else:
            day["units_refunded"] -= row.units
            day["refunded_fen"] -= row.amount_fen
        day["net_fen"] += row.amount_fen

    rolled_up = {(r.business_day, r.county_adcode): {
        "orders": r.orders, "buyers": r.buyers, "sellers": r.sellers, "units_sold": r.units_sold,
        "units_refunded": r.units_refunded, "gross_fen": r.gross_fen, "refunded_fen": r.refunded_fen,
        "net_fen": r.net_fen} for r in db.session.scalars(select(CountyDailySales))}
    assert rolled_up == {key: {name: len(value) if isinstance(value, set) else value for name, value in day.items()}
                         for key, day in expected.items()}


def test_history_imports_the_full_county_registry_and_sells_from_every_county(history):
    counties = db.session.execute(select(County.adcode, County.is_national_poverty_county)).all()
    sellers_by_county = Counter(db.session.scalars(
        select(User.county_adcode).join(UserRole).where(UserRole.role == "seller", User.phone.like("1990%"))))
    listed = set(db.session.scalars(select(Product.origin_county_adcode).distinct()))

    assert len(counties) == FULL_REGISTRY
    assert sum(poverty for _, poverty in counties) > 800
    # Poverty counties have two history sellers, the others one: they sell more per county.
    assert {adcode: 2 if poverty else 1 for adcode, poverty in counties} == sellers_by_county
    assert listed == {adcode for adcode, _ in counties}


def rows_of_a_rolled_back_history(seed: int) -> list[tuple]:
    """Generate the history inside a savepoint, read its ledger, then undo it all."""
    connection = db.session.get_bind()
    db.session.remove()
    savepoint = connection.begin_nested()
    try:
        seed_history(ROWS, end=END, seed=seed, say=quiet)
        return [(row.id, row.kind, row.business_day, row.occurred_at, row.order_id, row.order_line_id,
                 row.refund_id, row.product_id, row.origin_county_adcode, row.seller_user_id, row.buyer_user_id,
                 row.station_id, row.units, row.amount_fen) for row in ledger()]
    finally:
        db.session.remove()
        savepoint.rollback()


def test_the_same_seed_gives_the_same_rows(app):
    demo.seed_demo(seed=7, say=quiet)
    db.session.commit()

    first = rows_of_a_rolled_back_history(7)
    second = rows_of_a_rolled_back_history(7)
    other_seed = rows_of_a_rolled_back_history(8)

    assert len(first) == ROWS
    assert second == first
    assert other_seed != first


def test_seed_demo_history_option_prints_progress_and_the_rows_created(app):
    result = app.test_cli_runner().invoke(args=["seed", "demo", "--seed", "7", "--history", "1500",
                                                "--history-end", "2026-11-20"])

    assert result.exit_code == 0, result.output
    assert "importing the official lists" in result.output
    assert "history: 1,500 / 1,500 ledger rows (100 %)" in result.output
    assert "rollups rebuilt" in result.output
    assert "ledger rows 1500." in result.output
    assert db.session.scalar(select(func.count()).select_from(L)) == 1500


def test_double_11_ramps_up_to_about_nine_normal_days_and_618_to_four():
    assert festival_factor(date(2025, 10, 15)) == 1.0
    ramp = [festival_factor(date(2025, 11, day)) for day in range(1, 12)]
    assert ramp == sorted(ramp) and ramp[-1] == 9.0
    assert festival_factor(date(2025, 6, 18)) == 4.0
    assert festival_factor(date(2026, 2, 17)) < 1  # the Spring Festival: couriers go home


def test_split_exactly_keeps_the_total_and_the_proportions():
    assert split_exactly(10, [1, 1, 8]) == [1, 1, 8]
    assert sum(split_exactly(1001, [0.3, 2.2, 1.7, 0.01])) == 1001


@pytest.mark.parametrize(("name", "sold_as"), [
    ("乌什县", "乌什"), ("阿克苏市", "阿克苏"), ("曹县", "曹县"), ("都安瑶族自治县", "都安"),
    ("印江土家族苗族自治县", "印江"), ("积石山保安族东乡族撒拉族自治县", "积石山"), ("龙胜各族自治县", "龙胜"),
    ("东城区", "东城"),
])
def test_produce_is_sold_under_the_short_county_name(name, sold_as):
    assert short_county_name(name) == sold_as
