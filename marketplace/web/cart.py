"""The cart page (/cart): a visitor's cart in a signed cookie, a signed-in buyer's saved in the
database (merged at login); quantities changed in place, each line that cannot be bought named
with its reason, totals and shipping per seller as the checkout will compute them."""
import enum

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeSerializer

from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.services import ProductNotFound
from marketplace.errors import AppError
from marketplace.orders import cart
from marketplace.orders.cart import CartProblem
from marketplace.orders.errors import OrderErrorCode
from marketplace.web.buy_forms import AddToCartForm, CartForm
from marketplace.web.session import error_page, signed_in_user

bp = Blueprint("cart", __name__)

COOKIE = "cart"
COOKIE_SALT = "marketplace.visitor-cart"  # a signature of its own: no other signed value passes as a cart
COOKIE_MAX_AGE = 30 * 24 * 3600
# A browser keeps about 4 KB per cookie; a full cart (50 lines) signed is about 1 KB.
COOKIE_MAX_BYTES = 3000


def problem_words() -> dict[enum.StrEnum, str]:
    """Why a line cannot be bought, in the reader's language."""
    return {
        CartProblem.NOT_FOR_SALE: _("No longer for sale."),
        CartProblem.OWN_LISTING: _("This is your own listing."),
        CartProblem.BELOW_MINIMUM: _("Below the seller's minimum order."),
        CartProblem.SOLD_OUT: _("Sold out."),
        CartProblem.NOT_ENOUGH_STOCK: _("Not enough left for this quantity."),
        CartProblem.CAMPAIGN_NOT_STARTED: _("Its campaign has not opened yet."),
        CartProblem.OVER_CAMPAIGN_LIMIT: _("More than the campaign allows per buyer."),
        CartProblem.CAMPAIGN_SOLD_OUT: _("The campaign's units are sold out."),
    }


def _refusals() -> dict[enum.StrEnum, str]:
    return {
        CatalogErrorCode.PRODUCT_NOT_FOUND: _("There is no such product."),
        OrderErrorCode.INVALID_QUANTITY: _("A whole number from 1 to 10,000."),
        OrderErrorCode.CART_FULL: _("Your cart is full (50 products). Order some first."),
    }


# ---------------------------------------------------------------- the visitor's cookie


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=COOKIE_SALT)


def _readable(pairs) -> dict[int, int]:
    """The cookie's [product id, quantity] pairs as a cart; ValueError for anything else."""
    if not isinstance(pairs, list) or len(pairs) > cart.MAX_CART_LINES:
        raise ValueError("not a cart")
    quantities = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(number) is int for number in pair)):
            raise ValueError("not a cart line")
        product_id, quantity = pair
        if not (1 <= product_id <= 2**31 - 1 and 1 <= quantity <= cart.MAX_QUANTITY):
            raise ValueError("not a cart line")
        quantities[product_id] = quantity
    return quantities


def visitor_cart() -> dict[int, int]:
    """The visitor's cart from its signed cookie; one that was tampered with or cannot be read is
    dropped, with a notice, never an error."""
    if "visitor_cart" not in g:
        raw = request.cookies.get(COOKIE)
        quantities = {}
        if raw:
            try:
                quantities = _readable(_serializer().loads(raw))
            except (BadData, ValueError):
                flash(_("Your cart could not be read, so it was emptied."), "error")
                _keep_visitor_cart({})
        g.visitor_cart = quantities
    return g.visitor_cart


def _keep_visitor_cart(quantities: dict[int, int]) -> None:
    g.visitor_cart = quantities
    g.visitor_cart_changed = True


@bp.after_app_request
def _write_cookie(response):
    if g.get("visitor_cart_changed"):
        value = _serializer().dumps([[pid, q] for pid, q in g.visitor_cart.items()]) if g.visitor_cart else None
        if value and len(value) <= COOKIE_MAX_BYTES:
            response.set_cookie(COOKIE, value, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                                secure=current_app.config["SESSION_COOKIE_SECURE"])
        else:
            response.delete_cookie(COOKIE, httponly=True, samesite="Lax")
    return response


def merge_visitor_cart(user) -> None:
    """At login or sign-up: the visitor's cart joins the account's, and the cookie goes."""
    quantities = visitor_cart()
    if quantities:
        left_out = cart.merge_cart(user.id, quantities)
        if left_out:
            flash(_("Some products of your cart are no longer sold and were left out."), "notice")
    if request.cookies.get(COOKIE):
        _keep_visitor_cart({})


def current_cart(user) -> dict[int, int]:
    return cart.saved_cart(user.id) if user is not None else visitor_cart()


# ---------------------------------------------------------------- pages


def _cart_page(user, form, status=200, quantities=None):
    quantities = current_cart(user) if quantities is None else quantities
    priced = cart.price_cart(quantities, user.id if user else None)
    lines = {line.product_id: line for group in priced.groups for line in group.lines}
    lines.update({line.product_id: line for line in priced.unbuyable})
    return render_template("pages/buy/cart.html", priced=priced, lines=[lines[pid] for pid in quantities],
                           form=form, problems=problem_words(), user=user), status


@bp.get("/cart", endpoint="show")
def show():
    return _cart_page(signed_in_user(), CartForm(formdata=None))


@bp.post("/cart/add")
def add():
    user = signed_in_user()
    form = AddToCartForm()
    if not form.validate():
        message = (form.product_id.errors or form.quantity.errors or [_("There is no such product.")])[0]
        return error_page(404 if form.product_id.errors else 400, message)
    try:
        if user is not None:
            cart.add_to_cart(user.id, form.product, form.units)
        else:
            _add_for_visitor(form.product, form.units)
    except AppError as error:
        return error_page(error.status, _refusals().get(error.code, error.message), error.code)
    flash(_("Added to your cart."), "notice")
    return redirect(url_for("cart.show"))


def _add_for_visitor(product_id: int, units: int) -> None:
    """The cookie cart takes what the saved cart takes: listings on sale, at most 50 of them."""
    quantities = dict(visitor_cart())
    if product_id not in quantities:
        line = cart.price_cart({product_id: units}, None).unbuyable
        if line and line[0].problem == CartProblem.NOT_FOR_SALE:
            raise ProductNotFound(product_id)
        if len(quantities) >= cart.MAX_CART_LINES:
            raise cart.CartRejected("The cart is full.", code=OrderErrorCode.CART_FULL)
    quantities[product_id] = min(quantities.get(product_id, 0) + units, cart.MAX_QUANTITY)
    _keep_visitor_cart(quantities)


@bp.post("/cart/update")
def update():
    """The cart's one form: new quantities for its lines, or one line removed."""
    user = signed_in_user()
    form = CartForm()
    quantities = current_cart(user)
    if not form.validate():
        return _cart_page(user, form, 400, quantities)
    if form.remove is not None or "remove" in request.form:
        if form.remove not in quantities:
            flash(_("This product is not in your cart."), "error")
            return _cart_page(user, form, 400, quantities)
        _set(user, quantities, {form.remove: 0})
        flash(_("Removed from your cart."), "notice")
        return redirect(url_for("cart.show"))
    strangers = [pid for pid in form.quantities if pid not in quantities]
    if strangers or form.unknown_lines:
        flash(_("Some of these products are not in your cart; nothing was changed."), "error")
        return _cart_page(user, form, 400, quantities)
    _set(user, quantities, form.quantities)
    flash(_("Your cart was updated."), "notice")
    return redirect(url_for("cart.show"))


def _set(user, quantities: dict[int, int], changes: dict[int, int]) -> None:
    if user is not None:
        for product_id, quantity in changes.items():
            if quantities.get(product_id) != quantity:
                cart.set_cart_quantity(user.id, product_id, quantity)
        return
    kept = {pid: changes.get(pid, q) for pid, q in quantities.items()}
    _keep_visitor_cart({pid: q for pid, q in kept.items() if q > 0})
