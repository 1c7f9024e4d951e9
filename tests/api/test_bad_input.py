"""Bad input is a 4xx in the one error shape, with a stable code, and changes nothing.

Each test counts the rows of every table before the bad request and again after it.
"""
import logging
from datetime import timedelta

import pytest

from marketplace import create_app
from marketplace.accounts import services as accounts
from marketplace.accounts.models import ApiToken, User, UserRole
from marketplace.common.time import utcnow
from marketplace.config import TestConfig
from marketplace.extensions import db
from marketplace.geo.models import County, Village
from marketplace.stations.models import ServiceStation
from tests.webhooks import WEBHOOK_PATH, signed_delivery

REGISTER = "/api/v1/auth/register"
VALID_REGISTRATION = {"phone": "13712345678", "display_name": "王芳", "password": "s3cret-pass"}


def _row_counts() -> dict[str, int]:
    models = (User, UserRole, ApiToken, County, Village, ServiceStation)
    return {m.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(m)) for m in models}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    return error


def test_malformed_json_is_rejected(client):
    before = _row_counts()
    response = client.post(REGISTER, data='{"phone": "13712345678", ', content_type="application/json")
    _error(response, 400, "malformed_json")
    assert _row_counts() == before


NESTED_TOO_DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("path", [REGISTER, "/api/v1/checkouts"])
def test_json_nested_too_deeply_is_malformed_not_a_server_error(client, build, path):
    headers = {"Authorization": f"Bearer {build.token(build.user('buyer'))}", "Idempotency-Key": "nested-too-deep-1"}
    before = _row_counts()
    response = client.post(path, data=NESTED_TOO_DEEP, content_type="application/json", headers=headers)
    error = _error(response, 400, "malformed_json")
    assert "nested too deeply" in error["message"]
    assert _row_counts() == before


def test_a_signed_webhook_nested_too_deeply_is_malformed_json_as_on_the_api(client):
    response = client.post(WEBHOOK_PATH, **signed_delivery(NESTED_TOO_DEEP))
    error = _error(response, 400, "malformed_json")
    assert "nested too deeply" in error["message"]


def test_a_recursion_that_is_not_the_body_is_still_a_server_error(database_url):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    app = create_app(Config)

    @app.get("/api/v1/runaway")
    def runaway():
        return runaway()

    response = app.test_client().get("/api/v1/runaway", json={"fine": [1, 2]})  # a body, and valid
    _error(response, 500, "internal_error")


def test_wrong_types_and_unknown_fields_are_named_in_details(client):
    before = _row_counts()
    body = VALID_REGISTRATION | {"display_name": 42, "roles": "buyer", "is_admin": True}
    error = _error(client.post(REGISTER, json=body), 422, "validation_error")
    field_messages = error["details"]["json"]
    assert set(field_messages) == {"display_name", "roles", "is_admin"}
    assert field_messages["is_admin"] == ["Unknown field."]
    assert _row_counts() == before


def test_body_over_the_size_limit_is_rejected(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    before = _row_counts()
    body = VALID_REGISTRATION | {"display_name": "长" * 2000}
    _error(client.post(REGISTER, json=body), 413, "payload_too_large")
    assert _row_counts() == before


def test_body_of_an_unsupported_content_type_is_rejected(client):
    before = _row_counts()
    response = client.post(REGISTER, data="phone=13712345678&password=s3cret-pass", content_type="text/plain")
    _error(response, 415, "unsupported_media_type")
    assert _row_counts() == before


def test_unknown_bearer_token_is_rejected(client, build):
    build.county("652927")
    before = _row_counts()
    response = client.post("/api/v1/counties/652927/villages", json={"name": "新村"},
                           headers={"Authorization": "Bearer not-a-token-we-issued"})
    _error(response, 401, "invalid_token")
    assert _row_counts() == before


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"])
def test_malformed_authorization_header_is_rejected(client, build, header):
    build.county("652927")
    before = _row_counts()
    response = client.post("/api/v1/counties/652927/villages", json={"name": "新村"}, headers={"Authorization": header})
    _error(response, 401, "invalid_token")
    assert _row_counts() == before


def test_expired_token_cannot_change_anything(client, build):
    build.county("652927")
    admin = build.user("admin")
    headers = {"Authorization": f"Bearer {build.token(admin)}"}
    for token in db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == admin.id)):
        token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    before = _row_counts()
    response = client.post("/api/v1/counties/652927/villages", json={"name": "新村"}, headers=headers)
    _error(response, 401, "token_expired")
    assert _row_counts() == before


def test_unknown_adcode_is_not_found(client, build):
    headers = build.headers("admin")
    before = _row_counts()
    response = client.post("/api/v1/counties/659999/villages", json={"name": "新村"}, headers=headers)
    error = _error(response, 404, "county_not_found")
    assert error["details"] == {"adcode": "659999"}
    assert _row_counts() == before


def test_unknown_route_is_a_json_not_found(client):
    before = _row_counts()
    _error(client.post("/api/v1/no-such-thing", json={}), 404, "not_found")
    assert _row_counts() == before


def test_wrong_method_is_not_allowed_and_names_the_allowed_ones(client, build):
    headers = build.headers("admin")
    before = _row_counts()
    response = client.delete("/api/v1/me", headers=headers)
    _error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert _row_counts() == before


def test_nul_character_in_a_string_field_is_rejected(client):
    before = _row_counts()
    body = VALID_REGISTRATION | {"display_name": "王\x00芳"}
    _error(client.post(REGISTER, json=body), 422, "validation_error")
    assert _row_counts() == before


def test_unexpected_exception_is_a_500_with_the_request_id_and_no_internals(client, monkeypatch, caplog):
    def fail(**fields):
        raise RuntimeError("secret detail from deep inside")

    monkeypatch.setattr(accounts, "register_user", fail)
    before = _row_counts()
    with caplog.at_level(logging.ERROR, logger="marketplace.errors"):
        response = client.post(REGISTER, json=VALID_REGISTRATION, headers={"X-Request-ID": "req-500-check"})

    error = _error(response, 500, "internal_error")
    assert error["details"] == {"request_id": "req-500-check"}
    assert response.headers["X-Request-ID"] == "req-500-check"
    text = response.get_data(as_text=True)
    assert "secret detail" not in text and "Traceback" not in text and "RuntimeError" not in text
    logged = [r for r in caplog.records if r.name == "marketplace.errors"]
    assert any("req-500-check" in r.getMessage() and r.exc_info for r in logged)
    assert _row_counts() == before


def test_generated_request_id_of_a_500_is_in_body_header_and_log(client, monkeypatch, caplog):
    def fail(**fields):
        raise RuntimeError("boom")

    monkeypatch.setattr(accounts, "register_user", fail)
    with caplog.at_level(logging.ERROR, logger="marketplace.errors"):
        response = client.post(REGISTER, json=VALID_REGISTRATION)

    request_id = response.json["error"]["details"]["request_id"]
    assert request_id and response.headers["X-Request-ID"] == request_id
    assert any(request_id in r.getMessage() for r in caplog.records if r.name == "marketplace.errors")
