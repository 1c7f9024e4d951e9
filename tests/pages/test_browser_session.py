"""The browser session of people's pages: locked-down cookies in production, sign-ins that run out
and that end everywhere at logout, deactivation or a new password."""
import pytest

from marketplace import create_app
from marketplace.accounts import services as accounts
from marketplace.config import ProductionConfig
from tests.pages.conftest import Browser, expire_sign_in


def _cookie(response, name: str) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    return cookie


@pytest.fixture
def production_client(database_url):
    class Production(ProductionConfig):
        SECRET_KEY = "a-production-secret-of-enough-length"
        SQLALCHEMY_DATABASE_URI = database_url
        SESSION_COOKIE_SECURE = True

    return create_app(Production).test_client()


def test_in_production_the_session_cookie_is_secure_http_only_and_same_site(production_client):
    cookie = _cookie(production_client.get("/login"), "session")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_in_production_the_language_cookie_is_secure_too(production_client):
    cookie = _cookie(production_client.get("/language/en?next=/login"), "lang")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_sign_in_runs_out_after_sign_in_hours(seller_browser, app):
    expire_sign_in(seller_browser.client, app.config["SIGN_IN_HOURS"] - 1)
    assert seller_browser.get("/sell/").status_code == 200
    expire_sign_in(seller_browser.client, app.config["SIGN_IN_HOURS"] + 1)
    response = seller_browser.get("/sell/?page=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sell/%3Fpage%3D1"


def test_logging_out_keeps_a_form_open_in_another_tab_sendable_to_the_login(seller_browser):
    form = seller_browser.hidden_fields("/sell/products/new")
    seller_browser.send("/sell/", {}, to="/logout")
    response = seller_browser.client.post("/sell/products/new", data={**form, "title": "红枣"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sell/products/new"


def test_a_login_with_characters_no_account_can_have_is_a_wrong_login(browser):
    response = browser.send("/login", {"identifier": "139\x0012345678", "password": "x\x00"}, to="/login")
    assert response.status_code == 401
    assert "手机号或密码不对" in response.get_data(as_text=True)


def _saved_session(client) -> str:
    return client.get_cookie("session").value


def _replayed(client, saved: str):
    """/sell/ opened with a session cookie saved earlier (as a thief or a forgotten browser would)."""
    client.set_cookie("session", saved)
    return client.get("/sell/")


def _signed_out(response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == "/login?next=/sell/"


def test_logging_out_ends_a_saved_copy_of_the_session_cookie(seller_browser):
    saved = _saved_session(seller_browser.client)
    assert seller_browser.get("/sell/").status_code == 200

    assert seller_browser.send("/sell/", {}, to="/logout").status_code == 302

    assert _signed_out(_replayed(seller_browser.client, saved))


def test_logging_out_in_one_browser_signs_the_user_out_of_every_other(seller_browser, seller, app):
    other = Browser(app.test_client())
    assert other.log_in(seller).status_code == 302
    assert other.get("/sell/").status_code == 200

    seller_browser.send("/sell/", {}, to="/logout")

    assert _signed_out(other.get("/sell/"))
    assert other.log_in(seller).status_code == 302  # logging in again works, in a fresh generation
    assert other.get("/sell/").status_code == 200


def test_an_ended_session_cookie_cannot_sign_the_user_out_again(seller_browser, seller, app):
    """Only a sign-in that still holds ends the others: an old cookie's logout changes nothing."""
    saved = _saved_session(seller_browser.client)
    seller_browser.send("/sell/", {}, to="/logout")
    fresh = Browser(app.test_client())
    fresh.log_in(seller)

    stale = Browser(app.test_client())
    stale.client.set_cookie("session", saved)
    assert stale.send("/login", {}, to="/logout").status_code == 302

    assert fresh.get("/sell/").status_code == 200


def test_deactivating_an_account_ends_its_page_sessions_even_once_it_is_active_again(seller_browser, seller, build):
    saved = _saved_session(seller_browser.client)
    admin = build.user("admin")

    accounts.update_user(seller.id, is_active=False, acting_user_id=admin.id)
    assert _signed_out(_replayed(seller_browser.client, saved))
    accounts.update_user(seller.id, is_active=True, acting_user_id=admin.id)

    assert _signed_out(_replayed(seller_browser.client, saved))


def test_a_new_password_ends_every_page_session_and_token(seller_browser, seller, build, client):
    saved = _saved_session(seller_browser.client)
    token = build.token(seller)

    accounts.set_password(seller.phone, "another-long-one-7")

    assert _signed_out(_replayed(seller_browser.client, saved))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert seller_browser.log_in(seller, "another-long-one-7").status_code == 302
    assert seller_browser.get("/sell/").status_code == 200
