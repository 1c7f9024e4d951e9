"""The browser session of people's pages: locked-down cookies in production, sign-ins that run out."""
import pytest

from marketplace import create_app
from marketplace.config import ProductionConfig
from tests.pages.conftest import expire_sign_in


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
