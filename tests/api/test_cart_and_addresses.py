"""The buyer's saved cart and address book through the API, and what a checkout does to them: the
cart priced as the checkout prices it, each unbuyable line with its reason, bad quantities refused
without a change, the checkout's address saved once and its products taken out of the cart."""
import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.orders.models import CartLine, DeliveryAddress, OrderLine
from tests.api.test_checkout import ADDRESS, auth, cart_body, error_code, place

CART = "/api/v1/me/cart"
ADDRESSES = "/api/v1/me/addresses"


def line_url(product) -> str:
    return f"{CART}/lines/{product.id if hasattr(product, 'id') else product}"


@pytest.fixture
def buyer(build):
    return build.user("buyer")


@pytest.fixture
def headers(build, buyer):
    return auth(build, buyer)


def saved_lines(user) -> dict:
    return dict(db.session.execute(select(CartLine.product_id, CartLine.quantity).where(CartLine.user_id == user.id)).all())


def test_cart_is_priced_per_seller_with_the_checkouts_shipping(app, client, build, headers):
    seller_a, seller_b = build.user("seller", county="652927"), build.user("seller", county="652927")
    apples = build.product(seller_a, price_fen=1250, stock_units=50)
    dates = build.product(seller_b, price_fen=app.config["SHIPPING_FREE_OVER_FEN"], stock_units=50)
    assert client.put(line_url(apples), json={"quantity": 2}, headers=headers).status_code == 200
    cart = client.put(line_url(dates), json={"quantity": 1}, headers=headers).json

    by_seller = {group["seller_user_id"]: group for group in cart["groups"]}
    assert by_seller[seller_a.id]["items_total_fen"] == 2500
    assert by_seller[seller_a.id]["shipping_fee_fen"] == app.config["SHIPPING_FLAT_FEE_FEN"]
    assert by_seller[seller_b.id]["shipping_fee_fen"] == 0
    assert cart["grand_total_fen"] == 2500 + app.config["SHIPPING_FLAT_FEE_FEN"] + dates.price_fen
    assert cart["unbuyable"] == []

    placed = place(client, headers, cart_body((apples, 2), (dates, 1)))
    assert placed.status_code == 201
    assert placed.json["grand_total_fen"] == cart["grand_total_fen"]


def test_each_line_that_cannot_be_bought_says_why(client, build, buyer, headers):
    seller = build.user("seller", county="652927")
    paused = build.product(seller, stock_units=9)
    sold_out = build.product(seller, stock_units=0)
    scarce = build.product(seller, stock_units=3)
    minimum = build.product(seller, stock_units=50, min_order_units=5)
    for product, quantity in ((paused, 1), (sold_out, 1), (scarce, 4), (minimum, 2)):
        assert client.put(line_url(product), json={"quantity": quantity}, headers=headers).status_code == 200
    own = build.product(build.user("seller", "buyer", county="652927"), stock_units=5)
    paused.status = "paused"
    db.session.commit()

    problems = {line["product_id"]: line["problem"]
                for line in client.get(CART, headers=headers).json["unbuyable"]}
    assert problems == {paused.id: "not_for_sale", sold_out.id: "sold_out", scarce.id: "not_enough_stock",
                        minimum.id: "below_minimum"}

    seller_buyer = own.seller
    own_headers = auth(build, seller_buyer)
    client.put(line_url(own), json={"quantity": 1}, headers=own_headers)
    cart = client.get(CART, headers=own_headers).json
    assert [(line["product_id"], line["problem"]) for line in cart["unbuyable"]] == [(own.id, "own_listing")]


@pytest.mark.parametrize("quantity", [-1, 10_001, "3", 2.5, None, True])
def test_a_bad_quantity_is_refused_and_changes_nothing(client, build, buyer, headers, quantity):
    product = build.product(stock_units=10)
    client.put(line_url(product), json={"quantity": 2}, headers=headers)
    response = client.put(line_url(product), json={"quantity": quantity}, headers=headers)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert saved_lines(buyer) == {product.id: 2}


def test_unknown_or_unlisted_products_cannot_be_put_in_the_cart(client, build, buyer, headers):
    draft = build.product(status="draft")
    assert client.put(line_url(999_999), json={"quantity": 1}, headers=headers).status_code == 404
    assert client.put(line_url(draft), json={"quantity": 1}, headers=headers).status_code == 404
    assert client.put(line_url(2**31), json={"quantity": 1}, headers=headers).status_code == 404
    assert saved_lines(buyer) == {}


def test_zero_removes_a_line_and_delete_takes_it_out(client, build, buyer, headers):
    apples, dates = build.product(stock_units=10), build.product(stock_units=10)
    client.put(line_url(apples), json={"quantity": 2}, headers=headers)
    client.put(line_url(dates), json={"quantity": 2}, headers=headers)
    assert client.put(line_url(apples), json={"quantity": 0}, headers=headers).status_code == 200
    assert client.delete(line_url(dates), headers=headers).status_code == 204
    assert saved_lines(buyer) == {}


def test_a_cart_holds_at_most_fifty_products(client, build, buyer, headers):
    products = [build.product(stock_units=5) for _ in range(51)]
    for product in products[:50]:
        assert client.put(line_url(product), json={"quantity": 1}, headers=headers).status_code == 200
    refused = client.put(line_url(products[50]), json={"quantity": 1}, headers=headers)
    assert (refused.status_code, error_code(refused)) == (422, "cart_full")
    assert len(saved_lines(buyer)) == 50
    assert client.put(line_url(products[0]), json={"quantity": 3}, headers=headers).status_code == 200


def test_merging_a_visitors_cart_keeps_the_larger_quantity_and_drops_what_does_not_exist(app, build, buyer):
    from marketplace.orders import cart

    apples, dates = build.product(stock_units=10), build.product(stock_units=10)
    cart.set_cart_quantity(buyer.id, apples.id, 3)
    left_out = cart.merge_cart(buyer.id, {apples.id: 1, dates.id: 4, 999_999: 1, dates.id + 10_000: 2})
    assert saved_lines(buyer) == {apples.id: 3, dates.id: 4}
    assert set(left_out) == {999_999, dates.id + 10_000}


def test_a_checkout_takes_its_products_out_of_the_cart_and_saves_its_address_once(client, build, buyer, headers):
    apples, dates = build.product(stock_units=10), build.product(stock_units=10)
    client.put(line_url(apples), json={"quantity": 1}, headers=headers)
    client.put(line_url(dates), json={"quantity": 1}, headers=headers)
    assert place(client, headers, cart_body((apples, 1))).status_code == 201
    assert place(client, headers, cart_body((apples, 1))).status_code == 201
    assert saved_lines(buyer) == {dates.id: 1}

    book = client.get(ADDRESSES, headers=headers).json
    assert [(a["recipient"], a["phone"], a["county_adcode"], a["detail"]) for a in book] == [tuple(ADDRESS.values())]


def test_a_checkout_writes_the_trace_token_and_origin_on_each_line(client, build, headers):
    village = build.village("652927", "英阿瓦提村")
    product = build.product(stock_units=10, origin_village_id=village.id)
    placed = place(client, headers, cart_body((product, 1)))
    token = placed.json["orders"][0]["lines"][0]["trace_token"]
    line = db.session.scalar(select(OrderLine).where(OrderLine.product_id == product.id))
    assert str(line.trace_token) == token
    assert (line.origin_village_id, line.harvest_date) == (village.id, product.harvest_date)
    assert str(product.trace_token) != token


def test_addresses_are_saved_listed_last_used_first_and_deleted(client, build, buyer, headers):
    build.county(ADDRESS["county_adcode"])
    other = dict(ADDRESS, detail="解放路 2 号")
    first = client.post(ADDRESSES, json=ADDRESS, headers=headers)
    assert first.status_code == 201
    assert client.post(ADDRESSES, json=other, headers=headers).status_code == 201
    again = client.post(ADDRESSES, json=ADDRESS, headers=headers)
    assert again.json["id"] == first.json["id"]
    assert [a["detail"] for a in client.get(ADDRESSES, headers=headers).json] == [ADDRESS["detail"], other["detail"]]

    stranger = auth(build, build.user("buyer"))
    assert client.delete(f"{ADDRESSES}/{first.json['id']}", headers=stranger).status_code == 404
    assert client.delete(f"{ADDRESSES}/{first.json['id']}", headers=headers).status_code == 204
    assert client.delete(f"{ADDRESSES}/{first.json['id']}", headers=headers).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(DeliveryAddress)) == 1


def test_an_address_in_an_unknown_county_is_refused(client, build, buyer, headers):
    response = client.post(ADDRESSES, json=dict(ADDRESS, county_adcode="999999"), headers=headers)
    assert (response.status_code, error_code(response)) == (422, "unknown_county")
    assert db.session.scalar(select(func.count()).select_from(DeliveryAddress)) == 0


def test_cart_and_addresses_are_for_signed_in_buyers_only(client, build):
    assert client.get(CART).status_code == 401
    seller_only = auth(build, build.user("seller", county="652927"))
    assert client.get(CART, headers=seller_only).status_code == 403
    assert client.get(ADDRESSES, headers=seller_only).status_code == 403
