"""Logs are JSON lines (LOG_FORMAT=json) and every record written during a request carries that
request's id, the one echoed in X-Request-ID; secrets never reach them."""
import json
import logging

import pytest
from flask import current_app

from marketplace import create_app
from marketplace.common.logs import HANDLER_NAME, configure_logging
from marketplace.config import TestConfig


@pytest.fixture
def json_app(app, database_url, capsys, monkeypatch):
    """An app logging JSON lines to the stderr this test captures, with a page that writes a record."""

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        LOG_FORMAT = "json"

    json_app = create_app(Config)

    @json_app.get("/test-writes-a-log-record")
    def writes_a_log_record():
        current_app.logger.warning("stock running low", extra={"product_id": 7, "password": "hunter2-in-extra"})
        logging.getLogger("marketplace.orders").info("a library's record too")
        return "ok"

    # Only the app's handler: the migrations' alembic.ini put a text handler of its own on the root.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if h.get_name() == HANDLER_NAME])
    yield json_app
    monkeypatch.undo()
    configure_logging(TestConfig.LOG_FORMAT)  # the rest of the suite logs text again


def _records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_record_written_during_a_request_is_a_json_line_with_its_request_id(json_app, capsys):
    capsys.readouterr()
    response = json_app.test_client().get("/test-writes-a-log-record", headers={"X-Request-ID": "req-2026-abc"})

    assert response.headers["X-Request-ID"] == "req-2026-abc"
    records = _records(capsys)  # every line parses as JSON
    mine = [r for r in records if r["message"] in ("stock running low", "a library's record too")]
    assert len(mine) == 2
    assert {r["request_id"] for r in mine} == {"req-2026-abc"}
    warning = next(r for r in mine if r["message"] == "stock running low")
    assert (warning["level"], warning["logger"], warning["product_id"]) == ("WARNING", "marketplace", 7)
    assert warning["password"] == "[redacted]"


def test_a_request_without_a_sane_id_gets_a_new_one_in_header_and_log(json_app, capsys):
    capsys.readouterr()
    response = json_app.test_client().get("/test-writes-a-log-record", headers={"X-Request-ID": "bad id\"{}"})

    generated = response.headers["X-Request-ID"]
    assert generated != "bad id\"{}" and len(generated) == 32
    assert {r["request_id"] for r in _records(capsys) if r["message"] == "stock running low"} == {generated}


def test_passwords_tokens_and_cookies_sent_with_a_request_are_not_logged(json_app, capsys, monkeypatch):
    client = json_app.test_client()
    client.set_cookie("session", "cookie-value-that-must-not-leak")
    capsys.readouterr()
    monkeypatch.setattr("marketplace.accounts.services.log_in", _raise_unexpected)  # a 500 logs the most
    response = client.post("/api/v1/auth/login", json={"identifier": "13900000000", "password": "pw-must-not-leak"},
                           headers={"Authorization": "Bearer token-must-not-leak"})

    assert response.status_code == 500
    written = capsys.readouterr().err
    assert response.headers["X-Request-ID"] in written  # the failure was logged, with its id
    for secret in ("pw-must-not-leak", "token-must-not-leak", "cookie-value-that-must-not-leak"):
        assert secret not in written


def _raise_unexpected(identifier, password):
    raise RuntimeError("boom")


def test_a_request_refused_before_its_view_still_carries_its_id(client):
    refused = client.post("/login", data={"identifier": "13900000000", "password": "x"},
                          headers={"X-Request-ID": "no-csrf-7"})
    assert refused.status_code == 400  # CSRFProtect refuses in a before-request hook
    assert refused.headers["X-Request-ID"] == "no-csrf-7"
