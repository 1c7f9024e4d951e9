"""Review of poverty-county sales by administrators: excluding a sale takes it out of the official
figures to the fen (and lifting the exclusion puts back exactly what was sold less refunded) by
appending to the ledger only; anomaly flags (self-dealing, dominant buyer, late refund, spike) on
national poverty counties only; registered poor-household decisions with their history; an audit
log of every review action; administrators only."""
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders.models import Checkout, Order
from marketplace.reports import rollup
from marketplace.reports.models import (
    CountyDailyCategorySales,
    CountyDailyMember,
    CountyDailySales,
    SalesLedgerEntry,
)
from marketplace.stations.models import ServiceStation
from tests.clock import Clock

WUSHI = "652927"  # Xinjiang: national poverty county
LEISHAN = "522634"  # Guizhou: national poverty county
NANMING = "520102"  # Guizhou: not a poverty county
GUIZHOU = "520000"
COUNTIES = {WUSHI: ("乌什县", True), LEISHAN: ("雷山县", True), NANMING: ("南明区", False)}
REVIEW = "/api/v1/review"
REPORTS = "/api/v1/reports"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


@pytest.fixture
def admin(build) -> User:
    return build.user("admin")


@pytest.fixture
def as_admin(build, admin) -> dict:
    return auth(build, admin)


@dataclass
class Market:
    """Two poverty counties and one other, and a way to sell (and refund) on chosen instants."""

    build: object
    client: object
    clock: Clock
    station: ServiceStation | None = None  # where cash is paid and paid back
    sellers: dict = field(default_factory=dict)

    def __post_init__(self):
        for adcode, (name, poverty) in COUNTIES.items():
            self.build.county(adcode, name, is_national_poverty_county=poverty)
        self.sellers = {adcode: self.build.user("seller", county=adcode) for adcode in COUNTIES}
        self.station = self.build.station(village=self.build.village(NANMING))

    def product(self, county: str, price_fen: int, category: str = "fruit") -> Product:
        return self.build.product(self.sellers[county], price_fen=price_fen, category=category, stock_units=1000)

    def partner_in(self, county: str) -> User:
        """A buyer who runs a service station in this county."""
        partner = self.build.user("partner", "buyer", county=county)
        self.build.station(partner=partner, village=self.build.village(county))
        return partner

    def sell(self, at: str, *lines: tuple[Product, int], buyer: User | None = None, cash: bool = False) -> Order:
        """One seller's order of these (product, units) lines paid at ``at``: by card, or in cash at the station."""
        products, quantities = [p for p, _ in lines], [q for _, q in lines]
        checkout = self.build.checkout(buyer, products, quantities=quantities,
                                       **({"station": self.station, "payment_method": "cash_at_station"} if cash else {}))
        self.clock.at(at)
        (self.build.collect_cash if cash else self.build.pay)(checkout)
        [order] = db.session.get(Checkout, checkout.id).orders
        return order

    def refund(self, order: Order, product: Product, units: int, at: str) -> None:
        """Units of a cash order refunded by an administrator and paid back at the station at ``at``."""
        [line] = [line for line in order.lines if line.product_id == product.id]
        requested = self.client.post(f"/api/v1/orders/{order.id}/refunds", headers=self.build.headers("admin"),
                                     json={"reason": "几个坏了", "lines": [{"order_line_id": line.id, "quantity": units}]})
        assert requested.status_code == 201, requested.json
        self.clock.at(at)
        paid = self.client.post(f"/api/v1/refunds/{requested.json['id']}/cash-paid",
                                headers=auth(self.build, self.station.partner))
        assert paid.status_code == 200 and paid.json["status"] == "succeeded"


@pytest.fixture
def market(build, client, clock) -> Market:
    return Market(build, client, clock)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code


def report(client, headers: dict, path: str, **query) -> dict:
    response = client.get(f"{REPORTS}/{path}", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def flags(client, headers: dict, kind: str | None = None, **query) -> list[dict]:
    response = client.get(f"{REVIEW}/flags", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return [flag for flag in response.json["items"] if kind is None or flag["kind"] == kind]


def exclude(client, headers: dict, order: Order, reason: str = "买家是本县服务站站长，自买自卖", **fields):
    return client.post(f"{REVIEW}/orders/{order.id}/exclusion", json={"reason": reason, **fields}, headers=headers)


def include(client, headers: dict, order: Order, reason: str = "核实为正常采购"):
    return client.post(f"{REVIEW}/orders/{order.id}/inclusion", json={"reason": reason}, headers=headers)


def ledger_rows() -> list:
    """Every ledger row, every column, in the order written."""
    return db.session.execute(select(*SalesLedgerEntry.__table__.columns).order_by(SalesLedgerEntry.id)).all()


def official_net_of(order: Order) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(SalesLedgerEntry.amount_fen), 0))
                             .where(SalesLedgerEntry.order_id == order.id))


def rollup_tables() -> dict:
    return {model.__tablename__: sorted(tuple(row) for row in db.session.execute(select(*model.__table__.columns)))
            for model in (CountyDailySales, CountyDailyCategorySales, CountyDailyMember)}


def money(figures: dict) -> dict:
    return {key: figures[key] for key in ("gross_fen", "refunded_fen", "excluded_fen", "net_fen", "poverty_net_fen")}


# ---------------------------------------------------------------- exclusions


@dataclass
class Sales:
    flagged: Order
    kept: Order
    apple: Product


@pytest.fixture
def sales(market) -> Sales:
    """4 November 2026 in Wushi: the flagged order (4 apples at 1250 and a bag of walnuts at 4800,
    cash) and a kept one (2 apples); 5 November in Nanming: 1 bag of rice at 3900."""
    apple, walnut, rice = market.product(WUSHI, 1250), market.product(WUSHI, 4800, "nuts"), market.product(NANMING, 3900)
    flagged = market.sell("2026-11-04T03:00:00+00:00", (apple, 4), (walnut, 1), cash=True)
    kept = market.sell("2026-11-04T05:00:00+00:00", (apple, 2))
    market.sell("2026-11-05T03:00:00+00:00", (rice, 1))
    rollup.roll_up_all()
    return Sales(flagged, kept, apple)


FLAGGED, KEPT, RICE = 4 * 1250 + 4800, 2 * 1250, 3900


def test_excluding_a_sale_takes_its_net_out_of_the_official_figures_of_the_day_it_was_sold(
        client, as_admin, admin, sales):
    response = exclude(client, as_admin, sales.flagged, flag="self_dealing")
    rollup.roll_up_all()

    assert response.status_code == 201
    assert {key: response.json[key] for key in ("order_id", "flag", "reason", "excluded_by_user_id", "lifted_at")} == {
        "order_id": sales.flagged.id, "flag": "self_dealing", "reason": "买家是本县服务站站长，自买自卖",
        "excluded_by_user_id": admin.id, "lifted_at": None}
    summary = report(client, as_admin, "summary", **NOVEMBER)["figures"]
    assert money(summary) == {"gross_fen": FLAGGED + KEPT + RICE, "refunded_fen": 0, "excluded_fen": FLAGGED,
                              "net_fen": KEPT + RICE, "poverty_net_fen": KEPT}
    assert summary["units"] == 2 + 1
    ranking = report(client, as_admin, "counties", **NOVEMBER)["items"]
    assert [(row["county_adcode"], row["net_fen"], row["gross_fen"]) for row in ranking] == [
        (NANMING, RICE, RICE), (WUSHI, KEPT, FLAGGED + KEPT)]
    daily = {row["day"]: row for row in report(client, as_admin, "daily", **NOVEMBER)["items"]}
    assert (daily["2026-11-04"]["net_fen"], daily["2026-11-04"]["poverty_net_fen"]) == (KEPT, KEPT)
    assert daily["2026-11-05"]["net_fen"] == RICE
    listed = client.get(f"{REVIEW}/exclusions", headers=as_admin).json
    assert (listed["total"], listed["items"][0]["order_id"]) == (1, sales.flagged.id)


def test_exclusion_and_inclusion_only_append_to_the_ledger(client, as_admin, sales):
    before = ledger_rows()

    assert exclude(client, as_admin, sales.flagged).status_code == 201
    excluded = ledger_rows()
    assert include(client, as_admin, sales.flagged).status_code == 200
    included = ledger_rows()

    assert excluded[:len(before)] == before and included[:len(excluded)] == excluded
    assert sorted((row.kind, row.order_id, row.amount_fen) for row in excluded[len(before):]) == [
        ("exclusion", sales.flagged.id, -4 * 1250), ("exclusion", sales.flagged.id, -4800)]
    assert sorted((row.kind, row.order_id, row.amount_fen) for row in included[len(excluded):]) == [
        ("inclusion", sales.flagged.id, 4800), ("inclusion", sales.flagged.id, 4 * 1250)]


def test_refund_confirmed_after_the_exclusion_leaves_the_order_out_of_the_official_net(
        client, as_admin, market, sales):
    assert exclude(client, as_admin, sales.flagged).status_code == 201
    before = ledger_rows()

    market.refund(sales.flagged, sales.apple, 1, at="2026-11-06T03:00:00+00:00")
    rollup.roll_up_all()

    assert ledger_rows()[:len(before)] == before
    assert official_net_of(sales.flagged) == 0
    summary = report(client, as_admin, "summary", **NOVEMBER)["figures"]
    assert money(summary) == {"gross_fen": FLAGGED + KEPT + RICE, "refunded_fen": 1250, "excluded_fen": FLAGGED - 1250,
                              "net_fen": KEPT + RICE, "poverty_net_fen": KEPT}
    daily = {row["day"]: row for row in report(client, as_admin, "daily", **NOVEMBER)["items"]}
    assert (daily["2026-11-06"]["net_fen"], daily["2026-11-06"]["refunded_fen"]) == (0, 1250)


def test_excluding_a_partly_refunded_sale_zeroes_it_on_the_day_of_the_sale_and_of_the_refund(
        client, as_admin, market, sales):
    market.refund(sales.flagged, sales.apple, 1, at="2026-11-06T03:00:00+00:00")
    rollup.roll_up_all()

    assert exclude(client, as_admin, sales.flagged).status_code == 201
    rollup.roll_up_all()

    assert official_net_of(sales.flagged) == 0
    summary = report(client, as_admin, "summary", **NOVEMBER)["figures"]
    assert money(summary) == {"gross_fen": FLAGGED + KEPT + RICE, "refunded_fen": 1250, "excluded_fen": FLAGGED - 1250,
                              "net_fen": KEPT + RICE, "poverty_net_fen": KEPT}
    daily = {row["day"]: row["net_fen"] for row in report(client, as_admin, "daily", **NOVEMBER)["items"]}
    assert (daily["2026-11-04"], daily["2026-11-06"]) == (KEPT, 0)


def test_lifting_the_exclusion_restores_exactly_what_was_sold_less_refunded(client, as_admin, admin, market, sales):
    assert exclude(client, as_admin, sales.flagged).status_code == 201
    market.refund(sales.flagged, sales.apple, 1, at="2026-11-06T03:00:00+00:00")
    rollup.roll_up_all()

    response = include(client, as_admin, sales.flagged, reason="核实为正常采购")
    rollup.roll_up_all()

    assert response.status_code == 200
    assert (response.json["lifted_by_user_id"], response.json["lift_reason"]) == (admin.id, "核实为正常采购")
    assert response.json["lifted_at"] is not None
    assert official_net_of(sales.flagged) == FLAGGED - 1250
    summary = report(client, as_admin, "summary", **NOVEMBER)["figures"]
    assert money(summary) == {"gross_fen": FLAGGED + KEPT + RICE, "refunded_fen": 1250, "excluded_fen": 0,
                              "net_fen": FLAGGED - 1250 + KEPT + RICE, "poverty_net_fen": FLAGGED - 1250 + KEPT}
    daily = {row["day"]: row["net_fen"] for row in report(client, as_admin, "daily", **NOVEMBER)["items"]}
    assert (daily["2026-11-04"], daily["2026-11-06"]) == (FLAGGED + KEPT, -1250)
    assert client.get(f"{REVIEW}/exclusions", headers=as_admin).json["total"] == 0
    history = client.get(f"{REVIEW}/exclusions", query_string={"active_only": "false"}, headers=as_admin).json
    assert [(item["order_id"], item["lift_reason"]) for item in history["items"]] == [(sales.flagged.id, "核实为正常采购")]


def test_rebuild_gives_the_rollups_the_incremental_job_built_through_exclusion_refund_and_inclusion(
        client, as_admin, market, sales):
    assert exclude(client, as_admin, sales.flagged).status_code == 201
    market.refund(sales.flagged, sales.apple, 1, at="2026-11-06T03:00:00+00:00")
    rollup.roll_up_all()
    while_excluded = rollup_tables()
    rollup.rebuild()
    assert rollup_tables() == while_excluded

    assert include(client, as_admin, sales.flagged).status_code == 200
    rollup.roll_up_all()
    after_inclusion = rollup_tables()
    rollup.rebuild()
    assert rollup_tables() == after_inclusion


def counts(client, headers: dict) -> dict:
    """Orders, buyers and sellers as the summary, the rankings and the daily series count them."""
    summary = report(client, headers, "summary", **NOVEMBER)["figures"]
    return {**{key: summary[key] for key in ("orders", "buyers", "sellers")},
            "county_orders": {row["county_adcode"]: row["orders"]
                              for row in report(client, headers, "counties", **NOVEMBER)["items"]},
            "province_orders": {row["province_adcode"]: row["orders"]
                                for row in report(client, headers, "provinces", **NOVEMBER)["items"]},
            "daily_orders": {row["day"]: row["orders"]
                             for row in report(client, headers, "daily", **NOVEMBER)["items"] if row["orders"]}}


def test_an_excluded_sale_leaves_the_counts_of_orders_buyers_and_sellers_and_comes_back_with_its_inclusion(
        client, as_admin, market, sales):
    before = counts(client, as_admin)

    assert exclude(client, as_admin, sales.flagged).status_code == 201
    rollup.roll_up_all()
    excluded = counts(client, as_admin)
    market.refund(sales.flagged, sales.apple, 1, at="2026-11-04T09:00:00+00:00")  # the day of the sale, already out
    rollup.roll_up_all()
    refunded_while_excluded = counts(client, as_admin)
    assert include(client, as_admin, sales.flagged).status_code == 200
    rollup.roll_up_all()
    included = counts(client, as_admin)

    # The flagged order and its buyer leave; the Wushi seller still counts by the kept order.
    assert before == {"orders": 3, "buyers": 3, "sellers": 2, "county_orders": {WUSHI: 2, NANMING: 1},
                      "province_orders": {"650000": 2, GUIZHOU: 1},
                      "daily_orders": {"2026-11-04": 2, "2026-11-05": 1}}
    assert excluded == {"orders": 2, "buyers": 2, "sellers": 2, "county_orders": {WUSHI: 1, NANMING: 1},
                        "province_orders": {"650000": 1, GUIZHOU: 1},
                        "daily_orders": {"2026-11-04": 1, "2026-11-05": 1}}
    assert refunded_while_excluded == excluded
    assert included == before


def test_excluding_a_sellers_every_sale_takes_the_seller_out_of_the_count(client, as_admin, sales):
    assert exclude(client, as_admin, sales.flagged).status_code == 201
    assert exclude(client, as_admin, sales.kept).status_code == 201
    rollup.roll_up_all()

    figures = counts(client, as_admin)

    assert {key: figures[key] for key in ("orders", "buyers", "sellers")} == {"orders": 1, "buyers": 1, "sellers": 1}
    assert figures["county_orders"] == {WUSHI: 0, NANMING: 1}


def test_excluding_an_excluded_sale_again_is_a_conflict_and_changes_nothing(client, as_admin, sales):
    assert exclude(client, as_admin, sales.flagged).status_code == 201
    before = ledger_rows()

    assert_error(exclude(client, as_admin, sales.flagged), 409, "already_excluded")
    assert ledger_rows() == before


def test_including_a_sale_that_is_not_excluded_is_a_conflict_and_changes_nothing(client, as_admin, sales):
    before = ledger_rows()
    assert_error(include(client, as_admin, sales.kept), 409, "not_excluded")

    assert exclude(client, as_admin, sales.flagged).status_code == 201
    assert include(client, as_admin, sales.flagged).status_code == 200
    lifted = ledger_rows()
    assert_error(include(client, as_admin, sales.flagged), 409, "not_excluded")

    assert ledger_rows()[:len(before)] == before and ledger_rows() == lifted


def test_an_unpaid_order_has_no_sale_to_exclude(client, as_admin, build, market):
    unpaid = build.checkout(products=[market.product(WUSHI, 1250)]).orders[0]

    assert_error(exclude(client, as_admin, unpaid), 404, "sale_not_found")
    assert_error(client.post(f"{REVIEW}/orders/999999/exclusion", json={"reason": "自买自卖"}, headers=as_admin),
                 404, "sale_not_found")
    assert ledger_rows() == []


@pytest.mark.parametrize("action, body", [
    ("exclusion", {}), ("exclusion", {"reason": "   "}), ("exclusion", {"reason": "自买自卖", "flag": "suspicious"}),
    ("inclusion", {}), ("inclusion", {"reason": ""}),
])
def test_exclusion_and_inclusion_need_a_reason(client, as_admin, sales, action, body):
    if action == "inclusion":
        assert exclude(client, as_admin, sales.flagged).status_code == 201
    before = ledger_rows()

    response = client.post(f"{REVIEW}/orders/{sales.flagged.id}/{action}", json=body, headers=as_admin)

    assert_error(response, 422, "validation_error")
    assert ledger_rows() == before


# ---------------------------------------------------------------- anomaly flags

FLAG_FIELDS = ("kind", "county_adcode", "county", "order_id", "day", "buyer_user_id", "seller_user_id", "amount_fen",
               "excluded")


def fields_of(flag: dict) -> dict:
    return {key: flag.get(key) for key in FLAG_FIELDS}


def test_buyer_running_a_station_in_the_produces_county_is_flagged_self_dealing(client, as_admin, market):
    wushi_partner, leishan_partner = market.partner_in(WUSHI), market.partner_in(LEISHAN)
    apple, tea = market.product(WUSHI, 1250), market.product(LEISHAN, 6600, "tea")
    own_county = market.sell("2026-11-04T03:00:00+00:00", (apple, 2), buyer=wushi_partner)
    market.sell("2026-11-04T04:00:00+00:00", (apple, 3), buyer=leishan_partner)  # a station elsewhere
    market.sell("2026-11-04T05:00:00+00:00", (apple, 1))  # an ordinary buyer
    also_own = market.sell("2026-11-05T05:00:00+00:00", (tea, 1), buyer=leishan_partner)

    found = flags(client, as_admin, "self_dealing", **NOVEMBER)

    assert [fields_of(flag) for flag in found] == [
        {"kind": "self_dealing", "county_adcode": WUSHI, "county": "乌什县", "order_id": own_county.id,
         "day": "2026-11-04", "buyer_user_id": wushi_partner.id, "seller_user_id": market.sellers[WUSHI].id,
         "amount_fen": 2 * 1250, "excluded": False},
        {"kind": "self_dealing", "county_adcode": LEISHAN, "county": "雷山县", "order_id": also_own.id,
         "day": "2026-11-05", "buyer_user_id": leishan_partner.id, "seller_user_id": market.sellers[LEISHAN].id,
         "amount_fen": 6600, "excluded": False},
    ]


def test_flag_shows_its_order_excluded_once_it_is(client, as_admin, market):
    partner = market.partner_in(WUSHI)
    apple = market.product(WUSHI, 1250)
    flagged = market.sell("2026-11-04T03:00:00+00:00", (apple, 2), buyer=partner)
    refunded = market.sell("2026-10-30T04:00:00+00:00", (apple, 2), cash=True)
    market.refund(refunded, apple, 1, at="2026-11-02T03:00:00+00:00")

    assert exclude(client, as_admin, flagged, flag="self_dealing").status_code == 201
    assert exclude(client, as_admin, refunded, flag="late_refund").status_code == 201

    found = flags(client, as_admin, **NOVEMBER)
    assert {(flag["kind"], flag["order_id"], flag["excluded"]) for flag in found if flag.get("order_id")} == {
        ("self_dealing", flagged.id, True), ("late_refund", refunded.id, True)}
    assert include(client, as_admin, flagged).status_code == 200
    assert [flag["excluded"] for flag in flags(client, as_admin, "self_dealing", **NOVEMBER)] == [False]


@pytest.fixture
def four_buyers(build) -> list[User]:
    return [build.user("buyer") for _ in range(4)]


def sell_to_each(market: Market, county: str, buyers: list[User], amounts_fen: list[int]) -> None:
    """Each buyer buys its amount (in units of a 100-fen product) from the county on 5 November."""
    product = market.product(county, 100)
    for buyer, amount in zip(buyers, amounts_fen, strict=True):
        market.sell("2026-11-05T03:00:00+00:00", (product, amount // 100), buyer=buyer)


def test_buyer_with_more_than_30_percent_of_a_poverty_countys_net_is_a_dominant_buyer(
        client, as_admin, market, four_buyers):
    sell_to_each(market, LEISHAN, four_buyers, [3100, 2300, 2300, 2300])

    found = flags(client, as_admin, "dominant_buyer", **NOVEMBER)

    assert [fields_of(flag) for flag in found] == [
        {"kind": "dominant_buyer", "county_adcode": LEISHAN, "county": "雷山县", "order_id": None, "day": None,
         "buyer_user_id": four_buyers[0].id, "seller_user_id": None, "amount_fen": 3100, "excluded": False}]


@pytest.mark.parametrize("amounts_fen", [
    [3000, 2400, 2300, 2300],  # 30 % exactly: not more than 30 %
    [2900, 2500, 2300, 2300],
    [3100, 2300, 2300, 2200],  # 31 %, but the county sold 9900 fen, under REVIEW_MIN_FEN
], ids=["exactly-30-percent", "29-percent", "county-under-the-minimum"])
def test_no_dominant_buyer_at_or_below_30_percent_or_in_a_small_county(client, as_admin, market, four_buyers,
                                                                       amounts_fen):
    sell_to_each(market, LEISHAN, four_buyers, amounts_fen)

    assert flags(client, as_admin, "dominant_buyer", **NOVEMBER) == []


@pytest.mark.parametrize("sold_at, refunded_at, flagged_on", [
    ("2026-10-30T04:00:00+00:00", "2026-11-02T03:00:00+00:00", "2026-11-02"),
    ("2026-11-03T02:00:00+00:00", "2026-11-06T03:00:00+00:00", None),
    # 23:00 on 31 October and 00:30 on 1 November in Shanghai, the same UTC day
    ("2026-10-31T15:00:00+00:00", "2026-10-31T16:30:00+00:00", "2026-11-01"),
    # 00:00 on 1 November in Shanghai (still 31 October in UTC)
    ("2026-10-31T16:00:00+00:00", "2026-11-02T03:00:00+00:00", None),
], ids=["next-month", "same-month", "across-shanghai-midnight", "same-shanghai-month"])
def test_refund_confirmed_in_a_later_month_than_the_sale_is_a_late_refund(client, as_admin, market,
                                                                           sold_at, refunded_at, flagged_on):
    apple = market.product(WUSHI, 1250)
    order = market.sell(sold_at, (apple, 2), cash=True)
    market.refund(order, apple, 1, at=refunded_at)

    found = flags(client, as_admin, "late_refund", **{"from": "2026-10-01", "to": "2026-11-30"})

    assert [fields_of(flag) for flag in found] == ([
        {"kind": "late_refund", "county_adcode": WUSHI, "county": "乌什县", "order_id": order.id, "day": flagged_on,
         "buyer_user_id": None, "seller_user_id": None, "amount_fen": 1250, "excluded": False}] if flagged_on else [])


def test_late_refund_is_flagged_in_the_period_of_the_refund_not_of_the_sale(client, as_admin, market):
    apple = market.product(WUSHI, 1250)
    order = market.sell("2026-10-30T04:00:00+00:00", (apple, 2), cash=True)
    market.refund(order, apple, 1, at="2026-11-02T03:00:00+00:00")

    assert flags(client, as_admin, "late_refund", **{"from": "2026-10-01", "to": "2026-10-31"}) == []
    assert [flag["order_id"] for flag in flags(client, as_admin, "late_refund", **NOVEMBER)] == [order.id]


@pytest.mark.parametrize("history_day, history_fen, day_fen, spike", [
    (None, 0, 10_000, True),  # nothing before: any day of at least REVIEW_MIN_FEN
    (None, 0, 9_999, False),  # under REVIEW_MIN_FEN
    ("2026-11-04", 70_000, 35_000, True),  # 14 x the average of 2500 a day
    ("2026-10-08", 70_000, 12_500, True),  # 5 x exactly, the history on the first of the 28 days
    ("2026-10-08", 70_000, 12_499, False),  # just under 5 x
    ("2026-10-07", 700_000, 12_500, True),  # 29 days before: not in the average
], ids=["no-history", "under-the-minimum", "far-above", "exactly-5x", "under-5x", "history-outside-28-days"])
def test_day_at_least_5_times_its_28_day_average_is_a_spike(client, as_admin, market,
                                                           history_day, history_fen, day_fen, spike):
    if history_day:
        market.sell(f"{history_day}T04:00:00+00:00", (market.product(WUSHI, history_fen), 1))
    market.sell("2026-11-05T04:00:00+00:00", (market.product(WUSHI, day_fen), 1))
    rollup.roll_up_all()

    found = flags(client, as_admin, "spike", **{"from": "2026-11-05", "to": "2026-11-05"})

    assert [fields_of(flag) for flag in found] == ([
        {"kind": "spike", "county_adcode": WUSHI, "county": "乌什县", "order_id": None, "day": "2026-11-05",
         "buyer_user_id": None, "seller_user_id": None, "amount_fen": day_fen, "excluded": False}] if spike else [])


def test_only_national_poverty_counties_are_flagged(client, as_admin, market):
    partner = market.partner_in(NANMING)
    rice = market.product(NANMING, 20_000, "grains_rice")
    market.sell("2026-11-05T04:00:00+00:00", (rice, 1), buyer=partner)  # self-dealing, one buyer, a spike
    refunded = market.sell("2026-10-30T04:00:00+00:00", (rice, 1), cash=True)
    market.refund(refunded, rice, 1, at="2026-11-02T03:00:00+00:00")  # a late refund
    rollup.roll_up_all()

    assert flags(client, as_admin, **{"from": "2026-10-01", "to": "2026-11-30"}) == []


def test_flags_follow_the_period_and_the_county_or_province_scope(client, as_admin, market, clock):
    for county in (WUSHI, LEISHAN):  # one buyer of 10000 fen in each: a dominant buyer and a spike
        market.sell("2026-11-05T04:00:00+00:00", (market.product(county, 10_000), 1))
    rollup.roll_up_all()
    clock.at("2026-11-20T04:00:00+00:00")

    def found(**query) -> list[tuple]:
        return sorted((flag["county_adcode"], flag["kind"]) for flag in flags(client, as_admin, **query))

    assert found(**NOVEMBER) == [(LEISHAN, "dominant_buyer"), (LEISHAN, "spike"),
                                 (WUSHI, "dominant_buyer"), (WUSHI, "spike")]
    assert found(county=WUSHI, **NOVEMBER) == [(WUSHI, "dominant_buyer"), (WUSHI, "spike")]
    assert found(province=GUIZHOU, **NOVEMBER) == [(LEISHAN, "dominant_buyer"), (LEISHAN, "spike")]
    assert found(**{"from": "2026-11-06", "to": "2026-11-30"}) == []
    assert len(found(preset="month")) == 4
    assert found(preset="last_7_days") == []
    assert_error(client.get(f"{REVIEW}/flags", query_string={"county": "999999"}, headers=as_admin),
                 404, "county_not_found")


# ---------------------------------------------------------------- registered poor households


def household(client, headers: dict, user: User | int) -> object:
    return client.get(f"{REVIEW}/sellers/{getattr(user, 'id', user)}/household", headers=headers)


def decide(client, headers: dict, user: User | int, status: str, evidence_note: str = "建档立卡户 6529270001"):
    return client.post(f"{REVIEW}/sellers/{getattr(user, 'id', user)}/household",
                       json={"status": status, "evidence_note": evidence_note}, headers=headers)


def test_household_decisions_are_kept_and_the_latest_holds(client, as_admin, admin, build):
    seller = build.user("seller")
    assert household(client, as_admin, seller).json == {"seller_user_id": seller.id, "status": None, "items": []}

    verified = decide(client, as_admin, seller, "verified", "建档立卡户 6529270001，乡政府核实")
    decide(client, as_admin, seller, "rejected", "户籍不在本村")
    decide(client, as_admin, seller, "revoked", "2026年已脱贫")

    assert verified.status_code == 201
    assert {key: verified.json[key] for key in ("seller_user_id", "status", "evidence_note", "reviewed_by_user_id")} == {
        "seller_user_id": seller.id, "status": "verified", "evidence_note": "建档立卡户 6529270001，乡政府核实",
        "reviewed_by_user_id": admin.id}
    history = household(client, as_admin, seller).json
    assert history["status"] == "revoked"
    assert [(item["status"], item["evidence_note"]) for item in history["items"]] == [
        ("revoked", "2026年已脱贫"), ("rejected", "户籍不在本村"), ("verified", "建档立卡户 6529270001，乡政府核实")]


def test_household_decision_on_a_non_seller_or_an_unknown_user_is_refused(client, as_admin, build):
    buyer = build.user("buyer")

    assert_error(decide(client, as_admin, buyer, "verified"), 422, "not_a_seller")
    assert_error(decide(client, as_admin, 999999, "verified"), 404, "user_not_found")
    assert_error(household(client, as_admin, 999999), 404, "user_not_found")
    assert household(client, as_admin, buyer).json["items"] == []
    assert client.get(f"{REVIEW}/audit-log", headers=as_admin).json["total"] == 0


@pytest.mark.parametrize("body", [
    {"status": "poor", "evidence_note": "建档立卡户"},
    {"status": "verified"},
    {"status": "verified", "evidence_note": "   "},
    {"evidence_note": "建档立卡户"},
], ids=["unknown-status", "no-evidence", "blank-evidence", "no-status"])
def test_household_decision_needs_a_known_status_and_evidence(client, as_admin, build, body):
    seller = build.user("seller")

    response = client.post(f"{REVIEW}/sellers/{seller.id}/household", json=body, headers=as_admin)

    assert_error(response, 422, "validation_error")
    assert household(client, as_admin, seller).json["items"] == []


# ---------------------------------------------------------------- audit log


def test_every_review_action_is_in_the_audit_log_newest_first(client, build, market):
    first_admin, second_admin = build.user("admin"), build.user("admin")
    first, second = auth(build, first_admin), auth(build, second_admin)
    seller = market.sellers[WUSHI]
    order = market.sell("2026-11-04T03:00:00+00:00", (market.product(WUSHI, 1250), 2))

    decide(client, first, seller, "verified", "建档立卡户 6529270001")
    assert exclude(client, second, order, reason="买家是本县服务站站长").status_code == 201
    assert_error(exclude(client, first, order), 409, "already_excluded")  # refused: not an action
    assert include(client, first, order, reason="站长为村集体采购，已核实").status_code == 200

    log = client.get(f"{REVIEW}/audit-log", headers=second).json
    assert log["total"] == 3
    assert [(e["actor_user_id"], e["action"], e["subject_type"], e["subject_id"], e["note"]) for e in log["items"]] == [
        (first_admin.id, "include_sale", "order", order.id, "站长为村集体采购，已核实"),
        (second_admin.id, "exclude_sale", "order", order.id, "买家是本县服务站站长"),
        (first_admin.id, "household_verified", "seller", seller.id, "建档立卡户 6529270001"),
    ]
    assert all(entry["created_at"] for entry in log["items"])


# ---------------------------------------------------------------- administrators only


@pytest.mark.parametrize("method, path, body", [
    ("GET", "flags", None),
    ("POST", "orders/{order}/exclusion", {"reason": "自买自卖"}),
    ("POST", "orders/{order}/inclusion", {"reason": "核实无误"}),
    ("GET", "exclusions", None),
    ("GET", "sellers/{seller}/household", None),
    ("POST", "sellers/{seller}/household", {"status": "verified", "evidence_note": "建档立卡户 6529270001"}),
    ("GET", "audit-log", None),
])
@pytest.mark.parametrize("role", ["buyer", "seller", "partner"])
def test_review_is_refused_to_everyone_but_administrators(client, build, as_admin, market, method, path, body, role):
    seller = market.sellers[WUSHI]
    order = market.sell("2026-11-04T03:00:00+00:00", (market.product(WUSHI, 1250), 1))
    before = ledger_rows()

    response = client.open(f"{REVIEW}/" + path.format(order=order.id, seller=seller.id), method=method, json=body,
                           headers=build.headers(role))

    assert_error(response, 403, "forbidden")
    assert ledger_rows() == before
    assert client.get(f"{REVIEW}/audit-log", headers=as_admin).json["total"] == 0
    assert household(client, as_admin, seller).json["items"] == []
