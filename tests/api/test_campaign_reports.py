"""Campaign reports to the fen: a campaign with paid, refunded and expired orders; its sales, units,
orders, buyers and poverty counties' share equal the hand-computed sums; the period lists the
campaigns whose window overlaps it (the Double 11 summary too); an official sees their counties
only; the CSV says what the API says."""
import csv
import io
from datetime import UTC, datetime

import pytest

from marketplace.orders import services as orders
from tests.api.test_reports import BOM, LEISHAN, NANMING, WUSHI, Market, auth, only_order

REPORTS = "/api/v1/reports"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


@pytest.fixture
def admin(build) -> dict:
    return build.headers("admin")


@pytest.fixture
def market(build, client, clock) -> Market:
    return Market(build, client, clock)


@pytest.fixture
def double11(build, market, clock):
    """A Double 11 evening session with three listings (two in poverty counties), and what was
    bought in it: paid, paid in cash then partly refunded, and left unpaid until it expired; plus a
    sale outside any campaign, a campaign the day before with nothing sold, and one a month later."""
    session = build.campaign(at("2026-11-11T20:00:00+08:00"), at("2026-11-12T00:00:00+08:00"), name_zh="双十一晚场")
    apple, walnut = market.product(WUSHI, 1250), market.product(LEISHAN, 6600, "nuts")
    rice, plain = market.product(NANMING, 3900, "grains_rice"), market.product(WUSHI, 2000)
    for product, price in ((apple, 1000), (walnut, 5000), (rice, 3000)):
        build.campaign_item(session, product, campaign_price_fen=price, per_buyer_limit=2)
    quiet = build.campaign(at("2026-11-10T20:00:00+08:00"), at("2026-11-11T00:00:00+08:00"), name_zh="预热场")
    later = build.campaign(at("2026-12-12T20:00:00+08:00"), at("2026-12-13T00:00:00+08:00"), name_zh="双十二")
    li, wang, zhao = (build.user("buyer") for _ in range(3))

    clock.at("2026-11-11T20:00:00+08:00")  # the opening second
    market.sell("2026-11-11T20:01:00+08:00", (apple, 2), (rice, 1), (plain, 1), buyer=li)  # 2000 + 3000 (+2000 plain)
    clock.at("2026-11-11T20:05:00+08:00")
    paid_in_cash = market.sell("2026-11-11T20:30:00+08:00", (walnut, 2), buyer=wang, cash=True)  # 10000
    clock.at("2026-11-11T21:00:00+08:00")
    build.checkout(zhao, [apple], quantities=[2])  # never paid
    orders.expire_due_checkouts(now=at("2026-11-11T22:00:00+08:00"))
    refund = market.request_refund(only_order(paid_in_cash), walnut, 1)
    market.pay_back(refund, "2026-11-13T10:00:00+08:00")  # after the campaign: −5000
    return {"session": session, "quiet": quiet, "later": later}


# net = 2000 + 3000 + 10000 − 5000; poverty counties = apple (Wushi) 2000 + walnut (Leishan) 5000
EXPECTED = {"net_fen": 10000, "gross_fen": 15000, "refunded_fen": 5000, "excluded_fen": 0, "units": 4,
            "orders": 3, "buyers": 2, "poverty_net_fen": 7000, "poverty_share": 0.7}
NOTHING = {"net_fen": 0, "gross_fen": 0, "refunded_fen": 0, "excluded_fen": 0, "units": 0, "orders": 0,
           "buyers": 0, "poverty_net_fen": 0, "poverty_share": None}


def get(client, headers, path, **query) -> dict:
    response = client.get(f"{REPORTS}/{path}", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def figures(row: dict) -> dict:
    return {name: row[name] for name in EXPECTED}


def test_campaign_figures_equal_the_hand_computed_sums_of_paid_refunded_and_expired_orders(client, admin, double11):
    report = get(client, admin, f"campaigns/{double11['session'].id}")
    assert figures(report) == EXPECTED
    assert report["name_zh"] == "双十一晚场"
    assert report["starts_at"] == "2026-11-11T20:00:00+08:00" and report["ends_at"] == "2026-11-12T00:00:00+08:00"
    assert [(row["campaign_price_fen"], row["net_fen"], row["units"], row["orders"]) for row in report["listings"]] == [
        (5000, 5000, 1, 1), (3000, 3000, 1, 1), (1000, 2000, 2, 1)]


def test_a_period_lists_the_campaigns_whose_window_overlaps_it(client, admin, double11):
    listed = get(client, admin, "campaigns", **{"from": "2026-11-11", "to": "2026-11-11"})["items"]
    assert [row["campaign_id"] for row in listed] == [double11["session"].id]
    assert figures(listed[0]) == EXPECTED
    both = get(client, admin, "campaigns", **{"from": "2026-11-10", "to": "2026-11-30"})["items"]
    assert [(row["campaign_id"], figures(row)) for row in both] == [
        (double11["quiet"].id, NOTHING), (double11["session"].id, EXPECTED)]
    assert get(client, admin, "campaigns", **{"from": "2026-11-12", "to": "2026-11-30"})["items"] == []


def test_the_double11_summary_shows_the_campaigns_within_it(client, admin, double11):
    summary = get(client, admin, "summary", preset="double11", year=2026)
    assert [row["campaign_id"] for row in summary["double11_campaigns"]] == [double11["quiet"].id, double11["session"].id]
    assert figures(summary["double11_campaigns"][1]) == EXPECTED
    assert get(client, admin, "summary", **{"from": "2026-11-01", "to": "2026-11-11"}).get("double11_campaigns") is None


def test_an_official_sees_the_campaign_sales_of_their_county_only(client, build, double11):
    official = auth(build, build.official(WUSHI))
    report = get(client, official, f"campaigns/{double11['session'].id}")
    assert figures(report) == {"net_fen": 2000, "gross_fen": 2000, "refunded_fen": 0, "excluded_fen": 0, "units": 2,
                               "orders": 1, "buyers": 1, "poverty_net_fen": 2000, "poverty_share": 1.0}
    assert [(row["net_fen"], row["units"]) for row in report["listings"]] == [(2000, 2)]
    refused = client.get(f"{REPORTS}/campaigns/{double11['session'].id}", query_string={"county": LEISHAN},
                         headers=official)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "out_of_scope"
    refused = client.get(f"{REPORTS}/campaigns.csv", query_string={"county": LEISHAN}, headers=official)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "out_of_scope"


def test_campaign_csv_matches_the_api(client, admin, double11):
    query = {"from": "2026-11-10", "to": "2026-11-30"}
    rows = get(client, admin, "campaigns", **query)["items"]
    response = client.get(f"{REPORTS}/campaigns.csv", query_string={**query, "lang": "en"}, headers=admin)
    assert response.status_code == 200 and response.data.startswith(BOM)
    table = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [(int(line["Campaign id"]), int(line["Net sales (fen)"]), int(line["Units"]), int(line["Orders"]),
             int(line["Buyers"]), int(line["Poverty counties' net sales (fen)"]), line["Starts (Beijing time)"])
            for line in table] == [
        (row["campaign_id"], row["net_fen"], row["units"], row["orders"], row["buyers"], row["poverty_net_fen"],
         row["starts_at"][:19].replace("T", " ")) for row in rows]
    assert table[1]["Poverty counties' share"] == "0.7" and table[0]["Poverty counties' share"] == ""
    chinese = client.get(f"{REPORTS}/campaigns.csv", query_string=query, headers=admin).data.decode("utf-8-sig")
    assert chinese.splitlines()[0].startswith("活动编号,活动名称")
    assert "双十一晚场" in chinese


def test_an_unknown_campaign_is_404_and_readers_only(client, build, admin):
    response = client.get(f"{REPORTS}/campaigns/999999", headers=admin)
    assert response.status_code == 404 and response.json["error"]["code"] == "campaign_not_found"
    assert client.get(f"{REPORTS}/campaigns", headers=build.headers("buyer")).status_code == 403
