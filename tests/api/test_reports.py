"""The report endpoints: every figure to the fen for sales paid (and refunds confirmed) on chosen
instants, counted on Asia/Shanghai days; growth on the same days a year earlier; rankings, the
daily series, categories and a county's top products; province and county scopes; CSV that
Excel opens; bad input answered with a stable code; an empty database; administrators only."""
import csv
import io
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from flask import url_for

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.spreadsheets import FORMULA_TRIGGERS, PLAIN_NUMBER
from marketplace.extensions import db
from marketplace.orders.models import Checkout, Order
from marketplace.reports import rollup
from marketplace.stations.models import ServiceStation
from tests.clock import Clock

WUSHI = "652927"  # Xinjiang: national poverty county and e-commerce demonstration county
LEISHAN = "522634"  # Guizhou: national poverty county
NANMING = "520102"  # Guizhou: neither
MAYANG = "431226"  # Hunan: demonstration county
XINJIANG, GUIZHOU, HUNAN = "650000", "520000", "430000"
COUNTY_FLAGS = {  # adcode: (name, poverty, demonstration)
    WUSHI: ("乌什县", True, True), LEISHAN: ("雷山县", True, False),
    NANMING: ("南明区", False, False), MAYANG: ("麻阳苗族自治县", False, True),
}
PROVINCE_NAMES = {XINJIANG: "新疆维吾尔自治区", GUIZHOU: "贵州省", HUNAN: "湖南省"}
BOM = b"\xef\xbb\xbf"
REPORTS = "/api/v1/reports"


def share(part: int, whole: int) -> float:
    return round(part / whole, 4)


@pytest.fixture
def admin(build) -> dict:
    return build.headers("admin")


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


@dataclass
class Market:
    """Four counties with known flags, one seller each, and a way to sell on a chosen instant."""

    build: object
    client: object
    clock: Clock
    sellers: dict = field(default_factory=dict)
    station: ServiceStation | None = None

    def __post_init__(self):
        for adcode, (name, poverty, demonstration) in COUNTY_FLAGS.items():
            self.build.county(adcode, name, is_national_poverty_county=poverty, is_demonstration_county=demonstration)
        self.sellers = {adcode: self.build.user("seller", county=adcode) for adcode in COUNTY_FLAGS}
        self.station = self.build.station(partner=self.build.user("partner"), village=self.build.village(WUSHI))

    def product(self, county: str, price_fen: int, category: str = "fruit", title: str | None = None) -> Product:
        return self.build.product(self.sellers[county], price_fen=price_fen, category=category,
                                  stock_units=1000, **({"title": title} if title else {}))

    def sell(self, at: str, *lines: tuple[Product, int], buyer: User | None = None, cash: bool = False) -> Checkout:
        """A checkout of these (product, quantity) lines paid at ``at``: through Stripe, or in cash at the station."""
        products, quantities = [p for p, _ in lines], [q for _, q in lines]
        if cash:
            checkout = self.build.checkout(buyer, products, quantities=quantities, station=self.station,
                                           payment_method="cash_at_station")
            self.clock.at(at)
            return self.build.collect_cash(checkout)
        checkout = self.build.checkout(buyer, products, quantities=quantities)
        self.clock.at(at)
        return self.build.pay(checkout)

    def request_refund(self, order: Order, product: Product, units: int) -> dict:
        """An administrator refunds units of one line of a cash order; it waits for the station to pay it back."""
        [line] = [line for line in order.lines if line.product_id == product.id]
        response = self.client.post(f"/api/v1/orders/{order.id}/refunds", headers=self.build.headers("admin"),
                                    json={"reason": "几个坏了", "lines": [{"order_line_id": line.id, "quantity": units}]})
        assert response.status_code == 201 and response.json["status"] == "pending"
        return response.json

    def pay_back(self, refund: dict, at: str) -> None:
        """The station's partner records the cash refund paid at ``at`` (the refund is confirmed)."""
        self.clock.at(at)
        response = self.client.post(f"/api/v1/refunds/{refund['id']}/cash-paid",
                                    headers=auth(self.build, self.station.partner))
        assert response.status_code == 200 and response.json["status"] == "succeeded"


@pytest.fixture
def market(build, client, clock) -> Market:
    return Market(build, client, clock)


def report(client, headers: dict, path: str, **query) -> dict:
    response = client.get(f"{REPORTS}/{path}", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def only_order(checkout: Checkout) -> Order:
    [order] = db.session.get(Checkout, checkout.id).orders
    return order


# ---------------------------------------------------------------- the summary


def test_summary_counts_every_figure_of_the_period_to_the_fen(client, admin, market):
    apple, walnut = market.product(WUSHI, 1250), market.product(LEISHAN, 6600, "tea")
    orange, rice = market.product(MAYANG, 980), market.product(NANMING, 3900, "grains_rice")
    li, wang, zhao = (market.build.user("buyer") for _ in range(3))
    market.sell("2026-11-03T02:00:00+00:00", (apple, 3), buyer=li)
    market.sell("2026-11-05T04:00:00+00:00", (walnut, 2), (orange, 5), buyer=wang)  # two sellers: two orders
    market.sell("2026-11-05T09:00:00+00:00", (apple, 1), (rice, 2), buyer=li)  # li again, the apple seller again
    market.sell("2026-10-31T15:59:59+00:00", (rice, 1), buyer=zhao)  # 31 October in Shanghai: before the period
    market.sell("2026-11-11T16:00:00+00:00", (rice, 1), buyer=zhao)  # 12 November in Shanghai: after it
    rollup.roll_up_all()

    summary = report(client, admin, "summary", **{"from": "2026-11-01", "to": "2026-11-11"})

    wushi, leishan, mayang, nanming = 3 * 1250 + 1 * 1250, 2 * 6600, 5 * 980, 2 * 3900
    total = wushi + leishan + mayang + nanming
    assert summary["period"] == {"first_day": "2026-11-01", "last_day": "2026-11-11", "days": 11, "preset": None}
    assert summary["figures"] == {
        "net_fen": total, "gross_fen": total, "refunded_fen": 0, "excluded_fen": 0, "units": 3 + 2 + 5 + 1 + 2,
        "orders": 5,
        "poverty_net_fen": wushi + leishan, "poverty_share": share(wushi + leishan, total),
        "demonstration_net_fen": wushi + mayang, "demonstration_share": share(wushi + mayang, total),
        "buyers": 2, "sellers": 4,
    }
    assert (summary["peak_day"], summary["peak_day_net_fen"]) == ("2026-11-05", 2 * 6600 + 5 * 980 + 1250 + 2 * 3900)
    assert summary["previous_year"] == {"first_day": "2025-11-01", "last_day": "2025-11-11", "net_fen": 0,
                                        "poverty_net_fen": 0, "growth": None, "poverty_growth": None}
    assert summary["freshness"]["rows_waiting"] == 0 and summary["freshness"]["last_rollup_at"] is not None


@pytest.fixture
def cash_order(market) -> tuple[Order, Product, Product]:
    """4 apples (1250) and 1 bag of walnuts (4800) from Wushi, paid in cash on 4 November 2026."""
    apple, walnut = market.product(WUSHI, 1250), market.product(WUSHI, 4800, "nuts")
    checkout = market.sell("2026-11-04T03:00:00+00:00", (apple, 4), (walnut, 1), cash=True)
    rollup.roll_up_all()
    return only_order(checkout), apple, walnut


def test_confirmed_partial_refund_lowers_net_and_units_but_not_gross(client, admin, market, cash_order):
    order, apple, _ = cash_order
    november = {"from": "2026-11-01", "to": "2026-11-11"}
    before = report(client, admin, "summary", **november)["figures"]

    market.pay_back(market.request_refund(order, apple, 1), at="2026-11-06T03:00:00+00:00")
    rollup.roll_up_all()
    after = report(client, admin, "summary", **november)

    gross = 4 * 1250 + 4800
    assert (before["gross_fen"], before["refunded_fen"], before["net_fen"], before["units"]) == (gross, 0, gross, 5)
    assert {key: after["figures"][key] for key in ("gross_fen", "refunded_fen", "net_fen", "units", "orders",
                                                    "poverty_net_fen", "poverty_share", "buyers", "sellers")} == {
        "gross_fen": gross, "refunded_fen": 1250, "net_fen": gross - 1250, "units": 5 - 1, "orders": 1,
        "poverty_net_fen": gross - 1250, "poverty_share": 1.0, "buyers": 1, "sellers": 1}
    assert (after["peak_day"], after["peak_day_net_fen"]) == ("2026-11-04", gross)  # the refund is on the 6th


def test_pending_refund_changes_no_figure(client, admin, market, cash_order):
    order, apple, walnut = cash_order
    november = {"from": "2026-11-01", "to": "2026-11-11"}
    before = report(client, admin, "summary", **november)

    market.request_refund(order, apple, 2)
    market.request_refund(order, walnut, 1)
    rollup.roll_up_all()
    after = report(client, admin, "summary", **november)

    assert after["figures"] == before["figures"]
    assert after["figures"]["net_fen"] == 4 * 1250 + 4800
    assert (after["peak_day"], after["peak_day_net_fen"]) == (before["peak_day"], before["peak_day_net_fen"])


# ---------------------------------------------------------------- Asia/Shanghai days and presets


@pytest.fixture
def around_midnight(market) -> tuple[int, int]:
    """One sale a second before midnight in Shanghai on 10 November 2026, one at midnight: their amounts."""
    late, early = market.product(WUSHI, 1250), market.product(MAYANG, 980)
    market.sell("2026-11-10T15:59:59+00:00", (late, 2))
    market.sell("2026-11-10T16:00:00+00:00", (early, 3))
    rollup.roll_up_all()
    return 2 * 1250, 3 * 980


def test_sale_counts_on_its_asia_shanghai_day(client, admin, around_midnight):
    on_10th, on_11th = around_midnight

    eleventh = report(client, admin, "summary", **{"from": "2026-11-11", "to": "2026-11-11"})
    tenth = report(client, admin, "summary", **{"from": "2026-11-10", "to": "2026-11-10"})
    daily = report(client, admin, "daily", **{"from": "2026-11-10", "to": "2026-11-11"})

    assert (eleventh["figures"]["net_fen"], eleventh["figures"]["orders"]) == (on_11th, 1)
    assert (tenth["figures"]["net_fen"], tenth["figures"]["orders"]) == (on_10th, 1)
    assert [(row["day"], row["net_fen"]) for row in daily["items"]] == [("2026-11-10", on_10th), ("2026-11-11", on_11th)]


def test_double11_preset_covers_1_to_11_november_and_adds_11_november_alone(client, admin, around_midnight):
    on_10th, on_11th = around_midnight

    double11 = report(client, admin, "summary", preset="double11", year=2026)

    assert double11["period"] == {"first_day": "2026-11-01", "last_day": "2026-11-11", "days": 11, "preset": "double11"}
    assert double11["figures"]["net_fen"] == on_10th + on_11th
    day = double11["double11_day"]
    assert (day["net_fen"], day["gross_fen"], day["orders"], day["units"]) == (on_11th, on_11th, 1, 3)
    assert (day["demonstration_net_fen"], day["poverty_net_fen"], day["previous_year_net_fen"]) == (on_11th, 0, 0)


@pytest.mark.parametrize("preset, first, last", [
    ("today", "2026-11-11", "2026-11-11"),
    ("last_7_days", "2026-11-05", "2026-11-11"),
    ("last_30_days", "2026-10-13", "2026-11-11"),
    (None, "2026-10-13", "2026-11-11"),
    ("month", "2026-11-01", "2026-11-11"),
    ("year", "2026-01-01", "2026-11-11"),
    ("double11", "2026-11-01", "2026-11-11"),
])
def test_preset_periods_end_on_todays_asia_shanghai_day(client, admin, clock, preset, first, last):
    clock.at("2026-11-10T16:30:00+00:00")  # still the 10th in UTC, already the 11th in Shanghai

    period = report(client, admin, "summary", **({"preset": preset} if preset else {}))["period"]

    assert (period["first_day"], period["last_day"], period["preset"]) == (first, last, preset or "last_30_days")


def test_double11_preset_before_1_november_means_last_years(client, admin, clock):
    clock.at("2026-10-31T15:59:59+00:00")  # 23:59:59 on 31 October in Shanghai

    period = report(client, admin, "summary", preset="double11")["period"]

    assert (period["first_day"], period["last_day"]) == ("2025-11-01", "2025-11-11")


# ---------------------------------------------------------------- growth on a year earlier


def test_growth_compares_with_the_same_days_a_year_earlier(client, admin, market):
    apple, orange = market.product(WUSHI, 1250), market.product(MAYANG, 980)
    market.sell("2025-11-05T04:00:00+00:00", (apple, 2), (orange, 1))
    market.sell("2025-11-12T04:00:00+00:00", (apple, 50))  # the day after the year-earlier period
    market.sell("2026-11-05T04:00:00+00:00", (apple, 3), (orange, 5))
    rollup.roll_up_all()

    summary = report(client, admin, "summary", **{"from": "2026-11-01", "to": "2026-11-11"})

    now, before = 3 * 1250 + 5 * 980, 2 * 1250 + 1 * 980
    poor_now, poor_before = 3 * 1250, 2 * 1250
    assert summary["previous_year"] == {
        "first_day": "2025-11-01", "last_day": "2025-11-11", "net_fen": before, "poverty_net_fen": poor_before,
        "growth": round((now - before) / before, 4), "poverty_growth": round((poor_now - poor_before) / poor_before, 4)}
    assert summary["previous_year"]["growth"] == 1.4856


def test_growth_without_sales_a_year_earlier_is_null(client, admin, market):
    orange, apple = market.product(MAYANG, 980), market.product(WUSHI, 1250)
    market.sell("2025-11-05T04:00:00+00:00", (orange, 1))  # a year earlier: no poverty-county sales
    market.sell("2026-11-05T04:00:00+00:00", (orange, 2), (apple, 1))
    rollup.roll_up_all()

    this_year = report(client, admin, "summary", **{"from": "2026-11-01", "to": "2026-11-11"})["previous_year"]
    last_year = report(client, admin, "summary", **{"from": "2025-11-01", "to": "2025-11-11"})

    assert (this_year["growth"], this_year["poverty_net_fen"], this_year["poverty_growth"]) == (
        round((2 * 980 + 1250 - 980) / 980, 4), 0, None)
    assert last_year["figures"]["net_fen"] == 980
    assert (last_year["previous_year"]["net_fen"], last_year["previous_year"]["growth"],
            last_year["previous_year"]["poverty_growth"]) == (0, None, None)


# ---------------------------------------------------------------- rankings, series, categories, top products


@dataclass
class November:
    apple: Product
    walnut: Product


@pytest.fixture
def november(market) -> November:
    """Sales in four counties of three provinces in November 2026, with a large refund in Wushi:

    3rd: Leishan tea 2 x 6600 and Mayang oranges 5 x 980 (one checkout, two orders);
    5th: Nanming rice 2 x 3900; Wushi apples 12 x 1250 and walnuts 1 x 4800 (one cash order);
    7th: 10 of the Wushi apples refunded (12500)."""
    tea, orange = market.product(LEISHAN, 6600, "tea"), market.product(MAYANG, 980)
    rice = market.product(NANMING, 3900, "grains_rice")
    apple = market.product(WUSHI, 1250, title="乌什冰糖心苹果")
    walnut = market.product(WUSHI, 4800, "nuts", title="乌什薄皮核桃")
    market.sell("2026-11-03T02:00:00+00:00", (tea, 2), (orange, 5))
    market.sell("2026-11-05T04:00:00+00:00", (rice, 2))
    wushi = market.sell("2026-11-05T06:00:00+00:00", (apple, 12), (walnut, 1), cash=True)
    market.pay_back(market.request_refund(only_order(wushi), apple, 10), at="2026-11-07T03:00:00+00:00")
    rollup.roll_up_all()
    return November(apple, walnut)


NOVEMBER = {"from": "2026-11-01", "to": "2026-11-11"}
LEISHAN_NET, NANMING_NET, MAYANG_NET = 2 * 6600, 2 * 3900, 5 * 980
WUSHI_GROSS, WUSHI_REFUNDED = 12 * 1250 + 4800, 10 * 1250
WUSHI_NET = WUSHI_GROSS - WUSHI_REFUNDED


def county_row(rank, adcode, net, gross, refunded, units, orders) -> dict:
    name, poverty, demonstration = COUNTY_FLAGS[adcode]
    return {"rank": rank, "county_adcode": adcode, "county": name, "province": PROVINCE_NAMES[adcode[:2] + "0000"],
            "is_poverty_county": poverty, "is_demonstration_county": demonstration, "net_fen": net,
            "gross_fen": gross, "refunded_fen": refunded, "units": units, "orders": orders}


def test_county_ranking_orders_counties_by_net_sales_with_their_flags(client, admin, november):
    ranking = report(client, admin, "counties", **NOVEMBER)

    # Wushi sold the most (gross) but its refund puts it third.
    assert ranking["items"] == [
        county_row(1, LEISHAN, LEISHAN_NET, LEISHAN_NET, 0, 2, 1),
        county_row(2, NANMING, NANMING_NET, NANMING_NET, 0, 2, 1),
        county_row(3, WUSHI, WUSHI_NET, WUSHI_GROSS, WUSHI_REFUNDED, 12 + 1 - 10, 1),
        county_row(4, MAYANG, MAYANG_NET, MAYANG_NET, 0, 5, 1),
    ]
    assert ranking["period"]["first_day"] == "2026-11-01" and ranking["freshness"]["rows_waiting"] == 0


def test_county_ranking_poverty_only_and_limit(client, admin, november):
    poor = report(client, admin, "counties", poverty_only="true", **NOVEMBER)["items"]
    top_two = report(client, admin, "counties", limit=2, **NOVEMBER)["items"]

    assert [(row["rank"], row["county_adcode"], row["net_fen"]) for row in poor] == [
        (1, LEISHAN, LEISHAN_NET), (2, WUSHI, WUSHI_NET)]
    assert [(row["rank"], row["county_adcode"]) for row in top_two] == [(1, LEISHAN), (2, NANMING)]


def test_province_ranking_with_poverty_share(client, admin, november):
    ranking = report(client, admin, "provinces", **NOVEMBER)["items"]

    guizhou = LEISHAN_NET + NANMING_NET
    assert ranking == [
        {"rank": 1, "province_adcode": GUIZHOU, "province": "贵州省", "net_fen": guizhou, "poverty_net_fen": LEISHAN_NET,
         "poverty_share": share(LEISHAN_NET, guizhou), "demonstration_net_fen": 0, "orders": 2,
         "counties_with_sales": 2},
        {"rank": 2, "province_adcode": XINJIANG, "province": "新疆维吾尔自治区", "net_fen": WUSHI_NET,
         "poverty_net_fen": WUSHI_NET, "poverty_share": 1.0, "demonstration_net_fen": WUSHI_NET, "orders": 1,
         "counties_with_sales": 1},
        {"rank": 3, "province_adcode": HUNAN, "province": "湖南省", "net_fen": MAYANG_NET, "poverty_net_fen": 0,
         "poverty_share": 0.0, "demonstration_net_fen": MAYANG_NET, "orders": 1, "counties_with_sales": 1},
    ]


def test_daily_series_has_a_row_for_every_day_with_zeros(client, admin, november):
    series = report(client, admin, "daily", **{"from": "2026-11-01", "to": "2026-11-08"})["items"]

    zero = {"net_fen": 0, "gross_fen": 0, "refunded_fen": 0, "poverty_net_fen": 0, "orders": 0}
    third = LEISHAN_NET + MAYANG_NET
    fifth = NANMING_NET + WUSHI_GROSS
    expected = {day: dict(zero) for day in (f"2026-11-0{n}" for n in range(1, 9))}
    expected["2026-11-03"] = {"net_fen": third, "gross_fen": third, "refunded_fen": 0, "poverty_net_fen": LEISHAN_NET,
                              "orders": 2}
    expected["2026-11-05"] = {"net_fen": fifth, "gross_fen": fifth, "refunded_fen": 0, "poverty_net_fen": WUSHI_GROSS,
                              "orders": 2}
    expected["2026-11-07"] = {"net_fen": -WUSHI_REFUNDED, "gross_fen": 0, "refunded_fen": WUSHI_REFUNDED,
                              "poverty_net_fen": -WUSHI_REFUNDED, "orders": 0}
    assert series == [{"day": day, **figures} for day, figures in expected.items()]


def test_categories_report_net_sales_by_category(client, admin, november):
    categories = report(client, admin, "categories", **NOVEMBER)["items"]

    fruit_gross = 12 * 1250 + 5 * 980
    assert categories == [
        {"category": "tea", "net_fen": LEISHAN_NET, "gross_fen": LEISHAN_NET, "refunded_fen": 0, "units": 2},
        {"category": "grains_rice", "net_fen": NANMING_NET, "gross_fen": NANMING_NET, "refunded_fen": 0, "units": 2},
        {"category": "fruit", "net_fen": fruit_gross - WUSHI_REFUNDED, "gross_fen": fruit_gross,
         "refunded_fen": WUSHI_REFUNDED, "units": 12 + 5 - 10},
        {"category": "nuts", "net_fen": 4800, "gross_fen": 4800, "refunded_fen": 0, "units": 1},
    ]


def test_top_products_of_a_county_are_ranked_by_net_sales(client, admin, november):
    top = report(client, admin, f"counties/{WUSHI}/top-products", **NOVEMBER)["items"]
    first = report(client, admin, f"counties/{WUSHI}/top-products", limit=1, **NOVEMBER)["items"]
    before_the_refund = report(client, admin, f"counties/{WUSHI}/top-products",
                               **{"from": "2026-11-01", "to": "2026-11-06"})["items"]
    elsewhere = report(client, admin, f"counties/{MAYANG}/top-products", **NOVEMBER)["items"]

    # 12 apples sold, 10 refunded: 2 units and 2500 fen, below the single bag of walnuts.
    walnut = {"product_id": november.walnut.id, "title": "乌什薄皮核桃", "net_fen": 4800, "units": 1}
    apple = {"product_id": november.apple.id, "title": "乌什冰糖心苹果", "net_fen": 12 * 1250 - WUSHI_REFUNDED, "units": 2}
    assert top == [{"rank": 1, **walnut}, {"rank": 2, **apple}]
    assert first == [{"rank": 1, **walnut}]
    assert [(row["rank"], row["product_id"], row["net_fen"]) for row in before_the_refund] == [
        (1, november.apple.id, 12 * 1250), (2, november.walnut.id, 4800)]
    assert [(row["rank"], row["net_fen"], row["units"]) for row in elsewhere] == [(1, MAYANG_NET, 5)]


# ---------------------------------------------------------------- scopes


def test_province_scope_restricts_every_report(client, admin, november):
    scope = {"province": GUIZHOU, **NOVEMBER}

    summary = report(client, admin, "summary", **scope)
    counties = report(client, admin, "counties", **scope)["items"]
    provinces = report(client, admin, "provinces", **scope)["items"]
    daily = report(client, admin, "daily", **scope)["items"]
    categories = report(client, admin, "categories", **scope)["items"]

    guizhou = LEISHAN_NET + NANMING_NET
    assert {key: summary["figures"][key] for key in ("net_fen", "orders", "buyers", "sellers", "poverty_net_fen")} == {
        "net_fen": guizhou, "orders": 2, "buyers": 2, "sellers": 2, "poverty_net_fen": LEISHAN_NET}
    assert (summary["peak_day"], summary["peak_day_net_fen"]) == ("2026-11-03", LEISHAN_NET)
    assert [(row["county_adcode"], row["net_fen"]) for row in counties] == [(LEISHAN, LEISHAN_NET), (NANMING, NANMING_NET)]
    assert [(row["province_adcode"], row["net_fen"]) for row in provinces] == [(GUIZHOU, guizhou)]
    assert [(row["day"], row["net_fen"]) for row in daily if row["net_fen"]] == [
        ("2026-11-03", LEISHAN_NET), ("2026-11-05", NANMING_NET)]
    assert [(row["category"], row["net_fen"]) for row in categories] == [("tea", LEISHAN_NET), ("grains_rice", NANMING_NET)]


def test_county_scope_restricts_every_report(client, admin, november):
    scope = {"county": WUSHI, **NOVEMBER}

    summary = report(client, admin, "summary", **scope)
    counties = report(client, admin, "counties", **scope)["items"]
    provinces = report(client, admin, "provinces", **scope)["items"]
    daily = report(client, admin, "daily", **scope)["items"]
    categories = report(client, admin, "categories", **scope)["items"]

    assert {key: summary["figures"][key] for key in ("net_fen", "gross_fen", "refunded_fen", "orders", "sellers")} == {
        "net_fen": WUSHI_NET, "gross_fen": WUSHI_GROSS, "refunded_fen": WUSHI_REFUNDED, "orders": 1, "sellers": 1}
    assert [(row["county_adcode"], row["net_fen"]) for row in counties] == [(WUSHI, WUSHI_NET)]
    assert [(row["province_adcode"], row["net_fen"], row["counties_with_sales"]) for row in provinces] == [
        (XINJIANG, WUSHI_NET, 1)]
    assert [(row["day"], row["net_fen"]) for row in daily if row["net_fen"]] == [
        ("2026-11-05", WUSHI_GROSS), ("2026-11-07", -WUSHI_REFUNDED)]
    assert [(row["category"], row["net_fen"]) for row in categories] == [
        ("nuts", 4800), ("fruit", 12 * 1250 - WUSHI_REFUNDED)]


def test_county_of_another_province_in_scope_has_no_sales(client, admin, november):
    summary = report(client, admin, "summary", province=HUNAN, county=WUSHI, **NOVEMBER)
    assert (summary["figures"]["net_fen"], summary["figures"]["orders"], summary["peak_day"]) == (0, 0, None)


# ---------------------------------------------------------------- CSV


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.content_type.startswith("text/csv")
    assert response.data.startswith(BOM)
    return list(csv.reader(io.StringIO(response.data[len(BOM):].decode("utf-8"), newline="")))


COUNTY_HEADERS_ZH = ["排名", "县级行政区划代码", "县", "省", "国家级贫困县", "电子商务进农村综合示范县",
                     "净销售额（分）", "销售额（分）", "退款额（分）", "件数", "订单数"]


def test_counties_csv_has_a_bom_chinese_headers_and_the_reports_numbers(client, admin, november):
    ranking = report(client, admin, "counties", **NOVEMBER)["items"]

    response = client.get(f"{REPORTS}/counties.csv", query_string=NOVEMBER, headers=admin)

    header, *rows = read_csv(response)
    assert header == COUNTY_HEADERS_ZH
    assert 'filename="counties_20261101_20261111.csv"' in response.headers["Content-Disposition"]
    yes_no = {True: "是", False: "否"}
    assert rows == [[str(r["rank"]), r["county_adcode"], r["county"], r["province"], yes_no[r["is_poverty_county"]],
                     yes_no[r["is_demonstration_county"]], str(r["net_fen"]), str(r["gross_fen"]),
                     str(r["refunded_fen"]), str(r["units"]), str(r["orders"])] for r in ranking]
    assert [row[6] for row in rows] == [str(LEISHAN_NET), str(NANMING_NET), str(WUSHI_NET), str(MAYANG_NET)]


def test_counties_csv_in_english_honours_the_ranking_filters(client, admin, november):
    response = client.get(f"{REPORTS}/counties.csv", query_string={"lang": "en", "poverty_only": "true", **NOVEMBER},
                          headers=admin)

    header, *rows = read_csv(response)
    assert header == ["Rank", "County code", "County", "Province", "National poverty county",
                      "E-commerce demonstration county", "Net sales (fen)", "Gross sales (fen)", "Refunded (fen)",
                      "Units", "Orders"]
    assert [(row[1], row[4], row[5], row[6]) for row in rows] == [
        (LEISHAN, "yes", "no", str(LEISHAN_NET)), (WUSHI, "yes", "yes", str(WUSHI_NET))]


@pytest.mark.parametrize("name, key, json_keys", [
    ("provinces", "Province code", {"Net sales (fen)": "net_fen", "Poverty counties' net sales (fen)": "poverty_net_fen",
                                    "Orders": "orders", "Counties with sales": "counties_with_sales"}),
    ("daily", "Day", {"Net sales (fen)": "net_fen", "Gross sales (fen)": "gross_fen", "Refunded (fen)": "refunded_fen",
                      "Orders": "orders"}),
    ("categories", "Category", {"Net sales (fen)": "net_fen", "Refunded (fen)": "refunded_fen", "Units": "units"}),
])
def test_report_csv_rows_equal_the_json_report(client, admin, november, name, key, json_keys):
    items = report(client, admin, name, **NOVEMBER)["items"]
    json_key = {"Province code": "province_adcode", "Day": "day", "Category": "category"}[key]

    zh_header = read_csv(client.get(f"{REPORTS}/{name}.csv", query_string=NOVEMBER, headers=admin))[0]
    header, *rows = read_csv(client.get(f"{REPORTS}/{name}.csv", query_string={"lang": "en", **NOVEMBER}, headers=admin))

    by_header = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row[key] for row in by_header] == [item[json_key] for item in items]
    assert [{column: int(row[column]) for column in json_keys} for row in by_header] == [
        {column: item[field_name] for column, field_name in json_keys.items()} for item in items]
    assert len(zh_header) == len(header) and not set(zh_header) & set(header)  # translated, column for column


def test_summary_csv_lists_the_summarys_figures(client, admin, november):
    summary = report(client, admin, "summary", **NOVEMBER)

    zh_header, *zh_rows = read_csv(client.get(f"{REPORTS}/summary.csv", query_string=NOVEMBER, headers=admin))
    _, *rows = read_csv(client.get(f"{REPORTS}/summary.csv", query_string={"lang": "en", **NOVEMBER}, headers=admin))

    figures = dict(rows)
    assert zh_header == ["指标", "数值"]
    assert not {name for name, _ in zh_rows} & set(figures)  # every figure named in Chinese, none left in English
    assert dict(zh_rows)["净销售额（分）"] == str(summary["figures"]["net_fen"])
    assert {name: int(figures[name]) for name in ("Net sales (fen)", "Gross sales (fen)", "Refunded (fen)", "Units",
                                                  "Orders", "Buyers", "Sellers")} == {
        "Net sales (fen)": summary["figures"]["net_fen"], "Gross sales (fen)": summary["figures"]["gross_fen"],
        "Refunded (fen)": summary["figures"]["refunded_fen"], "Units": summary["figures"]["units"],
        "Orders": summary["figures"]["orders"], "Buyers": summary["figures"]["buyers"],
        "Sellers": summary["figures"]["sellers"]}
    assert float(figures["Poverty counties' share"]) == summary["figures"]["poverty_share"]
    assert (figures["Peak day"], int(figures["Peak day's net sales (fen)"])) == (
        summary["peak_day"], summary["peak_day_net_fen"])
    assert figures["Growth on a year earlier"] == ""  # nothing a year earlier: no growth, not a number


# ---------------------------------------------------------------- CSV: formula injection

FORMULA = '=HYPERLINK("http://x","y")'
AWAT = "652928"  # a Xinjiang county, imported below under a formula's name


def county_list(*rows: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["adcode", "province", "prefecture", "county"], *rows])
    return out.getvalue().encode("utf-8")


@pytest.fixture
def formula_county(client, build, market):
    """A county imported through the county import under a formula's name, whose October sale was
    partly refunded in November: November's county ranking lists it with a negative net."""
    response = client.post("/api/v1/counties/imports", headers=build.headers("admin"), content_type="multipart/form-data",
                           data={"kind": "all", "file": (io.BytesIO(county_list([AWAT, "新疆维吾尔自治区", "@SUM(1+1)",
                                                                                FORMULA])), "counties.csv")})
    assert response.status_code == 200 and response.json["created"] == 1, response.json
    market.sellers[AWAT] = build.user("seller", county=AWAT)
    apple = market.product(AWAT, 1250)
    checkout = market.sell("2026-10-30T02:00:00+00:00", (apple, 3), cash=True)
    market.pay_back(market.request_refund(only_order(checkout), apple, 2), at="2026-11-05T03:00:00+00:00")
    rollup.roll_up_all()


def test_a_county_imported_under_a_formulas_name_comes_out_as_text_in_counties_csv(client, admin, formula_county):
    header, *rows = read_csv(client.get(f"{REPORTS}/counties.csv", query_string=NOVEMBER, headers=admin))

    [row] = [row for row in rows if row[1] == AWAT]
    assert row[2] == "'" + FORMULA  # a spreadsheet shows it as text instead of running it
    assert row[6:9] == ["-2500", "0", "2500"]  # the numbers stay numbers, a negative one too
    assert report(client, admin, "counties", **NOVEMBER)["items"][0]["county"] == FORMULA  # only the CSV changes


def test_every_csv_export_sends_text_cells_a_spreadsheet_would_run_as_formulas_quoted(app, client, build, formula_county):
    admin = build.user("admin")
    with client.session_transaction() as browser_session:  # for the dashboard's downloads
        browser_session["user_id"], browser_session["signed_in_at"] = admin.id, int(time.time())
        browser_session["session_generation"] = admin.session_generation
    exports = [(rule.endpoint, report) for rule in app.url_map.iter_rules() if rule.rule.endswith(".csv")
               for report in sorted(rule._converters["report"].items)]
    assert {endpoint for endpoint, _ in exports} == {"reports.Export", "admin.report_csv"}, (
        "a new CSV export: write it with common.spreadsheets.csv_document and check it here")

    seen = set()
    for endpoint, report_name in exports:
        with app.test_request_context():
            url = url_for(endpoint, report=report_name, **NOVEMBER)
        cells = [cell for row in read_csv(client.get(url, headers=auth(build, admin))) for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(cell)], url
        seen.update(cells)
    assert {"'" + FORMULA, "-2500"} <= seen


# ---------------------------------------------------------------- bad input


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.json.keys() == {"error"}
    assert response.json["error"].keys() == {"code", "message", "details"}
    assert response.json["error"]["code"] == code and response.json["error"]["message"]


@pytest.mark.parametrize("path, query, status, code", [
    ("summary", {"from": "2026-11-11", "to": "2026-11-01"}, 422, "invalid_period"),
    ("summary", {"from": "2020-01-01", "to": "2025-12-31"}, 422, "invalid_period"),
    ("counties", {"from": "2020-01-01", "to": "2026-11-11"}, 422, "invalid_period"),
    ("summary", {"preset": "month", "from": "2026-11-01", "to": "2026-11-11"}, 422, "invalid_period"),
    ("summary", {"preset": "today", "to": "2026-11-11"}, 422, "invalid_period"),
    ("summary", {"from": "2026-11-01"}, 422, "invalid_period"),
    ("summary", {"preset": "double12"}, 422, "validation_error"),
    ("summary", {"year": "2026"}, 422, "invalid_period"),
    ("summary", {"preset": "month", "year": "2026"}, 422, "invalid_period"),
    ("summary", {"preset": "double11", "year": "1999"}, 422, "validation_error"),
    ("summary", {"from": "2026-02-30", "to": "2026-03-01"}, 422, "validation_error"),
    ("summary", {"from": "2026-13-01", "to": "2026-12-01"}, 422, "validation_error"),
    ("daily", {"from": "yesterday", "to": "2026-11-11"}, 422, "validation_error"),
    ("summary", {"from": "0001-01-01", "to": "0001-01-02"}, 422, "validation_error"),
    ("daily", {"from": "2026-11-01", "to": "9999-12-31"}, 422, "validation_error"),
    ("summary", {"county": "999999"}, 404, "county_not_found"),
    ("counties", {"province": "990000"}, 404, "province_not_found"),
    ("categories", {"county": "65292"}, 422, "validation_error"),
    ("counties/999999/top-products", {}, 404, "county_not_found"),
    ("counties", {"limit": "0"}, 422, "validation_error"),
    ("counties.csv", {"from": "2026-11-11", "to": "2026-11-01"}, 422, "invalid_period"),
    ("daily.csv", {"county": "999999"}, 404, "county_not_found"),
    ("provinces.csv", {"lang": "fr"}, 422, "validation_error"),
])
def test_bad_report_input_is_a_4xx_with_a_stable_code(client, admin, path, query, status, code):
    assert_error(client.get(f"{REPORTS}/{path}", query_string=query, headers=admin), status, code)


def test_five_years_is_the_longest_period(client, admin):
    assert report(client, admin, "summary", **{"from": "2021-01-01", "to": "2025-12-31"})["period"]["days"] == 1826


# ---------------------------------------------------------------- an empty database


def test_empty_database_summary_is_zeros_with_null_shares_and_growth(client, admin):
    summary = report(client, admin, "summary", **NOVEMBER)

    assert summary["figures"] == {"net_fen": 0, "gross_fen": 0, "refunded_fen": 0, "excluded_fen": 0, "units": 0,
                                  "orders": 0,
                                  "poverty_net_fen": 0, "poverty_share": None, "demonstration_net_fen": 0,
                                  "demonstration_share": None, "buyers": 0, "sellers": 0}
    assert (summary["previous_year"]["net_fen"], summary["previous_year"]["growth"],
            summary["previous_year"]["poverty_growth"]) == (0, None, None)
    assert (summary["peak_day"], summary["peak_day_net_fen"]) == (None, 0)
    assert summary["freshness"]["rows_waiting"] == 0


def test_empty_database_double11_day_is_zeros(client, admin):
    day = report(client, admin, "summary", preset="double11", year=2026)["double11_day"]
    assert (day["net_fen"], day["orders"], day["previous_year_net_fen"]) == (0, 0, 0)


def test_empty_database_lists_are_empty_and_the_daily_series_is_zeros(client, admin, build):
    build.county(WUSHI)

    assert report(client, admin, "counties", **NOVEMBER)["items"] == []
    assert report(client, admin, "provinces", **NOVEMBER)["items"] == []
    assert report(client, admin, "categories", **NOVEMBER)["items"] == []
    assert report(client, admin, f"counties/{WUSHI}/top-products", **NOVEMBER)["items"] == []
    daily = report(client, admin, "daily", **NOVEMBER)["items"]
    assert [row["day"] for row in daily] == [(date(2026, 11, 1) + timedelta(days=n)).isoformat() for n in range(11)]
    assert {(row["net_fen"], row["gross_fen"], row["refunded_fen"], row["orders"]) for row in daily} == {(0, 0, 0, 0)}


@pytest.mark.parametrize("name, first_header", [
    ("summary", "指标"), ("counties", "排名"), ("provinces", "排名"), ("daily", "日期"), ("categories", "品类"),
], ids=["summary", "counties", "provinces", "daily", "categories"])
def test_empty_database_csv_has_the_reports_own_headers(client, admin, name, first_header):
    header, *rows = read_csv(client.get(f"{REPORTS}/{name}.csv", query_string=NOVEMBER, headers=admin))

    assert header[0] == first_header
    if name == "daily":
        assert len(rows) == 11 and {row[1] for row in rows} == {"0"}
    elif name != "summary":
        assert rows == []


# ---------------------------------------------------------------- administrators only


@pytest.mark.parametrize("path", ["summary", "counties", "provinces", "daily", "categories",
                                  f"counties/{WUSHI}/top-products", "counties.csv", "summary.csv"])
def test_reports_are_refused_to_everyone_but_administrators(client, build, path):
    build.county(WUSHI)
    everyone_else = build.headers("buyer", "seller", "partner")

    assert_error(client.get(f"{REPORTS}/{path}", headers=everyone_else), 403, "forbidden")
