"""Officials of county and provincial commerce bureaus: an administrator grants the role and a
report scope (one province or one county of the registry); an official's reports, CSV exports
and dashboard are the whole country's figures filtered to the scope, to the fen, never a stored
whole-country report; a province or county outside the scope is 403 out_of_scope; an official
without a scope reads nothing; review stays with administrators."""
import re

import pytest

from marketplace.accounts.models import ReportScope, User
from marketplace.extensions import db
from marketplace.reports import rollup, snapshots
from tests.api.test_admin_dashboard import log_in_through_the_form
from tests.api.test_reports import (  # noqa: F401 (market and november are fixtures)
    COUNTY_FLAGS,
    GUIZHOU,
    HUNAN,
    LEISHAN,
    MAYANG,
    NANMING,
    NOVEMBER,
    REPORTS,
    WUSHI,
    XINJIANG,
    assert_error,
    auth,
    market,
    november,
    read_csv,
    report,
    share,
)

USERS = "/api/v1/users"
LISTS = ("counties", "provinces", "daily", "categories")
EVERY_REPORT = ("summary", *LISTS, "summary.csv", "counties.csv", "provinces.csv", "daily.csv", "categories.csv")
# scope -> the counties of the market it covers
SCOPES = {GUIZHOU: {LEISHAN, NANMING}, XINJIANG: {WUSHI}, WUSHI: {WUSHI}, LEISHAN: {LEISHAN}, HUNAN: {MAYANG}}


@pytest.fixture
def admin(build) -> User:
    return build.user("admin")


@pytest.fixture
def as_admin(build, admin) -> dict:
    return auth(build, admin)


def as_official(build, scope: str | None) -> dict:
    return auth(build, build.official(scope))


def patch_user(client, headers, user: User, **fields):
    return client.patch(f"{USERS}/{user.id}", json=fields, headers=headers)


# ---------------------------------------------------------------- granting and revoking


def test_administrator_grants_a_county_then_a_province_and_takes_the_scope_away(client, build, admin, as_admin):
    build.county(WUSHI, "乌什县")
    user = build.user("buyer")

    county = patch_user(client, as_admin, user, roles=["buyer", "official"], report_scope=WUSHI)
    province = patch_user(client, as_admin, user, report_scope=XINJIANG)
    listed = client.get(USERS, query_string={"role": "official"}, headers=as_admin).json["items"]
    revoked = patch_user(client, as_admin, user, report_scope=None)

    assert county.status_code == 200, county.json
    assert county.json["roles"] == ["buyer", "official"]
    assert {key: county.json["report_scope"][key] for key in ("kind", "adcode", "granted_by_user_id")} == {
        "kind": "county", "adcode": WUSHI, "granted_by_user_id": admin.id}
    assert (province.json["report_scope"]["kind"], province.json["report_scope"]["adcode"]) == ("province", XINJIANG)
    assert [(item["id"], item["report_scope"]["adcode"]) for item in listed] == [(user.id, XINJIANG)]
    assert revoked.status_code == 200 and revoked.json["report_scope"] is None
    assert revoked.json["roles"] == ["buyer", "official"]
    assert db.session.scalar(db.select(db.func.count()).select_from(ReportScope)) == 0


def test_taking_the_role_official_away_takes_the_scope_with_it(client, build, as_admin):
    official = build.official(WUSHI, "buyer")

    response = patch_user(client, as_admin, official, roles=["buyer"])

    assert response.status_code == 200, response.json
    assert (response.json["roles"], response.json["report_scope"]) == (["buyer"], None)
    assert db.session.get(ReportScope, official.id) is None


@pytest.mark.parametrize("scope, status, code", [
    ("999999", 422, "unknown_report_scope"),  # no such county
    ("990000", 422, "unknown_report_scope"),  # no such province
    ("65292", 422, "validation_error"),
    ("xinjiang", 422, "validation_error"),
])
def test_a_scope_outside_the_registry_is_422_and_changes_nothing(client, build, as_admin, scope, status, code):
    official = build.official(WUSHI)

    assert_error(patch_user(client, as_admin, official, report_scope=scope), status, code)

    assert db.session.get(ReportScope, official.id).county_adcode == WUSHI


def test_only_officials_have_a_report_scope(client, build, as_admin):
    build.county(WUSHI)
    buyer = build.user("buyer")

    assert_error(patch_user(client, as_admin, buyer, report_scope=WUSHI), 422, "report_scope_needs_official")
    assert_error(patch_user(client, as_admin, buyer, roles=["buyer", "admin"], report_scope=WUSHI), 422,
                 "report_scope_needs_official")
    assert db.session.get(User, buyer.id).roles == ["buyer"]


def test_granting_a_scope_is_for_administrators_only(client, build):
    build.county(WUSHI)
    official = build.official(None)

    response = patch_user(client, auth(build, official), official, report_scope=WUSHI)

    assert_error(response, 403, "forbidden")
    assert db.session.get(ReportScope, official.id) is None


# ---------------------------------------------------------------- the figures: whole country filtered to the scope


@pytest.fixture
def sales(market, november):
    """The November market of the report tests and a dozen more generated sales in every county
    (random products, quantities, buyers and instants in November, a few of them cash paid and
    partly refunded), all rolled up."""
    fake = market.build.fake
    products = [market.product(county, fake.random_int(100, 9900), fake.random_element(["fruit", "tea", "nuts"]))
                for county in COUNTY_FLAGS for _ in range(2)]
    buyers = [market.build.user("buyer") for _ in range(4)]
    for n in range(12):
        product = fake.random_element(products)
        at = f"2026-11-{fake.random_int(1, 10):02d}T{fake.random_int(0, 23):02d}:{fake.random_int(0, 59):02d}:00+00:00"
        checkout = market.sell(at, (product, fake.random_int(1, 9)), buyer=fake.random_element(buyers), cash=n % 4 == 0)
        if n % 4 == 0:
            order = db.session.get(type(checkout), checkout.id).orders[0]
            market.pay_back(market.request_refund(order, product, 1), at="2026-11-11T02:00:00+00:00")
    rollup.roll_up_all()


def ranked(rows) -> list[dict]:
    return [{**row, "rank": rank} for rank, row in enumerate(rows, start=1)]


def figures_of(counties: list[dict]) -> dict:
    """What a scope's summary and province rows must say, added up from the whole country's county rows."""
    net = sum(row["net_fen"] for row in counties)
    poor = sum(row["net_fen"] for row in counties if row["is_poverty_county"])
    demo = sum(row["net_fen"] for row in counties if row["is_demonstration_county"])
    return {"net_fen": net, "gross_fen": sum(row["gross_fen"] for row in counties),
            "refunded_fen": sum(row["refunded_fen"] for row in counties), "units": sum(row["units"] for row in counties),
            "orders": sum(row["orders"] for row in counties), "poverty_net_fen": poor,
            "demonstration_net_fen": demo, "poverty_share": share(poor, net) if net else None}


@pytest.mark.parametrize("scope", SCOPES, ids=["guizhou", "xinjiang", "wushi", "leishan", "hunan"])
def test_an_officials_reports_are_the_whole_countrys_filtered_to_the_scope(client, build, as_admin, sales, scope):
    mine = as_official(build, scope)
    in_scope = SCOPES[scope]
    whole_counties = report(client, as_admin, "counties", limit=3000, **NOVEMBER)["items"]
    counties = [row for row in whole_counties if row["county_adcode"] in in_scope]
    assert len(counties) == len(in_scope) and len(counties) < len(whole_counties)  # sales in and out of the scope
    asked = {"province" if scope.endswith("0000") else "county": scope, **NOVEMBER}

    summary = report(client, mine, "summary", **NOVEMBER)
    ranking = report(client, mine, "counties", limit=3000, **NOVEMBER)["items"]
    provinces = report(client, mine, "provinces", **NOVEMBER)["items"]
    daily = report(client, mine, "daily", **NOVEMBER)["items"]
    categories = report(client, mine, "categories", **NOVEMBER)["items"]

    expected = figures_of(counties)
    assert ranking == ranked(counties)
    assert {key: summary["figures"][key] for key in expected} == expected
    [province] = provinces
    assert province == {"rank": 1, "province_adcode": counties[0]["county_adcode"][:2] + "0000",
                        "province": counties[0]["province"], "net_fen": expected["net_fen"],
                        "poverty_net_fen": expected["poverty_net_fen"], "poverty_share": expected["poverty_share"],
                        "demonstration_net_fen": expected["demonstration_net_fen"], "orders": expected["orders"],
                        "counties_with_sales": len(counties)}
    assert sum(day["net_fen"] for day in daily) == expected["net_fen"]
    assert sum(day["orders"] for day in daily) == expected["orders"]
    assert sum(category["net_fen"] for category in categories) == expected["net_fen"]
    # Distinct buyers and sellers, the peak day, days and categories: what an administrator reads for the scope.
    assert summary == report(client, as_admin, "summary", **asked)
    assert daily == report(client, as_admin, "daily", **asked)["items"]
    assert categories == report(client, as_admin, "categories", **asked)["items"]
    for county in in_scope:
        path = f"counties/{county}/top-products"
        assert report(client, mine, path, **NOVEMBER) == report(client, as_admin, path, **NOVEMBER)


@pytest.mark.parametrize("name", ["summary", "counties", "provinces", "daily", "categories"])
def test_an_officials_csv_export_has_only_the_scope(client, build, as_admin, sales, name):
    mine = as_official(build, GUIZHOU)

    exported = read_csv(client.get(f"{REPORTS}/{name}.csv", query_string={"lang": "en", **NOVEMBER}, headers=mine))
    asked = read_csv(client.get(f"{REPORTS}/{name}.csv", query_string={"lang": "en", "province": GUIZHOU, **NOVEMBER},
                                headers=as_admin))

    assert exported == asked
    if name == "counties":
        assert {row[1] for row in exported[1:]} == {LEISHAN, NANMING}


def test_a_province_official_may_narrow_to_one_of_its_counties(client, build, as_admin, sales):
    mine = as_official(build, GUIZHOU)

    for name in ("summary", *LISTS):
        assert report(client, mine, name, county=LEISHAN, **NOVEMBER) == report(
            client, as_admin, name, county=LEISHAN, **NOVEMBER)
    assert report(client, mine, "summary", province=GUIZHOU, **NOVEMBER) == report(
        client, as_admin, "summary", province=GUIZHOU, **NOVEMBER)


def test_a_county_official_naming_its_own_province_still_sees_its_county_only(client, build, as_admin, sales):
    mine = as_official(build, LEISHAN)

    ranking = report(client, mine, "counties", province=GUIZHOU, **NOVEMBER)["items"]
    summary = report(client, mine, "summary", province=GUIZHOU, county=LEISHAN, **NOVEMBER)

    assert [row["county_adcode"] for row in ranking] == [LEISHAN]
    assert summary == report(client, as_admin, "summary", county=LEISHAN, **NOVEMBER)


def test_stored_whole_country_reports_are_never_served_to_an_official(client, build, as_admin, sales, clock):
    clock.at("2026-11-11T04:00:00+00:00")
    mine = as_official(build, WUSHI)
    assert snapshots.refresh() > 0
    stored_summary = report(client, as_admin, "summary", preset="month")  # stored: the whole country

    summary = report(client, mine, "summary", preset="month")
    ranking = report(client, mine, "counties", preset="month")["items"]
    provinces = report(client, mine, "provinces", preset="month")["items"]

    assert summary == report(client, as_admin, "summary", preset="month", county=WUSHI)
    assert summary["figures"]["net_fen"] < stored_summary["figures"]["net_fen"]
    assert [row["county_adcode"] for row in ranking] == [WUSHI]
    assert [row["province_adcode"] for row in provinces] == [XINJIANG]


# ---------------------------------------------------------------- outside the scope


OUTSIDE = [(WUSHI, {"county": LEISHAN}), (WUSHI, {"province": GUIZHOU}), (WUSHI, {"province": GUIZHOU, "county": WUSHI}),
           (GUIZHOU, {"county": WUSHI}), (GUIZHOU, {"province": XINJIANG}), (GUIZHOU, {"province": HUNAN, "county": LEISHAN})]


@pytest.mark.parametrize("path", EVERY_REPORT)
@pytest.mark.parametrize("scope, asked", OUTSIDE, ids=[f"{scope}-{'-'.join(asked.values())}" for scope, asked in OUTSIDE])
def test_a_province_or_county_outside_the_scope_is_403_out_of_scope(client, build, november, path, scope, asked):
    response = client.get(f"{REPORTS}/{path}", query_string={**asked, **NOVEMBER}, headers=as_official(build, scope))

    assert_error(response, 403, "out_of_scope")
    assert scope in response.json["error"]["message"] and response.json["error"]["details"]["report_scope"].endswith(scope)


@pytest.mark.parametrize("scope, county", [(WUSHI, LEISHAN), (GUIZHOU, WUSHI), (GUIZHOU, MAYANG)])
def test_top_products_of_a_county_outside_the_scope_are_403_out_of_scope(client, build, november, scope, county):
    assert_error(client.get(f"{REPORTS}/counties/{county}/top-products", query_string=NOVEMBER,
                            headers=as_official(build, scope)), 403, "out_of_scope")


@pytest.mark.parametrize("path", [*EVERY_REPORT, f"counties/{WUSHI}/top-products"])
def test_an_official_without_a_scope_reads_nothing(client, build, november, path):
    response = client.get(f"{REPORTS}/{path}", query_string=NOVEMBER, headers=as_official(build, None))

    assert_error(response, 403, "no_report_scope")


@pytest.mark.parametrize("role", ["buyer", "seller", "partner"])
@pytest.mark.parametrize("path", [*EVERY_REPORT, f"counties/{WUSHI}/top-products"])
def test_buyers_sellers_and_partners_read_no_report(client, build, november, role, path):
    assert_error(client.get(f"{REPORTS}/{path}", query_string=NOVEMBER, headers=build.headers(role)), 403, "forbidden")


def test_review_stays_with_administrators(client, build, market, november):
    mine = as_official(build, WUSHI)
    seller = market.sellers[WUSHI]

    assert_error(client.get("/api/v1/review/flags", query_string=NOVEMBER, headers=mine), 403, "forbidden")
    assert_error(client.post(f"/api/v1/review/sellers/{seller.id}/household", headers=mine,
                             json={"status": "verified", "evidence_note": "建档立卡户"}), 403, "forbidden")
    assert_error(client.get("/api/v1/review/exclusions", headers=mine), 403, "forbidden")


# ---------------------------------------------------------------- the dashboard


@pytest.fixture
def official_browser(client, build):
    """A client signed in through the login form as the official of Guizhou."""
    assert log_in_through_the_form(client, build.official(GUIZHOU)).status_code == 302
    return client


def ranking_rows(page: str) -> list[str]:
    table = re.search(r'<h2 id="counties-heading">.*?</table>', page, flags=re.DOTALL).group(0)
    return re.findall(r"<tr>.*?</tr>", table.split("<tbody>")[1], flags=re.DOTALL)


def test_an_officials_dashboard_shows_only_the_scope(official_browser, client, build, as_admin, november):
    response = official_browser.get("/admin/reports", query_string=NOVEMBER)
    page = response.get_data(as_text=True)

    guizhou = report(client, as_admin, "summary", province=GUIZHOU, **NOVEMBER)["figures"]
    assert response.status_code == 200
    assert "统计范围：贵州省" in page
    assert 'name="province"' not in page  # nothing to choose from
    assert [re.search(r"<td>(\S+)", row).group(1) for row in ranking_rows(page)] == ["雷山县", "南明区"]
    assert "乌什县" not in page and "麻阳" not in page and "新疆" not in page and "湖南" not in page
    assert f"¥{guizhou['net_fen'] // 100:,}.{guizhou['net_fen'] % 100:02d}" in page


def test_an_officials_dashboard_refuses_another_province_and_exports_only_the_scope(official_browser, november):
    outside = official_browser.get("/admin/reports", query_string={"province": XINJIANG, **NOVEMBER})
    csv_outside = official_browser.get("/admin/reports/counties.csv", query_string={"county": WUSHI, **NOVEMBER})
    exported = read_csv(official_browser.get("/admin/reports/counties.csv", query_string=NOVEMBER))

    assert outside.status_code == 403 and "这不在您账号的统计范围之内" in outside.get_data(as_text=True)
    assert csv_outside.status_code == 403
    assert {row[1] for row in exported[1:]} == {LEISHAN, NANMING}


def test_an_official_without_a_scope_gets_a_403_dashboard(client, build):
    log_in_through_the_form(client, build.official(None))

    response = client.get("/admin/reports")

    assert response.status_code == 403
    assert "您的账号还没有统计范围" in response.get_data(as_text=True)
    assert "<svg" not in response.get_data(as_text=True)
