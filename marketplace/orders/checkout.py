"""Placing a checkout: one cart, split into one order per seller, stock taken in the same transaction.

Rules:
- Prices, titles, units, sellers and origins are copied onto the order lines at this moment.
- Lines are refused, and orders priced with their shipping, by the cart's rules (orders/cart.py).
- The delivery address joins the buyer's address book; the ordered products leave the saved cart.
- Stock is taken last, by conditional updates in ascending product id; if any product is short,
  the whole checkout is rolled back and the buyer is told what is available.
- A listing in a live campaign sells at its campaign price, and its line records the campaign
  item; the campaign's units and the buyer's allowance (the buyer of record: a villager, when a
  partner orders for one) are taken in the same statement as the stock (campaigns.sales), so a
  refusal (campaign_not_started, campaign_sold_out, campaign_limit_reached, campaign_ended) leaves
  nothing behind. Lines are priced, and campaigns checked live, at one moment read once.
- The same Idempotency-Key with the same request returns the first checkout; with a different
  request it is refused. Keys belong to whoever places the checkout: the buyer, or the station
  partner placing it for a villager (the villager stays the buyer of record).
"""
import hashlib
import json
from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from marketplace.campaigns import sales as campaign_sales
from marketplace.catalog import stock
from marketplace.common.schemas import MAX_AMOUNT_FEN
from marketplace.common.time import utcnow
from marketplace.errors import AppError, Conflict, InvalidInput
from marketplace.extensions import db
from marketplace.orders import addresses
from marketplace.orders.cart import CartProblem, CartRejected, line_problem, shipping_fee_fen
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.lifecycle import OrderStatus
from marketplace.orders.models import Checkout, IdempotencyKey
from marketplace.stations import services as stations


class OutOfStock(Conflict):
    code = OrderErrorCode.OUT_OF_STOCK

    def __init__(self, short: dict[int, tuple[str, int, int]]):
        names = "; ".join(f"{title}: {available} left, {wanted} wanted" for title, available, wanted in short.values())
        super().__init__(
            f"Not enough stock: {names}. Nothing was ordered.",
            details={"products": [
                {"product_id": product_id, "title": title, "available_units": available, "requested_units": wanted}
                for product_id, (title, available, wanted) in sorted(short.items())
            ]},
        )


MAX_CHECKOUT_TOTAL_FEN = MAX_AMOUNT_FEN
# The lines that refuse the whole cart, and how the refusal names them; short stock is OutOfStock.
REFUSED_LINES = {
    CartProblem.NOT_FOR_SALE: lambda offer: "not for sale",
    CartProblem.OWN_LISTING: lambda offer: "your own listing",
    CartProblem.BELOW_MINIMUM: lambda offer: f"minimum order is {offer.min_order_units} {offer.unit}",
}


class IdempotencyKeyReused(InvalidInput):
    code = OrderErrorCode.IDEMPOTENCY_KEY_REUSED

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


def _check_cart(buyer_user_id: int, lines: list[dict], now) -> dict:
    quantities = {}
    for line in lines:
        if line["product_id"] in quantities:
            raise CartRejected("Each product may appear once in a cart; put the total quantity on one line.",
                               code=OrderErrorCode.DUPLICATE_PRODUCT, details={"product_id": line["product_id"]})
        quantities[line["product_id"]] = line["quantity"]
    products = stock.offers_by_id(quantities, now)
    problems = {}
    for product_id, quantity in quantities.items():
        problem = line_problem(products.get(product_id), quantity, buyer_user_id)
        if problem in REFUSED_LINES:
            problems[product_id] = REFUSED_LINES[problem](products.get(product_id))
    if problems:
        listed = "; ".join(f"product {pid}: {why}" for pid, why in sorted(problems.items()))
        raise CartRejected(f"Some products cannot be ordered ({listed}).",
                           details={"products": {str(pid): why for pid, why in sorted(problems.items())}})
    for product_id in sorted(quantities):
        campaign_sales.check_offer(products[product_id], quantities[product_id])
    # Already short when read: refuse before writing anything, so a sold-out flash sale costs
    # its losers one read. Enough stock here is only a hint; take_stock decides.
    short = {pid: (products[pid].title, products[pid].stock_units, q) for pid, q in quantities.items()
             if products[pid].stock_units < q}
    if short:
        raise OutOfStock(short)
    return {product_id: (products[product_id], quantity) for product_id, quantity in quantities.items()}


def _check_delivery(delivery: dict, payment_method: str) -> dict:
    if "station_id" in delivery:
        if not stations.is_open(delivery["station_id"]):
            raise CartRejected(f"Service station {delivery['station_id']} does not exist or is closed.",
                               code=OrderErrorCode.STATION_UNAVAILABLE)
        return {"delivery_kind": "station", "station_id": delivery["station_id"]}
    if payment_method == "cash_at_station":
        raise CartRejected("Cash is paid at a service station: deliver to a station to pay cash.",
                           code=OrderErrorCode.CASH_NEEDS_STATION)
    # The address's county is checked by the checkout row's foreign key as it is written, so a
    # valid address costs no read; addresses.refuse_unknown_county names the county when that key refuses it.
    address = delivery["address"]
    return {"delivery_kind": "address", "recipient_name": address["recipient"], "recipient_phone": address["phone"],
            "address_county_adcode": address["county_adcode"], "address_detail": address["detail"]}


def place_checkout(buyer_user_id: int, *, lines: list[dict], delivery: dict, payment_method: str,
                   idempotency_key: str, placed_by_user_id: int | None = None) -> tuple[Checkout | SimpleNamespace, bool]:
    """Create the checkout and its orders; returns (checkout, created) where created is False on a replay.

    A new checkout comes back as a plain record of the rows written (the models' attribute names:
    all its columns, its orders with their lines and events), not as ORM objects: building those,
    and dumping the answer from them, was a quarter of the app's CPU for a checkout. A replay comes
    back as read in the session.

    ``placed_by_user_id`` is the station partner ordering for a villager (the buyer); the partner
    is recorded on the checkout and as the one who placed each order, and owns the key.

    A replay is recognised by its Idempotency-Key: when the request would be refused now (its
    products sold out or paused since), or when writing the key finds it taken. Looking the key
    up only then keeps it out of every first attempt, which is nearly every request.
    """
    placer_id = placed_by_user_id or buyer_user_id
    digest = request_digest({"lines": lines, "delivery": delivery, "payment_method": payment_method,
                             **({"buyer_user_id": buyer_user_id} if placed_by_user_id else {})})
    now = stock.price_moment()
    try:
        cart = _check_cart(buyer_user_id, lines, now)
        checkout = _priced_checkout(buyer_user_id, placed_by_user_id, cart, _check_delivery(delivery, payment_method),
                                    payment_method)
    except AppError:
        replayed = _replay(placer_id, idempotency_key, digest)
        if replayed is not None:
            return replayed, False
        raise
    try:
        short = _write_checkout(checkout, {"user_id": placer_id, "key": idempotency_key, "request_digest": digest,
                                           "created_at": checkout.created_at},
                                {pid: q for pid, (_, q) in cart.items()}, now)
        if short:
            db.session.rollback()
            raise OutOfStock({pid: (cart[pid][0].title, available, cart[pid][1]) for pid, available in short.items()})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if "address" in delivery:
            addresses.refuse_unknown_county(delivery["address"]["county_adcode"])
        # Otherwise the key is taken: by this request's first attempt, or by a concurrent one that won.
        replayed = _replay(placer_id, idempotency_key, digest)
        if replayed is None:
            raise
        return replayed, False
    except AppError:
        # Refused when written (short stock, a campaign's units or limit): the first attempt of
        # this very request may be what took them.
        replayed = _replay(placer_id, idempotency_key, digest)
        if replayed is not None:
            return replayed, False
        raise
    return checkout, True


def _priced_checkout(buyer_user_id: int, placed_by_user_id: int | None, cart: dict, delivery_fields: dict,
                     payment_method: str) -> SimpleNamespace:
    """The checkout, its orders (one per seller, in seller order), lines and first events, not yet
    written: plain records with the models' attribute names, a fiftieth of the cost of ORM objects
    to build and all the answer needs."""
    now = utcnow()
    by_seller: dict[int, list] = defaultdict(list)
    for product_id in sorted(cart):
        product, quantity = cart[product_id]
        by_seller[product.seller_user_id].append((product, quantity))

    orders = []
    for seller_id, items in sorted(by_seller.items()):
        order_lines = [
            SimpleNamespace(id=None, order_id=None, product_id=p.id, seller_user_id=seller_id, title=p.title,
                            category=p.category, unit=p.unit, net_weight_grams=p.net_weight_grams,
                            origin_county_adcode=p.origin_county_adcode, origin_village_id=p.origin_village_id,
                            harvest_date=p.harvest_date, unit_price_fen=p.price_fen, quantity=q,
                            line_total_fen=p.price_fen * q, trace_token=None, campaign_item_id=p.campaign_item_id)
            for p, q in items
        ]
        items_total = sum(line.line_total_fen for line in order_lines)
        fee = shipping_fee_fen(items_total)
        first_event = SimpleNamespace(id=None, order_id=None, action="place", from_status=None,
                                      to_status=OrderStatus.PENDING_PAYMENT,
                                      actor_user_id=placed_by_user_id or buyer_user_id, note=None, created_at=now)
        orders.append(SimpleNamespace(
            id=None, checkout_id=None, buyer_user_id=buyer_user_id, seller_user_id=seller_id,
            station_id=delivery_fields.get("station_id"), delivery_kind=delivery_fields["delivery_kind"],
            status=OrderStatus.PENDING_PAYMENT, items_total_fen=items_total, shipping_fee_fen=fee,
            total_fen=items_total + fee, carrier=None, tracking_number=None, paid_at=None, shipped_at=None,
            delivered_at=None, completed_at=None, created_at=now, updated_at=now, lines=order_lines,
            events=[first_event]))
    items_total = sum(o.items_total_fen for o in orders)
    shipping_total = sum(o.shipping_fee_fen for o in orders)
    if items_total + shipping_total > MAX_CHECKOUT_TOTAL_FEN:
        raise CartRejected(f"A checkout may total at most {MAX_CHECKOUT_TOTAL_FEN} fen; split this cart.",
                           code=OrderErrorCode.CART_TOTAL_TOO_LARGE,
                           details={"grand_total_fen": items_total + shipping_total, "max_fen": MAX_CHECKOUT_TOTAL_FEN})
    address = {field: delivery_fields.get(field)
               for field in ("station_id", "recipient_name", "recipient_phone", "address_county_adcode", "address_detail")}
    return SimpleNamespace(id=None, buyer_user_id=buyer_user_id, placed_by_user_id=placed_by_user_id,
                           payment_method=payment_method, delivery_kind=delivery_fields["delivery_kind"],
                           items_total_fen=items_total, shipping_total_fen=shipping_total,
                           grand_total_fen=items_total + shipping_total, currency="cny",
                           status=OrderStatus.PENDING_PAYMENT, paid_at=None, created_at=now,
                           expires_at=now + timedelta(seconds=current_app.config["ORDER_PAYMENT_TTL"]),
                           orders=orders, **address)


def _row(model, record: SimpleNamespace) -> dict:
    """The values of ``model``'s columns in a record not yet written (its id left to the database)."""
    return {column.key: getattr(record, column.key) for column in model.__table__.columns if column.key != "id"}


# The checkout, its orders, lines, first events and Idempotency-Key, the buyer's address book entry
# and saved cart (the ordered products leave it), and then the cart's stock (and, for a cart with
# campaign lines, the buyer's allowance before it and the campaign units after it:
# _INSERT_CAMPAIGN_CHECKOUT), in one statement (no unit-of-work bookkeeping on the busiest write
# of a sale), in the session's transaction: place_checkout commits it. The stock is taken by the
# last branch of the final UNION ALL (the campaign's parts by the ones around it), after the
# branches that read the inserts, so the products are locked after the checkout, orders, lines
# and events are written (the key's row and the foreign-key checks come at the statement's end),
# and their row locks last from there to the commit only; take_stock refusing a cart fails the
# statement, and place_checkout rolls back.
# Orders and lines arrive as parallel arrays, so the statement's text is the same for every cart
# and the server prepares it once.
_CHECKOUT_SQL = """
WITH new_checkout AS (
    INSERT INTO checkouts (buyer_user_id, placed_by_user_id, payment_method, delivery_kind, station_id,
                           recipient_name, recipient_phone, address_county_adcode, address_detail, items_total_fen,
                           shipping_total_fen, grand_total_fen, currency, status, expires_at, paid_at, created_at)
    VALUES (:buyer_user_id, :placed_by_user_id, :payment_method, :delivery_kind, :station_id,
            :recipient_name, :recipient_phone, :address_county_adcode, :address_detail, :items_total_fen,
            :shipping_total_fen, :grand_total_fen, :currency, :status, :expires_at, NULL, :created_at)
    RETURNING id
), new_key AS (
    INSERT INTO idempotency_keys (user_id, key, request_digest, checkout_id, created_at)
    SELECT :key_user_id, :key, :request_digest, id, :created_at FROM new_checkout
), new_orders AS (
    INSERT INTO orders (checkout_id, buyer_user_id, seller_user_id, station_id, delivery_kind, status,
                        items_total_fen, shipping_fee_fen, total_fen, created_at, updated_at)
    SELECT new_checkout.id, :buyer_user_id, o.seller_user_id, :station_id, :delivery_kind, :status,
           o.items_total_fen, o.shipping_fee_fen, o.items_total_fen + o.shipping_fee_fen, :created_at, :created_at
    FROM new_checkout,
         unnest(CAST(:order_sellers AS integer[]), CAST(:order_items_fen AS integer[]),
                CAST(:order_fees_fen AS integer[])) WITH ORDINALITY AS o(seller_user_id, items_total_fen, shipping_fee_fen, n)
    ORDER BY o.n
    RETURNING id, seller_user_id
), new_lines AS (
    INSERT INTO order_lines (order_id, product_id, seller_user_id, title, category, unit, net_weight_grams,
                             origin_county_adcode, origin_village_id, harvest_date, unit_price_fen, quantity,
                             line_total_fen{line_campaign_column})
    SELECT new_orders.id, l.product_id, l.seller_user_id, l.title, l.category, l.unit, l.net_weight_grams,
           l.origin_county_adcode, l.origin_village_id, l.harvest_date, l.unit_price_fen, l.quantity,
           l.unit_price_fen * l.quantity{line_campaign_value}
    FROM unnest(CAST(:line_products AS integer[]), CAST(:line_sellers AS integer[]), CAST(:line_titles AS text[]),
                CAST(:line_categories AS text[]), CAST(:line_units AS text[]), CAST(:line_weights AS integer[]),
                CAST(:line_counties AS text[]), CAST(:line_villages AS integer[]), CAST(:line_harvest_dates AS date[]),
                CAST(:line_prices_fen AS integer[]), CAST(:line_quantities AS integer[]){line_campaign_array})
         WITH ORDINALITY AS l(product_id, seller_user_id, title, category, unit, net_weight_grams, origin_county_adcode,
                              origin_village_id, harvest_date, unit_price_fen, quantity{line_campaign_alias}, n)
    JOIN new_orders ON new_orders.seller_user_id = l.seller_user_id
    ORDER BY l.n
    RETURNING id, product_id, trace_token
), new_events AS (
    INSERT INTO order_events (order_id, action, from_status, to_status, actor_user_id, note, created_at)
    SELECT id, 'place', NULL, :status, :key_user_id, NULL, :created_at FROM new_orders
    RETURNING id, order_id
), saved_address AS (
    -- the buyer's address book: the same address again only moves to the front
    INSERT INTO delivery_addresses (user_id, recipient_name, recipient_phone, county_adcode, detail, last_used_at)
    SELECT :buyer_user_id, :recipient_name, :recipient_phone, :address_county_adcode, :address_detail, :created_at
    WHERE CAST(:delivery_kind AS text) = 'address'
    ON CONFLICT ON CONSTRAINT uq_delivery_addresses_same_address DO UPDATE SET last_used_at = EXCLUDED.last_used_at
    RETURNING id
), ordered_from_cart AS (
    DELETE FROM cart_lines WHERE user_id = :buyer_user_id AND product_id = ANY(CAST(:line_products AS integer[]))
    RETURNING product_id
)
SELECT 'checkout' AS kind, id, NULL AS refers_to, NULL::uuid AS trace_token FROM new_checkout
UNION ALL SELECT 'order', id, seller_user_id, NULL FROM new_orders
UNION ALL SELECT 'line', id, product_id, trace_token FROM new_lines
UNION ALL SELECT 'event', id, order_id, NULL FROM new_events
UNION ALL SELECT 'address', id, NULL, NULL FROM saved_address
UNION ALL SELECT 'uncarted', product_id, NULL, NULL FROM ordered_from_cart
{allowance_branch}UNION ALL SELECT 'stock', """ + stock.TAKE_STOCK_CALL + """, NULL, NULL
{campaign_branch}
"""
_INSERT_CHECKOUT = text(_CHECKOUT_SQL.format(line_campaign_column="", line_campaign_value="", line_campaign_array="",
                                             line_campaign_alias="", allowance_branch="", campaign_branch=""))
# A cart with campaign lines: the same statement, whose lines also record their campaign item,
# with a branch taking the buyer's allowance before the stock and one taking the campaign units
# after it (campaigns.sales: the order every path takes them in). Kept apart so that
# the statement of every other checkout stays as short as before (psycopg caches the parse of
# texts up to 4 KB only, tests/unit/test_compact_sql.py); this one is parsed on each call.
_INSERT_CAMPAIGN_CHECKOUT = text(_CHECKOUT_SQL.format(
    line_campaign_column=", campaign_item_id", line_campaign_value=", l.campaign_item_id",
    line_campaign_array=", CAST(:line_campaign_items AS integer[])", line_campaign_alias=", campaign_item_id",
    allowance_branch="UNION ALL SELECT 'allowance', " + campaign_sales.TAKE_ALLOWANCE_CALL + ", NULL, NULL\n",
    campaign_branch="UNION ALL SELECT 'campaign', " + campaign_sales.TAKE_CAMPAIGN_CALL + ", NULL, NULL"))


def _write_checkout(checkout: SimpleNamespace, key: dict, quantities: dict[int, int], now) -> dict[int, int]:
    """Insert the checkout with its orders, lines, events and key, then take the buyer's allowance
    of its campaign lines, the cart's stock and the campaign units, last, so that their row locks
    are held for as short a time as possible; give the records the ids written.

    Returns {} or, if stock was short, {product_id: units available} (stock.write_taking_stock);
    the caller commits or rolls back. A campaign refusal rolls back and raises its error
    (campaigns.sales). A taken key or an unknown county raises IntegrityError.
    """
    campaign_lines = {line.campaign_item_id: (line.quantity, line.unit_price_fen, line.title, line.product_id)
                      for order in checkout.orders for line in order.lines if line.campaign_item_id is not None}
    params = {**_insert_params(checkout, key), **stock.take_stock_params(quantities)}
    if campaign_lines:
        params.update(campaign_sales.take_campaign_params(
            {item: (q, price) for item, (q, price, _, _) in campaign_lines.items()}, now),
            line_campaign_items=[line.campaign_item_id for order in checkout.orders for line in order.lines])
    try:
        rows, short = stock.write_taking_stock(_INSERT_CAMPAIGN_CHECKOUT if campaign_lines else _INSERT_CHECKOUT, params)
    except DBAPIError as error:
        refused = campaign_sales.refusal(error)
        if refused is None:
            raise
        db.session.rollback()
        raise campaign_sales.refusal_error(
            refused, {item: (pid, q, title) for item, (q, _, title, pid) in campaign_lines.items()}) from None
    if short:
        return short
    _give_ids(checkout, rows)
    return {}


def _insert_params(checkout: SimpleNamespace, key: dict) -> dict:
    orders, lines = checkout.orders, [line for order in checkout.orders for line in order.lines]
    return {
        **{name: value for name, value in _row(Checkout, checkout).items() if name != "paid_at"},
        "key_user_id": key["user_id"], "key": key["key"], "request_digest": key["request_digest"],
        "order_sellers": [o.seller_user_id for o in orders], "order_items_fen": [o.items_total_fen for o in orders],
        "order_fees_fen": [o.shipping_fee_fen for o in orders],
        "line_products": [line.product_id for line in lines], "line_sellers": [line.seller_user_id for line in lines],
        "line_titles": [line.title for line in lines], "line_categories": [line.category for line in lines],
        "line_units": [line.unit for line in lines], "line_weights": [line.net_weight_grams for line in lines],
        "line_counties": [line.origin_county_adcode for line in lines],
        "line_villages": [line.origin_village_id for line in lines],
        "line_harvest_dates": [line.harvest_date for line in lines],
        "line_prices_fen": [line.unit_price_fen for line in lines], "line_quantities": [line.quantity for line in lines],
    }


def _give_ids(checkout: SimpleNamespace, rows: list) -> None:
    """The ids _INSERT_CHECKOUT wrote, onto the records (an order is known by its seller, a
    line by its product: each appears once in a checkout)."""
    ids, tokens = defaultdict(dict), {}
    for kind, row_id, refers_to, trace_token in rows:
        ids[kind][refers_to] = row_id
        if kind == "line":
            tokens[row_id] = trace_token
    checkout.id = ids["checkout"][None]
    for order in checkout.orders:
        order.id, order.checkout_id = ids["order"][order.seller_user_id], checkout.id
        order.events[0].id = ids["event"][order.id]
        for row in (*order.lines, *order.events):
            row.order_id = order.id
        for line in order.lines:
            line.id = ids["line"][line.product_id]
            line.trace_token = tokens[line.id]


def forget_idempotency_keys(older_than: timedelta) -> int:
    """Drop keys past their retention (kept at least 24 hours)."""
    deleted = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    ).rowcount
    db.session.commit()
    return deleted
