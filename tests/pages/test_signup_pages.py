"""Buyers sign up and log in on pages (phone and password, rate-limited together with the API's
registration), and each role lands at its own home after logging in."""
import pytest
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.orders import cart

GOOD = {"phone": "13912345678", "display_name": "李娜", "password": "long-enough-9"}


def sign_up(browser, **overrides):
    return browser.send("/signup", {**GOOD, **overrides}, to="/signup")


def accounts_with(phone: str) -> list[User]:
    return list(db.session.scalars(select(User).where(User.phone == phone)))


def test_a_new_buyer_signs_up_is_signed_in_and_lands_on_the_storefront(browser):
    response = sign_up(browser)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    [user] = accounts_with(GOOD["phone"])
    assert user.roles == ["buyer"] and user.display_name == "李娜"
    assert browser.get("/orders").status_code == 200  # signed in: my orders opens


def test_signing_up_with_a_taken_number_says_so_beside_the_phone_and_adds_no_account(browser, build):
    build.user("buyer", phone=GOOD["phone"])
    db.session.commit()

    response = sign_up(browser)

    assert response.status_code == 422
    assert 'id="phone-error"' in response.get_data(as_text=True)
    assert len(accounts_with(GOOD["phone"])) == 1


@pytest.mark.parametrize("field, value", [("phone", "12345"), ("phone", "１３９１２３４５６７８"), ("password", "short"),
                                          ("display_name", "   "), ("display_name", "a\x00b")])
def test_bad_sign_up_input_is_refused_beside_its_field(browser, field, value):
    response = sign_up(browser, **{field: value})

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert accounts_with(GOOD["phone"]) == []


@pytest.mark.parametrize("password, message", [("12345678", "这个密码太常见或太简单"), ("aaaaaaaa", "这个密码太常见或太简单"),
                                               (GOOD["phone"], "不能用手机号作密码")])
def test_a_weak_password_is_refused_in_chinese_beside_the_password_and_adds_no_account(browser, password, message):
    response = sign_up(browser, password=password)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="password-error"' in page and message in page
    assert accounts_with(GOOD["phone"]) == []


def test_sign_up_is_rate_limited_with_the_api_registration(browser, app, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTER_RATE_LIMIT", "3 per minute")
    statuses = [sign_up(browser, password="short").status_code for _ in range(4)]

    assert statuses == [422, 422, 422, 429]


def test_the_login_page_links_to_sign_up(browser):
    assert 'href="/signup"' in browser.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("roles, home", [(("buyer",), "/"), (("seller",), "/sell/"), (("partner",), "/station/"),
                                         (("admin",), "/admin/reports"), (("official",), "/admin/reports")])
def test_after_login_each_role_lands_at_its_home(browser, build, roles, home):
    user = build.user(*roles)
    db.session.commit()

    response = browser.log_in(user)

    assert response.status_code == 302
    assert response.headers["Location"] == home


def test_a_login_with_a_page_to_return_to_goes_there(browser, build):
    user = build.user("seller")
    db.session.commit()

    response = browser.send("/login?next=/cart", {"identifier": user.phone, "password": "correct-horse-9"},
                            to="/login")

    assert response.headers["Location"] == "/cart"


def test_the_visitors_cart_joins_the_new_account(browser, build):
    product = build.product()
    db.session.commit()
    browser.send(f"/products/{product.id}", {"quantity": "3"}, to="/cart/add")

    sign_up(browser)

    [user] = accounts_with(GOOD["phone"])
    assert cart.saved_cart(user.id) == {product.id: 3}
