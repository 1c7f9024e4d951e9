"""Stored whole-country reports: the same answer as the live computation, served only while the
day, the rollup version and the county flags they were computed from still hold, and while they
have the shape (body version) their schema dumps now."""
import json

import pytest

from marketplace.extensions import db
from marketplace.reports import rollup, snapshots
from marketplace.reports.models import ReportSnapshot
from marketplace.reports.periods import PRESETS

REPORTS = ("summary", "counties", "provinces", "daily", "categories")
STORED = 6 * len(snapshots.REPORTS)  # every preset of every stored report


@pytest.fixture
def admin_headers(build):
    return build.headers("admin")


@pytest.fixture
def sales(build, clock):
    """Three paid orders in two counties, one of them a poverty county, rolled up, on 20 Nov 2026."""
    clock.at("2026-11-20T04:00:00+00:00")
    poor = build.county("652927", is_national_poverty_county=True)
    rich = build.county("610582")
    for county, price in ((poor, 1250), (poor, 3000), (rich, 4800)):
        build.pay(build.checkout(build.user("buyer"), [build.product(origin_county_adcode=county.adcode, price_fen=price)]))
    rollup.roll_up_all()
    return {"poor": poor, "rich": rich}


def report(client, headers, name: str, **query) -> dict:
    response = client.get(f"/api/v1/reports/{name}", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def without_period_name(body: dict) -> dict:
    return {**body, "period": {key: value for key, value in body["period"].items() if key != "preset"}}


@pytest.mark.parametrize("name", REPORTS)
def test_a_stored_report_is_the_live_answer(client, admin_headers, sales, name):
    live = report(client, admin_headers, name, **{"from": "2026-10-22", "to": "2026-11-20"})

    assert snapshots.refresh() == STORED
    stored = report(client, admin_headers, name, preset="last_30_days")

    assert without_period_name(stored) == without_period_name(live)
    assert stored["period"]["preset"] == "last_30_days"


def _tamper(name: str, preset: str = "last_30_days") -> None:
    """Mark a stored report so a test can tell it was served (and not computed live)."""
    snapshot = db.session.get(ReportSnapshot, (name, preset))
    body = json.loads(snapshot.body)
    body["freshness"]["rows_waiting"] = 424242
    snapshot.body = json.dumps(body)
    db.session.commit()


def test_a_stored_report_is_served_while_its_basis_holds(client, admin_headers, sales):
    snapshots.refresh()
    _tamper("summary")

    assert report(client, admin_headers, "summary", preset="last_30_days")["freshness"]["rows_waiting"] == 424242
    assert report(client, admin_headers, "summary")["freshness"]["rows_waiting"] == 424242  # the default period


def test_a_new_sale_rolled_up_makes_the_report_live_again(client, admin_headers, build, sales):
    snapshots.refresh()
    _tamper("summary")
    before = report(client, admin_headers, "summary")["figures"]["net_fen"]

    build.pay(build.checkout(build.user("buyer"), [build.product(origin_county_adcode="652927", price_fen=700)]))
    rollup.roll_up_all()
    live = report(client, admin_headers, "summary")

    assert live["freshness"]["rows_waiting"] == 0
    assert live["figures"]["net_fen"] == before + 700
    assert snapshots.refresh() == STORED


def test_the_next_day_a_stored_report_is_not_served(client, admin_headers, clock, sales):
    snapshots.refresh()
    _tamper("daily", "today")

    clock.at("2026-11-20T16:00:00+00:00")  # midnight in Shanghai: "today" is the 21st now
    body = report(client, admin_headers, "daily", preset="today")

    assert body["freshness"]["rows_waiting"] == 0
    assert body["period"]["first_day"] == "2026-11-21"


def test_changed_county_flags_make_the_report_live_again(client, admin_headers, sales):
    snapshots.refresh()
    _tamper("summary")

    sales["rich"].is_national_poverty_county = True
    db.session.commit()
    body = report(client, admin_headers, "summary")

    assert body["freshness"]["rows_waiting"] == 0
    assert body["figures"]["poverty_share"] == 1.0


def test_a_report_stored_under_another_body_version_is_computed_live_and_stored_again(client, admin_headers, sales):
    snapshots.refresh()
    _tamper("summary")
    db.session.get(ReportSnapshot, ("summary", "last_30_days")).body_version = "0123456789abcdef"
    db.session.commit()

    assert report(client, admin_headers, "summary")["freshness"]["rows_waiting"] == 0
    assert snapshots.refresh() == 1
    assert db.session.get(ReportSnapshot, ("summary", "last_30_days")).body_version == snapshots.BODY_VERSIONS["summary"]


def test_a_release_that_changes_a_report_shape_recomputes_only_that_report(client, admin_headers, monkeypatch, sales):
    snapshots.refresh()
    _tamper("summary")
    _tamper("daily")
    monkeypatch.setitem(snapshots.BODY_VERSIONS, "summary", "fedcba9876543210")

    assert report(client, admin_headers, "summary")["freshness"]["rows_waiting"] == 0
    assert report(client, admin_headers, "daily", preset="last_30_days")["freshness"]["rows_waiting"] == 424242
    assert snapshots.refresh() == len(PRESETS)


def test_requests_for_other_periods_or_places_are_computed_live(client, admin_headers, sales):
    snapshots.refresh()
    for name in REPORTS:
        _tamper(name)

    for query in ({"province": "650000"}, {"county": "652927"}, {"from": "2026-11-01", "to": "2026-11-20"},
                  {"preset": "double11", "year": "2026"}):
        assert report(client, admin_headers, "summary", **query)["freshness"]["rows_waiting"] == 0, query


@pytest.mark.parametrize("query", [{}, {"limit": 1}, {"poverty_only": "true"}, {"poverty_only": "true", "limit": 1},
                                   {"limit": 100}])
def test_a_stored_county_ranking_answers_limits_and_the_poverty_filter_like_the_live_one(client, admin_headers,
                                                                                        sales, query):
    live = report(client, admin_headers, "counties", **{"from": "2026-10-22", "to": "2026-11-20"}, **query)
    snapshots.refresh()
    stored = report(client, admin_headers, "counties", preset="last_30_days", **query)

    assert stored["items"] == live["items"]


def test_nothing_is_recomputed_while_nothing_changed(sales):
    assert snapshots.refresh() == STORED
    assert snapshots.refresh() == 0


def test_a_longer_county_ranking_than_is_stored_is_computed_live(client, admin_headers, sales):
    snapshots.refresh()
    _tamper("counties")

    assert report(client, admin_headers, "counties", limit=100)["freshness"]["rows_waiting"] == 424242
    assert report(client, admin_headers, "counties", limit=101)["freshness"]["rows_waiting"] == 0
