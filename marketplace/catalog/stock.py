"""A listing's stock and what a cart reads of its listings: the checkout's hot statements, as
plain SQL (the catalog's part of a sale; the checkout in orders/checkout.py calls these).

The stock rule lives in one place: the take_stock function of migration 0010. Why plain SQL:
SQLAlchemy's expression and execution layers cost as much client CPU as the round trips do on
these statements. Benchmark (bench/README.md, "PostgreSQL only: before and after"): steady
checkouts 0.151x and the flash sale 0.145x of /healthz at 5d2e9b8, about 5 ms of CPU each.
"""
import json
from datetime import datetime

from sqlalchemy import TextClause, text, update
from sqlalchemy.exc import DBAPIError

from marketplace.catalog.models import Product
from marketplace.common.sql import read_alone, write_in_session
from marketplace.common.time import BUSINESS_TZ, utcnow
from marketplace.extensions import db

# Which price applies now: the one rule, in SQL, for every read that prices a listing (the
# catalog's pages and detail here and in browse.py, the cart, the checkout's offers_by_id).
# A listing's campaign item (migration 0017's campaign_items, read here by table name: the
# campaigns package sits above the catalog, which must price listings without importing it)
# applies from its starts_at (inclusive) to its ends_at (exclusive) when approved; before its
# start it is shown as upcoming and the listing's own price applies; after its end it is gone.
# The exclusion constraint on campaign_items keeps a listing's approved items from overlapping,
# so the item ending first after :now is the live one or, if none is live, the next one.
# {listing} names the products row's alias; :now is price_moment(), bound by the caller.
CAMPAIGN_OFFER = """LEFT JOIN LATERAL (
    SELECT ci.id AS item_id, ci.campaign_id, ci.campaign_price_fen, ci.starts_at, ci.ends_at,
           ci.stock_cap - ci.units_sold AS units_left, ci.per_buyer_limit, cp.name_zh, cp.name_en
    FROM campaign_items ci JOIN campaigns cp ON cp.id = ci.campaign_id
    WHERE ci.product_id = {listing}.id AND ci.state = 'approved' AND ci.ends_at > :now
    ORDER BY ci.ends_at LIMIT 1) AS campaign ON true"""
CAMPAIGN_COLUMNS = (
    "CASE WHEN campaign.starts_at <= :now THEN campaign.campaign_price_fen ELSE {listing}.price_fen END AS price_fen,"
    " {listing}.price_fen AS listing_price_fen, campaign.item_id AS campaign_item_id,"
    " campaign.campaign_id, campaign.name_zh AS campaign_name_zh, campaign.name_en AS campaign_name_en,"
    " campaign.campaign_price_fen, campaign.starts_at AS campaign_starts_at, campaign.ends_at AS campaign_ends_at,"
    " campaign.units_left AS campaign_units_left, campaign.per_buyer_limit AS campaign_per_buyer_limit,"
    " campaign.starts_at <= :now AS campaign_live")


def price_moment() -> datetime:
    """The instant listings are priced for (CAMPAIGN_OFFER's :now)."""
    return utcnow()


def campaign_of(row) -> dict | None:
    """The campaign a row read with CAMPAIGN_COLUMNS (and stock_units) is in, as the API shows it:
    live (its price applies now) or upcoming (opens_at, and the price it will have); None if none.
    Units left are the cap's, and never more than the listing's stock (each takes one of it)."""
    if row.campaign_item_id is None:
        return None
    return {"id": row.campaign_id, "item_id": row.campaign_item_id, "name_zh": row.campaign_name_zh,
            "name_en": row.campaign_name_en, "live": row.campaign_live,
            "campaign_price_fen": row.campaign_price_fen, "listing_price_fen": row.listing_price_fen,
            "opens_at": row.campaign_starts_at.astimezone(BUSINESS_TZ).isoformat(),
            "ends_at": row.campaign_ends_at.astimezone(BUSINESS_TZ).isoformat(),
            "units_left": max(0, min(row.campaign_units_left, row.stock_units)),
            "per_buyer_limit": row.campaign_per_buyer_limit}


_NEXT_PRICE_CHANGE = text("""
SELECT least((SELECT min(starts_at) FROM campaign_items WHERE state = 'approved' AND starts_at > :now),
             (SELECT min(ends_at) FROM campaign_items WHERE state = 'approved' AND ends_at > :now)) AS at
""")


def next_price_change(now: datetime | None = None) -> datetime | None:
    """The next moment a campaign opens or closes (a listing's price changes), or None: what a
    cache of priced pages must not outlive."""
    return read_alone(_NEXT_PRICE_CHANGE, {"now": now or price_moment()})[0].at

_CAMPAIGN_PRICE_FLOOR = text("""
SELECT id, campaign_price_fen, ends_at FROM campaign_items
WHERE product_id = :product_id AND state = 'approved' AND ends_at > :now
ORDER BY campaign_price_fen DESC LIMIT 1
""")


def campaign_price_floor(product_id: int):
    """The listing's approved campaign item, live or to come, with the highest campaign price (id,
    campaign_price_fen, ends_at), or None: the listing's own price must stay above it, or the
    campaign would sell dearer than the listing."""
    return db.session.execute(_CAMPAIGN_PRICE_FLOOR, {"product_id": product_id, "now": price_moment()}).first()


# The checkout's statements on listings, as plain SQL: they run on every sale, and building
# and caching an expression each time costs more than the database does to answer them.
# Priced by the campaign rule (CAMPAIGN_OFFER) at :now.
_OFFER_COLUMNS = ("SELECT p.id, p.seller_user_id, p.title, p.category, p.unit, p.net_weight_grams,"
                  " p.origin_county_adcode, p.origin_village_id, p.harvest_date, p.min_order_units, p.stock_units,"
                  f" p.status, {CAMPAIGN_COLUMNS.format(listing='p')} FROM products p {CAMPAIGN_OFFER.format(listing='p')}")
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


def offers_by_id(product_ids, now: datetime | None = None):
    """What a cart needs to know of its listings (one row each, no ORM objects), read without
    locks, priced at ``now`` (price_moment() by default): price_fen is the price that applies then,
    campaign_item_id and the campaign_* columns the listing's live or next campaign (campaign_of).

    Stock read here is a hint; stock is taken for real by take_stock, in the checkout's write.
    """
    if not product_ids:
        return {}
    ids = list(product_ids)
    offers = _OFFERS_BY_SIZE.get(len(ids))
    if offers is None:
        offers = _OFFERS_BY_SIZE[len(ids)] = text(
            f"{_OFFER_COLUMNS} WHERE p.id IN ({', '.join(f':p{n}' for n in range(len(ids)))})")
    params = {f"p{n}": product_id for n, product_id in enumerate(ids)}
    params["now"] = now or price_moment()
    return {row.id: row for row in read_alone(offers, params)}


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
