"""Login and registration are rate-limited; browser forms need their CSRF token; the session cookie
is locked down."""
import re
import time

import pytest
from limits import parse as parse_limit
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.extensions import db
from tests.builders import PASSWORD


def _attempts_allowed(app) -> int:
    return parse_limit(app.config["LOGIN_RATE_LIMIT"]).amount


def _csrf_token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no csrf_token field on {path}"
    return match.group(1)


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


@pytest.fixture
def signed_in(client, build):
    """A client with a browser session for a new user; returns the user."""
    # Set directly: the form login has its own tests above.
    user = build.user(display_name="赵六")
    with client.session_transaction() as browser_session:
        browser_session["user_id"] = user.id
        browser_session["signed_in_at"] = int(time.time())
        browser_session["session_generation"] = user.session_generation
    return user


def test_api_login_beyond_the_rate_limit_is_refused(app, client):
    body = {"identifier": "13900000000", "password": "wrong-password"}
    for _ in range(_attempts_allowed(app)):
        assert client.post("/api/v1/auth/login", json=body).status_code == 401

    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"


def test_rate_limit_also_refuses_the_right_password(app, client, build):
    user = build.user()
    for _ in range(_attempts_allowed(app)):
        client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": "wrong-password"})

    response = client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": PASSWORD})
    assert response.status_code == 429


def test_api_and_page_logins_draw_on_one_allowance(app, client):
    wrong = {"identifier": "13900000000", "password": "wrong-password"}
    statuses = []
    for attempt in range(_attempts_allowed(app) + 2):
        if attempt % 2:
            response = client.post("/login", data={**wrong, "csrf_token": _csrf_token(client)})
        else:
            response = client.post("/api/v1/auth/login", json=wrong)
        statuses.append(response.status_code)

    assert statuses == [401] * _attempts_allowed(app) + [429, 429]
    api = client.post("/api/v1/auth/login", json=wrong)
    assert api.json["error"]["code"] == "rate_limited"
    page = client.post("/login", data={**wrong, "csrf_token": _csrf_token(client)}, headers={"Accept": "text/html"})
    assert page.status_code == 429 and page.mimetype == "text/html"


REGISTRATION = {"phone": "13712345678", "display_name": "王芳", "password": "s3cret-pass"}
BAD_REGISTRATION = {**REGISTRATION, "password": "short"}  # refused before any hash is made


def _accounts() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


@pytest.fixture
def three_sign_ups_a_minute(app, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTER_RATE_LIMIT", "3 per minute")
    return 3


def test_api_registration_beyond_the_rate_limit_is_refused_and_creates_nothing(client, three_sign_ups_a_minute):
    statuses = [client.post("/api/v1/auth/register", json=BAD_REGISTRATION).status_code for _ in range(3)]

    response = client.post("/api/v1/auth/register", json=REGISTRATION)
    assert statuses == [422, 422, 422]
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"
    assert _accounts() == 0


def test_api_and_page_sign_ups_draw_on_one_allowance(client, three_sign_ups_a_minute):
    def page_sign_up(fields):
        return client.post("/signup", data={**fields, "csrf_token": _csrf_token(client)})

    statuses = [page_sign_up(BAD_REGISTRATION).status_code,
                client.post("/api/v1/auth/register", json=BAD_REGISTRATION).status_code,
                page_sign_up(BAD_REGISTRATION).status_code]
    api = client.post("/api/v1/auth/register", json=REGISTRATION)
    page = page_sign_up(REGISTRATION)

    assert statuses == [422, 422, 422]
    assert (api.status_code, api.json["error"]["code"]) == (429, "rate_limited")
    assert page.status_code == 429
    assert _accounts() == 0


def test_sign_ups_do_not_draw_on_the_login_allowance(app, client, build, three_sign_ups_a_minute):
    user = build.user()
    for _ in range(3):
        client.post("/api/v1/auth/register", json=BAD_REGISTRATION)

    assert client.post("/api/v1/auth/register", json=BAD_REGISTRATION).status_code == 429
    assert client.post("/api/v1/auth/login", json={"identifier": user.phone, "password": PASSWORD}).status_code == 200


def test_by_default_an_address_registers_five_accounts_a_minute(client):
    statuses = [client.post("/api/v1/auth/register", json=BAD_REGISTRATION).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


def test_login_form_without_csrf_token_is_refused(client, build):
    user = build.user()
    response = client.post("/login", data={"identifier": user.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf_failed"
    assert "已登录" not in client.get("/").get_data(as_text=True)


def test_login_form_with_csrf_token_signs_in_with_a_locked_down_cookie(client, build):
    user = build.user(display_name="赵六")
    token = _csrf_token(client)
    response = client.post("/login", data={"identifier": user.phone, "password": PASSWORD, "csrf_token": token})

    assert response.status_code == 302
    cookie = _session_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "已登录：赵六" in client.get("/").get_data(as_text=True)


def test_login_form_with_wrong_password_does_not_sign_in(client, build):
    user = build.user(display_name="赵六")
    response = client.post("/login", data={"identifier": user.phone, "password": "wrong-password",
                                            "csrf_token": _csrf_token(client)})
    assert response.status_code == 401
    assert "已登录" not in client.get("/").get_data(as_text=True)


def test_logout_without_csrf_token_is_refused(client, signed_in):
    response = client.post("/logout")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf_failed"
    assert "已登录：赵六" in client.get("/").get_data(as_text=True)


def test_logout_with_csrf_token_signs_out(client, signed_in):
    response = client.post("/logout", data={"csrf_token": _csrf_token(client, "/")})
    assert response.status_code == 302
    assert "已登录" not in client.get("/").get_data(as_text=True)
