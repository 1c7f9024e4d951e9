"""Stored reports under contention, on PostgreSQL with real commits: two jobs workers storing the
same reports for the first time at once both succeed, and what is stored is the live answer.

Each worker runs in its own thread, application context, session and database connection.
"""
import json
import threading

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.reports import periods, rollup, snapshots
from marketplace.reports.models import ReportSnapshot
from tests.together import run_together

pytestmark = pytest.mark.real_commits


def test_two_workers_storing_the_same_reports_for_the_first_time_both_succeed(app, build, clock, monkeypatch):
    clock.at("2026-11-20T04:00:00+00:00")
    poor = build.county("652927", is_national_poverty_county=True)
    for price in (1250, 3000):
        build.pay(build.checkout(build.user("buyer"), [build.product(origin_county_adcode=poor.adcode, price_fen=price)]))
    rollup.roll_up_all()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ReportSnapshot)) == 0

    # Both workers have found no stored report before either stores one: the race, every time.
    both_looked = threading.Barrier(2, timeout=30)
    first_period = threading.local()
    resolve = periods.resolve

    def resolve_after_both_looked(**kwargs):
        if not getattr(first_period, "resolved", False):
            first_period.resolved = True
            both_looked.wait()
        return resolve(**kwargs)

    monkeypatch.setattr(snapshots, "resolve", resolve_after_both_looked)

    def refresh():
        try:
            return snapshots.refresh()
        except Exception as error:  # a duplicate key would surface here
            db.session.rollback()
            return error

    stored = run_together(app, [refresh, refresh])

    assert stored == [6 * len(snapshots.REPORTS)] * 2, stored
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ReportSnapshot)) == 6 * len(snapshots.REPORTS)
    summary = json.loads(db.session.get(ReportSnapshot, ("summary", "last_30_days")).body)
    assert summary["figures"]["net_fen"] == 1250 + 3000
