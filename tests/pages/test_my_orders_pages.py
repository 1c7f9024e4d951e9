"""My orders: the buyer's checkouts and orders, each order's timeline (paid, shipped with carrier
and tracking number, received, cancelled, refunded with amount), cancelling before shipping (a
paid order is refunded) and confirming receipt; illegal moves change nothing."""
import re

import pytest

from marketplace.accounts.models import User
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.payments.models import Refund


@pytest.fixture
def paid_order(build, buyer, session):
    checkout = build.checkout(buyer, [build.product(price_fen=2000)], quantity=2)
    build.pay(checkout)
    session.commit()
    return db.session.get(Order, checkout.orders[0].id)


def timeline(page: str) -> list[str]:
    return re.findall(r'<li data-kind="(\w+)">', page)


def press(browser, order, action):
    return browser.send(f"/orders/{order.id}", {}, to=f"/orders/{order.id}/{action}")


def test_my_orders_lists_my_checkouts_and_their_orders_only(buyer_browser, build, buyer, paid_order):
    someone_elses = build.checkout(build.user("buyer"))
    db.session.commit()

    page = buyer_browser.get("/orders").get_data(as_text=True)

    assert f'id="checkout-{paid_order.checkout_id}"' in page and f'id="order-{paid_order.id}"' in page
    assert f'id="checkout-{someone_elses.id}"' not in page


def test_the_timeline_shows_paid_shipped_with_tracking_and_received(buyer_browser, paid_order):
    orders.move_order(paid_order.id, "ship", _seller(paid_order), carrier="顺丰速运", tracking_number="SF1234567890")

    assert press(buyer_browser, paid_order, "confirm").status_code == 302
    page = buyer_browser.get(f"/orders/{paid_order.id}").get_data(as_text=True)

    assert timeline(page) == ["place", "pay", "ship", "confirm_receipt"]
    assert "顺丰速运 SF1234567890" in page
    assert db.session.get(Order, paid_order.id).status == "delivered"


def _seller(order):
    return db.session.get(User, order.seller_user_id)


def test_cancelling_a_paid_order_before_shipping_refunds_it(buyer_browser, paid_order):
    response = press(buyer_browser, paid_order, "cancel")

    assert response.status_code == 302
    assert db.session.get(Order, paid_order.id).status == "cancelled"
    [refund] = db.session.query(Refund).filter_by(order_id=paid_order.id).all()
    assert refund.amount_fen == paid_order.total_fen
    page = buyer_browser.get(f"/orders/{paid_order.id}").get_data(as_text=True)
    assert timeline(page)[-2:] == ["cancel", "refund"] or timeline(page)[-2:] == ["refund", "cancel"]
    assert f"{paid_order.total_fen // 100}.{paid_order.total_fen % 100:02d}" in page


def test_a_shipped_order_cannot_be_cancelled_and_nothing_changes(buyer_browser, paid_order):
    orders.move_order(paid_order.id, "ship", _seller(paid_order), carrier="EMS", tracking_number="EMS12345")

    response = press(buyer_browser, paid_order, "cancel")

    assert response.status_code == 409
    assert db.session.get(Order, paid_order.id).status == "shipped"
    assert db.session.query(Refund).filter_by(order_id=paid_order.id).count() == 0


def test_receipt_cannot_be_confirmed_before_shipping(buyer_browser, paid_order):
    response = press(buyer_browser, paid_order, "confirm")

    assert response.status_code == 409
    assert db.session.get(Order, paid_order.id).status == "paid"


def test_an_unpaid_order_can_be_cancelled(buyer_browser, build, buyer):
    checkout = build.checkout(buyer)
    db.session.commit()
    order = checkout.orders[0]

    press(buyer_browser, order, "cancel")

    assert db.session.get(Order, order.id).status == "cancelled"


@pytest.mark.parametrize("path", ["/orders/{other}", "/orders/2147483648", "/orders/{other}/cancel"])
def test_someone_elses_order_is_not_found(buyer_browser, build, path):
    other = build.checkout(build.user("buyer")).orders[0]
    db.session.commit()

    if path.endswith("cancel"):
        hidden = buyer_browser.hidden_fields("/orders")
        response = buyer_browser.client.post(path.format(other=other.id), data=hidden)
    else:
        response = buyer_browser.get(path.format(other=other.id))

    assert response.status_code == 404
    assert db.session.get(Order, other.id).status == "pending_payment"


def test_times_are_shown_in_shanghai_time(buyer_browser, paid_order):
    from marketplace.common.time import BUSINESS_TZ

    page = buyer_browser.get(f"/orders/{paid_order.id}").get_data(as_text=True)

    assert paid_order.created_at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M") in page
