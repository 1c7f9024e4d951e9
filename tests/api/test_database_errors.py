"""What a request answers when PostgreSQL fails its statement: a transaction given up for another
one's sake (deadlock, serialization failure) is 409 conflict_retry, to be sent again; only a
database that is unavailable is 503."""
import pytest
from sqlalchemy import text

from marketplace import create_app
from marketplace.config import TestConfig
from marketplace.extensions import db

JSON = {"Accept": "application/json"}


@pytest.fixture
def failing_app(database_url):
    """An app with a route whose statement fails with the SQLSTATE named in the path, raised by
    PostgreSQL itself (so psycopg and SQLAlchemy wrap it as they would a real one)."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    app = create_app(Config)

    @app.get("/fails-with/<any(deadlock_detected, serialization_failure, admin_shutdown):condition>")
    def fails_with(condition):
        db.session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'as asked' USING ERRCODE = '{condition}'; END $$"))
        return {}

    return app


@pytest.mark.parametrize("condition", ["deadlock_detected", "serialization_failure"])
def test_a_transaction_postgresql_gave_up_for_another_is_409_conflict_retry(failing_app, condition):
    response = failing_app.test_client().get(f"/fails-with/{condition}", headers=JSON)

    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "conflict_retry"
    assert response.json["error"]["details"] == {"retryable": True}


def test_a_database_going_away_is_still_503_database_unavailable(failing_app):
    response = failing_app.test_client().get("/fails-with/admin_shutdown", headers=JSON)

    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "database_unavailable"


def test_a_page_whose_transaction_was_given_up_asks_the_reader_to_try_again(failing_app):
    response = failing_app.test_client().get("/fails-with/deadlock_detected", headers={"Accept": "text/html"})

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "409 · conflict_retry" in page and "有人在同一时刻修改了这里的内容" in page
