"""Shared fixtures: one migrated database per run, one rolled-back transaction per test.

The database is the PostgreSQL database named by TEST_DATABASE_URL (scripts/test creates one per
run); without it the run stops at once with what to do.

Every request a test makes runs as in production: in its own application context, with its
own session, whose uncommitted work is discarded when the request ends. All sessions share the
test's connection, so what a request commits (a savepoint) is visible to the test, and the
whole test is rolled back at the end.
"""
import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from marketplace import create_app
from marketplace.config import TestConfig
from marketplace.extensions import db, limiter
from tests.builders import Builders
from tests.clock import Clock

pytest_plugins = ["tests.stripe_server", "tests.s3_server"]  # the localstripe and s3_server fixtures

SHARED_COUNTIES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "counties"


def _reset_postgres(url: str) -> None:
    """Start from an empty schema so the migrations themselves are exercised every run."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The URL of the database this run tests against, emptied first."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.exit("TEST_DATABASE_URL is not set: run 'make test' (scripts/test makes a database for the run), "
                    "or point it at an empty PostgreSQL database of yours.", returncode=2)
    _reset_postgres(url)
    return url


class IsolatedClient(FlaskClient):
    """A test client whose requests never share the test's application context (or its ``g``)."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        db.session.expire_all()  # let the test see what the request committed
        return response


def isolated_wsgi(app):
    """The app as a WSGI callable that runs each request in a fresh context (for schemathesis)."""

    def wsgi(environ, start_response):
        return contextvars.Context().run(app, environ, start_response)

    return wsgi


@contextlib.contextmanager
def database_beside(database_url: str, suffix: str) -> Iterator[str]:
    """The URL of a new, empty database ``<test database>_<suffix>`` on the test server (for
    processes and engines that must see committed rows of their own); dropped afterwards."""
    url = make_url(database_url)
    name = f"{url.database}_{suffix}"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()


@pytest.fixture
def empty_database(database_url) -> Iterator[str]:
    """The URL of a new, empty database on the test server, beside the test database; dropped afterwards."""
    with database_beside(database_url, "empty") as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    """The application, configured for tests, with its database migrated to head."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))

    application = create_app(Config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        upgrade()
    return application


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_commits: the test commits for real (concurrency on PostgreSQL); tables are emptied after it"
    )


def _empty_all_tables() -> None:
    # and the jobs the test enqueued (procrastinate's tables have no models; CASCADE takes their events)
    tables = [t.name for t in reversed(db.metadata.sorted_tables)] + ["procrastinate_jobs"]
    db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture(autouse=True)
def session(app, request):
    """Every test runs inside a transaction that is rolled back; service commits become savepoints.

    Tests marked ``real_commits`` instead use the app's own sessions (one per thread's app
    context, each on its own connection) and find every table emptied afterwards.
    """
    if request.node.get_closest_marker("real_commits"):
        with app.app_context():
            limiter.reset()
            try:
                yield db.session
            finally:
                db.session.rollback()
                _empty_all_tables()
                db.session.remove()
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"), scopefunc=_app_ctx_id
        )
        limiter.reset()
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app):
    """A test client for the API and pages."""
    return app.test_client()


@pytest.fixture
def build(session, app) -> Builders:
    """Faker-backed builders for users, counties, villages, stations and tokens."""
    return Builders(app)


@pytest.fixture
def stripe_configured(app, localstripe, monkeypatch):
    """The app talks to this run's localstripe server with the real stripe SDK."""
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", localstripe.secret_key)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", localstripe.base_url)
    return localstripe


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Sets the time money moves at and reports read "today" at (``clock.at("2026-11-10T16:00:00Z")``)."""
    return Clock(monkeypatch)
