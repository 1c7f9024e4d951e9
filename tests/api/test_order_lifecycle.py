"""Moving orders along their lifecycle: who may make each move, which moves are refused, what is
recorded, stock given back on cancel, and the automatic receipt and completion."""
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order, OrderEvent

SHIPMENT = {"carrier": "中通快递", "tracking_number": "ZT7730012345"}
ALL_STATES = ["pending_payment", "paid", "shipped", "at_station", "delivered", "completed", "cancelled", "expired"]
# The lifecycle as the design states it: the only states each API move starts from.
MOVES_FROM = {
    "ship": {"paid"},
    "arrive": {"shipped"},
    "hand_over": {"at_station"},
    "confirm_receipt": {"shipped"},
    "cancel": {"pending_payment", "paid"},
    "complete": {"delivered"},
}
STATION_MOVES = {"arrive", "hand_over"}
ADDRESS_MOVES = {"confirm_receipt"}


@dataclass
class Deal:
    """One order between a buyer and a seller, to a station (with its partner) or to an address."""

    order_id: int
    checkout_id: int
    buyer: User
    seller: User
    partner: User | None
    product: Product


def make_deal(build, *, to_station: bool, status: str = "paid", quantity: int = 1, roles=()) -> Deal:
    """A placed order; 'paid' goes through a Stripe success event, other states are set directly.

    ``roles`` are extra roles given to buyer, seller and partner alike, so that a test can tell
    the relationship check apart from the per-endpoint role check.
    """
    buyer = build.user("buyer", *roles)
    seller = build.user("seller", *roles)
    partner = build.user("partner", *roles) if to_station else None
    station = build.station(partner=partner) if to_station else None
    product = build.product(seller, stock_units=20)
    if status == "paid":
        checkout = build.checkout(buyer, [product], station=station, quantity=quantity)
        build.pay(checkout)
    else:
        checkout = build.checkout(buyer, [product], station=station, quantity=quantity, status=status)
    return Deal(order_id=checkout.orders[0].id, checkout_id=checkout.id, buyer=buyer, seller=seller, partner=partner,
                product=product)


def auth(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def move(client, build, user, order_id: int, action: str, note: str | None = None):
    body = dict(SHIPMENT) if action == "ship" else ({"note": note} if note else {})
    return client.post(f"/api/v1/orders/{order_id}/{action.replace('_', '-')}", json=body, headers=auth(build, user))


def status_of(order_id: int) -> str:
    return db.session.scalar(select(Order.status).where(Order.id == order_id))


def checkout_status_of(checkout_id: int) -> str:
    return db.session.scalar(select(Checkout.status).where(Checkout.id == checkout_id))


def event_count(order_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order_id))


def history(order_id: int) -> list[tuple]:
    events = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
    return [(e.action, e.from_status, e.to_status, e.actor_user_id, e.note) for e in events]


def stock_of(product: Product) -> int:
    return db.session.scalar(select(Product.stock_units).where(Product.id == product.id))


def error_code(response) -> str:
    return response.json["error"]["code"]


# ---------------------------------------------------------------- the two delivery paths

def test_station_delivery_goes_from_payment_to_completion_recording_every_move(client, build):
    deal = make_deal(build, to_station=True)
    admin = build.user("admin")

    shipped = move(client, build, deal.seller, deal.order_id, "ship")
    assert shipped.status_code == 200, shipped.json
    assert (shipped.json["status"], shipped.json["carrier"], shipped.json["tracking_number"]) == (
        "shipped", "中通快递", "ZT7730012345")
    assert shipped.json["shipped_at"] is not None

    arrived = move(client, build, deal.partner, deal.order_id, "arrive", note="包裹已到站")
    assert (arrived.status_code, arrived.json["status"]) == (200, "at_station")

    handed = move(client, build, deal.partner, deal.order_id, "hand_over", note="本人签收")
    assert (handed.status_code, handed.json["status"]) == (200, "delivered")
    assert handed.json["delivered_at"] is not None

    completed = move(client, build, admin, deal.order_id, "complete", note="售后期提前结束")
    assert (completed.status_code, completed.json["status"]) == (200, "completed")
    assert completed.json["completed_at"] is not None

    assert [(e["action"], e["from_status"], e["to_status"], e["actor_user_id"], e["note"])
            for e in completed.json["events"]] == [
        ("place", None, "pending_payment", deal.buyer.id, None),
        ("pay", "pending_payment", "paid", None, f"paid through Stripe (pi_test_{deal.checkout_id}_1)"),
        ("ship", "paid", "shipped", deal.seller.id, None),
        ("arrive", "shipped", "at_station", deal.partner.id, "包裹已到站"),
        ("hand_over", "at_station", "delivered", deal.partner.id, "本人签收"),
        ("complete", "delivered", "completed", admin.id, "售后期提前结束"),
    ]
    stamps = [e["created_at"] for e in completed.json["events"]]
    assert all(stamps) and stamps == sorted(stamps)


def test_address_delivery_is_received_by_the_buyer_and_completes_after_the_window(client, app, build):
    deal = make_deal(build, to_station=False)
    assert move(client, build, deal.seller, deal.order_id, "ship").status_code == 200

    received = move(client, build, deal.buyer, deal.order_id, "confirm_receipt", note="收到了，很新鲜")
    assert (received.status_code, received.json["status"]) == (200, "delivered")

    window = timedelta(days=app.config["ORDER_AUTO_COMPLETE_DAYS"])
    assert orders.advance_settled_orders(now=utcnow() + window - timedelta(hours=1)) == 0
    assert status_of(deal.order_id) == "delivered"
    assert orders.advance_settled_orders(now=utcnow() + window + timedelta(minutes=1)) == 1
    assert status_of(deal.order_id) == "completed"

    assert history(deal.order_id)[-3:] == [
        ("ship", "paid", "shipped", deal.seller.id, None),
        ("confirm_receipt", "shipped", "delivered", deal.buyer.id, "收到了，很新鲜"),
        ("complete", "delivered", "completed", None, "after-sale window closed"),
    ]


def test_an_unconfirmed_address_delivery_is_received_automatically_then_completes(client, app, build):
    deal = make_deal(build, to_station=False)
    assert move(client, build, deal.seller, deal.order_id, "ship").status_code == 200
    receipt = timedelta(days=app.config["ORDER_AUTO_RECEIPT_DAYS"])
    window = timedelta(days=app.config["ORDER_AUTO_COMPLETE_DAYS"])
    start = utcnow()

    assert orders.advance_settled_orders(now=start + receipt - timedelta(hours=1)) == 0
    assert status_of(deal.order_id) == "shipped"

    received_at = start + receipt + timedelta(minutes=1)
    assert orders.advance_settled_orders(now=received_at) == 1
    assert status_of(deal.order_id) == "delivered"  # the after-sale window starts at receipt

    assert orders.advance_settled_orders(now=received_at + window - timedelta(hours=1)) == 0
    assert status_of(deal.order_id) == "delivered"
    assert orders.advance_settled_orders(now=received_at + window + timedelta(minutes=1)) == 1
    assert status_of(deal.order_id) == "completed"
    assert history(deal.order_id)[-2:] == [
        ("confirm_receipt", "shipped", "delivered", None, "received automatically"),
        ("complete", "delivered", "completed", None, "after-sale window closed"),
    ]


def test_a_handed_over_station_order_completes_after_the_window(client, app, build):
    deal = make_deal(build, to_station=True)
    for user, action in ((deal.seller, "ship"), (deal.partner, "arrive"), (deal.partner, "hand_over")):
        assert move(client, build, user, deal.order_id, action).status_code == 200
    window = timedelta(days=app.config["ORDER_AUTO_COMPLETE_DAYS"])

    assert orders.advance_settled_orders(now=utcnow() + window - timedelta(hours=1)) == 0
    assert orders.advance_settled_orders(now=utcnow() + window + timedelta(minutes=1)) == 1
    assert status_of(deal.order_id) == "completed"


def test_station_parcels_are_never_received_automatically(client, build):
    deal = make_deal(build, to_station=True)
    assert move(client, build, deal.seller, deal.order_id, "ship").status_code == 200

    assert orders.advance_settled_orders(now=utcnow() + timedelta(days=365)) == 0
    assert status_of(deal.order_id) == "shipped"


def test_unpaid_and_paid_orders_are_not_advanced(build):
    unpaid = make_deal(build, to_station=False, status="pending_payment")
    paid = make_deal(build, to_station=False)

    assert orders.advance_settled_orders(now=utcnow() + timedelta(days=365)) == 0
    assert (status_of(unpaid.order_id), status_of(paid.order_id)) == ("pending_payment", "paid")


def test_payment_marks_every_order_of_the_checkout_paid(build):
    buyer = build.user("buyer")
    checkout = build.checkout(buyer, [build.product(), build.product()])

    build.pay(checkout)

    assert checkout_status_of(checkout.id) == "paid"
    assert [status_of(order.id) for order in checkout.orders] == ["paid", "paid"]
    assert history(checkout.orders[0].id)[-1] == ("pay", "pending_payment", "paid", None,
                                                  f"paid through Stripe (pi_test_{checkout.id}_1)")


def test_shipping_needs_a_carrier_and_tracking_number(client, build):
    deal = make_deal(build, to_station=False)

    response = client.post(f"/api/v1/orders/{deal.order_id}/ship", json={"carrier": "中通快递"},
                           headers=auth(build, deal.seller))

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert "tracking_number" in response.json["error"]["details"]["json"]
    assert status_of(deal.order_id) == "paid"


# ---------------------------------------------------------------- cancelling gives stock back

@pytest.mark.parametrize("status", ["pending_payment", "paid"])
def test_buyer_cancels_before_shipping_and_the_stock_returns(client, build, status):
    deal = make_deal(build, to_station=False, status=status, quantity=3)
    assert stock_of(deal.product) == 17

    response = move(client, build, deal.buyer, deal.order_id, "cancel", note="买错了")

    assert (response.status_code, response.json["status"]) == (200, "cancelled")
    assert stock_of(deal.product) == 20
    assert checkout_status_of(deal.checkout_id) == "cancelled"
    assert history(deal.order_id)[-1] == ("cancel", status, "cancelled", deal.buyer.id, "买错了")


def test_cancelling_one_order_of_a_checkout_leaves_the_other_sellers_order(client, build):
    buyer = build.user("buyer")
    kept_product, cancelled_product = build.product(stock_units=10), build.product(stock_units=10)
    checkout = build.checkout(buyer, [kept_product, cancelled_product], quantity=2)
    kept, cancelled = sorted(checkout.orders, key=lambda o: o.lines[0].product_id != kept_product.id)

    assert move(client, build, buyer, cancelled.id, "cancel").status_code == 200

    assert (status_of(kept.id), status_of(cancelled.id)) == ("pending_payment", "cancelled")
    assert (stock_of(kept_product), stock_of(cancelled_product)) == (8, 10)
    assert checkout_status_of(checkout.id) == "pending_payment"


def test_a_partner_cancels_an_order_they_placed_for_a_villager(client, build):
    partner = build.user("partner")
    product = build.product(stock_units=5)
    checkout = build.checkout(partner, [product], station=build.station(partner=partner), payment_method="cash_at_station")

    response = move(client, build, partner, checkout.orders[0].id, "cancel")

    assert (response.status_code, response.json["status"]) == (200, "cancelled")
    assert stock_of(product) == 5


def test_an_administrator_may_cancel_a_paid_order(client, build):
    deal = make_deal(build, to_station=False, quantity=2)
    admin = build.user("admin")

    response = move(client, build, admin, deal.order_id, "cancel", note="卖家无货")

    assert (response.status_code, response.json["status"]) == (200, "cancelled")
    assert stock_of(deal.product) == 20
    assert history(deal.order_id)[-1] == ("cancel", "paid", "cancelled", admin.id, "卖家无货")


def test_stock_returns_only_once_when_cancelling_twice(client, build):
    deal = make_deal(build, to_station=False, quantity=4)

    assert move(client, build, deal.buyer, deal.order_id, "cancel").status_code == 200
    again = move(client, build, deal.buyer, deal.order_id, "cancel")

    assert again.status_code == 409
    assert error_code(again) == "illegal_transition"
    assert stock_of(deal.product) == 20


def test_a_shipped_order_can_no_longer_be_cancelled_and_keeps_its_stock_taken(client, build):
    deal = make_deal(build, to_station=False, quantity=2)
    assert move(client, build, deal.seller, deal.order_id, "ship").status_code == 200

    response = move(client, build, deal.buyer, deal.order_id, "cancel")

    assert response.status_code == 409
    assert error_code(response) == "illegal_transition"
    assert status_of(deal.order_id) == "shipped"
    assert stock_of(deal.product) == 18


# ---------------------------------------------------------------- illegal moves are 409

ILLEGAL = [(action, state) for action, allowed in MOVES_FROM.items() for state in ALL_STATES if state not in allowed]


@pytest.mark.parametrize(("action", "state"), ILLEGAL, ids=[f"{a}-from-{s}" for a, s in ILLEGAL])
def test_a_move_from_a_state_it_does_not_start_from_is_409_and_changes_nothing(client, build, action, state):
    deal = make_deal(build, to_station=action not in ADDRESS_MOVES, status=state)
    admin = build.user("admin")  # may make every move, so only the state is wrong
    events, stock = event_count(deal.order_id), stock_of(deal.product)

    response = move(client, build, admin, deal.order_id, action)

    assert response.status_code == 409, response.json
    assert error_code(response) == "illegal_transition"
    assert response.json["error"]["details"] == {"order_id": deal.order_id, "status": state, "action": action}
    assert (status_of(deal.order_id), event_count(deal.order_id), stock_of(deal.product)) == (state, events, stock)


@pytest.mark.parametrize("action", sorted(STATION_MOVES))
def test_station_moves_are_refused_for_an_address_delivery(client, build, action):
    deal = make_deal(build, to_station=False, status="shipped" if action == "arrive" else "at_station")

    response = move(client, build, build.user("admin"), deal.order_id, action)

    assert response.status_code == 409
    assert error_code(response) == "illegal_transition"


def test_a_station_delivery_cannot_be_confirmed_as_received_by_the_buyer(client, build):
    deal = make_deal(build, to_station=True, status="shipped")

    response = move(client, build, deal.buyer, deal.order_id, "confirm_receipt")

    assert response.status_code == 409
    assert error_code(response) == "illegal_transition"
    assert status_of(deal.order_id) == "shipped"


# ---------------------------------------------------------------- who may make a move

# (case, delivered to a station?, state, action, who tries it): each person is related to the
# order, holds every role an endpoint asks for, and still may not make this move.
NOT_THEIRS = [
    ("buyer ships", False, "paid", "ship", "buyer"),
    ("buyer marks arrival", True, "shipped", "arrive", "buyer"),
    ("buyer hands over", True, "at_station", "hand_over", "buyer"),
    ("seller cancels unpaid", False, "pending_payment", "cancel", "seller"),
    ("seller cancels paid", False, "paid", "cancel", "seller"),
    ("seller confirms receipt", False, "shipped", "confirm_receipt", "seller"),
    ("seller marks arrival", True, "shipped", "arrive", "seller"),
    ("seller hands over", True, "at_station", "hand_over", "seller"),
    ("partner ships", True, "paid", "ship", "partner"),
    ("partner cancels", True, "paid", "cancel", "partner"),
    ("partner confirms receipt", True, "shipped", "confirm_receipt", "partner"),
]
EVERY_ROLE = ("buyer", "seller", "partner")


@pytest.mark.parametrize(("to_station", "state", "action", "who"), [case[1:] for case in NOT_THEIRS],
                         ids=[case[0] for case in NOT_THEIRS])
def test_a_related_user_making_someone_elses_move_is_403(client, build, to_station, state, action, who):
    deal = make_deal(build, to_station=to_station, status=state, roles=EVERY_ROLE)
    events, stock = event_count(deal.order_id), stock_of(deal.product)

    response = move(client, build, getattr(deal, who), deal.order_id, action)

    assert response.status_code == 403, response.json
    assert error_code(response) == "not_your_move"
    assert response.json["error"]["details"] == {"order_id": deal.order_id, "action": action}
    assert (status_of(deal.order_id), event_count(deal.order_id), stock_of(deal.product)) == (state, events, stock)


@pytest.mark.parametrize(("action", "state"), [
    ("ship", "paid"), ("arrive", "shipped"), ("hand_over", "at_station"), ("confirm_receipt", "shipped"),
    ("cancel", "paid"),
])
def test_an_unrelated_user_is_told_the_order_does_not_exist(client, build, action, state):
    # "complete" is left out: only administrators reach it, and they may see every order.
    deal = make_deal(build, to_station=action not in ADDRESS_MOVES, status=state)
    stranger = build.user(*EVERY_ROLE)
    build.station(partner=stranger)
    events = event_count(deal.order_id)

    response = move(client, build, stranger, deal.order_id, action)

    assert response.status_code == 404, response.json
    assert error_code(response) == "order_not_found"
    assert (status_of(deal.order_id), event_count(deal.order_id)) == (state, events)


def test_a_move_on_a_missing_order_is_404(client, build):
    response = move(client, build, build.user("admin"), 987654, "cancel")

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"


@pytest.mark.parametrize("who", ["buyer", "seller", "partner"])
def test_only_administrators_close_an_order_before_its_window_ends(client, build, who):
    deal = make_deal(build, to_station=True, status="delivered", roles=EVERY_ROLE)

    response = move(client, build, getattr(deal, who), deal.order_id, "complete")

    assert response.status_code == 403
    assert status_of(deal.order_id) == "delivered"


@pytest.mark.parametrize(("action", "state", "who"), [
    ("ship", "paid", "buyer"), ("arrive", "shipped", "seller"), ("cancel", "paid", "seller"),
])
def test_a_user_without_the_role_an_endpoint_needs_is_403(client, build, action, state, who):
    deal = make_deal(build, to_station=True, status=state)

    response = move(client, build, getattr(deal, who), deal.order_id, action)

    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    assert status_of(deal.order_id) == state
