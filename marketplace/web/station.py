"""Station desk pages (/station): a village partner lists and orders for villagers without a phone,
records the cash taken, receives parcels and hands them over, and sees what the station owes."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace.catalog import browse
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.taxonomy import SOLD_OUT, ProductStatus
from marketplace.claims import services as claims
from marketplace.common.metrics import Channel, cash_collected, checkout_placed, counting_checkout
from marketplace.errors import AppError
from marketplace.flows import station_desk as desk_service
from marketplace.orders import services as orders
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.lifecycle import OrderStatus
from marketplace.payments.errors import PaymentErrorCode
from marketplace.reports.charts import yuan as _yuan  # the pages' one way of showing fen as yuan
from marketplace.stations import cash
from marketplace.stations import services as stations
from marketplace.stations.errors import StationErrorCode
from marketplace.stations.villagers import VillagerChoice, list_villagers
from marketplace.web.forms import PriceForm
from marketplace.web.services import claim_form_token, record_form_result, release_form_token
from marketplace.web.session import error_page, people_page, take_kept_form
from marketplace.web.station_forms import AssistedOrderForm, CashForm, MoveForm, VillagerListingForm

bp = Blueprint("station", __name__, url_prefix="/station")

ORDER_STATUS_LABELS = {OrderStatus.PENDING_PAYMENT: _l("Waiting for cash"),
                       OrderStatus.PAID: _l("Paid, the seller will ship it"),
                       OrderStatus.SHIPPED: _l("On its way"), OrderStatus.AT_STATION: _l("At the station"),
                       OrderStatus.DELIVERED: _l("Handed over"), OrderStatus.COMPLETED: _l("Completed"),
                       OrderStatus.CANCELLED: _l("Cancelled"), OrderStatus.EXPIRED: _l("Expired")}
PRODUCT_STATUS_LABELS = {ProductStatus.DRAFT: _l("Draft"), ProductStatus.PENDING_REVIEW: _l("Waiting for review"),
                         ProductStatus.ACTIVE: _l("On sale"), ProductStatus.PAUSED: _l("Paused"),
                         ProductStatus.REJECTED: _l("Rejected"), SOLD_OUT: _l("Sold out")}
LAST_PAGE = 1000
PARCEL_ACTIONS = {"arrive": "arrive", "hand-over": "hand_over"}
# Where a domain error is shown on a form: beside this field (else above the form).
ERROR_FIELDS = {StationErrorCode.CONSENT_REQUIRED: "consent", StationErrorCode.VILLAGER_REQUIRED: "villager_name",
                StationErrorCode.VILLAGER_NOT_FOUND: "villager_id",
                CatalogErrorCode.NET_WEIGHT_REQUIRED: "net_weight_grams",
                CatalogErrorCode.WEIGHT_CONTRADICTS_UNIT: "net_weight_grams",
                PaymentErrorCode.CASH_AMOUNT_MISMATCH: "amount"}


def _messages() -> dict:
    """Readers' messages for the domain errors a desk form can meet (the services speak English)."""
    return {
        StationErrorCode.CONSENT_REQUIRED: _("Tick this once the villager has agreed."),
        StationErrorCode.VILLAGER_REQUIRED: _("Type the villager's name, or choose a registered villager."),
        StationErrorCode.VILLAGER_NOT_FOUND: _("This villager is not registered at your station."),
        CatalogErrorCode.NET_WEIGHT_REQUIRED: _("Say how many grams one box or bag holds."),
        CatalogErrorCode.WEIGHT_CONTRADICTS_UNIT: _("Leave the weight empty for this unit."),
        CatalogErrorCode.PRICE_NOT_ABOVE_CAMPAIGN: _("This listing is in a campaign: its price must stay above "
                                                     "the campaign price until the campaign ends."),
        PaymentErrorCode.CHECKOUT_NOT_PAYABLE: _("This order is already paid, or it expired and can no longer be paid."),
        OrderErrorCode.IDEMPOTENCY_KEY_REUSED: _("This form was already used for another order; open a new one."),
        OrderErrorCode.STATION_UNAVAILABLE: _("The station is closed; orders cannot be delivered to it."),
        OrderErrorCode.ILLEGAL_TRANSITION: _("This parcel was already moved; the list shows where it is now."),
    }


def _refused(error: AppError):
    """The page of a station, order or parcel the partner may not act on."""
    messages = {StationErrorCode.NOT_STATION_PARTNER:
                _("This is not your station: you can act only for the station you run."),
                StationErrorCode.STATION_NOT_FOUND: _("There is no such station."),
                OrderErrorCode.ORDER_NOT_FOUND: _("This parcel is not at your station."),
                OrderErrorCode.CHECKOUT_NOT_FOUND: _("This order is not at your station.")}
    return error_page(error.status, messages.get(error.code, _("This cannot be done here.")), error.code)


REFUSALS = (StationErrorCode.NOT_STATION_PARTNER, StationErrorCode.STATION_NOT_FOUND, OrderErrorCode.ORDER_NOT_FOUND,
            OrderErrorCode.CHECKOUT_NOT_FOUND)


def _show_on(form, error: AppError) -> None:
    """Put a domain error beside its field, or above the form (a refusal is the caller's page)."""
    if error.code in REFUSALS:
        raise error
    if error.code == OrderErrorCode.OUT_OF_STOCK and hasattr(form, "line_errors"):
        for product in error.details["products"]:
            form.line_errors[product["product_id"]] = _("Only %(n)d left.", n=product["available_units"])
        return
    if error.code == OrderErrorCode.CART_REJECTED and hasattr(form, "line_errors"):
        for product_id in (error.details or {}).get("products", {}):
            form.line_errors[int(product_id)] = _("This product cannot be ordered now.")
        return
    if error.code == PaymentErrorCode.CASH_AMOUNT_MISMATCH:
        form.amount.errors = [_("This order owes ¥%(yuan)s; collect exactly that, all at once.",
                                yuan=_yuan(error.details["due_fen"]))]
        return
    message = _messages().get(error.code, _("This could not be done (%(code)s).", code=error.code))
    field = ERROR_FIELDS.get(error.code)
    if field and field in form:
        form[field].errors = [*form[field].errors, message]
    else:
        form.form_errors.append(message)


def _once(form, user, act, *, done, fallback: str):
    """Send a form once: the first send acts, a second send of the same form is shown where the
    first led. Returns a redirect, or None when the form must be shown again with its errors."""
    token = form.form_token.data  # OneTimeTokenField replaces a token this site could not have drawn
    claimed, earlier = claim_form_token(token, user.id)
    if not claimed:
        flash(_("This form was already sent; it was acted on once."), "notice")
        return redirect(earlier or fallback)
    try:
        result = act()
    except AppError as error:
        release_form_token(token)
        _show_on(form, error)
        return None
    except Exception:
        release_form_token(token)  # a failure of ours must not block sending the form again
        raise
    path, notice = done(result)
    record_form_result(token, path)
    flash(notice, "notice")
    return redirect(path)


def _form_from_kept(form_class, **kwargs):
    kept = take_kept_form()
    return form_class(formdata=kept, **kwargs) if kept is not None else form_class(**kwargs)


# ---------------------------------------------------------------- the desk


@bp.get("/")
@people_page("partner")
def desk(user):
    """Where partners land: their station's desk (or a choice, if they run several)."""
    runs = stations.stations_of(user)
    if len(runs) == 1:
        return redirect(url_for(".station_desk", station_id=runs[0].id))
    return render_template("pages/station/choose.html", stations=runs)


@bp.get("/<id:station_id>/")
@people_page("partner")
def station_desk(user, station_id):
    try:
        board = desk_service.open_desk(station_id, user)
    except AppError as error:
        return _refused(error)
    return render_template("pages/station/desk.html", station=board.station, board=board)


# ---------------------------------------------------------------- listing for a villager


@bp.get("/<id:station_id>/listings")
@people_page("partner")
def listings(user, station_id):
    try:
        station = cash.require_partner(station_id, user)
        number = min(max(request.args.get("page", 1, type=int) or 1, 1), LAST_PAGE)
        page = desk_service.villager_listings(station_id, user, page=number)
    except AppError as error:
        return _refused(error)
    return render_template("pages/station/listings.html", station=station, page=page,
                           status_labels=PRODUCT_STATUS_LABELS, move=MoveForm())


@bp.route("/<id:station_id>/listings/new", methods=["GET", "POST"])
@people_page("partner")
def new_listing(user, station_id):
    try:
        station = cash.require_partner(station_id, user)
        villagers = list_villagers(station_id, user)
    except AppError as error:
        return _refused(error)
    form = _form_from_kept(VillagerListingForm, villagers=villagers)
    if request.method == "POST" and form.validate():
        try:
            sent = _once(form, user, lambda: desk_service.list_for_villager(
                station_id, user, VillagerChoice(**form.villager_choice()), consent=form.consent.data,
                **form.listing_fields()),
                done=lambda product: (url_for(".listings", station_id=station_id),
                                      _("Listed for %(name)s; it goes on sale once reviewed.",
                                        name=product.seller.display_name)),
                fallback=url_for(".listings", station_id=station_id))
        except AppError as error:
            return _refused(error)
        if sent is not None:
            return sent
    status = 422 if request.method == "POST" else 200
    return render_template("pages/station/listing_form.html", station=station, form=form), status


# The buttons' URLs also answer GET (with the list they are on): a button pressed after the
# sign-in ran out comes back here by GET once the partner has logged in again.
@bp.route("/<id:station_id>/listings/<id:product_id>/<any(pause, resume):action>", methods=["GET", "POST"])
@people_page("partner")
def switch_listing(user, station_id, product_id, action):
    if request.method == "POST" and MoveForm().validate():
        try:
            desk_service.switch_villager_listing(station_id, user, product_id, action)
        except AppError as error:
            if error.code in REFUSALS or error.status == 404 or error.status == 403:
                return _refused(error)
            flash(_("This listing cannot be changed now."), "error")
    return redirect(url_for(".listings", station_id=station_id))


@bp.route("/<id:station_id>/listings/<id:product_id>/price", methods=["GET", "POST"])
@people_page("partner")
def reprice_listing(user, station_id, product_id):
    try:
        station = cash.require_partner(station_id, user)
        product = desk_service.villager_listing(station_id, user, product_id)
    except AppError as error:
        return _refused(error)
    form = PriceForm(version=product.version, price=product.price_fen)
    if form.validate_on_submit():
        try:
            version = int(form.version.data) if (form.version.data or "").isdigit() else None
            desk_service.reprice_villager_listing(station_id, user, product_id, expected_version=version,
                                                  price_fen=form.price.data)
        except AppError as error:
            form.price.errors = [_("The listing changed since you opened this page; check the price and send it again.")
                                 if error.status in (412, 428)
                                 else _messages().get(error.code, _("This listing cannot be changed now."))]
            product = desk_service.villager_listing(station_id, user, product_id)
            form.version.data = product.version
        else:
            flash(_("New price saved."), "notice")
            return redirect(url_for(".listings", station_id=station_id))
    status = 422 if form.is_submitted() else 200
    return render_template("pages/station/price_form.html", station=station, product=product, form=form), status


# ---------------------------------------------------------------- ordering for a villager


@bp.route("/<id:station_id>/orders/new", methods=["GET", "POST"])
@people_page("partner")
def new_order(user, station_id):
    try:
        station = cash.require_partner(station_id, user)
        villagers = list_villagers(station_id, user)
    except AppError as error:
        return _refused(error)
    form = _form_from_kept(AssistedOrderForm, villagers=villagers)
    if request.method == "GET":
        form.q.data = request.args.get("q", "").strip()[:60]
    if request.method == "POST" and form.validate():
        try:
            sent = _once(form, user, lambda: _order_for_villager(station_id, user, form),
                done=lambda checkout: (url_for(".cash_desk", station_id=station_id) + f"#checkout-{checkout.id}",
                                       _("Order placed: collect ¥%(yuan)s in cash.",
                                         yuan=_yuan(checkout.grand_total_fen))),
                fallback=url_for(".cash_desk", station_id=station_id))
        except AppError as error:
            return _refused(error)
        if sent is not None:
            return sent
    products = browse.browse_page(q=form.q.data or None, in_stock=True, limit=20)["items"]
    status = 422 if request.method == "POST" else 200
    return render_template("pages/station/order_form.html", station=station, form=form, products=products), status


def _order_for_villager(station_id: int, user, form: AssistedOrderForm):
    with counting_checkout(Channel.STATION_DESK):
        checkout = desk_service.place_assisted_order(
            station_id, user, VillagerChoice(**form.villager_choice()), lines=form.lines,
            idempotency_key=form.form_token.data, consent=form.consent.data)
    checkout_placed(Channel.STATION_DESK)
    return checkout


# ---------------------------------------------------------------- cash


def _collect_cash(station_id: int, user, checkout_id: int, amount_fen: int):
    checkout = desk_service.collect_cash(station_id, user, checkout_id, amount_fen=amount_fen)
    cash_collected()
    return checkout



def _cash_page(user, station, failed: tuple[int, CashForm] | None = None, status: int = 200):
    awaiting = desk_service.awaiting_cash(station.id, user)
    forms = {checkout.id: CashForm() for checkout in awaiting}
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    ledger = cash.cash_ledger(station.id, user, per_page=10)
    names = desk_service.names_of(checkout.buyer_user_id for checkout in awaiting)
    return render_template("pages/station/cash.html", station=station, awaiting=awaiting,
                           ledger=ledger, names=names, cash_forms=forms), status


@bp.get("/<id:station_id>/cash")
@people_page("partner")
def cash_desk(user, station_id):
    try:
        station = cash.require_partner(station_id, user)
    except AppError as error:
        return _refused(error)
    return _cash_page(user, station)


@bp.route("/<id:station_id>/cash/<id:checkout_id>", methods=["GET", "POST"])
@people_page("partner")
def collect_cash(user, station_id, checkout_id):
    if request.method == "GET":
        return redirect(url_for(".cash_desk", station_id=station_id) + f"#checkout-{checkout_id}")
    try:
        station = cash.require_partner(station_id, user)
        form = CashForm()
        if form.validate():
            sent = _once(form, user, lambda: _collect_cash(station_id, user, checkout_id, form.amount.data),
                         done=lambda checkout: (url_for(".cash_desk", station_id=station_id),
                                                _("Cash recorded: ¥%(yuan)s. The order is paid.",
                                                  yuan=_yuan(checkout.grand_total_fen))),
                         fallback=url_for(".cash_desk", station_id=station_id))
            if sent is not None:
                return sent
    except AppError as error:
        return _refused(error)
    return _cash_page(user, station, (checkout_id, form), 422)


# ---------------------------------------------------------------- parcels


@bp.get("/<id:station_id>/parcels")
@people_page("partner")
def parcels(user, station_id):
    try:
        station = cash.require_partner(station_id, user)
        found = desk_service.parcels(station_id, user)
    except AppError as error:
        return _refused(error)
    shown = found.expected + found.arrived + found.handed_over
    names = desk_service.names_of([o.buyer_user_id for o in shown] + [o.seller_user_id for o in shown])
    claimable = set()  # lines of the villagers' parcels the partner may still claim for
    for order in found.handed_over:
        if order.checkout.placed_by_user_id == user.id:
            claimable |= claims.claimable_lines(order, claims.claims_of_order(order.id, user))
    return render_template("pages/station/parcels.html", station=station, parcels=found, names=names,
                           status_labels=ORDER_STATUS_LABELS, move=MoveForm(), claimable=claimable)


@bp.get("/<id:station_id>/parcels/<id:order_id>/labels")
@people_page("partner")
def labels(user, station_id, order_id):
    """A QR label (its trace page) for each line of a parcel coming to the station, to print."""
    try:
        station = cash.require_partner(station_id, user)
        order = orders.get_order(order_id, user)
        if order.station_id != station_id:
            raise orders.OrderNotFound(order_id)
    except AppError as error:
        return _refused(error)
    return render_template("pages/station/labels.html", station=station, order=order)


@bp.route("/<id:station_id>/parcels/<id:order_id>/<any(arrive, 'hand-over'):action>", methods=["GET", "POST"])
@people_page("partner")
def move_parcel(user, station_id, order_id, action):
    if request.method == "POST" and MoveForm().validate():
        try:
            order = desk_service.move_parcel(station_id, user, order_id, PARCEL_ACTIONS[action])
        except AppError as error:
            if error.code in REFUSALS:
                return _refused(error)
            flash(_messages().get(error.code, _("This parcel cannot be moved now.")), "error")
        else:
            flash(_("Parcel %(id)d arrived at the station.", id=order.id) if action == "arrive"
                  else _("Parcel %(id)d handed over.", id=order.id), "notice")
    return redirect(url_for(".parcels", station_id=station_id))
