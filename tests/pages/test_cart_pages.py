"""The cart page: a visitor's cart in a signed cookie, a buyer's saved cart, quantities changed in
place, unbuyable lines named with their reason, totals and shipping per seller, and bad input
refused beside the line with nothing changed."""
import re

import pytest

from marketplace.extensions import db
from marketplace.orders import cart
from marketplace.web.cart import COOKIE

ID_BEYOND_THE_COLUMN = str(2**31)


def add(browser, product, quantity="1"):
    """Press the product page's add-to-cart button."""
    return browser.send(f"/products/{product.id}", {"quantity": str(quantity)}, to="/cart/add")


def update(browser, data: dict):
    return browser.send("/cart", data, to="/cart/update")


def line_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'class="card cart-line[^"]*" id="line-(\d+)"', page)]


def problem_of(page: str, product_id: int) -> str | None:
    found = re.search(rf'id="line-{product_id}" data-product-id="{product_id}"(?: data-problem="(\w+)")?', page)
    return found.group(1) if found else None


# ---------------------------------------------------------------- a visitor's cart


def test_a_visitor_adds_products_and_the_cart_shows_them_per_seller_with_shipping(browser, build, app):
    cheap, dear = build.product(price_fen=1000), build.product(price_fen=5000)
    db.session.commit()

    assert add(browser, cheap, 2).status_code == 302
    assert add(browser, dear, 2).status_code == 302
    page = browser.get("/cart").get_data(as_text=True)

    assert sorted(line_ids(page)) == sorted([cheap.id, dear.id])
    assert browser.client.get_cookie(COOKIE) is not None
    # 2 000 fen pays the flat fee; 10 000 fen reaches free shipping
    fee = app.config["SHIPPING_FLAT_FEE_FEN"]
    assert f'data-grand-total-fen="{2000 + fee + 10000}"' in page
    assert page.count(f'data-shipping-fen="{fee}"') == 1 and page.count('data-shipping-fen="0"') == 1


def test_adding_the_same_product_again_adds_to_its_quantity(browser, build):
    product = build.product()
    db.session.commit()
    add(browser, product, 2)
    add(browser, product, 3)

    assert f'name="qty-{product.id}" value="5"' in browser.get("/cart").get_data(as_text=True)


@pytest.mark.parametrize("quantity", ["0", "-1", "10001", "99999999999999999999", "abc", "1.5", ""])
def test_adding_a_bad_quantity_is_refused_and_changes_nothing(browser, build, quantity):
    product = build.product()
    db.session.commit()

    response = add(browser, product, quantity)

    assert response.status_code == 400
    assert browser.client.get_cookie(COOKIE) is None


@pytest.mark.parametrize("product_id", ["999999", ID_BEYOND_THE_COLUMN, "99999999999999999999", "abc", "-3"])
def test_adding_a_product_that_does_not_exist_is_not_found(browser, build, product_id):
    product = build.product()
    db.session.commit()

    response = browser.send(f"/products/{product.id}", {"product_id": product_id, "quantity": "1"}, to="/cart/add")

    assert response.status_code == 404
    assert browser.client.get_cookie(COOKIE) is None


def test_a_paused_product_cannot_be_added(browser, build):
    product = build.product()
    db.session.commit()
    hidden = browser.hidden_fields(f"/products/{product.id}")
    product.status = "paused"
    db.session.commit()

    response = browser.client.post("/cart/add", data={**hidden, "quantity": "1"})

    assert response.status_code == 404


def test_a_tampered_cart_cookie_is_dropped_with_a_notice_never_an_error(browser, build):
    product = build.product()
    db.session.commit()
    add(browser, product, 2)
    signed = browser.client.get_cookie(COOKIE).value
    browser.client.set_cookie(COOKIE, signed.replace(signed[-3:], "AAA"))
    browser.client.set_cookie("lang", "en")

    response = browser.get("/cart")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your cart could not be read" in page
    assert line_ids(page) == []
    assert browser.client.get_cookie(COOKIE) is None


@pytest.mark.parametrize("value", ["garbage", "W1sxLDJdXQ", ""])
def test_an_unreadable_cart_cookie_is_dropped(browser, value):
    browser.client.set_cookie(COOKIE, value)

    response = browser.get("/cart")

    assert response.status_code == 200
    assert line_ids(response.get_data(as_text=True)) == []


def test_a_validly_signed_cookie_that_is_no_cart_is_dropped(browser, app):
    from itsdangerous import URLSafeSerializer

    from marketplace.web.cart import COOKIE_SALT

    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt=COOKIE_SALT).dumps([[1, -5], [2**40, 1]])
    browser.client.set_cookie(COOKIE, forged)

    response = browser.get("/cart")

    assert response.status_code == 200
    assert browser.client.get_cookie(COOKIE) is None


def test_a_visitor_changes_quantities_in_place_and_removes_a_line(browser, build):
    first, second = build.product(), build.product()
    db.session.commit()
    add(browser, first)
    add(browser, second)

    assert update(browser, {f"qty-{first.id}": "4", f"qty-{second.id}": "1"}).status_code == 302
    assert update(browser, {"remove": str(second.id)}).status_code == 302
    page = browser.get("/cart").get_data(as_text=True)

    assert line_ids(page) == [first.id]
    assert f'name="qty-{first.id}" value="4"' in page


def test_a_quantity_of_zero_removes_the_line(browser, build):
    product = build.product()
    db.session.commit()
    add(browser, product)

    update(browser, {f"qty-{product.id}": "0"})

    assert line_ids(browser.get("/cart").get_data(as_text=True)) == []


# ---------------------------------------------------------------- a buyer's saved cart


@pytest.mark.parametrize("typed", ["-1", "10001", "abc", "99999999999999999999", "2.5"])
def test_a_bad_quantity_is_named_beside_its_line_and_nothing_changes(buyer_browser, buyer, build, typed):
    first, second = build.product(), build.product()
    db.session.commit()
    add(buyer_browser, first, 2)
    add(buyer_browser, second, 2)

    response = update(buyer_browser, {f"qty-{first.id}": "5", f"qty-{second.id}": typed})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="qty-{second.id}-error"' in page and f'value="{typed}"' in page
    assert cart.saved_cart(buyer.id) == {first.id: 2, second.id: 2}


@pytest.mark.parametrize("line", ["999999", ID_BEYOND_THE_COLUMN, "99999999999999999999"])
def test_a_line_for_a_product_not_in_the_cart_changes_nothing(buyer_browser, buyer, build, line):
    product = build.product()
    db.session.commit()
    add(buyer_browser, product, 2)

    response = update(buyer_browser, {f"qty-{product.id}": "7", f"qty-{line}": "1"})

    assert response.status_code == 400
    assert cart.saved_cart(buyer.id) == {product.id: 2}


def test_removing_a_product_not_in_the_cart_changes_nothing(buyer_browser, buyer, build):
    product = build.product()
    db.session.commit()
    add(buyer_browser, product, 2)

    response = update(buyer_browser, {"remove": ID_BEYOND_THE_COLUMN})

    assert response.status_code == 400
    assert cart.saved_cart(buyer.id) == {product.id: 2}


def test_a_buyers_quantities_are_saved(buyer_browser, buyer, build):
    product = build.product()
    db.session.commit()
    add(buyer_browser, product, 2)

    update(buyer_browser, {f"qty-{product.id}": "9"})

    assert cart.saved_cart(buyer.id) == {product.id: 9}


def test_each_line_that_cannot_be_bought_is_named_with_its_reason(browser, build, session):
    buyer = build.user("buyer", "seller")
    paused, sold_out, short, minimum, fine = (build.product(), build.product(), build.product(stock_units=3),
                                              build.product(min_order_units=5), build.product())
    own = build.product(seller=buyer)
    session.commit()
    for product, quantity in ((paused, 1), (sold_out, 1), (short, 4), (minimum, 2), (fine, 1), (own, 1)):
        cart.add_to_cart(buyer.id, product.id, quantity)
    paused.status = "paused"
    sold_out.stock_units = 0
    session.commit()
    browser.log_in(buyer)

    page = browser.get("/cart").get_data(as_text=True)

    assert {product.id: problem_of(page, product.id) for product in (paused, sold_out, short, minimum, fine, own)} == {
        paused.id: "not_for_sale", sold_out.id: "sold_out", short.id: "not_enough_stock",
        minimum.id: "below_minimum", fine.id: None, own.id: "own_listing"}
    assert f'data-grand-total-fen="{fine.price_fen + 800}"' in page


def test_the_cart_is_kept_across_login(browser, buyer, build):
    kept, already = build.product(), build.product()
    db.session.commit()
    cart.add_to_cart(buyer.id, already.id, 1)
    add(browser, kept, 3)
    add(browser, already, 4)

    assert browser.log_in(buyer).status_code == 302

    assert cart.saved_cart(buyer.id) == {already.id: 4, kept.id: 3}
    assert browser.client.get_cookie(COOKIE) is None
    assert sorted(line_ids(browser.get("/cart").get_data(as_text=True))) == sorted([already.id, kept.id])
