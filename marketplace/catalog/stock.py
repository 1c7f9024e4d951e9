"""A listing's stock and what a cart reads of its listings: the checkout's hot statements, as
plain SQL (the catalog's part of a sale; the checkout in orders/checkout.py calls these).

The stock rule lives in one place: the take_stock function of migration 0010. Why plain SQL:
SQLAlchemy's expression and execution layers cost as much client CPU as the round trips do on
these statements. Benchmark (bench/README.md, "PostgreSQL only: before and after"): steady
checkouts 0.151x and the flash sale 0.145x of /healthz at 5d2e9b8, about 5 ms of CPU each.
"""
import json

from sqlalchemy import TextClause, text, update
from sqlalchemy.exc import DBAPIError

from marketplace.catalog.models import Product
from marketplace.common.sql import read_alone, write_in_session
from marketplace.extensions import db

# The checkout's statements on listings, as plain SQL: they run on every sale, and building
# and caching an expression each time costs more than the database does to answer them.
_OFFER_COLUMNS = ("SELECT id, seller_user_id, title, category, unit, net_weight_grams, origin_county_adcode,"
                  " origin_village_id, harvest_date, price_fen, min_order_units, stock_units, status FROM products")
# One text per cart size (WHERE id IN (:p0, :p1, ...)): PostgreSQL then keeps one generic plan
# for each, where id = ANY(array) was planned afresh for every cart (its generic plan, costed for
# an array of unknown length, never looked cheaper than a plan for the actual two ids).
_OFFERS_BY_SIZE: dict[int, TextClause] = {}
# The stock rule lives in one place: the take_stock function of migration 0010, on the server.
# It runs one conditional UPDATE per product (stock_units >= the units wanted, listing active) in
# ascending id order, and raises STOCK_SHORT_SQLSTATE when a product is short, so the statement
# that calls it is undone whole. The checkout calls it inside the one statement that writes the
# checkout (TAKE_STOCK_CALL with take_stock_params); reserve_stock calls it on its own.
# Both run through write_taking_stock.
STOCK_SHORT_SQLSTATE = "MPOOS"
TAKE_STOCK_CALL = "take_stock(CAST(:stock_product_ids AS integer[]), CAST(:stock_units AS integer[]))"
_TAKE_STOCK = text(f"SELECT {TAKE_STOCK_CALL}")


def offers_by_id(product_ids):
    """What a cart needs to know of its listings (one row each, no ORM objects), read without locks.

    Stock read here is a hint; stock is taken for real by take_stock, in the checkout's write.
    """
    if not product_ids:
        return {}
    ids = list(product_ids)
    offers = _OFFERS_BY_SIZE.get(len(ids))
    if offers is None:
        offers = _OFFERS_BY_SIZE[len(ids)] = text(
            f"{_OFFER_COLUMNS} WHERE id IN ({', '.join(f':p{n}' for n in range(len(ids)))})")
    return {row.id: row for row in read_alone(offers, {f"p{n}": product_id for n, product_id in enumerate(ids)})}


def take_stock_params(quantities: dict[int, int]) -> dict:
    """The bind parameters of TAKE_STOCK_CALL for a cart ({product_id: units})."""
    ordered = sorted(quantities)
    return {"stock_product_ids": ordered, "stock_units": [quantities[product_id] for product_id in ordered]}


def _stock_shortfall(error: DBAPIError) -> dict[int, int] | None:
    """{product_id: units available} if ``error`` is take_stock refusing a cart, else None."""
    if getattr(error.orig, "sqlstate", None) != STOCK_SHORT_SQLSTATE:
        return None
    return {int(product_id): available for product_id, available in json.loads(error.orig.diag.message_detail).items()}


def write_taking_stock(statement: TextClause, params: dict) -> tuple[list, dict[int, int]]:
    """Run, in the session's transaction, a write whose statement calls take_stock (with
    take_stock_params among ``params``): (its rows, {}), or, when a product was short,
    ([], {product_id: units available}, 0 for a listing no longer for sale), and the caller must
    roll back. Ascending id order means two carts that share products lock them in the same order
    and cannot deadlock."""
    try:
        return write_in_session(statement, params), {}
    except DBAPIError as error:
        short = _stock_shortfall(error)
        if short is None:
            raise
        return [], short


def reserve_stock(quantities: dict[int, int]) -> dict[int, int]:
    """Take stock for a cart ({product_id: units}) in the session's transaction: {} when every
    product had enough, else what write_taking_stock reports short (the caller rolls back)."""
    return write_taking_stock(_TAKE_STOCK, take_stock_params(quantities))[1]


def release_stock(quantities: dict[int, int]) -> None:
    """Give stock back (cancelled or expired orders), in ascending id order like reserve_stock."""
    for product_id in sorted(quantities):
        db.session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(stock_units=Product.stock_units + quantities[product_id],
                    units_sold=Product.units_sold - quantities[product_id])
            .execution_options(synchronize_session=False)
        )
