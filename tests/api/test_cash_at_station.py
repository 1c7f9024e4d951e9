"""Cash at a service station: the partner records the exact cash of a checkout, pays cash refunds
back, and the station's ledger shows what it owes the platform until an administrator records
the remittance."""
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from marketplace.payments.models import SellerLedgerEntry
from marketplace.stations.models import ServiceStation, StationCashEntry


def commission(amount_fen: int) -> int:
    """5 % of an amount, rounded half up to the fen (the test's own integer arithmetic)."""
    whole, rest = divmod(amount_fen * 5, 100)
    return whole + (1 if rest * 2 >= 100 else 0)


def auth(build, user: User) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


@dataclass
class CashSale:
    """A cash checkout delivered to a station, one order per seller."""

    checkout: Checkout
    station: ServiceStation
    partner: User
    buyer: User
    sellers: list[User]

    @property
    def total(self) -> int:
        return self.checkout.grand_total_fen


def cash_sale(build, *, sellers: int = 2, payment_method: str = "cash_at_station") -> CashSale:
    partner, buyer = build.user("partner"), build.user("buyer")
    station = build.station(partner=partner)
    products = [build.product(build.user("seller"), price_fen=1250 + 330 * i) for i in range(sellers)]
    checkout = build.checkout(buyer, products, station=station, payment_method=payment_method)
    return CashSale(checkout, station, partner, buyer, [product.seller for product in products])


@pytest.fixture
def sale(build) -> CashSale:
    return cash_sale(build)


def collect(client, build, sale: CashSale, amount_fen: int, partner: User | None = None):
    return client.post(f"/api/v1/checkouts/{sale.checkout.id}/cash-collection", json={"amount_fen": amount_fen},
                       headers=auth(build, partner or sale.partner))


def cash_ledger(client, build, sale: CashSale, viewer: User | None = None) -> dict:
    response = client.get(f"/api/v1/stations/{sale.station.id}/cash-ledger", headers=auth(build, viewer or sale.partner))
    assert response.status_code == 200
    return response.json


def seller_ledger(client, build, seller: User) -> dict:
    response = client.get(f"/api/v1/sellers/{seller.id}/ledger", headers=auth(build, seller))
    assert response.status_code == 200
    return response.json


def order_statuses(checkout_id: int) -> list[str]:
    return list(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout_id).order_by(Order.id)))


def assert_nothing_collected(sale: CashSale) -> None:
    assert order_statuses(sale.checkout.id) == ["pending_payment"] * len(sale.checkout.orders)
    assert db.session.scalar(select(func.count()).select_from(StationCashEntry)) == 0
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)) == 0


# ---------------------------------------------------------------- collecting cash


def test_partner_collecting_the_exact_amount_pays_every_order_and_books_the_cash(client, build, sale):
    response = collect(client, build, sale, sale.total)

    assert response.status_code == 201
    assert response.json["status"] == "paid"
    assert order_statuses(sale.checkout.id) == ["paid", "paid"]
    ledger = cash_ledger(client, build, sale)
    assert ledger["balance_fen"] == sale.total
    assert [(item["kind"], item["amount_fen"], item["checkout_id"]) for item in ledger["items"]] == [
        ("collection", sale.total, sale.checkout.id)]
    for order in sale.checkout.orders:
        seller = db.session.get(User, order.seller_user_id)
        mine = seller_ledger(client, build, seller)
        assert sorted((item["kind"], item["amount_fen"]) for item in mine["items"]) == [
            ("commission", -commission(order.total_fen)), ("sale", order.total_fen)]
        assert mine["balance_fen"] == order.total_fen - commission(order.total_fen)


@pytest.mark.parametrize("off_by", [-1, +1, -800], ids=["one-fen-short", "one-fen-over", "without-shipping"])
def test_cash_amount_other_than_the_total_is_refused_and_changes_nothing(client, build, sale, off_by):
    response = collect(client, build, sale, sale.total + off_by)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "cash_amount_mismatch"
    assert response.json["error"]["details"]["due_fen"] == sale.total
    assert_nothing_collected(sale)


def test_partner_of_another_station_cannot_collect(client, build, sale):
    stranger = build.user("partner")
    build.station(partner=stranger)

    response = collect(client, build, sale, sale.total, partner=stranger)

    assert response.status_code == 403
    assert response.json["error"]["code"] == "not_station_partner"
    assert_nothing_collected(sale)


def test_card_checkout_is_not_collected_in_cash(client, build):
    card = cash_sale(build, payment_method="card")
    response = collect(client, build, card, card.total)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "not_cash_checkout"
    assert_nothing_collected(card)


def test_expired_cash_checkout_cannot_be_collected(client, build, sale):
    orders.expire_due_checkouts(now=utcnow() + timedelta(hours=2))

    response = collect(client, build, sale, sale.total)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "checkout_not_payable"
    assert order_statuses(sale.checkout.id) == ["expired", "expired"]
    assert db.session.scalar(select(func.count()).select_from(StationCashEntry)) == 0


def test_cash_checkout_past_its_deadline_cannot_be_collected_before_the_expiry_job_runs(client, build, sale):
    sale.checkout.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    response = collect(client, build, sale, sale.total)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "checkout_not_payable"
    assert_nothing_collected(sale)


def test_collecting_the_same_checkout_twice_is_refused_and_booked_once(client, build, sale):
    assert collect(client, build, sale, sale.total).status_code == 201

    again = collect(client, build, sale, sale.total)

    assert again.status_code == 409
    assert again.json["error"]["code"] == "checkout_not_payable"
    ledger = cash_ledger(client, build, sale)
    assert (ledger["total"], ledger["balance_fen"]) == (1, sale.total)
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)
                             .where(SellerLedgerEntry.kind == "sale")) == 2


# ---------------------------------------------------------------- cash refunds


@pytest.fixture
def cancelled_paid_order(client, build, sale):
    """The sale collected in cash, then one of its orders cancelled by the buyer: (order, refund id)."""
    assert collect(client, build, sale, sale.total).status_code == 201
    order = sale.checkout.orders[0]
    response = client.post(f"/api/v1/orders/{order.id}/cancel", json={"note": "不要了"}, headers=auth(build, sale.buyer))
    assert response.status_code == 200
    [refund] = client.get(f"/api/v1/orders/{order.id}/refunds", headers=auth(build, sale.buyer)).json["items"]
    return order, refund


def test_cancelling_a_paid_cash_order_creates_a_pending_cash_refund(cancelled_paid_order, client, build, sale):
    order, refund = cancelled_paid_order
    assert db.session.get(Order, order.id).status == "cancelled"
    assert (refund["method"], refund["status"], refund["amount_fen"]) == ("cash", "pending", order.total_fen)
    assert cash_ledger(client, build, sale)["balance_fen"] == sale.total  # nothing paid back yet


def test_partner_paying_the_cash_refund_settles_it_in_both_ledgers(cancelled_paid_order, client, build, sale):
    order, refund = cancelled_paid_order
    seller = db.session.get(User, order.seller_user_id)

    response = client.post(f"/api/v1/refunds/{refund['id']}/cash-paid", headers=auth(build, sale.partner))

    assert response.status_code == 200
    assert response.json["status"] == "succeeded" and response.json["confirmed_at"] is not None
    ledger = cash_ledger(client, build, sale)
    assert ledger["balance_fen"] == sale.total - order.total_fen
    assert (ledger["items"][0]["kind"], ledger["items"][0]["amount_fen"], ledger["items"][0]["refund_id"]) == (
        "refund", -order.total_fen, refund["id"])
    mine = seller_ledger(client, build, seller)
    by_refund = sorted((item["kind"], item["amount_fen"]) for item in mine["items"] if item["refund_id"] == refund["id"])
    assert by_refund == [("commission", commission(order.total_fen)), ("refund", -order.total_fen)]
    assert mine["balance_fen"] == 0


def test_cash_refund_recorded_twice_is_refused_and_booked_once(cancelled_paid_order, client, build, sale):
    order, refund = cancelled_paid_order
    client.post(f"/api/v1/refunds/{refund['id']}/cash-paid", headers=auth(build, sale.partner))

    again = client.post(f"/api/v1/refunds/{refund['id']}/cash-paid", headers=auth(build, sale.partner))

    assert again.status_code == 409
    assert again.json["error"]["code"] == "refund_already_settled"
    assert cash_ledger(client, build, sale)["balance_fen"] == sale.total - order.total_fen
    assert db.session.scalar(select(func.count()).select_from(SellerLedgerEntry)
                             .where(SellerLedgerEntry.refund_id == refund["id"])) == 2


def test_partner_of_another_station_cannot_record_a_cash_refund(cancelled_paid_order, client, build, sale):
    _, refund = cancelled_paid_order
    stranger = build.user("partner")
    build.station(partner=stranger)

    response = client.post(f"/api/v1/refunds/{refund['id']}/cash-paid", headers=auth(build, stranger))

    assert response.status_code == 403
    assert response.json["error"]["code"] == "not_station_partner"
    refunds = client.get(f"/api/v1/orders/{cancelled_paid_order[0].id}/refunds", headers=auth(build, sale.buyer))
    assert refunds.json["items"][0]["status"] == "pending"
    assert cash_ledger(client, build, sale)["balance_fen"] == sale.total


def test_stripe_refund_cannot_be_recorded_as_paid_in_cash(client, build):
    card = cash_sale(build, sellers=1, payment_method="card")
    order = build.pay(card.checkout).orders[0]
    made = client.post(f"/api/v1/orders/{order.id}/refunds", json={"reason": "少发了一斤", "amount_fen": 100},
                       headers=auth(build, build.user("admin")))
    assert made.status_code == 201 and made.json["method"] == "stripe"

    response = client.post(f"/api/v1/refunds/{made.json['id']}/cash-paid", headers=auth(build, card.partner))

    assert response.status_code == 409
    assert response.json["error"]["code"] == "not_cash_refund"
    assert db.session.scalar(select(func.count()).select_from(StationCashEntry)) == 0


# ---------------------------------------------------------------- remittances


def remit(client, build, sale: CashSale, admin: User, amount_fen: int, reference: str = "BOC-20241111-0001"):
    return client.post(f"/api/v1/stations/{sale.station.id}/remittances",
                       json={"amount_fen": amount_fen, "reference": reference}, headers=auth(build, admin))


def test_remittance_recorded_by_an_admin_reduces_what_the_station_owes(client, build, sale):
    collect(client, build, sale, sale.total)
    admin = build.user("admin")

    response = remit(client, build, sale, admin, 1000)

    assert response.status_code == 201
    assert (response.json["kind"], response.json["amount_fen"], response.json["reference"]) == (
        "remittance", -1000, "BOC-20241111-0001")
    assert cash_ledger(client, build, sale, viewer=admin)["balance_fen"] == sale.total - 1000
    assert remit(client, build, sale, admin, sale.total - 1000).status_code == 201
    assert cash_ledger(client, build, sale)["balance_fen"] == 0


def test_remittance_above_the_balance_is_refused(client, build, sale):
    collect(client, build, sale, sale.total)
    admin = build.user("admin")

    response = remit(client, build, sale, admin, sale.total + 1)

    assert response.status_code == 409
    assert response.json["error"]["code"] == "remittance_exceeds_balance"
    assert response.json["error"]["details"] == {"amount_fen": sale.total + 1, "balance_fen": sale.total}
    assert cash_ledger(client, build, sale)["total"] == 1


def test_partner_cannot_record_a_remittance(client, build, sale):
    collect(client, build, sale, sale.total)
    response = remit(client, build, sale, sale.partner, 100)
    assert response.status_code == 403
    assert cash_ledger(client, build, sale)["balance_fen"] == sale.total


def test_partner_of_another_station_cannot_read_its_cash_ledger(client, build, sale):
    stranger = build.user("partner")
    response = client.get(f"/api/v1/stations/{sale.station.id}/cash-ledger", headers=auth(build, stranger))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "not_station_partner"
