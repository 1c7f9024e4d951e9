"""Refunding orders through the API: who may refund, how much (whole, by lines, by amount; never
more than was paid), and the refund a buyer's cancellation of a paid order creates."""
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders.models import Checkout, Order
from marketplace.payments.models import Refund, RefundLine

SHIPMENT = {"carrier": "中通快递", "tracking_number": "ZT7730012345"}
REASON = "三个苹果坏了"


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


@dataclass
class Sale:
    """One card order of two lines: 2 kg of apples at 1250 and 2 bags of walnuts at 800, plus 800 shipping."""

    order: Order
    buyer: User
    seller: User
    apples: Product
    walnuts: Product

    def line_of(self, product: Product) -> int:
        return next(line.id for line in self.order.lines if line.product_id == product.id)


def make_sale(build, *, paid: bool = True) -> Sale:
    buyer, seller = build.user("buyer"), build.user("seller")
    apples = build.product(seller, price_fen=1250, stock_units=20)
    walnuts = build.product(seller, price_fen=800, stock_units=20)
    checkout = build.checkout(buyer, [apples, walnuts], quantity=2)
    if paid:
        build.pay(checkout)
    return Sale(db.session.get(Order, checkout.orders[0].id), buyer, seller, apples, walnuts)


def refund(client, build, user, order_id: int, **body):
    return client.post(f"/api/v1/orders/{order_id}/refunds", json={"reason": REASON, **body},
                       headers=auth(build, user))


def refund_rows() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Refund)),
            db.session.scalar(select(func.count()).select_from(RefundLine)))


@pytest.fixture
def sale(build) -> Sale:
    return make_sale(build)


@pytest.fixture
def admin(build) -> User:
    return build.user("admin")


def test_paid_order_total_includes_its_shipping(sale):
    assert sale.order.status == "paid"
    assert sale.order.total_fen == 2 * 1250 + 2 * 800 + 800


def test_units_refunded_after_an_amount_keep_every_fen_on_the_lines(client, build, sale, admin):
    """An amount refund takes its money from the first line; units of that line refunded later
    still put all their money on the lines (the part the line no longer has on the next one)."""
    apples, walnuts = sale.line_of(sale.apples), sale.line_of(sale.walnuts)
    assert refund(client, build, admin, sale.order.id, amount_fen=1000).status_code == 201
    by_units = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": apples, "quantity": 2}])
    assert by_units.status_code == 201 and by_units.json["amount_fen"] == 2500

    on_lines = dict(db.session.execute(select(RefundLine.order_line_id, func.sum(RefundLine.amount_fen))
                                       .group_by(RefundLine.order_line_id)).all())
    assert on_lines == {apples: 2500, walnuts: 1000}
    assert sum(on_lines.values()) == db.session.scalar(select(func.sum(Refund.amount_fen)))
    assert db.session.scalars(select(RefundLine.quantity).where(RefundLine.order_line_id == apples)).all() in (
        [0, 2], [2, 0])


# ---------------------------------------------------------------- refused refunds


def test_refund_above_the_paid_amount_is_refused_and_writes_nothing(client, build, sale, admin):
    response = refund(client, build, admin, sale.order.id, amount_fen=sale.order.total_fen + 1)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "refund_exceeds_paid"
    assert response.json["error"]["details"]["refundable_fen"] == sale.order.total_fen
    assert refund_rows() == (0, 0)


def test_refund_of_an_unpaid_order_is_a_conflict(client, build, admin):
    unpaid = make_sale(build, paid=False)
    response = refund(client, build, admin, unpaid.order.id, amount_fen=100)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "order_not_paid"
    assert refund_rows() == (0, 0)


def test_seller_cannot_refund_once_the_order_has_shipped(client, build, sale):
    shipped = client.post(f"/api/v1/orders/{sale.order.id}/ship", json=SHIPMENT, headers=auth(build, sale.seller))
    assert shipped.status_code == 200

    response = refund(client, build, sale.seller, sale.order.id, amount_fen=100)

    assert response.status_code == 403
    assert response.json["error"]["code"] == "refund_not_allowed"
    assert refund_rows() == (0, 0)


def test_administrator_may_refund_a_shipped_order(client, build, sale, admin):
    client.post(f"/api/v1/orders/{sale.order.id}/ship", json=SHIPMENT, headers=auth(build, sale.seller))
    response = refund(client, build, admin, sale.order.id, amount_fen=100)
    assert response.status_code == 201
    assert (response.json["status"], response.json["method"], response.json["amount_fen"]) == ("pending", "stripe", 100)


def test_seller_of_another_order_does_not_see_it(client, build, sale):
    other_seller = build.user("seller")
    response = refund(client, build, other_seller, sale.order.id, amount_fen=100)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "order_not_found"
    assert refund_rows() == (0, 0)


def test_seller_who_bought_someone_elses_order_cannot_refund_it(client, build):
    buying_seller = build.user("buyer", "seller")
    order = build.pay(build.checkout(buying_seller, [build.product()])).orders[0]

    response = refund(client, build, buying_seller, order.id, amount_fen=100)

    assert response.status_code == 403
    assert response.json["error"]["code"] == "refund_not_allowed"
    assert refund_rows() == (0, 0)


def test_refunding_more_units_than_remain_on_a_line_is_refused(client, build, sale, admin):
    apples = sale.line_of(sale.apples)
    assert refund(client, build, admin, sale.order.id, lines=[{"order_line_id": apples, "quantity": 1}]).status_code == 201

    response = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": apples, "quantity": 2}])

    assert response.status_code == 422
    assert response.json["error"]["code"] == "refund_exceeds_units"
    assert response.json["error"]["details"]["refundable_units"] == 1
    assert refund_rows() == (1, 1)


def test_refunding_a_line_of_another_order_is_refused(client, build, sale, admin):
    elsewhere = make_sale(build)
    response = refund(client, build, admin, sale.order.id,
                      lines=[{"order_line_id": elsewhere.line_of(elsewhere.apples), "quantity": 1}])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "unknown_order_line"
    assert refund_rows() == (0, 0)


def test_refunding_a_line_that_does_not_exist_is_refused(client, build, sale, admin):
    response = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": 987654, "quantity": 1}])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "unknown_order_line"
    assert refund_rows() == (0, 0)


def test_refund_naming_the_same_line_twice_is_refused(client, build, sale, admin):
    apples = sale.line_of(sale.apples)
    response = refund(client, build, admin, sale.order.id,
                      lines=[{"order_line_id": apples, "quantity": 1}, {"order_line_id": apples, "quantity": 1}])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "duplicate_order_line"
    assert refund_rows() == (0, 0)


def test_refund_naming_both_lines_and_an_amount_is_refused(client, build, sale, admin):
    response = refund(client, build, admin, sale.order.id, amount_fen=100,
                      lines=[{"order_line_id": sale.line_of(sale.apples), "quantity": 1}])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert refund_rows() == (0, 0)


def test_second_whole_refund_after_a_full_one_finds_nothing_to_refund(client, build, sale, admin):
    first = refund(client, build, admin, sale.order.id)
    assert first.status_code == 201 and first.json["amount_fen"] == sale.order.total_fen

    second = refund(client, build, admin, sale.order.id)

    assert second.status_code == 409
    assert second.json["error"]["code"] == "nothing_to_refund"
    assert refund_rows()[0] == 1


@pytest.mark.parametrize("amount", [0, -100, 12.5, "100", True, None], ids=repr)
def test_refund_amount_must_be_a_positive_whole_number_of_fen(client, build, sale, admin, amount):
    response = refund(client, build, admin, sale.order.id, amount_fen=amount)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "amount_fen" in str(response.json["error"]["details"])
    assert refund_rows() == (0, 0)


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "1"], ids=repr)
def test_refund_line_quantity_must_be_a_positive_whole_number(client, build, sale, admin, quantity):
    response = refund(client, build, admin, sale.order.id,
                      lines=[{"order_line_id": sale.line_of(sale.apples), "quantity": quantity}])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert refund_rows() == (0, 0)


# ---------------------------------------------------------------- partial refunds add up


def test_refunds_by_lines_then_by_amount_never_exceed_what_was_paid(client, build, sale, admin):
    total = sale.order.total_fen
    by_lines = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": sale.line_of(sale.apples), "quantity": 2}])
    assert by_lines.status_code == 201 and by_lines.json["amount_fen"] == 2 * 1250

    too_much = refund(client, build, admin, sale.order.id, amount_fen=total - 2 * 1250 + 1)
    assert too_much.status_code == 422
    assert too_much.json["error"]["code"] == "refund_exceeds_paid"
    assert too_much.json["error"]["details"]["refundable_fen"] == total - 2 * 1250

    rest = refund(client, build, admin, sale.order.id, amount_fen=total - 2 * 1250)
    assert rest.status_code == 201

    listed = client.get(f"/api/v1/orders/{sale.order.id}/refunds", headers=auth(build, sale.buyer)).json["items"]
    assert sum(item["amount_fen"] for item in listed) == total
    assert refund(client, build, admin, sale.order.id, amount_fen=1).json["error"]["code"] == "nothing_to_refund"


def test_refunds_by_amount_then_by_lines_never_exceed_what_was_paid(client, build, sale, admin):
    total = sale.order.total_fen
    assert refund(client, build, admin, sale.order.id, amount_fen=total - 1000).status_code == 201
    before = refund_rows()

    response = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": sale.line_of(sale.apples), "quantity": 1}])

    assert response.status_code == 422
    assert response.json["error"]["code"] == "refund_exceeds_paid"
    assert refund_rows() == before
    walnut = refund(client, build, admin, sale.order.id, lines=[{"order_line_id": sale.line_of(sale.walnuts), "quantity": 1}])
    assert walnut.status_code == 201 and walnut.json["amount_fen"] == 800


def test_a_line_is_refunded_using_only_the_ids_the_api_published(client, build, admin):
    """A client that knows only what responses told it: the checkout it placed, the order as it
    reads it back, and the ids of their lines (the same in both)."""
    buyer, seller = build.user("buyer"), build.user("seller")
    apples = build.product(seller, price_fen=1250, stock_units=20)
    walnuts = build.product(seller, price_fen=800, stock_units=20)
    placed = client.post("/api/v1/checkouts", headers={**auth(build, buyer), "Idempotency-Key": "line-ids-12"}, json={
        "lines": [{"product_id": apples.id, "quantity": 2}, {"product_id": walnuts.id, "quantity": 3}],
        "delivery": {"address": {"recipient": "张三", "phone": "13800138000", "county_adcode": apples.origin_county_adcode,
                                 "detail": "人民路1号"}},
        "payment_method": "card"})
    assert placed.status_code == 201, placed.json
    [placed_order] = placed.json["orders"]
    build.pay(db.session.get(Checkout, placed.json["id"]))

    order = client.get(f"/api/v1/orders/{placed_order['id']}", headers=auth(build, admin)).json
    walnut_line = next(line for line in order["lines"] if line["product_id"] == walnuts.id)
    assert sorted(line["id"] for line in order["lines"]) == sorted(line["id"] for line in placed_order["lines"])
    assert walnut_line["id"] in {line["id"] for line in
                                 client.get(f"/api/v1/checkouts/{placed.json['id']}", headers=auth(build, buyer))
                                 .json["orders"][0]["lines"]}

    response = refund(client, build, admin, order["id"], lines=[{"order_line_id": walnut_line["id"], "quantity": 2}])

    assert response.status_code == 201, response.json
    assert response.json["amount_fen"] == 2 * walnut_line["unit_price_fen"] == 1600
    assert response.json["lines"] == [{"order_line_id": walnut_line["id"], "quantity": 2, "amount_fen": 1600}]


def test_refund_by_lines_records_units_and_their_price(client, build, sale):
    response = refund(client, build, sale.seller, sale.order.id,
                      lines=[{"order_line_id": sale.line_of(sale.walnuts), "quantity": 2},
                             {"order_line_id": sale.line_of(sale.apples), "quantity": 1}])
    assert response.status_code == 201
    assert response.json["amount_fen"] == 2 * 800 + 1250
    assert response.json["requested_by_user_id"] == sale.seller.id
    assert sorted((line["order_line_id"], line["quantity"], line["amount_fen"]) for line in response.json["lines"]) == sorted(
        [(sale.line_of(sale.walnuts), 2, 1600), (sale.line_of(sale.apples), 1, 1250)])


def test_refunds_of_an_order_are_hidden_from_strangers(client, build, sale, admin):
    refund(client, build, admin, sale.order.id, amount_fen=100)
    assert client.get(f"/api/v1/orders/{sale.order.id}/refunds", headers=build.headers("buyer")).status_code == 404
    mine = client.get(f"/api/v1/orders/{sale.order.id}/refunds", headers=auth(build, sale.buyer))
    assert [item["amount_fen"] for item in mine.json["items"]] == [100]


# ---------------------------------------------------------------- cancelling a paid order


def stock(product: Product) -> int:
    return db.session.scalar(select(Product.stock_units).where(Product.id == product.id))


def test_buyer_cancelling_a_paid_card_order_gets_stock_back_and_a_pending_stripe_refund(client, build, sale):
    response = client.post(f"/api/v1/orders/{sale.order.id}/cancel", json={"note": "不要了"}, headers=auth(build, sale.buyer))

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert (stock(sale.apples), stock(sale.walnuts)) == (20, 20)
    [made] = client.get(f"/api/v1/orders/{sale.order.id}/refunds", headers=auth(build, sale.buyer)).json["items"]
    assert (made["method"], made["status"], made["amount_fen"]) == ("stripe", "pending", sale.order.total_fen)
    assert made["requested_by_user_id"] == sale.buyer.id
    assert sorted((line["order_line_id"], line["quantity"]) for line in made["lines"]) == sorted(
        [(sale.line_of(sale.apples), 2), (sale.line_of(sale.walnuts), 2)])


def test_cancelling_after_a_partial_refund_refunds_only_the_rest(client, build, sale, admin):
    refund(client, build, admin, sale.order.id, lines=[{"order_line_id": sale.line_of(sale.apples), "quantity": 1}])

    client.post(f"/api/v1/orders/{sale.order.id}/cancel", json={}, headers=auth(build, sale.buyer))

    items = client.get(f"/api/v1/orders/{sale.order.id}/refunds", headers=auth(build, sale.buyer)).json["items"]
    assert [item["amount_fen"] for item in items] == [1250, sale.order.total_fen - 1250]
    assert sorted((line["order_line_id"], line["quantity"]) for line in items[1]["lines"]) == sorted(
        [(sale.line_of(sale.apples), 1), (sale.line_of(sale.walnuts), 2)])
