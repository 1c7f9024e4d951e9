"""Seller settlement: the ledger of what the platform owes each seller (sales less confirmed
refunds less commission, rounded half up per order), who may read it, and payouts."""
import pytest

from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.orders.models import Order
from tests.webhooks import WEBHOOK_PATH, signed_delivery

SHIPPING_FEN = 800


def commission(amount_fen: int) -> int:
    """5 % of an amount, rounded half up to the fen (the test's own integer arithmetic)."""
    whole, rest = divmod(amount_fen * 5, 100)
    return whole + (1 if rest * 2 >= 100 else 0)


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def ledger(client, build, seller_id: int, viewer: User):
    return client.get(f"/api/v1/sellers/{seller_id}/ledger", query_string={"per_page": 100}, headers=auth(build, viewer))


def refund(client, build, seller: User, order_id: int, **body) -> dict:
    response = client.post(f"/api/v1/orders/{order_id}/refunds", json={"reason": "品相不好", **body},
                           headers=auth(build, seller))
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def commission_5_percent(app, monkeypatch):
    monkeypatch.setitem(app.config, "PLATFORM_COMMISSION_BPS", 500)
    monkeypatch.setitem(app.config, "SHIPPING_FLAT_FEE_FEN", SHIPPING_FEN)
    monkeypatch.setitem(app.config, "SHIPPING_FREE_OVER_FEN", 9900)


def test_commission_helper_rounds_half_up():
    assert [commission(n) for n in (1010, 1030, 999, 990, 989, 10, 9)] == [51, 52, 50, 50, 49, 1, 0]


def test_balance_is_paid_totals_less_confirmed_refunds_less_commission_on_each_net(
        client, build, commission_5_percent):
    seller, partner, buyer = build.user("seller"), build.user("partner"), build.user("buyer")
    station = build.station(partner=partner)

    def cash_order(price_fen: int, quantity: int) -> Order:
        product = build.product(seller, price_fen=price_fen)
        checkout = build.checkout(buyer, [product], station=station, quantity=quantity, payment_method="cash_at_station")
        response = client.post(f"/api/v1/checkouts/{checkout.id}/cash-collection",
                               json={"amount_fen": checkout.grand_total_fen}, headers=auth(build, partner))
        assert response.status_code == 201
        return db.session.get(Order, checkout.orders[0].id)

    def pay_cash_back(refund_id: int) -> None:
        response = client.post(f"/api/v1/refunds/{refund_id}/cash-paid", headers=auth(build, partner))
        assert response.json["status"] == "succeeded"

    first = cash_order(105, 2)  # 1010 fen
    third = cash_order(199, 1)  # 999 fen
    card = build.pay(build.checkout(buyer, [build.product(seller, price_fen=115)], quantity=2))
    second = db.session.get(Order, card.orders[0].id)  # 1030 fen
    assert [first.total_fen, second.total_fen, third.total_fen] == [1010, 1030, 999]

    pay_cash_back(refund(client, build, seller, first.id, amount_fen=10)["id"])
    pay_cash_back(refund(client, build, seller, third.id, amount_fen=9)["id"])
    pay_cash_back(refund(client, build, seller, third.id, amount_fen=1)["id"])
    by_line = refund(client, build, seller, second.id, lines=[{"order_line_id": second.lines[0].id, "quantity": 1}])
    assert by_line["amount_fen"] == 115
    charge = {"id": "ch_settlement", "object": "charge", "payment_intent": f"pi_test_{card.id}_1",
              "refunds": {"data": [{"id": "re_settlement", "object": "refund", "amount": 115, "status": "succeeded",
                                    "payment_intent": f"pi_test_{card.id}_1",
                                    "metadata": {"refund_id": str(by_line["id"])}}]}}
    confirmed = client.post(WEBHOOK_PATH, **signed_delivery(
        {"id": "evt_settlement_refund", "type": "charge.refunded", "data": {"object": charge}}))
    assert confirmed.json == {"outcome": "applied"}
    still_pending = refund(client, build, seller, second.id, amount_fen=15)
    assert still_pending["status"] == "pending"

    paid = {first.id: 1010, second.id: 1030, third.id: 999}
    confirmed_refunds = {first.id: 10, second.id: 115, third.id: 9 + 1}
    net = {order_id: paid[order_id] - confirmed_refunds[order_id] for order_id in paid}
    expected = sum(paid.values()) - sum(confirmed_refunds.values()) - sum(commission(n) for n in net.values())
    assert expected == 3039 - 135 - (50 + 46 + 49)

    response = ledger(client, build, seller.id, seller)
    assert response.status_code == 200
    assert response.json["balance_fen"] == expected
    assert sum(item["amount_fen"] for item in response.json["items"]) == expected
    for order_id, net_fen in net.items():
        commissions = [item["amount_fen"] for item in response.json["items"]
                       if item["order_id"] == order_id and item["kind"] == "commission"]
        assert sum(commissions) == -commission(net_fen), order_id


def test_seller_reads_own_ledger(client, build):
    seller = build.user("seller")
    order = build.pay(build.checkout(products=[build.product(seller)])).orders[0]
    response = ledger(client, build, seller.id, seller)
    assert response.status_code == 200
    assert response.json["seller_user_id"] == seller.id
    assert sorted(item["kind"] for item in response.json["items"]) == ["commission", "sale"]
    assert response.json["balance_fen"] == order.total_fen - commission(order.total_fen)


def test_seller_cannot_read_another_sellers_ledger(client, build):
    seller, other = build.user("seller"), build.user("seller")
    build.pay(build.checkout(products=[build.product(seller)]))
    response = ledger(client, build, seller.id, other)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "not_your_ledger"


def test_admin_reads_any_sellers_ledger(client, build):
    seller = build.user("seller")
    order = build.pay(build.checkout(products=[build.product(seller)])).orders[0]
    response = ledger(client, build, seller.id, build.user("admin"))
    assert response.status_code == 200
    assert response.json["balance_fen"] == order.total_fen - commission(order.total_fen)


def test_buyer_cannot_read_a_sellers_ledger(client, build):
    seller = build.user("seller")
    assert ledger(client, build, seller.id, build.user("buyer")).status_code == 403


# ---------------------------------------------------------------- payouts


@pytest.fixture
def owed(build):
    """A seller with one paid order: (seller, balance owed)."""
    seller = build.user("seller")
    order = build.pay(build.checkout(products=[build.product(seller)])).orders[0]
    return seller, order.total_fen - commission(order.total_fen)


def pay_out(client, build, seller: User, admin: User, **body):
    return client.post(f"/api/v1/sellers/{seller.id}/payouts", json=body, headers=auth(build, admin))


def test_payout_by_an_admin_reduces_the_balance(client, build, owed):
    seller, balance = owed
    admin = build.user("admin")

    response = pay_out(client, build, seller, admin, amount_fen=balance - 100, reference="ICBC-TX-778812")

    assert response.status_code == 201
    assert (response.json["kind"], response.json["amount_fen"], response.json["reference"]) == (
        "payout", -(balance - 100), "ICBC-TX-778812")
    assert ledger(client, build, seller.id, seller).json["balance_fen"] == 100
    assert pay_out(client, build, seller, admin, amount_fen=100, reference="ICBC-TX-778813").status_code == 201
    assert ledger(client, build, seller.id, seller).json["balance_fen"] == 0


def test_payout_above_the_balance_is_refused(client, build, owed):
    seller, balance = owed

    response = pay_out(client, build, seller, build.user("admin"), amount_fen=balance + 1, reference="ICBC-TX-1")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "payout_exceeds_balance"
    assert response.json["error"]["details"] == {"amount_fen": balance + 1, "balance_fen": balance}
    assert ledger(client, build, seller.id, seller).json["balance_fen"] == balance


@pytest.mark.parametrize("body", [{}, {"reference": ""}, {"reference": "   "}], ids=["missing", "empty", "blank"])
def test_payout_needs_a_transfer_reference(client, build, owed, body):
    seller, balance = owed
    response = pay_out(client, build, seller, build.user("admin"), amount_fen=100, **body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert "reference" in response.json["error"]["details"]["json"]
    assert ledger(client, build, seller.id, seller).json["balance_fen"] == balance


def test_seller_cannot_record_a_payout_to_themselves(client, build, owed):
    seller, balance = owed
    response = pay_out(client, build, seller, seller, amount_fen=100, reference="ICBC-TX-2")
    assert response.status_code == 403
    assert ledger(client, build, seller.id, seller).json["balance_fen"] == balance
