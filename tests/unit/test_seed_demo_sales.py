"""`flask seed demo` without options: every report has figures on a fresh database (both latest
Double 11s, their growth, the poverty counties' share, the county CSV, review flags, an official's
scoped view, station cash), a second run adds nothing, and no seeded Chinese address has a Latin letter."""
import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text

from marketplace.accounts.models import User
from marketplace.common.time import business_day, utcnow
from marketplace.extensions import db
from marketplace.geo.models import County
from marketplace.orders.models import Checkout, Order
from marketplace.payments.models import Refund
from marketplace.reports.models import SaleExclusion, SalesLedgerEntry
from marketplace.stations.models import StationCashEntry
from seed import demo
from seed.history import seed_history
from seed.sales import history_start

END = date(2026, 12, 5)  # a December day: this year's Double 11 is over
OCTOBER_END = date(2026, 10, 15)  # this year's Double 11 has not come yet
LATIN = re.compile(r"[A-Za-z]")
# Every column of the seeded data that holds a Chinese address (or a part of one).
ADDRESS_COLUMNS = [("service_stations", "address"), ("checkouts", "address_detail"), ("delivery_addresses", "detail"),
                   ("villages", "name")]
SEEDED_TABLES = ["users", "user_roles", "villages", "service_stations", "products", "checkouts", "orders",
                 "order_lines", "refunds", "sales_ledger", "station_cash_entries", "sale_exclusions", "report_scopes",
                 "villagers"]


def seed(app, *args: str, seed_number: int = 7):
    result = app.test_cli_runner().invoke(args=["seed", "demo", "--seed", str(seed_number), *args])
    assert result.exit_code == 0, result.output
    return result


def login(client, phone: str) -> dict:
    answer = client.post("/api/v1/auth/login", json={"identifier": phone, "password": demo.DEMO_PASSWORD})
    assert answer.status_code == 200, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


def official_phone() -> str:
    db.session.expire_all()
    return demo.sample_logins()["official"]


def table_counts() -> dict[str, int]:
    return {table: db.session.scalar(text(f"SELECT count(*) FROM {table}")) for table in SEEDED_TABLES}


@pytest.fixture
def seeded(app):
    """The demo seed as `make run` loads it, with its history ending on the whole day END."""
    return seed(app, "--history-end", END.isoformat())


@pytest.fixture
def admin(client, seeded) -> dict:
    return login(client, demo.DEMO_ADMIN_PHONE)


def summary(client, headers, **query) -> dict:
    answer = client.get("/api/v1/reports/summary", query_string={"preset": "double11", **query}, headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_both_latest_double_11s_have_sales_a_poverty_share_and_this_years_has_growth(client, admin, clock):
    clock.at("2026-12-05T04:00:00Z")
    this_year = summary(client, admin)
    last_year = summary(client, admin, year=2025)

    assert this_year["period"]["first_day"] == "2026-11-01"
    for report in (this_year, last_year):
        assert report["figures"]["net_fen"] > 0 and report["figures"]["orders"] > 0
        assert report["figures"]["poverty_share"] > 0
        assert report["double11_day"]["net_fen"] > 0
    assert this_year["previous_year"]["net_fen"] == last_year["figures"]["net_fen"]
    assert this_year["previous_year"]["growth"] is not None and this_year["previous_year"]["growth"] > 0
    assert this_year["freshness"]["rows_waiting"] == 0  # the rollups were built by the seed


def test_in_october_the_history_reaches_back_to_hold_the_latest_double_11_and_its_year_earlier(app, client, clock):
    seed(app, "--history-end", OCTOBER_END.isoformat())
    clock.at("2026-10-15T04:00:00Z")

    latest = summary(client, login(client, demo.DEMO_ADMIN_PHONE))

    assert latest["period"]["first_day"] == "2025-11-01"  # the preset's latest Double 11 that has begun
    assert latest["figures"]["net_fen"] > 0 and latest["figures"]["poverty_share"] > 0
    assert latest["previous_year"]["net_fen"] > 0 and latest["previous_year"]["growth"] is not None
    assert db.session.scalar(select(func.min(SalesLedgerEntry.business_day))) >= date(2024, 11, 1)


@pytest.mark.parametrize(("today", "first_day"), [
    (date(2026, 12, 5), date(2025, 11, 1)),  # 13 months would start on 5 November: both Double 11s need the 1st
    (date(2026, 11, 1), date(2025, 10, 1)),  # this year's Double 11 has begun: thirteen months hold both
    (date(2026, 10, 31), date(2024, 11, 1)),  # not yet: the latest is last year's, with its year earlier
    (date(2026, 11, 30), date(2025, 10, 30)),
    (date(2027, 3, 31), date(2025, 11, 1)),  # 31 February does not exist, nor does this start need it
])
def test_the_history_starts_thirteen_months_back_or_early_enough_for_two_double_11s(today, first_day):
    assert history_start(today) == first_day


def test_the_county_csv_has_a_row_per_selling_county_with_poverty_counties_among_them(client, admin):
    answer = client.get("/api/v1/reports/counties.csv", query_string={"preset": "double11", "year": 2026},
                        headers=admin)

    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert len(rows) > 1 + 5
    poverty = {c.adcode for c in db.session.scalars(select(County).where(County.is_national_poverty_county))}
    assert poverty & {row[1] for row in rows[1:]}


def test_review_lists_flags_and_the_seed_excluded_one_self_dealing_sale(client, admin):
    flags = client.get("/api/v1/review/flags", query_string={"from": "2025-11-01", "to": str(business_day(utcnow()))},
                       headers=admin)
    exclusions = client.get("/api/v1/review/exclusions", headers=admin)

    assert flags.status_code == 200 and exclusions.status_code == 200
    kinds = {flag["kind"] for flag in flags.json["items"]}
    assert "self_dealing" in kinds and len(kinds) >= 2
    assert any(flag["excluded"] for flag in flags.json["items"] if flag["kind"] == "self_dealing")
    assert len(exclusions.json["items"]) == 1


def test_the_official_sees_only_the_counties_of_their_province(client, seeded):
    official = login(client, official_phone())

    ranking = client.get("/api/v1/reports/counties", query_string={"preset": "double11", "year": 2026},
                         headers=official)
    elsewhere = client.get("/api/v1/reports/summary", query_string={"preset": "double11", "province": "610000"},
                           headers=official)

    assert ranking.status_code == 200
    assert {item["county_adcode"] for item in ranking.json["items"]} == {"652901", "652927"}  # Aksu, Wushi
    assert elsewhere.status_code == 403 and elsewhere.json["error"]["code"] == "out_of_scope"


def test_stations_have_villagers_assisted_orders_and_cash_in_their_ledger(seeded):
    cash = db.session.scalars(select(StationCashEntry)).all()
    assisted = db.session.scalars(select(Checkout).where(Checkout.placed_by_user_id.is_not(None))).all()

    assert len(cash) >= 5 and all(entry.amount_fen > 0 for entry in cash)
    assert {checkout.status for checkout in assisted} >= {"paid", "pending_payment"}  # one awaits its cash


def test_the_demo_seller_shown_sells_from_a_poverty_county(seeded):
    seller = db.session.scalar(select(User).where(User.phone == demo.sample_logins()["seller"]))

    assert db.session.get(County, seller.county_adcode).is_national_poverty_county
    assert "official" in seeded.output and "partner" in seeded.output


def test_a_second_run_creates_nothing(app, seeded):
    before = table_counts()

    again = seed(app, "--history-end", END.isoformat())

    assert table_counts() == before
    assert "Created: admins 0, sellers 0, buyers 0, partners 0, officials 0, villages 0, stations 0, products 0, " \
           "ledger rows 0, assisted orders 0, cash collections 0, exclusions 0." in again.output
    assert db.session.scalar(select(func.count()).select_from(SaleExclusion)) == 1


def test_no_seeded_chinese_address_has_a_latin_letter(seeded):
    for table, column in ADDRESS_COLUMNS:
        values = db.session.scalars(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")).all()
        assert values or table == "delivery_addresses", f"{table}.{column} was not seeded"
        assert [value for value in values if LATIN.search(value)] == [], f"{table}.{column}"


def sales_of_a_rolled_back_seed(app, seed_number: int) -> list[tuple]:
    """Seed the whole demo inside a savepoint, read what the ledger holds, then undo it all."""
    connection = db.session.get_bind()
    db.session.remove()
    savepoint = connection.begin_nested()
    try:
        seed(app, "--history-end", END.isoformat(), seed_number=seed_number)
        L = SalesLedgerEntry
        # Ids and the moments of today's station sales depend on the run; what was sold does not.
        return sorted(db.session.execute(select(L.kind, L.business_day, L.origin_county_adcode, L.units, L.amount_fen,
                                                L.category)).all())
    finally:
        db.session.remove()
        savepoint.rollback()


def test_the_same_seed_gives_the_same_sales(app):
    first = sales_of_a_rolled_back_seed(app, 7)
    second = sales_of_a_rolled_back_seed(app, 7)
    other_seed = sales_of_a_rolled_back_seed(app, 8)

    assert len(first) > 6000
    assert second == first
    assert other_seed != first


def test_a_history_that_ends_now_sells_nothing_after_now_and_keeps_to_the_registered_counties(app):
    demo.seed_demo(seed=7, say=lambda message: None)
    until = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)  # noon in Shanghai

    seed_history(1500, start=date(2026, 11, 1), end=END, until=until, whole_registry=False, seed=7,
                 say=lambda message: None)

    L = SalesLedgerEntry
    assert db.session.scalar(select(func.max(L.occurred_at))) <= until
    assert db.session.scalar(select(func.count()).where(L.business_day == END)) > 0  # the morning sold
    latest = [db.session.scalar(select(func.max(column))) for column in (
        Order.paid_at, Order.shipped_at, Order.delivered_at, Order.completed_at, Refund.confirmed_at)]
    assert all(moment <= until for moment in latest if moment is not None)
    assert db.session.scalar(select(func.count()).select_from(County)) == 10
    assert set(db.session.scalars(select(L.origin_county_adcode).distinct())) <= set(demo.REFERENCE_ADCODES)
