"""Reading orders and checkouts: each person sees the orders they bought, sold, or that come to
their station; administrators see all; everyone else is told the order does not exist."""
import pytest

ORDERS_URL = "/api/v1/orders"


def auth(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def listed(client, headers: dict, **query) -> list[int]:
    response = client.get(ORDERS_URL, query_string={"per_page": 100, **query}, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["total"] == len(response.json["items"])
    return [order["id"] for order in response.json["items"]]


def order_ids(checkout) -> list[int]:
    return [order.id for order in checkout.orders]


def error_code(response) -> str:
    return response.json["error"]["code"]


def paid(build, checkout):
    build.pay(checkout)
    return checkout


@pytest.fixture
def market(build):
    """Two buyers, two sellers, two partners with a station each, and orders between them."""

    class Market:
        buyer, other_buyer = build.user("buyer"), build.user("buyer")
        seller, other_seller = build.user("seller"), build.user("seller")
        partner, other_partner = build.user("partner"), build.user("partner")
        station = build.station(partner=partner, village=build.village(name="英阿瓦提村"))
        other_station = build.station(partner=other_partner, village=build.village(name="托万克村"))
        product = build.product(seller)
        other_product = build.product(other_seller)
        # buyer: one unpaid order to an address, one paid order to the partner's station
        unpaid = build.checkout(buyer, [product])
        to_station = paid(build, build.checkout(buyer, [product], station=station))
        # other buyer: a paid two-seller checkout to the other station
        other = paid(build, build.checkout(other_buyer, [product, other_product], station=other_station))

    return Market


# ---------------------------------------------------------------- lists by view

def test_buyers_see_only_the_orders_they_bought(client, build, market):
    mine = order_ids(market.unpaid) + order_ids(market.to_station)

    assert sorted(listed(client, auth(build, market.buyer))) == sorted(mine)  # "bought" is the default view
    assert sorted(listed(client, auth(build, market.buyer), view="bought")) == sorted(mine)
    assert sorted(listed(client, auth(build, market.other_buyer), view="bought")) == order_ids(market.other)


def test_sellers_see_the_orders_placed_with_them(client, build, market):
    seller_orders = order_ids(market.unpaid) + order_ids(market.to_station) + [
        o.id for o in market.other.orders if o.seller_user_id == market.seller.id]

    assert sorted(listed(client, auth(build, market.seller), view="sold")) == sorted(seller_orders)
    other_seller_orders = [o.id for o in market.other.orders if o.seller_user_id == market.other_seller.id]
    assert listed(client, auth(build, market.other_seller), view="sold") == other_seller_orders


def test_to_ship_lists_only_the_sellers_paid_orders(client, build, market):
    paid_for_seller = order_ids(market.to_station) + [o.id for o in market.other.orders
                                                      if o.seller_user_id == market.seller.id]

    assert sorted(listed(client, auth(build, market.seller), view="to_ship")) == sorted(paid_for_seller)


def test_a_shipped_order_leaves_the_to_ship_list(client, build, market):
    (order_id,) = order_ids(market.to_station)
    shipped = client.post(f"{ORDERS_URL}/{order_id}/ship", json={"carrier": "顺丰", "tracking_number": "SF100200300"},
                          headers=auth(build, market.seller))
    assert shipped.status_code == 200, shipped.json

    assert order_id not in listed(client, auth(build, market.seller), view="to_ship")
    assert order_id in listed(client, auth(build, market.seller), view="sold")


def test_partners_see_the_orders_delivered_to_their_station(client, build, market):
    assert listed(client, auth(build, market.partner), view="station") == order_ids(market.to_station)
    assert sorted(listed(client, auth(build, market.other_partner), view="station")) == order_ids(market.other)
    assert listed(client, auth(build, market.partner), view="station", station_id=market.station.id) == order_ids(
        market.to_station)


def test_a_partner_with_several_stations_can_narrow_to_one(client, build, market):
    second_station = build.station(partner=market.partner, village=build.village(name="阿热勒村"))
    at_second = paid(build, build.checkout(market.other_buyer, [market.other_product], station=second_station))
    headers = auth(build, market.partner)

    assert sorted(listed(client, headers, view="station")) == sorted(order_ids(market.to_station) + order_ids(at_second))
    assert listed(client, headers, view="station", station_id=second_station.id) == order_ids(at_second)


def test_a_partner_asking_for_another_partners_station_is_403(client, build, market):
    response = client.get(ORDERS_URL, query_string={"view": "station", "station_id": market.other_station.id},
                          headers=auth(build, market.partner))

    assert response.status_code == 403
    assert error_code(response) == "not_station_partner"


def test_a_user_without_a_station_sees_no_station_orders(client, build, market):
    assert listed(client, auth(build, market.buyer), view="station") == []
    assert listed(client, build.headers("partner"), view="station") == []


def test_administrators_see_every_order(client, build, market):
    everything = order_ids(market.unpaid) + order_ids(market.to_station) + order_ids(market.other)
    admin = auth(build, build.user("admin"))

    assert sorted(listed(client, admin, view="all")) == sorted(everything)
    assert sorted(listed(client, admin, view="station", station_id=market.other_station.id)) == order_ids(market.other)


@pytest.mark.parametrize("roles", [("buyer",), ("seller",), ("partner",), ("buyer", "seller", "partner")])
def test_only_administrators_may_list_all_orders(client, build, market, roles):
    response = client.get(ORDERS_URL, query_string={"view": "all"}, headers=build.headers(*roles))

    assert response.status_code == 403
    assert error_code(response) == "forbidden"


def test_orders_are_filtered_by_status(client, build, market):
    headers = auth(build, market.buyer)

    assert listed(client, headers, status="pending_payment") == order_ids(market.unpaid)
    assert listed(client, headers, status="paid") == order_ids(market.to_station)
    assert listed(client, headers, status="delivered") == []
    assert listed(client, auth(build, build.user("admin")), view="all", status="pending_payment") == order_ids(market.unpaid)


def test_orders_come_newest_first_a_page_at_a_time(client, build):
    buyer = build.user("buyer")
    placed = [build.checkout(buyer, [build.product()]).orders[0].id for _ in range(5)]
    headers = auth(build, buyer)

    pages = [client.get(ORDERS_URL, query_string={"per_page": 2, "page": page}, headers=headers).json
             for page in (1, 2, 3, 4)]

    assert [[o["id"] for o in page["items"]] for page in pages] == [placed[4:2:-1], placed[2:0:-1], placed[:1], []]
    assert {(page["total"], page["per_page"]) for page in pages} == {(5, 2)}
    assert [page["page"] for page in pages] == [1, 2, 3, 4]


def test_listed_orders_carry_their_lines_totals_and_history(client, build):
    buyer = build.user("buyer")
    product = build.product(title="和田红枣", price_fen=3000)
    build.checkout(buyer, [product], quantity=2)

    (order,) = client.get(ORDERS_URL, headers=auth(build, buyer)).json["items"]

    assert (order["items_total_fen"], order["shipping_fee_fen"], order["total_fen"]) == (6000, 800, 6800)
    assert [(line["title"], line["quantity"], line["line_total_fen"]) for line in order["lines"]] == [("和田红枣", 2, 6000)]
    assert [event["action"] for event in order["events"]] == ["place"]


@pytest.mark.parametrize("query", [
    {"view": "everything"}, {"status": "lost"}, {"page": 0}, {"per_page": 101}, {"station_id": 0},
    {"station_id": "abc"},
])
def test_bad_list_arguments_are_422(client, build, query):
    response = client.get(ORDERS_URL, query_string=query, headers=build.headers("buyer"))

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert response.json["error"]["details"]["query"]


def test_listing_orders_needs_a_login(client):
    response = client.get(ORDERS_URL)

    assert response.status_code == 401


# ---------------------------------------------------------------- one order, one checkout

def test_an_order_is_visible_to_its_buyer_seller_station_partner_and_administrators(client, build, market):
    (order_id,) = order_ids(market.to_station)

    for user in (market.buyer, market.seller, market.partner, build.user("admin")):
        response = client.get(f"{ORDERS_URL}/{order_id}", headers=auth(build, user))
        assert response.status_code == 200, (user.id, response.json)
        assert (response.json["id"], response.json["status"], response.json["station_id"]) == (
            order_id, "paid", market.station.id)


@pytest.mark.parametrize("who", ["other_buyer", "other_seller", "other_partner"])
def test_an_order_is_hidden_from_everyone_else(client, build, market, who):
    (order_id,) = order_ids(market.to_station)

    response = client.get(f"{ORDERS_URL}/{order_id}", headers=auth(build, getattr(market, who)))

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"


def test_a_missing_order_is_404(client, build):
    response = client.get(f"{ORDERS_URL}/987654", headers=build.headers("admin"))

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"


def test_a_checkout_is_visible_to_its_buyer_and_administrators(client, build, market):
    for user in (market.other_buyer, build.user("admin")):
        response = client.get(f"/api/v1/checkouts/{market.other.id}", headers=auth(build, user))
        assert response.status_code == 200, response.json
        assert response.json["id"] == market.other.id
        assert response.json["status"] == "paid"
        assert sorted(o["id"] for o in response.json["orders"]) == order_ids(market.other)
        assert response.json["grand_total_fen"] == sum(o["total_fen"] for o in response.json["orders"])


@pytest.mark.parametrize("who", ["buyer", "other_partner"])
def test_a_checkout_is_hidden_from_everyone_else(client, build, market, who):
    # other_partner runs the station the checkout is delivered to; still not theirs to read.
    response = client.get(f"/api/v1/checkouts/{market.other.id}", headers=auth(build, getattr(market, who)))

    assert response.status_code == 404
    assert error_code(response) == "checkout_not_found"


def test_a_seller_in_a_checkout_cannot_read_the_whole_checkout(client, build):
    seller = build.user("seller", "buyer")
    checkout = build.checkout(build.user("buyer"), [build.product(seller), build.product()])

    response = client.get(f"/api/v1/checkouts/{checkout.id}", headers=auth(build, seller))

    assert response.status_code == 404
    assert error_code(response) == "checkout_not_found"


def test_a_missing_checkout_is_404(client, build):
    response = client.get("/api/v1/checkouts/987654", headers=build.headers("admin"))

    assert response.status_code == 404
    assert error_code(response) == "checkout_not_found"


def test_station_filter_outside_the_station_view_is_refused(client, build):
    response = client.get("/api/v1/orders", query_string={"view": "bought", "station_id": 1}, headers=build.headers("buyer"))

    assert response.status_code == 422
    assert response.json["error"]["details"]["query"]["station_id"] == ["station_id filters view=station only."]
