"""A buyer's cart: saved for a signed-in buyer, priced the way the checkout will price it, and each
line that cannot be bought named with its reason.

Rules (the checkout applies the same ones, from here):
- A line cannot be bought when its listing is not for sale (paused, in review, removed), is the
  buyer's own, asks for fewer units than the listing's minimum, or wants more than its stock.
- A listing in a campaign is priced by the clock (catalog.stock.CAMPAIGN_OFFER): at the campaign
  price while it is live; before it opens its line cannot be bought; a line of it cannot ask for
  more than the per-buyer limit or the campaign units left.
- Each seller's order pays a flat shipping fee unless its goods reach the free-shipping threshold.
- A cart holds at most MAX_CART_LINES products and MAX_QUANTITY units of each.
"""
import enum
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from marketplace.catalog import browse, stock
from marketplace.catalog.services import ProductNotFound, ProductStatus
from marketplace.common.time import utcnow
from marketplace.errors import InvalidInput
from marketplace.extensions import db
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.models import CartLine

MAX_CART_LINES = 50
MAX_QUANTITY = 10_000


class CartRejected(InvalidInput):
    code = OrderErrorCode.CART_REJECTED


class CartProblem(enum.StrEnum):
    """Why a line of a cart cannot be bought now."""

    NOT_FOR_SALE = "not_for_sale"
    OWN_LISTING = "own_listing"
    BELOW_MINIMUM = "below_minimum"
    SOLD_OUT = "sold_out"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    CAMPAIGN_NOT_STARTED = "campaign_not_open_yet"
    OVER_CAMPAIGN_LIMIT = "over_campaign_limit"
    CAMPAIGN_SOLD_OUT = "campaign_units_sold_out"


def line_problem(offer, quantity: int, buyer_user_id: int | None) -> CartProblem | None:
    """Why ``quantity`` units of the listing ``offer`` (stock.offers_by_id's row, or None when there
    is no such listing) cannot be bought by the buyer, or None when they can, stock permitting."""
    if offer is None or offer.status != ProductStatus.ACTIVE:
        return CartProblem.NOT_FOR_SALE
    if buyer_user_id is not None and offer.seller_user_id == buyer_user_id:
        return CartProblem.OWN_LISTING
    if quantity < offer.min_order_units:
        return CartProblem.BELOW_MINIMUM
    if offer.campaign_item_id is not None:
        if not offer.campaign_live:
            return CartProblem.CAMPAIGN_NOT_STARTED
        if quantity > offer.campaign_per_buyer_limit:
            return CartProblem.OVER_CAMPAIGN_LIMIT
        if offer.campaign_units_left < quantity:
            return CartProblem.CAMPAIGN_SOLD_OUT
    if offer.stock_units == 0:
        return CartProblem.SOLD_OUT
    if offer.stock_units < quantity:
        return CartProblem.NOT_ENOUGH_STOCK
    return None


def shipping_fee_fen(items_total_fen: int) -> int:
    config = current_app.config
    return 0 if items_total_fen >= config["SHIPPING_FREE_OVER_FEN"] else config["SHIPPING_FLAT_FEE_FEN"]


@dataclass
class PricedLine:
    product_id: int
    quantity: int
    title: str | None
    unit: str | None
    price_fen: int | None
    stock_units: int
    min_order_units: int
    seller_user_id: int | None
    seller_name: str | None
    thumbnail_url: str | None
    county_name: str | None
    is_national_poverty_county: bool
    line_total_fen: int
    problem: CartProblem | None
    campaign: dict | None = None  # the listing's live or next campaign (catalog.stock.campaign_of)


@dataclass
class SellerGroup:
    """One seller's buyable lines: one order of the checkout, with its shipping fee."""

    seller_user_id: int
    seller_name: str
    lines: list[PricedLine] = field(default_factory=list)
    items_total_fen: int = 0
    shipping_fee_fen: int = 0
    total_fen: int = 0


@dataclass
class PricedCart:
    groups: list[SellerGroup]
    unbuyable: list[PricedLine]
    items_total_fen: int
    shipping_total_fen: int
    grand_total_fen: int

    @property
    def buyable_lines(self) -> list[dict]:
        """The lines a checkout can be placed with, as place_checkout takes them."""
        return [{"product_id": line.product_id, "quantity": line.quantity}
                for group in self.groups for line in group.lines]

    @property
    def is_empty(self) -> bool:
        return not self.groups and not self.unbuyable


class _Offer:
    """A cart_offers row read like stock.offers_by_id's (attribute access for line_problem)."""

    def __init__(self, fields: dict):
        self.__dict__.update(fields)


def price_cart(quantities: dict[int, int], buyer_user_id: int | None) -> PricedCart:
    """The cart as the checkout would split and price it now: buyable lines per seller (sellers in
    id order, as the checkout orders them), and the lines that cannot be bought with why."""
    offers = {product_id: _Offer(fields) for product_id, fields in browse.cart_offers(quantities).items()}
    groups: dict[int, SellerGroup] = {}
    unbuyable = []
    for product_id, quantity in quantities.items():
        offer = offers.get(product_id)
        problem = line_problem(offer, quantity, buyer_user_id)
        line = PricedLine(
            product_id=product_id, quantity=quantity, title=getattr(offer, "title", None),
            unit=getattr(offer, "unit", None), price_fen=getattr(offer, "price_fen", None),
            stock_units=getattr(offer, "stock_units", 0), min_order_units=getattr(offer, "min_order_units", 1),
            seller_user_id=getattr(offer, "seller_user_id", None), seller_name=getattr(offer, "seller_name", None),
            thumbnail_url=getattr(offer, "thumbnail_url", None), county_name=getattr(offer, "county_name", None),
            is_national_poverty_county=getattr(offer, "is_national_poverty_county", False),
            line_total_fen=offer.price_fen * quantity if offer is not None else 0, problem=problem,
            campaign=getattr(offer, "campaign", None))
        if problem is not None:
            unbuyable.append(line)
            continue
        group = groups.setdefault(offer.seller_user_id, SellerGroup(offer.seller_user_id, offer.seller_name))
        group.lines.append(line)
        group.items_total_fen += line.line_total_fen
    ordered = [groups[seller_id] for seller_id in sorted(groups)]
    for group in ordered:
        group.shipping_fee_fen = shipping_fee_fen(group.items_total_fen)
        group.total_fen = group.items_total_fen + group.shipping_fee_fen
    items = sum(group.items_total_fen for group in ordered)
    shipping = sum(group.shipping_fee_fen for group in ordered)
    return PricedCart(ordered, unbuyable, items, shipping, items + shipping)


def saved_cart(user_id: int) -> dict[int, int]:
    """The buyer's saved cart: {product_id: quantity}, in the order the products were added."""
    rows = db.session.execute(select(CartLine.product_id, CartLine.quantity).where(CartLine.user_id == user_id)
                              .order_by(CartLine.added_at, CartLine.product_id)).all()
    return {product_id: quantity for product_id, quantity in rows}


def _check_quantity(quantity: int, *, allow_zero: bool) -> None:
    if not (0 if allow_zero else 1) <= quantity <= MAX_QUANTITY:
        raise CartRejected(f"A quantity is a whole number from {0 if allow_zero else 1} to {MAX_QUANTITY}.",
                           code=OrderErrorCode.INVALID_QUANTITY, details={"quantity": quantity})


def _require_listed(product_id: int) -> None:
    """Only a listing on sale (sold out included) can be put in a cart; others do not exist for buyers."""
    offer = stock.offers_by_id([product_id]).get(product_id)
    if offer is None or offer.status != ProductStatus.ACTIVE:
        raise ProductNotFound(product_id)


def _make_room(user_id: int, product_id: int) -> None:
    """Refuse a new product beyond MAX_CART_LINES (a product already in the cart always fits)."""
    lines = db.session.scalar(select(func.count()).select_from(CartLine).where(
        CartLine.user_id == user_id, CartLine.product_id != product_id))
    if lines >= MAX_CART_LINES:
        raise CartRejected(f"A cart holds at most {MAX_CART_LINES} products; order some first.",
                           code=OrderErrorCode.CART_FULL, details={"max_lines": MAX_CART_LINES})


def add_to_cart(user_id: int, product_id: int, quantity: int) -> int:
    """Put ``quantity`` more units of a listing on sale in the buyer's cart (at most MAX_QUANTITY
    in all); returns the line's quantity now."""
    _check_quantity(quantity, allow_zero=False)
    _require_listed(product_id)
    _make_room(user_id, product_id)
    statement = insert(CartLine).values(user_id=user_id, product_id=product_id, quantity=quantity, added_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=[CartLine.user_id, CartLine.product_id],
        set_={"quantity": func.least(CartLine.quantity + statement.excluded.quantity, MAX_QUANTITY)},
    ).returning(CartLine.quantity)
    now = db.session.scalar(statement)
    db.session.commit()
    return now


def set_cart_quantity(user_id: int, product_id: int, quantity: int) -> None:
    """Set a line's quantity; 0 removes it. A product already in the cart may be changed whatever
    its listing's state (the cart page names what is wrong with it); a new one must be on sale."""
    _check_quantity(quantity, allow_zero=True)
    if quantity == 0:
        remove_from_cart(user_id, [product_id])
        return
    if db.session.get(CartLine, (user_id, product_id)) is None:
        _require_listed(product_id)
        _make_room(user_id, product_id)
    statement = insert(CartLine).values(user_id=user_id, product_id=product_id, quantity=quantity, added_at=utcnow())
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[CartLine.user_id, CartLine.product_id], set_={"quantity": statement.excluded.quantity}))
    db.session.commit()


def remove_from_cart(user_id: int, product_ids) -> None:
    db.session.execute(delete(CartLine).where(CartLine.user_id == user_id, CartLine.product_id.in_(list(product_ids))))
    db.session.commit()


def merge_cart(user_id: int, quantities: dict[int, int]) -> list[int]:
    """At login, a visitor's cart joins the saved one: a product in both keeps the larger quantity.
    Products that no longer exist, quantities out of range, and products beyond MAX_CART_LINES
    are left out; returns the product ids left out."""
    saved = saved_cart(user_id)
    existing = stock.offers_by_id([product_id for product_id in quantities if product_id not in saved])
    left_out, room, now = [], MAX_CART_LINES - len(saved), utcnow()
    merged = defaultdict(int)
    for product_id, quantity in quantities.items():
        if not 1 <= quantity <= MAX_QUANTITY or (product_id not in saved and product_id not in existing):
            left_out.append(product_id)
        elif product_id in saved:
            merged[product_id] = max(saved[product_id], quantity)
        elif room > 0:
            merged[product_id] = quantity
            room -= 1
        else:
            left_out.append(product_id)
    if merged:
        statement = insert(CartLine).values([
            {"user_id": user_id, "product_id": product_id, "quantity": quantity, "added_at": now}
            for product_id, quantity in merged.items()])
        db.session.execute(statement.on_conflict_do_update(
            index_elements=[CartLine.user_id, CartLine.product_id],
            set_={"quantity": func.greatest(CartLine.quantity, statement.excluded.quantity)}))
    db.session.commit()
    return left_out
