"""Two administrators importing the same list at once: both succeed, nothing is duplicated."""
import threading

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.geo import county_import
from marketplace.geo.models import County
from tests.conftest import SHARED_COUNTIES

pytestmark = pytest.mark.real_commits


def test_simultaneous_imports_of_the_official_list_wait_for_each_other(app):
    raw = (SHARED_COUNTIES / "counties_all.csv").read_bytes()
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run():
        with app.app_context():
            barrier.wait()
            try:
                reports.append(county_import.import_counties(raw, "all"))
            except Exception as error:  # the point is that none happens
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(r.created for r in reports) == [0, 2846]
    assert sorted(r.unchanged for r in reports) == [0, 2846]
    assert db.session.scalar(select(func.count()).select_from(County)) == 2846
