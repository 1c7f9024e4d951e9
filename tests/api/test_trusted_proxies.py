"""TRUSTED_PROXIES: behind that many proxies the limits key on the client address they forwarded;
without trusted proxies a forged X-Forwarded-For changes nothing."""
import pytest
from flask import request
from limits import parse as parse_limit

from marketplace import create_app
from marketplace.config import TestConfig

WRONG = {"identifier": "13900000000", "password": "wrong-password"}


@pytest.fixture
def app_behind(app, database_url):
    """An app built for TRUSTED_PROXIES hops of proxies, on the test database."""

    def build(hops: int):
        class Config(TestConfig):
            SQLALCHEMY_DATABASE_URI = database_url
            TRUSTED_PROXIES = hops

        return create_app(Config)

    return build


def _allowed(app) -> int:
    return parse_limit(app.config["LOGIN_RATE_LIMIT"]).amount


def _log_in(client, forwarded_for: str) -> int:
    return client.post("/api/v1/auth/login", json=WRONG, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_behind_one_proxy_each_forwarded_client_has_its_own_allowance(app_behind):
    behind_proxy = app_behind(1)
    client = behind_proxy.test_client()  # every request comes from the proxy's one address
    allowed = _allowed(behind_proxy)

    first = [_log_in(client, "203.0.113.7") for _ in range(allowed + 1)]
    second = [_log_in(client, "198.51.100.23") for _ in range(allowed + 1)]

    assert first == [401] * allowed + [429]
    assert second == [401] * allowed + [429]


def test_behind_one_proxy_only_the_address_it_appended_counts(app_behind):
    behind_proxy = app_behind(1)
    client = behind_proxy.test_client()
    allowed = _allowed(behind_proxy)
    # The client forges the first entry; the proxy appends the address it saw.
    statuses = [_log_in(client, f"10.0.0.{attempt}, 203.0.113.7") for attempt in range(allowed + 1)]
    assert statuses == [401] * allowed + [429]


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(app_behind):
    direct = app_behind(0)
    client = direct.test_client()
    allowed = _allowed(direct)
    statuses = [_log_in(client, f"198.51.100.{attempt}") for attempt in range(allowed + 1)]
    assert statuses == [401] * allowed + [429]


def test_behind_a_proxy_the_scheme_is_forwarded_but_the_host_is_not(app_behind):
    behind_proxy = app_behind(1)
    behind_proxy.add_url_rule("/test-where-am-i", "where_am_i", lambda: f"{request.remote_addr} {request.url}")
    response = behind_proxy.test_client().get("/test-where-am-i", headers={
        "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert response.get_data(as_text=True) == "203.0.113.7 https://localhost/test-where-am-i"
