"""Revisions upgrade and downgrade with data in place, on an empty database of the suite's own
kind (a SQLite file, or a PostgreSQL database created beside the test database)."""
from contextlib import contextmanager

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from marketplace import create_app
from marketplace.config import TestConfig
from marketplace.extensions import db


@pytest.fixture
def empty_database(database_url, tmp_path) -> str:
    """The URL of a new, empty database of the kind the suite runs on; dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_migrations"
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


@contextmanager
def migrating(url: str):
    """An app on that database, inside its own app context, to run revisions with."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(Config)
    with app.app_context():
        try:
            yield db.engine
        finally:
            db.engine.dispose()


def run(engine, sql: str, **params) -> list:
    """One statement in its own transaction; the rows it returns, if any."""
    with engine.begin() as connection:
        result = connection.execute(text(sql), params)
        return result.all() if result.returns_rows else []


def add_user(engine, user_id: int, *roles: str) -> None:
    run(engine, "INSERT INTO users (id, phone, display_name, password_hash, locale, is_active, created_at, updated_at) "
                "VALUES (:id, :phone, '测试', 'x', 'zh_CN', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        id=user_id, phone=f"1390000{user_id:04d}")
    for role in roles:
        grant(engine, user_id, role)


def grant(engine, user_id: int, role: str) -> None:
    run(engine, "INSERT INTO user_roles (user_id, role, granted_at) VALUES (:id, :role, CURRENT_TIMESTAMP)",
        id=user_id, role=role)


def roles_of(engine) -> list[tuple]:
    return [tuple(row) for row in run(engine, "SELECT user_id, role FROM user_roles ORDER BY user_id, role")]


def test_0007_adds_officials_and_report_scopes_and_takes_them_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0006")
        run(engine, "INSERT INTO provinces (adcode, name) VALUES ('650000', '新疆维吾尔自治区')")
        run(engine, "INSERT INTO counties (adcode, name, province_adcode, is_national_poverty_county, "
                    "is_demonstration_county, updated_at) VALUES ('652927', '乌什县', '650000', true, false, CURRENT_TIMESTAMP)")
        add_user(engine, 1, "admin")
        add_user(engine, 2, "buyer")
        with pytest.raises(IntegrityError):
            grant(engine, 2, "official")

        upgrade(revision="0007")
        grant(engine, 2, "official")
        add_user(engine, 3, "official")
        run(engine, "INSERT INTO report_scopes (user_id, county_adcode, granted_by_user_id, granted_at) "
                    "VALUES (2, '652927', 1, CURRENT_TIMESTAMP)")
        run(engine, "INSERT INTO report_scopes (user_id, province_adcode, granted_at) VALUES (3, '650000', CURRENT_TIMESTAMP)")
        with pytest.raises(IntegrityError):  # a province or a county, not both
            run(engine, "INSERT INTO report_scopes (user_id, province_adcode, county_adcode, granted_at) "
                        "VALUES (1, '650000', '652927', CURRENT_TIMESTAMP)")
        with pytest.raises(IntegrityError):
            grant(engine, 1, "inspector")
        assert roles_of(engine) == [(1, "admin"), (2, "buyer"), (2, "official"), (3, "official")]

        downgrade(revision="0006")
        assert "report_scopes" not in inspect(engine).get_table_names()
        assert roles_of(engine) == [(1, "admin"), (2, "buyer")]
        with pytest.raises(IntegrityError):
            grant(engine, 2, "official")

        upgrade()
        grant(engine, 2, "official")
        assert "report_scopes" in inspect(engine).get_table_names()
        assert roles_of(engine) == [(1, "admin"), (2, "buyer"), (2, "official")]
