"""Placing a checkout through the API: one order per seller, exact fen totals, stock taken at once,
idempotent retries, and bad carts refused without leaving anything behind."""
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import func, select

from marketplace.catalog.models import Product
from marketplace.catalog.taxonomy import PRICE_FEN_MAX
from marketplace.extensions import db
from marketplace.orders.models import Checkout, IdempotencyKey, Order, OrderEvent, OrderLine
from marketplace.orders.schemas import MAX_QUANTITY

CHECKOUTS_URL = "/api/v1/checkouts"
ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}
_keys = count(1)


def fresh_key() -> str:
    return f"test-key-{next(_keys):06d}"


def auth(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def cart_body(*lines: tuple, station=None, address=None, payment_method: str = "card") -> dict:
    """A checkout body from (product, quantity) pairs, to a station if given, else to an address."""
    delivery = {"station_id": station.id} if station is not None else {"address": address or ADDRESS}
    return {"lines": [{"product_id": product.id, "quantity": quantity} for product, quantity in lines],
            "delivery": delivery, "payment_method": payment_method}


def place(client, headers: dict, body: dict, key: str | None = None):
    return client.post(CHECKOUTS_URL, json=body, headers={**headers, "Idempotency-Key": key or fresh_key()})


def error_code(response) -> str:
    return response.json["error"]["code"]


def stock_of(product: Product) -> int:
    return db.session.scalar(select(Product.stock_units).where(Product.id == product.id))


def footprint(*products: Product) -> dict:
    """Every row a checkout could write, and the stock of the given products."""
    rows = {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Checkout, Order, OrderLine, OrderEvent, IdempotencyKey)}
    return {**rows, "stock": {product.id: stock_of(product) for product in products}}


@pytest.fixture
def buyer(build):
    return build.user("buyer")


@pytest.fixture
def buyer_headers(build, buyer):
    return auth(build, buyer)


# ---------------------------------------------------------------- splitting and totals

def test_two_seller_cart_becomes_one_order_per_seller_with_exact_fen_totals(client, build, buyer_headers):
    seller_a = build.user("seller", county="652927")
    seller_b = build.user("seller", county="653022")
    apples = build.product(seller_a, price_fen=1250)
    walnuts = build.product(seller_a, price_fen=9000, unit="bag", net_weight_grams=2500)
    garlic = build.product(seller_b, price_fen=500)

    response = place(client, buyer_headers, cart_body((apples, 2), (walnuts, 1), (garlic, 1)))

    assert response.status_code == 201, response.json
    checkout = response.json
    by_seller = {order["seller_user_id"]: order for order in checkout["orders"]}
    assert set(by_seller) == {seller_a.id, seller_b.id}
    order_a, order_b = by_seller[seller_a.id], by_seller[seller_b.id]
    assert (order_a["items_total_fen"], order_a["shipping_fee_fen"], order_a["total_fen"]) == (11500, 0, 11500)
    assert (order_b["items_total_fen"], order_b["shipping_fee_fen"], order_b["total_fen"]) == (500, 800, 1300)
    assert sorted((line["product_id"], line["quantity"], line["line_total_fen"]) for line in order_a["lines"]) == sorted(
        [(apples.id, 2, 2500), (walnuts.id, 1, 9000)])
    assert [(line["product_id"], line["line_total_fen"]) for line in order_b["lines"]] == [(garlic.id, 500)]
    assert (checkout["items_total_fen"], checkout["shipping_total_fen"], checkout["grand_total_fen"]) == (12000, 800, 12800)
    assert checkout["grand_total_fen"] == sum(order["total_fen"] for order in checkout["orders"])
    assert checkout["currency"] == "cny"
    assert checkout["status"] == "pending_payment"
    assert {order["status"] for order in checkout["orders"]} == {"pending_payment"}
    assert all(isinstance(checkout[k], int) for k in ("items_total_fen", "shipping_total_fen", "grand_total_fen"))


@pytest.mark.parametrize(("unit_price_fen", "quantity", "expected_fee_fen"), [
    (9900, 1, 0),      # exactly at the free-shipping threshold
    (3300, 3, 0),      # reached by several units
    (9899, 1, 800),    # one fen short
    (1, 1, 800),
])
def test_each_seller_pays_the_flat_fee_unless_their_goods_reach_the_threshold(
        client, build, buyer_headers, unit_price_fen, quantity, expected_fee_fen):
    product = build.product(price_fen=unit_price_fen)

    response = place(client, buyer_headers, cart_body((product, quantity)))

    assert response.status_code == 201, response.json
    (order,) = response.json["orders"]
    assert order["shipping_fee_fen"] == expected_fee_fen
    assert order["total_fen"] == unit_price_fen * quantity + expected_fee_fen
    assert response.json["grand_total_fen"] == order["total_fen"]


def test_free_shipping_is_judged_per_seller_not_per_cart(client, build, buyer_headers):
    # 2 x 5000 fen in one cart, but from two sellers: neither seller's order reaches 9900.
    first, second = build.product(price_fen=5000), build.product(price_fen=5000)

    response = place(client, buyer_headers, cart_body((first, 1), (second, 1)))

    assert response.status_code == 201, response.json
    assert [order["shipping_fee_fen"] for order in response.json["orders"]] == [800, 800]
    assert response.json["grand_total_fen"] == 10000 + 1600


def test_order_lines_keep_what_was_sold_after_the_product_is_edited(client, build, buyer, buyer_headers):
    seller = build.user("seller", county="652927")
    product = build.product(seller, title="阿克苏冰糖心苹果", unit="jin", net_weight_grams=500, price_fen=1250)
    placed = place(client, buyer_headers, cart_body((product, 3)))
    assert placed.status_code == 201, placed.json
    order_id = placed.json["orders"][0]["id"]

    build.county("653022")
    product.title, product.unit, product.net_weight_grams = "改名的苹果", "kg", 1000
    product.price_fen, product.origin_county_adcode = 9999, "653022"
    db.session.flush()

    line = client.get(f"/api/v1/orders/{order_id}", headers=buyer_headers).json["lines"][0]
    assert {k: line[k] for k in ("title", "unit", "net_weight_grams", "unit_price_fen", "quantity", "line_total_fen",
                                 "origin_county_adcode", "category")} == {
        "title": "阿克苏冰糖心苹果", "unit": "jin", "net_weight_grams": 500, "unit_price_fen": 1250, "quantity": 3,
        "line_total_fen": 3750, "origin_county_adcode": "652927", "category": "fruit",
    }
    assert db.session.scalar(select(OrderLine.seller_user_id).where(OrderLine.order_id == order_id)) == seller.id
    again = client.get(f"{CHECKOUTS_URL}/{placed.json['id']}", headers=buyer_headers).json
    assert again["grand_total_fen"] == 3750 + 800


def test_checkout_to_an_address_records_the_address_and_deadline(client, app, build, buyer_headers):
    product = build.product()

    response = place(client, buyer_headers, cart_body((product, 1), payment_method="alipay"))

    assert response.status_code == 201, response.json
    checkout = response.json
    assert (checkout["delivery_kind"], checkout["station_id"], checkout["address_county_adcode"]) == ("address", None, "652927")
    assert checkout["payment_method"] == "alipay"
    row = db.session.get(Checkout, checkout["id"])
    assert (row.recipient_name, row.recipient_phone, row.address_detail) == ("张三", "13800138000", "人民路1号")
    ttl = row.expires_at - row.created_at
    assert ttl == timedelta(seconds=app.config["ORDER_PAYMENT_TTL"]) == timedelta(minutes=30)


def test_a_partner_orders_for_a_villager_to_their_station_paying_cash(client, build):
    partner = build.user("partner")
    station = build.station(partner=partner)
    product = build.product()

    response = place(client, auth(build, partner), cart_body((product, 2), station=station, payment_method="cash_at_station"))

    assert response.status_code == 201, response.json
    assert (response.json["delivery_kind"], response.json["station_id"]) == ("station", station.id)
    assert response.json["payment_method"] == "cash_at_station"
    (order,) = response.json["orders"]
    assert (order["buyer_user_id"], order["station_id"], order["delivery_kind"]) == (partner.id, station.id, "station")


@pytest.mark.parametrize("payment_method", ["card", "alipay", "wechat_pay", "cash_at_station"])
def test_every_payment_method_is_accepted_for_station_delivery(client, build, buyer_headers, payment_method):
    response = place(client, buyer_headers, cart_body((build.product(), 1), station=build.station(),
                                                       payment_method=payment_method))

    assert response.status_code == 201, response.json
    assert response.json["payment_method"] == payment_method


@pytest.mark.parametrize("role", ["seller", "admin"])
def test_only_buyers_and_partners_check_out(client, build, role):
    product = build.product()
    before = footprint(product)

    response = place(client, build.headers(role), cart_body((product, 1)))

    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    assert footprint(product) == before


def test_checking_out_needs_a_login(client, build):
    product = build.product()

    response = place(client, {}, cart_body((product, 1)))

    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


# ---------------------------------------------------------------- stock

def test_checkout_takes_the_stock_it_sells(client, build, buyer_headers):
    apples, dates = build.product(stock_units=100), build.product(stock_units=7)

    response = place(client, buyer_headers, cart_body((apples, 2), (dates, 7)))

    assert response.status_code == 201, response.json
    assert (stock_of(apples), stock_of(dates)) == (98, 0)


def test_selling_the_last_units_shows_the_product_as_sold_out(client, build, buyer_headers):
    product = build.product(stock_units=2)
    assert client.get(f"/api/v1/products/{product.id}").json["status"] == "active"

    assert place(client, buyer_headers, cart_body((product, 2))).status_code == 201

    shown = client.get(f"/api/v1/products/{product.id}")
    assert shown.status_code == 200
    assert (shown.json["status"], shown.json["stock_units"]) == ("sold_out", 0)


def test_short_stock_is_409_naming_each_short_product_and_nothing_is_ordered(client, build, buyer_headers):
    plenty = build.product(title="红枣", stock_units=50)
    scarce = build.product(title="核桃", stock_units=1)
    gone = build.product(title="黑米", stock_units=0)
    before = footprint(plenty, scarce, gone)

    response = place(client, buyer_headers, cart_body((plenty, 5), (scarce, 2), (gone, 1)))

    assert response.status_code == 409
    assert error_code(response) == "out_of_stock"
    assert sorted(response.json["error"]["details"]["products"], key=lambda p: p["product_id"]) == sorted([
        {"product_id": scarce.id, "title": "核桃", "available_units": 1, "requested_units": 2},
        {"product_id": gone.id, "title": "黑米", "available_units": 0, "requested_units": 1},
    ], key=lambda p: p["product_id"])
    assert "核桃" in response.json["error"]["message"] and "黑米" in response.json["error"]["message"]
    assert footprint(plenty, scarce, gone) == before


def test_a_key_refused_for_short_stock_can_be_retried_once_restocked(client, build, buyer_headers):
    product = build.product(stock_units=1)
    body, key = cart_body((product, 3)), fresh_key()
    assert place(client, buyer_headers, body, key).status_code == 409

    product.stock_units = 10
    db.session.flush()
    retried = place(client, buyer_headers, body, key)

    assert retried.status_code == 201, retried.json
    assert stock_of(product) == 7


def test_minimum_order_is_enforced(client, build, buyer_headers):
    product = build.product(min_order_units=5, unit="box", net_weight_grams=5000)
    before = footprint(product)

    too_few = place(client, buyer_headers, cart_body((product, 4)))

    assert too_few.status_code == 422
    assert error_code(too_few) == "cart_rejected"
    assert too_few.json["error"]["details"] == {"products": {str(product.id): "minimum order is 5 box"}}
    assert footprint(product) == before
    assert place(client, buyer_headers, cart_body((product, 5))).status_code == 201


# ---------------------------------------------------------------- idempotency

def test_same_key_and_body_returns_the_first_checkout(client, build, buyer_headers):
    product = build.product(stock_units=10)
    body, key = cart_body((product, 2)), fresh_key()

    first = place(client, buyer_headers, body, key)
    replay = place(client, buyer_headers, body, key)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json == first.json
    assert stock_of(product) == 8
    assert footprint()["checkouts"] == 1


def test_same_key_with_a_different_body_is_refused(client, build, buyer_headers):
    product = build.product(stock_units=10)
    key = fresh_key()
    assert place(client, buyer_headers, cart_body((product, 2)), key).status_code == 201
    before = footprint(product)

    reused = place(client, buyer_headers, cart_body((product, 3)), key)

    assert reused.status_code == 422
    assert error_code(reused) == "idempotency_key_reused"
    assert footprint(product) == before


def test_a_replay_answers_even_after_the_product_stopped_selling(client, build, buyer_headers):
    product = build.product(stock_units=2)
    body, key = cart_body((product, 2)), fresh_key()
    first = place(client, buyer_headers, body, key)
    product.status = "paused"
    db.session.flush()

    replay = place(client, buyer_headers, body, key)

    assert replay.status_code == 200, replay.json
    assert replay.json["id"] == first.json["id"]


def test_a_replay_answers_even_after_the_last_unit_sold(client, build, buyer_headers):
    product = build.product(stock_units=2)
    body, key = cart_body((product, 2)), fresh_key()
    first = place(client, buyer_headers, body, key)
    assert stock_of(product) == 0

    replay = place(client, buyer_headers, body, key)
    other = place(client, buyer_headers, body, fresh_key())

    assert (first.status_code, replay.status_code, other.status_code) == (201, 200, 409)
    assert replay.json == first.json
    assert footprint()["checkouts"] == 1


def test_idempotency_keys_belong_to_one_user(client, build):
    product = build.product(stock_units=10)
    body, key = cart_body((product, 1)), fresh_key()

    mine = place(client, build.headers("buyer"), body, key)
    theirs = place(client, build.headers("buyer"), body, key)

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json["id"] != theirs.json["id"]
    assert stock_of(product) == 8


# ---------------------------------------------------------------- bad input leaves nothing behind

def _line(product_id, quantity=1) -> dict:
    return {"product_id": product_id, "quantity": quantity}


def _with_lines(shop, *lines) -> dict:
    return {**cart_body(), "lines": list(lines)}


BAD_CARTS = {
    # name: (make body from the shop, status, code)
    "quantity zero": (lambda s: _with_lines(s, _line(s.product.id, 0)), 422, "validation_error"),
    "quantity negative": (lambda s: _with_lines(s, _line(s.product.id, -1)), 422, "validation_error"),
    "quantity fractional": (lambda s: _with_lines(s, _line(s.product.id, 1.5)), 422, "validation_error"),
    "quantity as text": (lambda s: _with_lines(s, _line(s.product.id, "2")), 422, "validation_error"),
    "quantity enormous": (lambda s: _with_lines(s, _line(s.product.id, 10**12)), 422, "validation_error"),
    "quantity above the cap": (lambda s: _with_lines(s, _line(s.product.id, MAX_QUANTITY + 1)), 422, "validation_error"),
    "product id not an id": (lambda s: _with_lines(s, _line(2**40)), 422, "validation_error"),
    "no lines": (lambda s: _with_lines(s), 422, "validation_error"),
    "500 lines": (lambda s: _with_lines(s, *[_line(n) for n in range(1, 501)]), 422, "validation_error"),
    "duplicate product": (lambda s: _with_lines(s, _line(s.product.id, 1), _line(s.product.id, 2)), 422, "duplicate_product"),
    "unknown product": (lambda s: _with_lines(s, _line(s.product.id + 10_000)), 422, "cart_rejected"),
    "paused product": (lambda s: _with_lines(s, _line(s.paused.id)), 422, "cart_rejected"),
    "draft product": (lambda s: _with_lines(s, _line(s.draft.id)), 422, "cart_rejected"),
    "product under review": (lambda s: _with_lines(s, _line(s.in_review.id)), 422, "cart_rejected"),
    "own product": (lambda s: _with_lines(s, _line(s.own.id)), 422, "cart_rejected"),
    "inactive station": (lambda s: {**cart_body((s.product, 1)), "delivery": {"station_id": s.closed_station.id}},
                         422, "station_unavailable"),
    "unknown station": (lambda s: {**cart_body((s.product, 1)), "delivery": {"station_id": s.closed_station.id + 1000}},
                        422, "station_unavailable"),
    "cash with an address": (lambda s: cart_body((s.product, 1), payment_method="cash_at_station"), 422, "cash_needs_station"),
    "unknown county": (lambda s: cart_body((s.product, 1), address={**ADDRESS, "county_adcode": "999999"}), 422, "unknown_county"),
    "malformed county": (lambda s: cart_body((s.product, 1), address={**ADDRESS, "county_adcode": "65292"}), 422, "validation_error"),
    "bad phone": (lambda s: cart_body((s.product, 1), address={**ADDRESS, "phone": "12345"}), 422, "validation_error"),
    "address missing detail": (lambda s: cart_body((s.product, 1), address={k: v for k, v in ADDRESS.items() if k != "detail"}),
                               422, "validation_error"),
    "both station and address": (lambda s: {**cart_body((s.product, 1)),
                                            "delivery": {"station_id": s.station.id, "address": ADDRESS}}, 422, "validation_error"),
    "neither station nor address": (lambda s: {**cart_body((s.product, 1)), "delivery": {}}, 422, "validation_error"),
    "unknown payment method": (lambda s: cart_body((s.product, 1), payment_method="bitcoin"), 422, "validation_error"),
    "missing payment method": (lambda s: {k: v for k, v in cart_body((s.product, 1)).items() if k != "payment_method"},
                               422, "validation_error"),
}


class Shop:
    """A buyer, a sellable product, unsellable ones and stations, for the bad-cart cases."""

    def __init__(self, build):
        self.buyer = build.user("buyer", "seller")
        self.product = build.product(stock_units=10)
        self.paused = build.product(status="paused")
        self.draft = build.product(status="draft")
        self.in_review = build.product(status="pending_review")
        self.own = build.product(self.buyer)
        self.station = build.station()
        self.closed_station = build.station(is_active=False)


@pytest.mark.parametrize("case", list(BAD_CARTS))
def test_a_bad_cart_is_refused_with_a_stable_code_and_nothing_written(client, build, case):
    shop = Shop(build)
    make_body, status, code = BAD_CARTS[case]
    before = footprint(shop.product, shop.paused, shop.draft, shop.own)

    response = place(client, auth(build, shop.buyer), make_body(shop))

    assert response.status_code == status, response.json
    assert error_code(response) == code
    assert response.json["error"]["message"]
    assert footprint(shop.product, shop.paused, shop.draft, shop.own) == before


def test_a_cart_with_several_unsellable_products_names_each_one(client, build):
    shop = Shop(build)
    missing_id = shop.product.id + 10_000
    before = footprint(shop.product)

    response = place(client, auth(build, shop.buyer), _with_lines(
        shop, _line(shop.product.id), _line(shop.paused.id), _line(shop.draft.id), _line(shop.own.id), _line(missing_id)))

    assert response.status_code == 422
    assert error_code(response) == "cart_rejected"
    assert response.json["error"]["details"] == {"products": {
        str(shop.paused.id): "not for sale", str(shop.draft.id): "not for sale",
        str(shop.own.id): "your own listing", str(missing_id): "not for sale",
    }}
    assert footprint(shop.product) == before


def test_duplicate_lines_name_the_repeated_product(client, build, buyer_headers):
    product = build.product()

    response = place(client, buyer_headers, cart_body((product, 1), (product, 1)))

    assert response.status_code == 422
    assert response.json["error"]["details"] == {"product_id": product.id}


@pytest.mark.parametrize("key", [None, "short", "has space in it", "x" * 101])
def test_a_missing_or_malformed_idempotency_key_is_a_header_validation_error(client, build, buyer_headers, key):
    product = build.product()
    before = footprint(product)
    headers = buyer_headers if key is None else {**buyer_headers, "Idempotency-Key": key}

    response = client.post(CHECKOUTS_URL, json=cart_body((product, 1)), headers=headers)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert "Idempotency-Key" in response.json["error"]["details"]["headers"]
    assert footprint(product) == before


def test_bad_quantity_details_point_at_the_line(client, build, buyer_headers):
    product = build.product()

    response = place(client, buyer_headers, cart_body((product, 0)))

    assert response.json["error"]["details"]["json"]["lines"]["0"]["quantity"]


def test_a_cart_worth_more_than_money_columns_hold_is_refused_not_a_server_error(client, build, buyer_headers):
    # 10,000 units at the highest listable price is 10^11 fen, beyond a 32-bit integer column.
    product = build.product(price_fen=PRICE_FEN_MAX, stock_units=MAX_QUANTITY)
    before = footprint(product)

    response = place(client, buyer_headers, cart_body((product, MAX_QUANTITY)))

    assert response.status_code == 422, response.json
    assert error_code(response) == "cart_total_too_large"
    assert footprint(product) == before


def test_a_cart_up_to_the_most_one_payment_can_take_is_accepted(client, build, buyer_headers):
    product = build.product(price_fen=9_999_999, stock_units=10)

    response = place(client, buyer_headers, cart_body((product, 10)))

    assert response.status_code == 201, response.json
    assert response.json["grand_total_fen"] == 99_999_990
