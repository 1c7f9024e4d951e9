"""Liveness and readiness probes."""
from contextlib import contextmanager
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from marketplace import create_app
from marketplace.config import TestConfig
from marketplace.extensions import db

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


@contextmanager
def app_on_database(url: str):
    """Another app on its own database, used only inside its own app context.

    The autouse ``session`` fixture has swapped ``db.session`` for the test app; health probes
    use ``db.engine``, which belongs to whichever app is current.
    """
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    other = create_app(Config)
    with other.app_context():
        try:
            yield other
        finally:
            db.engine.dispose()


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_the_migrated_test_database_at_its_revision(client, session):
    applied = sorted(session.scalars(text("SELECT version_num FROM alembic_version")))

    response = client.get("/readyz")

    assert response.status_code == 200, response.json
    assert response.json == {"status": "ready", "revision": applied}
    assert applied == sorted(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def test_readyz_is_503_migrations_pending_on_an_empty_database(empty_database):
    with app_on_database(empty_database) as other:
        response = other.test_client().get("/readyz")

    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "migrations_pending"
    assert error["details"]["current"] == []
    assert error["details"]["head"]


def test_readyz_is_503_database_unreachable_when_the_database_cannot_be_opened(database_url):
    nowhere = make_url(database_url).set(database="marketplace_no_such_database")
    with app_on_database(nowhere.render_as_string(hide_password=False)) as other:
        response = other.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unreachable"


def test_probes_answer_json_even_to_browsers(empty_database, client):
    response = client.get("/healthz", headers={"Accept": "text/html"})
    with app_on_database(empty_database) as other:
        not_ready = other.test_client().get("/readyz", headers={"Accept": "text/html"})

    assert response.is_json and not_ready.is_json
    assert not_ready.status_code == 503
