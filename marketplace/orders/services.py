"""Order use cases after checkout: moving orders along the lifecycle, expiry, and reading them.

Every move is a guarded UPDATE (``WHERE status = <expected>``), so two people (or two job
workers) racing for the same order cannot both move it, and stock is given back exactly once.
"""
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, select, text, update

from marketplace.accounts.services import Role, User
from marketplace.campaigns import sales as campaign_sales
from marketplace.catalog import stock
from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import write_in_session
from marketplace.common.time import utcnow
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.extensions import db
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.lifecycle import (
    ACTION_WORDS,
    ADDRESS_ONLY,
    HOLDS_STOCK,
    MOVES,
    STATION_ONLY,
    Actor,
    OrderStatus,
)
from marketplace.orders.models import DELIVERED_SQL, SHIPPED_TO_ADDRESS_SQL, Checkout, Order, OrderEvent, OrderLine
from marketplace.stations import services as stations
from marketplace.stations.errors import StationErrorCode


class OrderNotFound(NotFound):
    code = OrderErrorCode.ORDER_NOT_FOUND

    def __init__(self, order_id: int):
        super().__init__(f"No order with id {order_id}.", details={"order_id": order_id})


class CheckoutNotFound(NotFound):
    code = OrderErrorCode.CHECKOUT_NOT_FOUND

    def __init__(self, checkout_id: int):
        super().__init__(f"No checkout with id {checkout_id}.", details={"checkout_id": checkout_id})


class IllegalTransition(Conflict):
    code = OrderErrorCode.ILLEGAL_TRANSITION

    def __init__(self, order: Order, action: str, reason: str | None = None):
        super().__init__(reason or f"An order that is {order.status} cannot be {ACTION_WORDS[action]}.",
                         details={"order_id": order.id, "status": order.status, "action": action})


def _roles_on(order: Order, user: User) -> set[Actor]:
    roles = set()
    if user.has_role(Role.ADMIN):
        roles.add(Actor.ADMIN)
    if order.buyer_user_id == user.id or order.checkout.placed_by_user_id == user.id:
        roles.add(Actor.BUYER)  # the partner who ordered for a villager acts as the buyer
    if order.seller_user_id == user.id:
        roles.add(Actor.SELLER)
    if order.station_id is not None and stations.partner_of(order.station_id) == user.id:
        roles.add(Actor.STATION_PARTNER)
    return roles


def get_order(order_id: int, viewer: User) -> Order:
    """An order as seen by its buyer, seller, station partner or an administrator."""
    order = db.session.get(Order, order_id)
    if order is None or not _roles_on(order, viewer):
        raise OrderNotFound(order_id)
    return order


def get_checkout(checkout_id: int, viewer: User) -> Checkout:
    checkout = db.session.get(Checkout, checkout_id)
    if checkout is None or (viewer.id not in (checkout.buyer_user_id, checkout.placed_by_user_id)
                            and not viewer.has_role(Role.ADMIN)):
        raise CheckoutNotFound(checkout_id)
    return checkout


def _apply(order: Order, action: str, actor_user_id: int | None, note: str | None = None, *,
           at: datetime | None = None, **fields) -> bool:
    """Move one order if it is still in an allowed state; returns False if someone else moved it first.

    ``at`` is when the move happens (a job's ``now``); timestamps such as delivered_at take it, so
    the next deadline counts from the move, not from the wall clock."""
    from_states, to_state, _ = MOVES[action]
    now = at or utcnow()
    stamp = {"pay": "paid_at", "pay_late": "paid_at", "ship": "shipped_at", "hand_over": "delivered_at",
             "confirm_receipt": "delivered_at", "complete": "completed_at"}.get(action)
    values = {"status": to_state, "updated_at": now, **fields}
    if stamp:
        values[stamp] = now
    from_status = order.status
    moved = db.session.execute(
        update(Order).where(Order.id == order.id, Order.status.in_(from_states)).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        return False
    db.session.add(OrderEvent(order_id=order.id, action=action, from_status=from_status, to_status=to_state,
                              actor_user_id=actor_user_id, note=note, created_at=now))
    if action in ("cancel", "expire") and from_status in HOLDS_STOCK:
        # The buyer's allowance and the campaign units go back with the stock, in the order every
        # sale takes them (campaigns.sales).
        campaign_units = {item: units for item, (units, _) in _campaign_units([order]).items()}
        campaign_sales.release_allowance(order.buyer_user_id, campaign_units)
        stock.release_stock(_quantities([order]))
        campaign_sales.release_units(campaign_units)
    return True


def _quantities(orders) -> dict[int, int]:
    quantities: dict[int, int] = defaultdict(int)
    for order in orders:
        for line in order.lines:
            quantities[line.product_id] += line.quantity
    return dict(quantities)


def _campaign_units(orders) -> dict[int, tuple[int, int]]:
    """{campaign_item_id: (units, unit price sold at)} of the orders' campaign lines."""
    return {line.campaign_item_id: (line.quantity, line.unit_price_fen)
            for order in orders for line in order.lines if line.campaign_item_id is not None}


def _sync_checkout_status(checkout: Checkout) -> None:
    # Read the column, not the mapped objects: moves are UPDATE statements the identity map has not seen.
    statuses = set(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout.id)))
    if statuses <= {OrderStatus.EXPIRED}:
        checkout.status = OrderStatus.EXPIRED
    elif statuses <= {OrderStatus.CANCELLED, OrderStatus.EXPIRED}:
        checkout.status = OrderStatus.CANCELLED


def move_order(order_id: int, action: str, actor: User, *, note: str | None = None,
               before_commit: Callable[[Order], None] | None = None, **fields) -> Order:
    """Make one lifecycle move on behalf of a person, checking that they may make it.

    ``before_commit`` runs in the same transaction after the move (flows.cancellation records the
    refund a cancelled paid order is owed there)."""
    order = get_order(order_id, actor)
    from_states, _, allowed = MOVES[action]
    if not (_roles_on(order, actor) & allowed):
        raise Forbidden(f"You cannot {action.replace('_', ' ')} this order.", code=OrderErrorCode.NOT_YOUR_MOVE,
                        details={"order_id": order.id, "action": action})
    if action in STATION_ONLY and order.delivery_kind != "station":
        raise IllegalTransition(order, action, "This order is delivered to an address, not to a station.")
    if action in ADDRESS_ONLY and order.delivery_kind != "address":
        raise IllegalTransition(order, action, "Station deliveries are received when the partner hands them over.")
    if action == "cancel":
        # Checkout first, then its orders: the order payments and the expiry job lock them in.
        lock_checkout(order.checkout_id)
    if order.status not in from_states or not _apply(order, action, actor.id, note, **fields):
        db.session.rollback()
        raise IllegalTransition(db.session.get(Order, order_id), action)
    if action == "cancel":
        _sync_checkout_status(order.checkout)
    if before_commit is not None:
        before_commit(order)
    db.session.commit()
    db.session.refresh(order)
    return order


@dataclass
class Settlement:
    """What money arriving for a checkout did to its orders."""

    paid_at: datetime
    paid: list[Order] = field(default_factory=list)  # became paid now
    refund: list[tuple[Order, str]] = field(default_factory=list)  # orders whose share goes back, and why


def amount_due_fen(checkout: Checkout) -> int:
    """What paying the checkout now covers: its orders still awaiting payment."""
    return sum(order.total_fen for order in checkout.orders if order.status == OrderStatus.PENDING_PAYMENT)


def lock_checkout(checkout_id: int) -> Checkout:
    """The checkout, locked against the expiry job and other payments until the caller commits,
    with its orders (and their lines and events) read afresh by the same load: every path that
    changes a checkout's orders locks the checkout first."""
    checkout = db.session.scalars(
        select(Checkout).where(Checkout.id == checkout_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if checkout is None:
        raise CheckoutNotFound(checkout_id)
    return checkout


def load_checkout(checkout_id: int) -> Checkout:
    """A checkout, whoever asks: for the services that check themselves who may act on it."""
    checkout = db.session.get(Checkout, checkout_id)
    if checkout is None:
        raise CheckoutNotFound(checkout_id)
    return checkout


def checkout_status(checkout_id: int) -> str | None:
    return db.session.scalar(select(Checkout.status).where(Checkout.id == checkout_id))


def lock_order(order_id: int) -> Order:
    """An existing order, read afresh and locked until the caller commits (refunds of one order
    are decided and confirmed one at a time).

    Its checkout is locked first: every path takes a checkout's lock before its orders' (cancel,
    payments, expiry), and a refund's row refers to both, so one that held the order while its
    insert waited on the checkout would deadlock with a cancel holding the checkout."""
    db.session.execute(select(Checkout.id).where(
        Checkout.id == select(Order.checkout_id).where(Order.id == order_id).scalar_subquery()).with_for_update())
    return db.session.scalars(select(Order).where(Order.id == order_id).with_for_update()
                              .execution_options(populate_existing=True)).one()


# Money for a checkout whose orders all still await it: the common case of a payment, in two
# statements of plain SQL (a Stripe event or a cash collection applies at the rate checkouts are
# placed). Anything else (an order expired, cancelled or already paid) goes through
# settle_checkout_payment on the mapped objects.
_LOCK_IF_ALL_UNPAID = text(
    "SELECT c.status = 'pending_payment' AND NOT EXISTS (SELECT FROM orders o WHERE o.checkout_id = c.id "
    "AND o.status <> 'pending_payment') AS all_unpaid FROM checkouts c WHERE c.id = :checkout_id FOR UPDATE")
_PAY_ALL = text("""
WITH paid AS (
    UPDATE orders SET status = 'paid', paid_at = :paid_at, updated_at = :paid_at
    WHERE checkout_id = :checkout_id AND status = 'pending_payment'
    RETURNING id, seller_user_id, buyer_user_id, station_id, total_fen
), logged AS (
    INSERT INTO order_events (order_id, action, from_status, to_status, actor_user_id, note, created_at)
    SELECT id, 'pay', 'pending_payment', 'paid', NULL, :note, :paid_at FROM paid ORDER BY id
), settled AS (
    UPDATE checkouts SET status = 'paid', paid_at = :paid_at WHERE id = :checkout_id
)
SELECT paid.id AS order_id, paid.seller_user_id, paid.buyer_user_id, paid.station_id, paid.total_fen,
       l.id AS line_id, l.product_id, l.category, l.origin_county_adcode, l.quantity, l.line_total_fen
FROM paid JOIN order_lines l ON l.order_id = paid.id
ORDER BY paid.id, l.id
""")


def pay_unpaid_checkout(checkout_id: int, *, paid_at: datetime, note: str) -> list | None:
    """Lock the checkout; if it and all its orders await payment, make them paid (each order with
    its event, as _apply's "pay" move) and return the lines paid for, one row each with its order's
    seller, buyer, station and total (the caller commits). None, with the checkout locked and
    nothing changed, when it is not that simple: then lock_checkout and settle_checkout_payment."""
    params = {"checkout_id": checkout_id}
    found = write_in_session(_LOCK_IF_ALL_UNPAID, params)
    if not found:
        raise CheckoutNotFound(checkout_id)
    if not found[0].all_unpaid:
        return None
    return write_in_session(_PAY_ALL, {**params, "paid_at": paid_at, "note": note})


def settle_checkout_payment(checkout: Checkout, *, covers_orders_since: datetime, note: str) -> Settlement:
    """Money for a locked checkout arrived; the caller records the payment and commits.

    Orders awaiting payment become paid. An expired order becomes paid if every one of its
    products still has the stock (taken again by the same conditional updates as checkout), and
    each campaign line its campaign's units and the buyer's allowance within the limit (the window
    has passed, perhaps: the price was the buyer's when they ordered); otherwise its share goes back. Orders cancelled after the payment was started
    (``covers_orders_since``) were paid for too, and their share goes back.
    """
    settlement = Settlement(paid_at=utcnow())
    for order in checkout.orders:
        if order.status == OrderStatus.PENDING_PAYMENT and _apply(order, "pay", None, note, at=settlement.paid_at):
            settlement.paid.append(order)
    for order in checkout.orders:
        if order.status != OrderStatus.EXPIRED:
            continue
        # Each seller's order on its own: one sold-out product does not cost the other sellers their sale.
        # The allowance, the stock, the campaign units: the order every sale takes them in.
        savepoint = db.session.begin_nested()
        campaign_units = _campaign_units([order])
        if not campaign_sales.retake_allowance(order.buyer_user_id, campaign_units):
            savepoint.rollback()
            settlement.refund.append((order, "The payment arrived after the deadline and the buyer had since "
                                             "bought the campaign's limit."))
        elif stock.reserve_stock(_quantities([order])):
            savepoint.rollback()
            settlement.refund.append((order, "The payment arrived after the deadline and the stock was gone."))
        elif not campaign_sales.retake_units(campaign_units):
            savepoint.rollback()
            settlement.refund.append((order, "The payment arrived after the deadline and the campaign's units "
                                             "were gone."))
        else:
            savepoint.commit()
            if _apply(order, "pay_late", None, note, at=settlement.paid_at):
                settlement.paid.append(order)
    cancelled_ids = [order.id for order in checkout.orders
                     if order.status == OrderStatus.CANCELLED and order.paid_at is None]
    cancelled_after = set(db.session.scalars(
        select(OrderEvent.order_id).where(OrderEvent.order_id.in_(cancelled_ids), OrderEvent.action == "cancel",
                                          OrderEvent.created_at >= covers_orders_since)
    )) if cancelled_ids else set()
    settlement.refund += [(order, "The order was cancelled before its payment arrived.")
                          for order in checkout.orders if order.id in cancelled_after]
    if settlement.paid:
        checkout.status = OrderStatus.PAID
        checkout.paid_at = settlement.paid_at
    return settlement


def expire_due_checkouts(now: datetime | None = None, batch: int = 200) -> int:
    """Expire unpaid checkouts past their deadline and give their stock back; safe with many workers.

    Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), and each order moves by a guarded
    update, so a checkout is expired, and its stock returned, exactly once.
    """
    now = now or utcnow()
    due = db.session.scalars(
        select(Checkout)
        .where(Checkout.status == OrderStatus.PENDING_PAYMENT, Checkout.expires_at <= now)
        .order_by(Checkout.expires_at, Checkout.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=Checkout)
    ).all()
    expired = 0
    for checkout in due:
        for order in checkout.orders:
            if order.status == OrderStatus.PENDING_PAYMENT and _apply(order, "expire", None, "payment deadline passed"):
                expired += 1
        _sync_checkout_status(checkout)
    db.session.commit()
    return expired


def advance_settled_orders(now: datetime | None = None, batch: int = 500) -> int:
    """Address deliveries count as received some days after shipping; delivered orders complete
    after the after-sale window."""
    now = now or utcnow()
    config = current_app.config
    moved = 0
    # The conditions are the partial indexes' own texts, so the planner can read each query's due
    # orders off its index, oldest first, whatever else the orders table holds.
    received = db.session.scalars(
        select(Order).where(text(SHIPPED_TO_ADDRESS_SQL),
                            Order.shipped_at <= now - timedelta(days=config["ORDER_AUTO_RECEIPT_DAYS"]))
        .order_by(Order.shipped_at, Order.id).limit(batch).with_for_update(skip_locked=True)
    ).all()
    moved += sum(_apply(order, "confirm_receipt", None, "received automatically", at=now) for order in received)
    settled = db.session.scalars(
        select(Order).where(text(DELIVERED_SQL),
                            Order.delivered_at <= now - timedelta(days=config["ORDER_AUTO_COMPLETE_DAYS"]))
        .order_by(Order.delivered_at, Order.id).limit(batch).with_for_update(skip_locked=True)
    ).all()
    moved += sum(_apply(order, "complete", None, "after-sale window closed", at=now) for order in settled)
    db.session.commit()
    return moved


def _filtered(query: Select, status: str | None) -> Select:
    return query.where(Order.status == status) if status else query


def list_orders(viewer: User, *, view: str, status: str | None = None, station_id: int | None = None,
                page: int = 1, per_page: int = 20) -> Page:
    """Orders for one of the viewer's hats: bought, sold, at my station, or all (administrators)."""
    query = select(Order).order_by(Order.id.desc())
    if view == "bought":
        query = query.where(Order.buyer_user_id == viewer.id)
    elif view == "sold":
        query = query.where(Order.seller_user_id == viewer.id)
    elif view == "to_ship":
        query = query.where(Order.seller_user_id == viewer.id, Order.status == OrderStatus.PAID)
    elif view == "station":
        station_ids = stations.station_ids_of_partner(viewer.id)
        if station_id is not None:
            if station_id not in station_ids and not viewer.has_role(Role.ADMIN):
                raise Forbidden("You are not the partner of this station.", code=StationErrorCode.NOT_STATION_PARTNER)
            station_ids = [station_id]
        query = query.where(Order.station_id.in_(station_ids or [-1]))
    elif view == "all":
        if not viewer.has_role(Role.ADMIN):
            raise Forbidden("Only administrators see all orders.")
    return paginate(_filtered(query, status), page, per_page)



def checkouts_awaiting_cash(station_id: int, *, limit: int = 50) -> list[Checkout]:
    """Cash checkouts delivered to the station that are still unpaid and payable, oldest first."""
    return list(db.session.scalars(
        select(Checkout).where(Checkout.station_id == station_id, Checkout.payment_method == "cash_at_station",
                               Checkout.status == OrderStatus.PENDING_PAYMENT, Checkout.expires_at > utcnow())
        .order_by(Checkout.id).limit(limit)
    ))


@dataclass
class StationParcels:
    """A station's parcels: paid or on their way, waiting at the station, and the last handed over."""

    expected: list[Order]
    arrived: list[Order]
    handed_over: list[Order]


def station_parcels(station_id: int, *, limit: int = 50) -> StationParcels:
    def in_states(*states, newest_first=False):
        order_by = Order.id.desc() if newest_first else Order.id
        return list(db.session.scalars(select(Order).where(Order.station_id == station_id, Order.status.in_(states))
                                       .order_by(order_by).limit(limit)))

    return StationParcels(expected=in_states(OrderStatus.PAID, OrderStatus.SHIPPED),
                          arrived=in_states(OrderStatus.AT_STATION),
                          handed_over=in_states(OrderStatus.DELIVERED, OrderStatus.COMPLETED, newest_first=True)[:10])


def station_of_order(order_id: int) -> int | None:
    """The station an order is delivered to (None for address deliveries and unknown orders)."""
    return db.session.scalar(select(Order.station_id).where(Order.id == order_id))


def station_of_checkout(checkout_id: int) -> int | None:
    return db.session.scalar(select(Checkout.station_id).where(Checkout.id == checkout_id))


def order_of_line(order_line_id: int) -> Order | None:
    """The order an order line belongs to (None for an unknown line); read, not locked."""
    return db.session.scalar(select(Order).join(OrderLine, OrderLine.order_id == Order.id)
                             .where(OrderLine.id == order_line_id))
