"""County/day rollups: built in batches from the queued ledger rows they equal exactly (distinct
orders, buyers and sellers; units and money), the same as a rebuild from the whole ledger, with
their freshness, the rebuild command and the job."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.models import Checkout
from marketplace.payments import refunds
from marketplace.reports import review, rollup
from marketplace.reports.models import (
    CountyDailyCategorySales,
    CountyDailyMember,
    CountyDailySales,
    SalesLedgerEntry,
    SalesLedgerQueue,
)
from tests.clock import Clock
from tests.unit.test_sales_ledger import (
    GUIZHOU_LEISHAN,
    HUNAN_MAYANG,
    REASON,
    XINJIANG_WUSHI,
    confirm_by_stripe,
    refund_in_cash,
)

MONEY = ("units_sold", "units_refunded", "gross_fen", "refunded_fen", "net_fen")
ROLLUP_TABLES = (CountyDailySales, CountyDailyCategorySales, CountyDailyMember)


@dataclass(frozen=True)
class Fact:
    """One line sold or given back, as the test itself books it (units and fen taken back are positive)."""

    kind: str
    day: date
    county: str
    category: str
    order_id: int
    buyer_id: int
    seller_id: int
    units: int
    fen: int


@dataclass
class Market:
    """Sellers in three counties, buyers, a station, and every sale and refund booked as facts.

    Times are given in Shanghai time, so the business day is the date written."""

    build: object
    clock: Clock
    admin: User
    station: object
    facts: list[Fact] = field(default_factory=list)

    def _at(self, shanghai_time: str) -> date:
        self.clock.at(shanghai_time)
        return datetime.fromisoformat(shanghai_time).date()

    def sell(self, buyer: User, items: dict[Product, int], when: str, *, cash: bool = False) -> Checkout:
        checkout = self.build.checkout(buyer, list(items), quantities=list(items.values()),
                                       station=self.station if cash else None,
                                       payment_method="cash_at_station" if cash else "card")
        day = self._at(when)
        (self.build.collect_cash if cash else self.build.pay)(checkout)
        order_of = {order.seller_user_id: order.id for order in db.session.get(Checkout, checkout.id).orders}
        self.facts += [Fact("sale", day, product.origin_county_adcode, product.category,
                            order_of[product.seller_user_id], buyer.id, product.seller_user_id,
                            units, units * product.price_fen)
                       for product, units in items.items()]
        return checkout

    def refund(self, checkout: Checkout, seller: User, when: str, *, takes: dict[Product, tuple[int, int]],
               confirmed: bool = True, **how) -> None:
        """Refund the seller's order of a checkout (by ``lines`` or ``amount_fen``, or whole);
        ``takes`` is what the test expects back per product: (units, fen)."""
        order = next(order for order in db.session.get(Checkout, checkout.id).orders
                     if order.seller_user_id == seller.id)
        if "lines" in how:
            line_of = {line.product_id: line.id for line in order.lines}
            how["lines"] = [{"order_line_id": line_of[product.id], "quantity": units}
                            for product, units in how["lines"].items()]
        day = self._at(when)
        if checkout.payment_method == "cash_at_station":
            refund_in_cash(order.id, self.admin, **how)
        else:
            refund = refunds.request_refund(order.id, self.admin, reason=REASON, **how)
            if not confirmed:
                return
            confirm_by_stripe(refund.id)
        self.facts += [Fact("refund", day, product.origin_county_adcode, product.category, order.id,
                            order.buyer_user_id, seller.id, units, fen) for product, (units, fen) in takes.items()]


def expected_county_days(facts: list[Fact], *, excluded_orders: frozenset[int] = frozenset()) -> dict:
    """What each county's day must hold; the counts leave out the sales of ``excluded_orders``."""
    groups = defaultdict(list)
    for fact in facts:
        groups[(fact.day, fact.county)].append(fact)
    counted = {key: [f for f in group if f.kind == "sale" and f.order_id not in excluded_orders]
               for key, group in groups.items()}
    return {key: {"orders": len({f.order_id for f in counted[key]}),
                  "buyers": len({f.buyer_id for f in counted[key]}),
                  "sellers": len({f.seller_id for f in counted[key]}),
                  **_money(group)}
            for key, group in groups.items()}


def counts_only(county_day_figures: dict) -> dict:
    return {key: {name: figures[name] for name in ("orders", "buyers", "sellers")}
            for key, figures in county_day_figures.items()}


def expected_category_days(facts: list[Fact]) -> dict:
    groups = defaultdict(list)
    for fact in facts:
        groups[(fact.day, fact.county, fact.category)].append(fact)
    return {key: _money(group) for key, group in groups.items()}


def _money(facts: list[Fact]) -> dict:
    sold = [f for f in facts if f.kind == "sale"]
    back = [f for f in facts if f.kind == "refund"]
    gross, refunded = sum(f.fen for f in sold), sum(f.fen for f in back)
    return {"units_sold": sum(f.units for f in sold), "units_refunded": sum(f.units for f in back),
            "gross_fen": gross, "refunded_fen": refunded, "net_fen": gross - refunded}


def county_days() -> dict:
    return {(row.business_day, row.county_adcode): {"orders": row.orders, "buyers": row.buyers, "sellers": row.sellers,
                                                    **{name: getattr(row, name) for name in MONEY}}
            for row in db.session.scalars(select(CountyDailySales))}


def category_days() -> dict:
    return {(row.business_day, row.county_adcode, row.category): {name: getattr(row, name) for name in MONEY}
            for row in db.session.scalars(select(CountyDailyCategorySales))}


def snapshot() -> dict[str, list[tuple]]:
    """Every row of the three rollup tables, in key order."""
    db.session.expire_all()
    return {model.__tablename__: [tuple(row) for row in db.session.execute(
        select(*model.__table__.columns).order_by(*model.__table__.primary_key.columns))] for model in ROLLUP_TABLES}


def waiting() -> int:
    return db.session.scalar(select(func.count()).select_from(SalesLedgerQueue))


def ledger_size() -> int:
    return db.session.scalar(select(func.count()).select_from(SalesLedgerEntry))


D1, D2, D3, D4 = date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)


@pytest.fixture
def market(build, clock) -> Market:
    """Four days of sales and refunds in three counties (see the comments for who bought what)."""
    wushi_farmer = build.user("seller", county=XINJIANG_WUSHI)
    leishan_tea_house = build.user("seller", county=GUIZHOU_LEISHAN)
    mayang_coop = build.user("seller", county=HUNAN_MAYANG)
    apples = build.product(wushi_farmer, price_fen=1250, category="fruit")
    walnuts = build.product(wushi_farmer, price_fen=3000, category="nuts")
    # The Wushi farmer also sells rice grown across the border in Leishan: one order, two counties.
    rice = build.product(wushi_farmer, price_fen=1800, category="grains_rice", origin_county_adcode=GUIZHOU_LEISHAN)
    tea = build.product(leishan_tea_house, price_fen=4800, category="tea")
    honey = build.product(mayang_coop, price_fen=6600, category="honey")
    mushrooms = build.product(mayang_coop, price_fen=2200, category="mushrooms")
    li, wang, zhao = build.user("buyer"), build.user("buyer"), build.user("buyer")
    market = Market(build, clock, build.user("admin"), build.station())

    # 9 November
    li_first = market.sell(li, {apples: 2, rice: 1, tea: 1}, "2026-11-09T12:00:00+08:00")
    wang_honey = market.sell(wang, {honey: 3}, "2026-11-09T18:00:00+08:00", cash=True)
    # 10 November, late evening: Li buys twice in Wushi; Zhao pays cash for two sellers
    market.sell(li, {apples: 1}, "2026-11-10T23:30:00+08:00")
    market.sell(li, {walnuts: 2}, "2026-11-10T23:45:00+08:00")
    zhao_cash = market.sell(zhao, {tea: 2, mushrooms: 1}, "2026-11-10T23:50:00+08:00", cash=True)
    market.refund(wang_honey, mayang_coop, "2026-11-10T23:55:00+08:00", lines={honey: 1}, takes={honey: (1, 6600)})
    # Double 11, just after midnight
    wang_card = market.sell(wang, {apples: 5, rice: 2}, "2026-11-11T00:30:00+08:00")
    market.sell(li, {honey: 1}, "2026-11-11T09:00:00+08:00")
    # 2500 back on a 2200 order line (+800 shipping): the line gives back what it brought in, no more
    market.refund(zhao_cash, mayang_coop, "2026-11-11T10:00:00+08:00", amount_fen=2500, takes={mushrooms: (0, 2200)})
    market.refund(li_first, wushi_farmer, "2026-11-11T11:00:00+08:00", lines={apples: 1}, takes={apples: (1, 1250)})
    market.refund(wang_card, wushi_farmer, "2026-11-11T12:00:00+08:00", amount_fen=100, takes={}, confirmed=False)
    # 12 November: only a refund in Mayang (the rest of Wang's honey)
    market.refund(wang_honey, mayang_coop, "2026-11-12T09:00:00+08:00", takes={honey: (2, 2 * 6600)})
    return market


# ---------------------------------------------------------------- incremental roll-up


def test_the_scenario_has_what_the_rollup_must_count_exactly(market):
    """Guards the fixture: repeat buyers, the same buyer twice in a county on a day, one order in
    two counties, refunds on later days, and a day with refunds only."""
    county_days_expected = expected_county_days(market.facts)
    assert len({fact.county for fact in market.facts}) == 3
    assert len({fact.day for fact in market.facts}) == 4
    assert county_days_expected[(D2, XINJIANG_WUSHI)]["orders"] == 2
    assert county_days_expected[(D2, XINJIANG_WUSHI)]["buyers"] == 1
    orders_in = {county: {f.order_id for f in market.facts if f.county == county}
                 for county in (XINJIANG_WUSHI, GUIZHOU_LEISHAN)}
    assert orders_in[XINJIANG_WUSHI] & orders_in[GUIZHOU_LEISHAN]  # the farmer's order of apples and rice
    # Li's first checkout: the farmer's order (apples in Wushi, rice in Leishan) and the tea house's (Leishan)
    leishan, wushi = county_days_expected[(D1, GUIZHOU_LEISHAN)], county_days_expected[(D1, XINJIANG_WUSHI)]
    assert (leishan["orders"], leishan["sellers"], wushi["orders"], wushi["sellers"]) == (2, 2, 1, 1)
    assert county_days_expected[(D4, HUNAN_MAYANG)] == {
        "orders": 0, "buyers": 0, "sellers": 0, "units_sold": 0, "units_refunded": 2, "gross_fen": 0,
        "refunded_fen": 13200, "net_fen": -13200}
    assert ledger_size() == waiting() == len(market.facts) == 15


@pytest.mark.parametrize("batch", [1, 2, 3, 5000])
def test_rolling_up_in_batches_gives_exact_distinct_counts_and_sums_per_county_and_day(market, batch):
    assert rollup.roll_up_all(batch=batch) == len(market.facts)

    assert county_days() == expected_county_days(market.facts)
    assert waiting() == 0


@pytest.mark.parametrize("batch", [1, 3])
def test_rolling_up_in_batches_gives_exact_sums_per_category(market, batch):
    rollup.roll_up_all(batch=batch)

    assert category_days() == expected_category_days(market.facts)
    assert category_days()[(D1, GUIZHOU_LEISHAN, "grains_rice")]["gross_fen"] == 1800


def test_rolling_up_again_with_nothing_queued_changes_nothing(market):
    rollup.roll_up_all(batch=3)
    before = snapshot()

    assert rollup.roll_up(batch=3) == 0
    assert rollup.roll_up_all() == 0

    assert snapshot() == before


def test_rows_added_after_a_roll_up_are_added_by_the_next_one(market, build):
    rollup.roll_up_all(batch=3)
    li = db.session.get(User, market.facts[0].buyer_id)
    apples = db.session.scalar(select(Product).where(Product.category == "fruit"))

    market.sell(li, {apples: 4}, "2026-11-10T08:00:00+08:00")

    assert waiting() == 1
    assert rollup.roll_up_all(batch=3) == 1
    assert county_days() == expected_county_days(market.facts)
    assert county_days()[(D2, XINJIANG_WUSHI)]["orders"] == 3
    assert county_days()[(D2, XINJIANG_WUSHI)]["buyers"] == 1


@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_sales_excluded_by_review_leave_the_counts_in_any_batching_and_come_back_when_included(market, batch):
    wushi_10th = sorted({f.order_id for f in market.facts if f.kind == "sale" and (f.day, f.county) == (D2, XINJIANG_WUSHI)})
    [mayang_9th] = {f.order_id for f in market.facts if f.kind == "sale" and (f.day, f.county) == (D1, HUNAN_MAYANG)}
    rollup.roll_up_all(batch=batch)
    # One of Li's two Wushi orders of the 10th (Li and the farmer still count by the other), and
    # Wang's honey, the only sale in Mayang on the 9th, refunded on the 10th and 12th.
    excluded = frozenset({wushi_10th[0], mayang_9th})
    for order_id in sorted(excluded):
        review.exclude_sale(order_id, market.admin, reason=REASON)

    rollup.roll_up_all(batch=batch)
    while_excluded = counts_only(county_days())
    for order_id in sorted(excluded):
        review.include_sale(order_id, market.admin, reason=REASON)
    rollup.roll_up_all(batch=batch)

    assert while_excluded == counts_only(expected_county_days(market.facts, excluded_orders=excluded))
    before = counts_only(expected_county_days(market.facts))
    assert while_excluded[(D2, XINJIANG_WUSHI)] == {**before[(D2, XINJIANG_WUSHI)], "orders": 1} == {
        "orders": 1, "buyers": 1, "sellers": 1}
    assert (before[(D1, HUNAN_MAYANG)], while_excluded[(D1, HUNAN_MAYANG)]) == (
        {"orders": 1, "buyers": 1, "sellers": 1}, {"orders": 0, "buyers": 0, "sellers": 0})
    assert counts_only(county_days()) == before


def test_rebuild_gives_the_incremental_counts_while_sales_are_excluded_and_after(market):
    order_id = next(f.order_id for f in market.facts if f.kind == "sale" and (f.day, f.county) == (D2, XINJIANG_WUSHI))
    rollup.roll_up_all(batch=3)
    review.exclude_sale(order_id, market.admin, reason=REASON)
    rollup.roll_up_all(batch=3)
    excluded = snapshot()

    rollup.rebuild()
    assert snapshot() == excluded

    review.include_sale(order_id, market.admin, reason=REASON)
    rollup.roll_up_all(batch=3)
    included = snapshot()
    rollup.rebuild()
    assert snapshot() == included
    assert counts_only(county_days()) == counts_only(expected_county_days(market.facts))


# ---------------------------------------------------------------- rebuild


def test_rebuild_gives_exactly_what_the_incremental_roll_up_gave(market):
    rollup.roll_up_all(batch=3)
    incremental = snapshot()

    assert rollup.rebuild() == len(market.facts)

    assert snapshot() == incremental
    assert waiting() == 0


def test_after_a_rebuild_new_sales_rolled_up_incrementally_equal_another_rebuild(market, build):
    assert rollup.rebuild() == len(market.facts)
    assert waiting() == 0
    newcomer = build.user("buyer")
    walnuts = db.session.scalar(select(Product).where(Product.category == "nuts"))
    tea = db.session.scalar(select(Product).where(Product.category == "tea"))
    market.sell(newcomer, {walnuts: 1, tea: 3}, "2026-11-11T20:00:00+08:00")
    later = market.sell(newcomer, {tea: 1}, "2026-11-13T08:00:00+08:00", cash=True)
    market.refund(later, db.session.get(User, tea.seller_user_id), "2026-11-13T09:00:00+08:00",
                  lines={tea: 1}, takes={tea: (1, 4800)})
    assert waiting() == 4

    assert rollup.roll_up_all(batch=3) == 4
    incremental = snapshot()
    assert county_days() == expected_county_days(market.facts)

    assert rollup.rebuild() == len(market.facts)
    assert snapshot() == incremental


def test_rebuild_counts_rows_still_queued_once_and_empties_the_queue(market):
    rollup.roll_up(batch=4)  # part of the ledger is rolled up, the rest still queued
    assert 0 < waiting() < len(market.facts)

    rollup.rebuild()

    assert waiting() == 0
    assert rollup.roll_up_all() == 0
    assert county_days() == expected_county_days(market.facts)
    assert category_days() == expected_category_days(market.facts)


# ---------------------------------------------------------------- freshness


def test_freshness_says_when_the_rollups_were_last_run_and_how_many_rows_wait(market, build):
    assert rollup.freshness() == {"last_rollup_at": None, "rows_waiting": len(market.facts)}
    started = utcnow()

    rollup.roll_up_all(batch=5)

    fresh = rollup.freshness()
    assert fresh["rows_waiting"] == 0
    assert started <= fresh["last_rollup_at"] <= utcnow()
    ran_at = fresh["last_rollup_at"]
    newcomer = build.user("buyer")
    honey = db.session.scalar(select(Product).where(Product.category == "honey"))
    market.sell(newcomer, {honey: 1}, "2026-11-12T10:00:00+08:00")
    market.sell(newcomer, {honey: 2}, "2026-11-12T11:00:00+08:00")

    assert rollup.freshness() == {"last_rollup_at": fresh["last_rollup_at"], "rows_waiting": 2}
    rollup.roll_up_all()
    assert rollup.freshness()["rows_waiting"] == 0
    assert rollup.freshness()["last_rollup_at"] >= ran_at


def test_a_rebuild_counts_as_bringing_the_rollups_up_to_date(market):
    started = utcnow()
    rollup.rebuild()
    fresh = rollup.freshness()
    assert fresh["rows_waiting"] == 0 and started <= fresh["last_rollup_at"] <= utcnow()


# ---------------------------------------------------------------- command line


def test_rebuild_rollups_command_prints_the_ledger_rows_it_read(app, market):
    result = app.test_cli_runner().invoke(args=["reports", "rebuild-rollups"])

    assert result.exit_code == 0, result.output
    assert f"rollups rebuilt from {len(market.facts)} ledger row(s)" in result.output
    assert county_days() == expected_county_days(market.facts)


def test_jobs_once_rolls_up_the_queued_rows_and_prints_how_many(app, market):
    result = app.test_cli_runner().invoke(args=["jobs", "once", "--only", "roll_up_sales"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"roll_up_sales: {len(market.facts)}"
    assert waiting() == 0
    assert county_days() == expected_county_days(market.facts)

    again = app.test_cli_runner().invoke(args=["jobs", "once", "--only", "roll_up_sales"])
    assert again.output.strip() == "roll_up_sales: 0"


# ---------------------------------------------------------------- empty database


def test_an_empty_ledger_rolls_up_to_nothing(app):
    assert rollup.freshness() == {"last_rollup_at": None, "rows_waiting": 0}
    assert rollup.roll_up() == 0
    assert rollup.roll_up_all(batch=3) == 0
    assert rollup.rebuild() == 0
    assert rollup.freshness()["rows_waiting"] == 0
    assert rollup.freshness()["last_rollup_at"] is not None
    assert snapshot() == {model.__tablename__: [] for model in ROLLUP_TABLES}
    result = app.test_cli_runner().invoke(args=["reports", "rebuild-rollups"])
    assert result.exit_code == 0 and "rollups rebuilt from 0 ledger row(s)" in result.output
