"""Placing a checkout: one cart, split into one order per seller, stock taken in the same transaction.

Rules:
- Prices, titles, units, sellers and origins are copied onto the order lines at this moment.
- Each seller's order pays a flat shipping fee unless its goods reach the free-shipping threshold.
- Stock is taken last, by conditional updates in ascending product id; if any product is short,
  the whole checkout is rolled back and the buyer is told what is available.
- The same Idempotency-Key with the same request returns the first checkout; with a different
  request it is refused. Keys belong to whoever places the checkout: the buyer, or the station
  partner placing it for a villager (the villager stays the buyer of record).
"""
import hashlib
import json
from collections import defaultdict
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.catalog import services as catalog
from marketplace.catalog.taxonomy import ProductStatus
from marketplace.common.schemas import MAX_AMOUNT_FEN
from marketplace.common.sql import commit_keeping_loaded_state
from marketplace.common.time import utcnow
from marketplace.errors import AppError, Conflict, InvalidInput
from marketplace.extensions import db
from marketplace.geo import services as geo
from marketplace.orders.lifecycle import OrderStatus
from marketplace.orders.models import Checkout, IdempotencyKey, Order, OrderEvent, OrderLine
from marketplace.stations import services as stations


class OutOfStock(Conflict):
    code = "out_of_stock"

    def __init__(self, short: dict[int, tuple[str, int, int]]):
        names = "; ".join(f"{title}: {available} left, {wanted} wanted" for title, available, wanted in short.values())
        super().__init__(
            f"Not enough stock: {names}. Nothing was ordered.",
            details={"products": [
                {"product_id": product_id, "title": title, "available_units": available, "requested_units": wanted}
                for product_id, (title, available, wanted) in sorted(short.items())
            ]},
        )


class CartRejected(InvalidInput):
    code = "cart_rejected"


MAX_CHECKOUT_TOTAL_FEN = MAX_AMOUNT_FEN


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"

    def __init__(self):
        super().__init__("This Idempotency-Key was already used for a different checkout request; use a new key.")


def request_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _replay(user_id: int, key: str, digest: str) -> Checkout | None:
    record = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
    if record is None:
        return None
    if record.request_digest != digest:
        raise IdempotencyKeyReused()
    return db.session.get(Checkout, record.checkout_id)


def _check_cart(buyer: User, lines: list[dict]) -> dict:
    quantities = {}
    for line in lines:
        if line["product_id"] in quantities:
            raise CartRejected("Each product may appear once in a cart; put the total quantity on one line.",
                               code="duplicate_product", details={"product_id": line["product_id"]})
        quantities[line["product_id"]] = line["quantity"]
    products = catalog.offers_by_id(quantities)
    problems = {}
    for product_id, quantity in quantities.items():
        product = products.get(product_id)
        if product is None or product.status != ProductStatus.ACTIVE:
            problems[product_id] = "not for sale"
        elif product.seller_user_id == buyer.id:
            problems[product_id] = "your own listing"
        elif quantity < product.min_order_units:
            problems[product_id] = f"minimum order is {product.min_order_units} {product.unit}"
    if problems:
        listed = "; ".join(f"product {pid}: {why}" for pid, why in sorted(problems.items()))
        raise CartRejected(f"Some products cannot be ordered ({listed}).",
                           details={"products": {str(pid): why for pid, why in sorted(problems.items())}})
    # Already short when read: refuse before writing anything, so a sold-out flash sale costs
    # its losers one read. Enough stock here is only a hint; reserve_stock decides.
    short = {pid: (products[pid].title, products[pid].stock_units, q) for pid, q in quantities.items()
             if products[pid].stock_units < q}
    if short:
        raise OutOfStock(short)
    return {product_id: (products[product_id], quantity) for product_id, quantity in quantities.items()}


def _check_delivery(delivery: dict, payment_method: str) -> dict:
    if "station_id" in delivery:
        if not stations.is_open(delivery["station_id"]):
            raise CartRejected(f"Service station {delivery['station_id']} does not exist or is closed.",
                               code="station_unavailable")
        return {"delivery_kind": "station", "station_id": delivery["station_id"]}
    if payment_method == "cash_at_station":
        raise CartRejected("Cash is paid at a service station: deliver to a station to pay cash.",
                           code="cash_needs_station")
    address = delivery["address"]
    try:
        geo.get_county(address["county_adcode"])
    except AppError:
        raise CartRejected(f"Unknown county {address['county_adcode']} in the address.", code="unknown_county") from None
    return {"delivery_kind": "address", "recipient_name": address["recipient"], "recipient_phone": address["phone"],
            "address_county_adcode": address["county_adcode"], "address_detail": address["detail"]}


def shipping_fee_fen(items_total_fen: int) -> int:
    config = current_app.config
    return 0 if items_total_fen >= config["SHIPPING_FREE_OVER_FEN"] else config["SHIPPING_FLAT_FEE_FEN"]


def place_checkout(buyer: User, *, lines: list[dict], delivery: dict, payment_method: str,
                   idempotency_key: str, placed_by: User | None = None) -> tuple[Checkout, bool]:
    """Create the checkout and its orders; returns (checkout, created) where created is False on a replay.

    ``placed_by`` is the station partner ordering for a villager (``buyer``); the partner is
    recorded on the checkout and as the one who placed each order."""
    placer = placed_by or buyer
    digest = request_digest({"lines": lines, "delivery": delivery, "payment_method": payment_method,
                             **({"buyer_user_id": buyer.id} if placed_by else {})})
    replayed = _replay(placer.id, idempotency_key, digest)
    if replayed is not None:
        return replayed, False

    cart = _check_cart(buyer, lines)
    delivery_fields = _check_delivery(delivery, payment_method)
    now = utcnow()
    by_seller: dict[int, list] = defaultdict(list)
    for product_id in sorted(cart):
        product, quantity = cart[product_id]
        by_seller[product.seller_user_id].append((product, quantity))

    orders = []
    for seller_id, items in sorted(by_seller.items()):
        order_lines = [
            OrderLine(product_id=p.id, seller_user_id=seller_id, title=p.title, category=p.category, unit=p.unit,
                      net_weight_grams=p.net_weight_grams, origin_county_adcode=p.origin_county_adcode,
                      unit_price_fen=p.price_fen, quantity=q, line_total_fen=p.price_fen * q)
            for p, q in items
        ]
        items_total = sum(line.line_total_fen for line in order_lines)
        fee = shipping_fee_fen(items_total)
        orders.append(Order(buyer_user_id=buyer.id, seller_user_id=seller_id, station_id=delivery_fields.get("station_id"),
                            delivery_kind=delivery_fields["delivery_kind"], status=OrderStatus.PENDING_PAYMENT,
                            items_total_fen=items_total, shipping_fee_fen=fee, total_fen=items_total + fee,
                            lines=order_lines, created_at=now, updated_at=now,
                            events=[OrderEvent(action="place", from_status=None, to_status=OrderStatus.PENDING_PAYMENT,
                                               actor_user_id=placer.id, created_at=now)]))
    items_total = sum(o.items_total_fen for o in orders)
    shipping_total = sum(o.shipping_fee_fen for o in orders)
    if items_total + shipping_total > MAX_CHECKOUT_TOTAL_FEN:
        raise CartRejected(f"A checkout may total at most {MAX_CHECKOUT_TOTAL_FEN} fen; split this cart.",
                           code="cart_total_too_large",
                           details={"grand_total_fen": items_total + shipping_total, "max_fen": MAX_CHECKOUT_TOTAL_FEN})
    checkout = Checkout(buyer_user_id=buyer.id, placed_by_user_id=placed_by.id if placed_by else None,
                        payment_method=payment_method, items_total_fen=items_total,
                        shipping_total_fen=shipping_total, grand_total_fen=items_total + shipping_total,
                        status=OrderStatus.PENDING_PAYMENT, created_at=now,
                        expires_at=now + timedelta(seconds=current_app.config["ORDER_PAYMENT_TTL"]),
                        orders=orders, **delivery_fields)
    db.session.add(checkout)
    db.session.add(IdempotencyKey(user_id=placer.id, key=idempotency_key, request_digest=digest, checkout=checkout))
    try:
        db.session.flush()
        # Stock is taken last, so its row locks are held for as short a time as possible.
        short = catalog.reserve_stock({pid: q for pid, (_, q) in cart.items()})
        if short:
            db.session.rollback()
            raise OutOfStock({pid: (cart[pid][0].title, available, cart[pid][1]) for pid, available in short.items()})
        # The response is built from the objects just written; reloading them would cost four reads.
        commit_keeping_loaded_state()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won; answer as its replay.
        db.session.rollback()
        replayed = _replay(placer.id, idempotency_key, digest)
        if replayed is None:
            raise
        return replayed, False
    return checkout, True


def forget_idempotency_keys(older_than: timedelta) -> int:
    """Drop keys past their retention (kept at least 24 hours)."""
    deleted = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    ).rowcount
    db.session.commit()
    return deleted
