"""The public catalog's read side: one SQL query per page, keyset pagination, plain dicts.

Browsing is the hottest path of the service (Double 11 traffic is mostly people looking), so,
like any read side, it skips the domain model and the per-field serializer and reads the tables
of accounts, geo and catalog directly: a page is one statement that picks the page's rows by
index in sort order first and only then joins the seller, county, province, village and cover
photo of those rows. The dicts built here have exactly the shape of
``schemas.ProductSummaryOut`` (a test holds them equal).
"""
import functools
from datetime import date, datetime

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import TextClause, text

from marketplace.accounts.services import Role, User
from marketplace.catalog import stock
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.models import listing_etag
from marketplace.catalog.taxonomy import SOLD_OUT, ProductStatus
from marketplace.common import storage
from marketplace.common.sql import contains_pattern, read_alone
from marketplace.errors import InvalidInput

# Who can change listings: the seller, the station partner who listed it for a villager, administrators.
LISTING_EDITORS = (Role.SELLER, Role.PARTNER, Role.ADMIN)


def reads_may_lag(reader: User | None) -> bool:
    """Whether this reader's catalog reads may come from the read replica (common.sql.read_replica).

    Visitors and buyers may: a listing they see a second or two old is what the storefront's
    cache already shows them, and checkout checks price and stock on the primary. Anyone who can
    change listings may not: after an edit, their next read must show it and carry the ETag their
    next If-Match names."""
    return reader is None or not reader.has_role(*LISTING_EDITORS)


class InvalidCursor(InvalidInput):
    code = CatalogErrorCode.INVALID_CURSOR

    def __init__(self, message: str = "The cursor is not one this listing handed out; start again without it.",
                 details: dict | None = None):
        super().__init__(message, details=details)


# What makes a listing, besides its page size, and each one's value when not given. A cursor
# carries the listing it was made for, so the cursor alone asks for the next page of it.
LISTING_DEFAULTS = {"sort": "newest", "q": None, "category": None, "county": None, "province": None,
                    "poverty_only": False, "demonstration_only": False, "min_price_fen": None,
                    "max_price_fen": None, "in_stock": False, "seller_user_id": None}
CURSOR_SALT = "catalog-cursor"


def _cursor_signer() -> URLSafeSerializer:
    # Signed: the filters a cursor carries were checked by the schema when they were first given,
    # and a client cannot slip others in by editing the cursor.
    return _signer_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _signer_for(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=CURSOR_SALT)


def _encode_cursor(listing: dict, key, product_id: int) -> str:
    kept = {name: setting for name, setting in listing.items() if setting != LISTING_DEFAULTS[name]}
    return _cursor_signer().dumps([kept, key.isoformat() if isinstance(key, datetime) else key, product_id])


def _continue_listing(cursor: str, given: dict) -> tuple[dict, tuple]:
    """The listing a cursor was made for and the (sort key, id) its next page starts after.

    Filters given with the cursor must be the cursor's own: a cursor of one listing used on another
    would skip or repeat listings without saying so."""
    try:
        kept, value, product_id = _cursor_signer().loads(cursor)
        if not isinstance(kept, dict) or set(kept) - set(LISTING_DEFAULTS) or not isinstance(product_id, int):
            raise ValueError
        listing = {**LISTING_DEFAULTS, **kept}
        key = datetime.fromisoformat(value) if listing["sort"] == "newest" else int(value)
    except (BadData, ValueError, TypeError):
        raise InvalidCursor() from None
    differing = sorted(name for name, setting in given.items() if setting != listing[name])
    if differing:
        raise InvalidCursor(
            f"The cursor was made for another listing: {', '.join(differing)} differ from the cursor's. "
            "Pass the cursor alone (it keeps its filters and sort), or start again without it.",
            details={"differing": {name: {"given": given[name], "cursor": listing[name]} for name in differing}})
    return listing, (key, product_id)


# The page is picked first, by index in sort order, and only its rows are joined.
# Plain SQL: building this statement with SQLAlchemy's expression language cost more than
# running it.
# Priced (price_fen, campaign) by the campaign rule of stock.CAMPAIGN_OFFER for the page's rows only;
# sorted and filtered by the listing's own price (the campaign's applies for hours, and a page
# sorted by it could not be read by index).
PAGE_SQL = """
SELECT page.id, page.title, page.category, page.unit, page.net_weight_grams, page.stock_units, page.units_sold,
       page.created_at, page.harvest_date, page.seller_user_id, page.origin_county_adcode, page.origin_village_id,
       """ + stock.CAMPAIGN_COLUMNS.format(listing="page") + """,
       u.display_name, c.name AS county_name, pr.name AS province_name,
       c.is_national_poverty_county, c.poverty_exit_year, c.is_demonstration_county, v.name AS village_name,
       cover.thumbnail_key AS cover_key, cover.image_key AS cover_display_key
FROM (
    SELECT p.id, p.title, p.category, p.unit, p.net_weight_grams, p.price_fen, p.stock_units, p.units_sold,
           p.created_at, p.harvest_date, p.seller_user_id, p.origin_county_adcode, p.origin_village_id
    FROM products p
    WHERE {where}
    ORDER BY {order}
    LIMIT {fetch}
) AS page
JOIN users u ON u.id = page.seller_user_id
JOIN counties c ON c.adcode = page.origin_county_adcode
JOIN provinces pr ON pr.adcode = c.province_adcode
LEFT JOIN villages v ON v.id = page.origin_village_id
LEFT JOIN LATERAL (SELECT i.thumbnail_key, i.image_key FROM product_images i WHERE i.product_id = page.id
                   ORDER BY i.position LIMIT 1) AS cover ON true
""" + stock.CAMPAIGN_OFFER.format(listing="page") + """
ORDER BY {outer_order}
"""
# The shortest word the trigram index of titles can look up (pg_trgm's trigrams).
TRIGRAM = 3
# sort name -> (sort column, descending?); a row's sort key is its column of the same name, but for
# the price, which a page reads as the price that applies now (stock.CAMPAIGN_COLUMNS).
SORT_KEYS = {"price_fen": "listing_price_fen"}
SORT_COLUMNS = {"newest": ("created_at", True), "price_asc": ("price_fen", False), "price_desc": ("price_fen", True),
                "best_selling": ("units_sold", True)}
# The page statements made so far, by their text: constant statements, run by the driver
# (common.sql.read_alone), are compiled once each.
_PAGE_STATEMENTS: dict[str, TextClause] = {}


def _conditions(params: dict, *, q, category, county, province, poverty_only, demonstration_only,
                min_price_fen, max_price_fen, in_stock, seller_user_id=None) -> list[str]:
    where = ["p.status = 'active'"]
    if seller_user_id is not None:
        where.append("p.seller_user_id = :seller_user_id")
        params["seller_user_id"] = seller_user_id
    if q and len(q) < TRIGRAM:
        # A word too short for the trigram index is looked for along the sorted index scan until
        # the page is full, whatever the statement says; with strpos, whose selectivity PostgreSQL
        # does not estimate from the word, it plans the statement once and keeps the plan (with
        # LIKE it planned it afresh on every call, half of its cost: 0.84 -> 0.31 ms of CPU).
        # strpos has no wildcards; a word with cased letters is compared in lower case, as ILIKE does.
        cased = q.lower() != q.upper()
        where.append("strpos(lower(p.title), lower(:q)) > 0" if cased else "strpos(p.title, :q) > 0")
        params["q"] = q
    elif q:
        # ILIKE is served by the trigram GIN index on PostgreSQL. A word without cased letters
        # (Chinese, digits) is matched with LIKE: the same rows, as lowercasing leaves its characters
        # alone, without lowercasing every title it is held against.
        operator = "ILIKE" if q.lower() != q.upper() else "LIKE"
        where.append(f"p.title {operator} :q ESCAPE '\\'")
        params["q"] = contains_pattern(q)
    if category:
        where.append("p.category = :category")
        params["category"] = category
    if county:
        where.append("p.origin_county_adcode = :county")
        params["county"] = county
    county_filters = []
    if province:
        county_filters.append("c2.province_adcode = :province")
        params["province"] = province
    if poverty_only:
        county_filters.append("c2.is_national_poverty_county = :yes")
    if demonstration_only:
        county_filters.append("c2.is_demonstration_county = :yes")
    if county_filters:
        where.append(f"p.origin_county_adcode IN (SELECT c2.adcode FROM counties c2 WHERE {' AND '.join(county_filters)})")
        params["yes"] = True
    if min_price_fen is not None:
        where.append("p.price_fen >= :min_price")
        params["min_price"] = min_price_fen
    if max_price_fen is not None:
        where.append("p.price_fen <= :max_price")
        params["max_price"] = max_price_fen
    if in_stock:
        where.append("p.stock_units > 0")
    return where


def browse_page(*, limit: int = 20, cursor: str | None = None, **given) -> dict:
    """One page of active listings in a stable order, and the cursor of the next page (or None).

    ``given`` names filters and the sort (LISTING_DEFAULTS); with a cursor, the listing is the
    cursor's and what is given must match it. ``seller_user_id`` (not offered by the API) keeps one
    seller's listings: the product page's "more from this seller"."""
    unknown = set(given) - set(LISTING_DEFAULTS)
    if unknown:
        raise TypeError(f"browse_page() got unknown filters {sorted(unknown)}")
    if "q" in given:
        given["q"] = given["q"].strip() or None if given["q"] else None
    if cursor:
        listing, after = _continue_listing(cursor, given)
    else:
        listing, after = {**LISTING_DEFAULTS, **given}, None
    column, descending = SORT_COLUMNS[listing["sort"]]
    params: dict = {}
    where = _conditions(params, **{name: value for name, value in listing.items() if name != "sort"})
    if after:
        params["after_key"], params["after_id"] = after
        where.append(f"(p.{column}, p.id) {'<' if descending else '>'} (:after_key, :after_id)")
    rows = _page_rows(where, params, column, "DESC" if descending else "ASC", limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = _encode_cursor(listing, getattr(last, SORT_KEYS.get(column, column)), last.id)
    return {"items": [_summary(row, row.cover_key, row.cover_display_key) for row in rows], "limit": limit, "next_cursor": next_cursor}


def _page_rows(where: list[str], params: dict, column: str, direction: str, limit: int) -> list:
    """Up to ``limit`` + 1 rows of PAGE_SQL in (column, id) order: one more tells there is a next page."""
    # The page size is written into the text (an int of 1 to 100): with LIMIT as a parameter,
    # PostgreSQL planned the statement afresh on every call, its generic plan costed for an
    # unknown number of rows never looking cheaper.
    sql = PAGE_SQL.format(where=" AND ".join(where), order=f"p.{column} {direction}, p.id {direction}",
                          outer_order=f"page.{column} {direction}, page.id {direction}", fetch=int(limit) + 1)
    statement = _PAGE_STATEMENTS.get(sql)
    if statement is None:  # one per combination of filters, sort and cursor: a few hundred at most
        statement = _PAGE_STATEMENTS[sql] = text(sql)
    return read_alone(statement, {**params, "now": params.get("now") or stock.price_moment()})


def summaries_by_id(product_ids, *, now=None) -> dict[int, dict]:
    """Active listings by id, in the shape of ``schemas.ProductSummaryOut``, priced at ``now``."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = _page_rows(["p.status = 'active'", "p.id = ANY(CAST(:ids AS integer[]))"], {"ids": ids, "now": now},
                      "created_at", "DESC", len(ids))
    return {row.id: _summary(row, row.cover_key, row.cover_display_key) for row in rows}


def in_season(*, harvested_since: date, harvested_by: date, limit: int = 8) -> list[dict]:
    """Active listings in stock harvested between the two days, the newest harvest first (the
    storefront's "this season"). No index serves the harvest date: the storefront caches the result."""
    params = {"since": harvested_since, "until": harvested_by}
    where = ["p.status = 'active'", "p.stock_units > 0", "p.harvest_date BETWEEN :since AND :until"]
    return [_summary(row, row.cover_key, row.cover_display_key) for row in _page_rows(where, params, "harvest_date", "DESC", limit)[:limit]]


def _summary(row, cover_key: str | None, cover_display_key: str | None) -> dict:
    return {
        "id": row.id,
        "title": row.title,
        "category": row.category,
        "unit": row.unit,
        "net_weight_grams": row.net_weight_grams,
        "price_fen": row.price_fen,
        "stock_units": row.stock_units,
        "status": SOLD_OUT if row.stock_units == 0 else ProductStatus.ACTIVE.value,
        "seller_name": row.display_name,
        "origin": {
            "county_adcode": row.origin_county_adcode,
            "county_name": row.county_name,
            "province_name": row.province_name,
            "is_national_poverty_county": row.is_national_poverty_county,
            "poverty_exit_year": row.poverty_exit_year,
            "is_demonstration_county": row.is_demonstration_county,
            "village_id": row.origin_village_id,
            "village_name": row.village_name,
        },
        "thumbnail_url": storage.url(cover_key) if cover_key else None,
        "cover_image_url": storage.url(cover_display_key) if cover_display_key else None,
        "harvest_date": row.harvest_date.isoformat() if row.harvest_date else None,
        "created_at": row.created_at.isoformat(),
        "campaign": stock.campaign_of(row),
    }


DETAIL_SQL = """
SELECT p.id, p.title, p.description, p.category, p.unit, p.net_weight_grams, p.stock_units,
       p.min_order_units, p.seller_user_id, p.origin_county_adcode, p.origin_village_id, p.harvest_date,
       p.ships_within_days, p.review_note, p.created_at, p.updated_at, p.version, p.trace_token,
       u.display_name, c.name AS county_name, pr.name AS province_name,
       c.is_national_poverty_county, c.poverty_exit_year, c.is_demonstration_county, v.name AS village_name,
       i.id AS image_id, i.position, i.image_key, i.thumbnail_key, i.width, i.height,
       """ + stock.CAMPAIGN_COLUMNS.format(listing="p") + """
FROM products p
JOIN users u ON u.id = p.seller_user_id
JOIN counties c ON c.adcode = p.origin_county_adcode
JOIN provinces pr ON pr.adcode = c.province_adcode
LEFT JOIN villages v ON v.id = p.origin_village_id
""" + stock.CAMPAIGN_OFFER.format(listing="p") + """
LEFT JOIN product_images i ON i.product_id = p.id
WHERE p.id = :product_id AND p.status = 'active'
ORDER BY i.position
"""
_DETAIL = text(DETAIL_SQL)


def public_product(product_id: int) -> tuple[dict, str] | None:
    """An active listing in the shape of ``schemas.ProductOut``, with its ETag; None if not public.

    One query: the listing's row repeated once per photo (at most six), or once with no photo.
    """
    rows = read_alone(_DETAIL, {"product_id": product_id, "now": stock.price_moment()})
    if not rows:
        return None
    row = rows[0]
    images = [r for r in rows if r.image_id is not None]
    body = _summary(row, images[0].thumbnail_key if images else None, images[0].image_key if images else None)
    body.update({
        "description": row.description,
        "seller_user_id": row.seller_user_id,
        "min_order_units": row.min_order_units,
        "ships_within_days": row.ships_within_days,
        "images": [{"id": i.image_id, "position": i.position, "url": storage.url(i.image_key),
                    "thumbnail_url": storage.url(i.thumbnail_key), "width": i.width, "height": i.height}
                   for i in images],
        "review_note": row.review_note,
        "version": row.version,
        "updated_at": row.updated_at.isoformat(),
        "trace_token": str(row.trace_token),
    })
    # The campaign's item, whether it is live and its terms are in the ETag: at its start and end
    # second the price changes, and an administrator may change an item's terms, while the
    # listing's version and stock do not.
    campaign = body["campaign"]
    return body, listing_etag(row.version, row.stock_units, campaign and (
        f"{campaign['item_id']}{'l' if campaign['live'] else 'u'}{campaign['campaign_price_fen']}"
        f"-{campaign['units_left']}-{campaign['per_buyer_limit']}"))


# Any status: a cart shows a paused listing with the reason it cannot be bought.
CART_OFFERS_SQL = """
SELECT p.id, p.title, p.unit, p.net_weight_grams, p.stock_units, p.min_order_units, p.status,
       p.seller_user_id, u.display_name, c.name AS county_name, c.is_national_poverty_county,
       (SELECT i.thumbnail_key FROM product_images i WHERE i.product_id = p.id
         ORDER BY i.position LIMIT 1) AS cover_key,
       """ + stock.CAMPAIGN_COLUMNS.format(listing="p") + """
FROM products p
JOIN users u ON u.id = p.seller_user_id
JOIN counties c ON c.adcode = p.origin_county_adcode
""" + stock.CAMPAIGN_OFFER.format(listing="p") + """
WHERE p.id = ANY(CAST(:product_ids AS integer[]))
"""
_CART_OFFERS = text(CART_OFFERS_SQL)


def cart_offers(product_ids, now=None) -> dict[int, dict]:
    """What a cart page shows of its listings, whatever their status, priced at ``now``:
    {product_id: fields}, with the campaign columns line_problem reads and the campaign shown."""
    rows = read_alone(_CART_OFFERS, {"product_ids": list(product_ids), "now": now or stock.price_moment()}) \
        if product_ids else []
    return {row.id: {"title": row.title, "unit": row.unit, "net_weight_grams": row.net_weight_grams,
                     "price_fen": row.price_fen, "stock_units": row.stock_units,
                     "min_order_units": row.min_order_units, "status": row.status,
                     "seller_user_id": row.seller_user_id, "seller_name": row.display_name,
                     "county_name": row.county_name, "is_national_poverty_county": row.is_national_poverty_county,
                     "thumbnail_url": storage.url(row.cover_key) if row.cover_key else None,
                     "campaign_item_id": row.campaign_item_id, "campaign_live": row.campaign_live,
                     "campaign_units_left": row.campaign_units_left,
                     "campaign_per_buyer_limit": row.campaign_per_buyer_limit, "campaign": stock.campaign_of(row)}
            for row in rows}
