"""The sales ledger: one +row per order line when its order is paid (goods only, on the Asia/Shanghai
day of the payment), one −row per refunded line when a refund is confirmed, nothing for pending
refunds or for money that never became a sale, and rows that later product edits never change."""
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.flows import station_cash
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from marketplace.payments import events, refunds
from marketplace.payments.models import PaymentIntent, Refund
from marketplace.reports.models import SalesLedgerEntry, SalesLedgerQueue
from marketplace.stations.models import ServiceStation

XINJIANG_WUSHI = "652927"
GUIZHOU_LEISHAN = "522634"
HUNAN_MAYANG = "431226"
REASON = "三个苹果坏了"


def ledger_rows(order_id: int | None = None, kind: str | None = None) -> list[SalesLedgerEntry]:
    query = select(SalesLedgerEntry).order_by(SalesLedgerEntry.id)
    if order_id is not None:
        query = query.where(SalesLedgerEntry.order_id == order_id)
    if kind is not None:
        query = query.where(SalesLedgerEntry.kind == kind)
    return list(db.session.scalars(query))


def queued_ids() -> set[int]:
    return set(db.session.scalars(select(SalesLedgerQueue.ledger_id)))


def ledger_net(order_id: int) -> tuple[int, int]:
    """(units, fen) the ledger counts for an order, sales less refunds."""
    units, fen = db.session.execute(
        select(func.coalesce(func.sum(SalesLedgerEntry.units), 0),
               func.coalesce(func.sum(SalesLedgerEntry.amount_fen), 0))
        .where(SalesLedgerEntry.order_id == order_id)).one()
    return int(units), int(fen)


def snapshot_ledger() -> list[tuple]:
    columns = SalesLedgerEntry.__table__.columns
    return [tuple(row) for row in db.session.execute(select(*columns).order_by(SalesLedgerEntry.id))]


def confirm_by_stripe(refund_id: int) -> Refund:
    """Stripe's charge.refunded event confirming one of our refunds (as if Stripe had made it)."""
    refund = db.session.get(Refund, refund_id)
    pi = db.session.get(PaymentIntent, refund.payment_intent_id).stripe_id
    charge = {"id": f"ch_{refund_id}", "object": "charge", "payment_intent": pi,
              "refunds": {"data": [{"id": f"re_{refund_id}", "object": "refund", "amount": refund.amount_fen,
                                    "status": "succeeded", "payment_intent": pi,
                                    "metadata": {"refund_id": str(refund_id)}}]}}
    result = events.apply_stripe_event({"id": f"evt_refunded_{refund_id}", "type": "charge.refunded",
                                          "data": {"object": charge}})
    assert result.outcome == "applied", result
    db.session.expire_all()
    return db.session.get(Refund, refund_id)


def refund_in_cash(order_id: int, admin: User, **how) -> Refund:
    """An administrator's refund of a cash order, paid back at once by the station's partner."""
    refund = refunds.request_refund(order_id, admin, reason=REASON, **how)
    assert refund.status == "pending"
    partner = db.session.get(ServiceStation, db.session.get(Order, order_id).station_id).partner
    station_cash.record_cash_refund(refund.id, partner)
    db.session.expire_all()
    return db.session.get(Refund, refund.id)


@dataclass
class CashOrder:
    """One seller's cash order at a station: 3 jin of apples at 1250 and 2 bags of walnuts at 800
    (goods 5350 fen, plus 800 shipping)."""

    order: Order
    apples_line: int
    walnuts_line: int

    GOODS = 3 * 1250 + 2 * 800


def cash_order(build) -> CashOrder:
    seller = build.user("seller", county=XINJIANG_WUSHI)
    apples = build.product(seller, price_fen=1250, category="fruit")
    walnuts = build.product(seller, price_fen=800, category="nuts")
    checkout = build.collect_cash(build.checkout(build.user("buyer"), [apples, walnuts], quantities=[3, 2],
                                                 station=build.station(), payment_method="cash_at_station"))
    order = db.session.get(Order, checkout.orders[0].id)
    line_of = {line.product_id: line.id for line in order.lines}
    return CashOrder(order, line_of[apples.id], line_of[walnuts.id])


@pytest.fixture
def admin(build) -> User:
    return build.user("admin")


# ---------------------------------------------------------------- sales


def test_paying_a_checkout_writes_one_queued_row_per_order_line_with_what_was_sold(build, clock):
    first_seller = build.user("seller", county=XINJIANG_WUSHI)
    second_seller = build.user("seller", county=GUIZHOU_LEISHAN)
    apples = build.product(first_seller, price_fen=1250, category="fruit")
    rice = build.product(first_seller, price_fen=1800, category="grains_rice",
                         origin_county_adcode=build.county(HUNAN_MAYANG).adcode)
    tea = build.product(second_seller, price_fen=4800, category="tea")
    buyer, station = build.user("buyer"), build.station()
    checkout = build.checkout(buyer, [apples, rice, tea], quantities=[3, 1, 2], station=station)
    clock.at("2026-11-11T02:00:00+00:00")  # 10:00 on Double 11 in Shanghai

    build.pay(checkout)

    orders_by_seller = {order.seller_user_id: order for order in db.session.get(Checkout, checkout.id).orders}
    first_order, second_order = orders_by_seller[first_seller.id], orders_by_seller[second_seller.id]
    assert first_order.shipping_fee_fen > 0  # shipping is paid, but is not produce sold
    rows = ledger_rows()
    assert sorted((row.kind, row.order_id, row.product_id, row.units, row.amount_fen, row.origin_county_adcode,
                   row.category, row.seller_user_id, row.buyer_user_id, row.station_id, row.business_day,
                   row.refund_id) for row in rows) == sorted([
        ("sale", first_order.id, apples.id, 3, 3 * 1250, XINJIANG_WUSHI, "fruit", first_seller.id, buyer.id,
         station.id, date(2026, 11, 11), None),
        ("sale", first_order.id, rice.id, 1, 1800, HUNAN_MAYANG, "grains_rice", first_seller.id, buyer.id,
         station.id, date(2026, 11, 11), None),
        ("sale", second_order.id, tea.id, 2, 2 * 4800, GUIZHOU_LEISHAN, "tea", second_seller.id, buyer.id,
         station.id, date(2026, 11, 11), None),
    ])
    lines = {line.id: line for order in (first_order, second_order) for line in order.lines}
    assert {row.order_line_id for row in rows} == set(lines)
    assert all(lines[row.order_line_id].product_id == row.product_id for row in rows)
    assert sum(row.amount_fen for row in rows) == checkout.items_total_fen < checkout.grand_total_fen
    assert queued_ids() == {row.id for row in rows}


def test_an_order_that_failed_to_pay_writes_nothing(build):
    checkout = build.checkout()
    events.apply_stripe_event(build.stripe_event(build.intent(checkout), "payment_intent.payment_failed"))

    assert ledger_rows() == [] and queued_ids() == set()


def test_a_success_event_delivered_twice_counts_the_sale_once(build):
    checkout = build.checkout(products=[build.product(), build.product()])
    event = build.stripe_event(build.intent(checkout))

    assert events.apply_stripe_event(event).outcome == "applied"
    assert events.apply_stripe_event(event).outcome == "duplicate"

    assert len(ledger_rows()) == 2 and len(queued_ids()) == 2


@pytest.mark.parametrize("paid_at, shanghai_day", [
    ("2026-11-10T15:59:59+00:00", date(2026, 11, 10)),  # 23:59:59 on 10 November in Shanghai
    ("2026-11-10T16:00:00+00:00", date(2026, 11, 11)),  # midnight: Double 11 has begun
], ids=["last-second-of-10-nov", "first-second-of-11-nov"])
@pytest.mark.parametrize("paid_by", ["stripe", "cash"])
def test_a_sale_counts_on_the_shanghai_calendar_day_it_was_paid(build, clock, paid_at, shanghai_day, paid_by):
    if paid_by == "stripe":
        checkout = build.checkout()
        clock.at(paid_at)
        build.pay(checkout)
    else:
        checkout = build.checkout(station=build.station(), payment_method="cash_at_station")
        clock.at(paid_at)
        build.collect_cash(checkout)

    [row] = ledger_rows()
    assert row.business_day == shanghai_day
    assert db.session.get(Order, row.order_id).paid_at == clock.now


# ---------------------------------------------------------------- refunds


def test_a_confirmed_refund_by_lines_takes_those_units_and_their_money_off_on_the_day_it_is_confirmed(
        build, clock, admin):
    clock.at("2026-11-09T04:00:00+00:00")
    sale = cash_order(build)
    clock.at("2026-11-10T16:30:00+00:00")  # 00:30 on 11 November in Shanghai

    refund = refund_in_cash(sale.order.id, admin, lines=[{"order_line_id": sale.walnuts_line, "quantity": 1},
                                                         {"order_line_id": sale.apples_line, "quantity": 2}])

    assert refund.status == "succeeded"
    sales = ledger_rows(sale.order.id, "sale")
    assert {row.business_day for row in sales} == {date(2026, 11, 9)}
    refunds = ledger_rows(sale.order.id, "refund")
    assert sorted((row.order_line_id, row.units, row.amount_fen, row.refund_id, row.business_day)
                  for row in refunds) == [(sale.apples_line, -2, -2 * 1250, refund.id, date(2026, 11, 11)),
                                          (sale.walnuts_line, -1, -800, refund.id, date(2026, 11, 11))]
    by_line = {row.order_line_id: row for row in sales}
    for row in refunds:  # what was sold is copied from the sale, whatever has happened since
        sold = by_line[row.order_line_id]
        assert (row.product_id, row.category, row.origin_county_adcode, row.seller_user_id, row.buyer_user_id,
                row.station_id) == (sold.product_id, sold.category, sold.origin_county_adcode, sold.seller_user_id,
                                    sold.buyer_user_id, sold.station_id)
    assert ledger_net(sale.order.id) == (5 - 3, CashOrder.GOODS - 2 * 1250 - 800)
    assert {row.id for row in refunds} <= queued_ids()


def test_a_refund_by_amount_spreads_its_money_over_the_lines_in_order_without_units(build, admin):
    sale = cash_order(build)
    assert sale.apples_line < sale.walnuts_line

    first = refund_in_cash(sale.order.id, admin, amount_fen=4000)

    assert [(row.order_line_id, row.units, row.amount_fen) for row in ledger_rows(sale.order.id, "refund")] == [
        (sale.apples_line, 0, -3750), (sale.walnuts_line, 0, -250)]  # apples brought in 3750, no more
    assert ledger_net(sale.order.id) == (5, CashOrder.GOODS - 4000)

    rest = sale.order.total_fen - 4000  # 2150: the walnuts' last 1350 and the 800 shipping
    second = refund_in_cash(sale.order.id, admin, amount_fen=rest)

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert [(row.refund_id, row.order_line_id, row.units, row.amount_fen)
            for row in ledger_rows(sale.order.id, "refund") if row.refund_id == second.id] == [
        (second.id, sale.walnuts_line, 0, -1350)]
    assert ledger_net(sale.order.id) == (5, 0)  # every fen of the goods is back; units were never named


def test_the_ledger_net_of_an_order_is_its_paid_goods_less_the_goods_money_refunded(build, admin):
    sale = cash_order(build)
    goods, shipping = CashOrder.GOODS, sale.order.shipping_fee_fen
    assert ledger_net(sale.order.id) == (5, goods)

    refund_in_cash(sale.order.id, admin, lines=[{"order_line_id": sale.apples_line, "quantity": 1}])
    assert ledger_net(sale.order.id) == (4, goods - 1250)

    refund_in_cash(sale.order.id, admin, amount_fen=3000)
    assert ledger_net(sale.order.id) == (4, goods - 1250 - 3000)

    whole = refund_in_cash(sale.order.id, admin)  # the rest: 2 apples, 2 walnuts, and the shipping

    assert whole.amount_fen == goods + shipping - 1250 - 3000
    assert ledger_net(sale.order.id) == (0, 0)
    refunds = ledger_rows(sale.order.id, "refund")
    assert -sum(row.amount_fen for row in refunds) == goods  # the shipping refunded is not produce either
    for line in sale.order.lines:  # each line gave back exactly what it brought in
        assert -sum(row.amount_fen for row in refunds if row.order_line_id == line.id) == line.line_total_fen


def test_a_pending_refund_writes_nothing(build, admin):
    checkout = build.pay(build.checkout(products=[build.product(price_fen=1250)], quantity=4))
    order_id = checkout.orders[0].id
    before = snapshot_ledger()

    refund = refunds.request_refund(order_id, admin, reason=REASON, amount_fen=1000)
    by_lines = refunds.request_refund(order_id, admin, reason=REASON,
                                       lines=[{"order_line_id": checkout.orders[0].lines[0].id, "quantity": 1}])

    assert (refund.status, by_lines.status) == ("pending", "pending")  # Stripe is not configured in these tests
    assert snapshot_ledger() == before
    assert ledger_net(order_id) == (4, 4 * 1250)


def test_a_stripe_refund_reaches_the_ledger_when_stripe_confirms_it(build, admin):
    checkout = build.pay(build.checkout(products=[build.product(price_fen=1250)], quantity=4))
    order = checkout.orders[0]
    refund = refunds.request_refund(order.id, admin, reason=REASON,
                                     lines=[{"order_line_id": order.lines[0].id, "quantity": 3}])

    assert confirm_by_stripe(refund.id).status == "succeeded"

    assert [(row.units, row.amount_fen) for row in ledger_rows(order.id, "refund")] == [(-3, -3 * 1250)]
    assert ledger_net(order.id) == (1, 1250)


def test_a_payment_refunded_because_its_stock_was_gone_never_reaches_the_ledger(build):
    product = build.product(stock_units=2)
    checkout = build.checkout(products=[product], quantity=2)
    intent = build.intent(checkout)
    orders.expire_due_checkouts(now=utcnow() + timedelta(hours=2))
    build.checkout(build.user("buyer"), [product], quantity=2)  # a rival takes the stock given back

    events.apply_stripe_event(build.stripe_event(intent))
    db.session.expire_all()
    [refund] = db.session.scalars(select(Refund).where(Refund.checkout_id == checkout.id)).all()
    assert "stock was gone" in refund.reason
    assert confirm_by_stripe(refund.id).status == "succeeded"

    assert db.session.get(Order, checkout.orders[0].id).status == "expired"
    assert ledger_rows() == [] and queued_ids() == set()


# ---------------------------------------------------------------- append-only


def test_later_product_edits_never_change_the_ledger(build, clock, admin):
    clock.at("2026-11-09T04:00:00+00:00")
    seller = build.user("seller", county=XINJIANG_WUSHI)
    apples = build.product(seller, price_fen=1250, category="fruit")
    checkout = build.pay(build.checkout(products=[apples], quantity=4))
    order = checkout.orders[0]
    before = snapshot_ledger()

    edited = catalog.update_product(apples.id, seller, db.session.get(Product, apples.id).version,
                                    title="改名的苹果", category="other", price_fen=9990,
                                    origin_county_adcode=build.county(GUIZHOU_LEISHAN).adcode)
    assert (edited.category, edited.price_fen, edited.origin_county_adcode) == ("other", 9990, GUIZHOU_LEISHAN)

    assert snapshot_ledger() == before
    refund = refunds.request_refund(order.id, admin, reason=REASON,
                                     lines=[{"order_line_id": order.lines[0].id, "quantity": 1}])
    confirm_by_stripe(refund.id)
    [taken_back] = ledger_rows(order.id, "refund")
    assert (taken_back.category, taken_back.origin_county_adcode, taken_back.amount_fen) == (
        "fruit", XINJIANG_WUSHI, -1250)
    assert snapshot_ledger()[:len(before)] == before
