"""Seller pages (/sell): my products, the listing form (drafts finished later), price edits,
one-tap pause and resume, and my orders to ship. Every change goes through the catalog and
orders services; the pages only read forms and draw the result."""
import enum

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.catalog import services as catalog
from marketplace.catalog.errors import CatalogErrorCode
from marketplace.catalog.taxonomy import ProductStatus
from marketplace.claims import services as claims
from marketplace.errors import AppError, ErrorCode
from marketplace.extensions import image_upload_limit
from marketplace.geo import services as geo
from marketplace.orders import services as orders
from marketplace.orders.errors import OrderErrorCode
from marketplace.stations import services as stations
from marketplace.web import services as pages
from marketplace.web.claim_forms import STATUS_LABELS as CLAIM_STATUS_LABELS
from marketplace.web.forms import UNIT_LABELS, ListingForm, PriceForm, ShipForm
from marketplace.web.session import error_page, people_page, signed_in_user, take_kept_form

bp = Blueprint("sell", __name__, url_prefix="/sell")

FINISHABLE = (ProductStatus.DRAFT, ProductStatus.REJECTED)
# The pages' forms that carry photos: the listing forms and the claim forms (web.claims.PHOTO_ENDPOINTS).
PHOTO_FORMS = ("sell.new_product", "sell.edit_product", "claim_pages.open_claim", "claim_pages.station_open_claim",
               "claim_pages.seller_act", "claim_pages.buyer_act", "claim_pages.station_act")
# A card is about 150 px high on a phone: 20 make a page of about 3,000 px, not 4,500.
PRODUCTS_PER_PAGE = 20
MAX_PAGE = 10_000
CLAIMS_TO_ANSWER = 50  # soonest deadline first
RECENT_CLAIMS = 10  # answered already: with the buyer, the administrators, or settled
# Where a service's refusal is shown: beside the field it is about, else above the form.
ERROR_FIELDS = {CatalogErrorCode.IMAGE_REJECTED: "photos", CatalogErrorCode.IMAGE_TOO_LARGE: "photos",
                CatalogErrorCode.NOT_AN_IMAGE: "photos", CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE: "photos",
                CatalogErrorCode.IMAGE_TOO_MANY_PIXELS: "photos", CatalogErrorCode.TOO_MANY_IMAGES: "photos",
                CatalogErrorCode.WEIGHT_CONTRADICTS_UNIT: "net_weight_grams",
                CatalogErrorCode.NET_WEIGHT_REQUIRED: "net_weight_grams",
                CatalogErrorCode.VILLAGE_NOT_IN_COUNTY: "origin_village_id",
                CatalogErrorCode.PRICE_NOT_ABOVE_CAMPAIGN: "price",
                ErrorCode.STORAGE_UNAVAILABLE: "photos"}


def _photos_sent() -> int:
    return sum(1 for photo in request.files.getlist("photos") if photo.filename)


# The listing forms' photos count with the API's uploads against IMAGE_UPLOAD_RATE_LIMIT; a form
# sent without photos is not counted.
photo_uploads = image_upload_limit(lambda: signed_in_user().id, _photos_sent)


def allow_photo_uploads():
    """The listing forms carry phone photos: a body above the API's limit still reaches the form,
    whose photo check says which photo is too large, beside the field. Registered on the app
    before CSRFProtect, which reads the form first."""
    if request.endpoint in PHOTO_FORMS:
        request.max_content_length = current_app.config["PAGES_MAX_UPLOAD_BYTES"]


@bp.app_template_filter("unit_label")
def _unit_label(unit: str) -> str:
    return str(UNIT_LABELS.get(unit, unit))


def _error_messages() -> dict[enum.StrEnum, str]:
    """The refusals of the catalog services, in the reader's language."""
    return {
        CatalogErrorCode.IMAGE_TOO_LARGE: _("This photo is larger than 10 MB; take it again at a smaller size."),
        CatalogErrorCode.NOT_AN_IMAGE: _("This file is not a photo. Choose a JPEG, PNG, WebP or HEIC picture."),
        CatalogErrorCode.IMAGE_REJECTED: _("This file is not a photo. Choose a JPEG, PNG, WebP or HEIC picture."),
        CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE:
            _("This kind of picture is not accepted. Choose a JPEG, PNG, WebP or HEIC photo."),
        CatalogErrorCode.IMAGE_TOO_MANY_PIXELS: _("This picture has too many pixels; take it again at a smaller size."),
        CatalogErrorCode.TOO_MANY_IMAGES: _("A listing has at most 6 photos."),
        ErrorCode.STORAGE_UNAVAILABLE: _("The photos could not be stored just now; nothing was saved. Send again in a minute."),
        CatalogErrorCode.WEIGHT_CONTRADICTS_UNIT: _("Jin and kg have a fixed weight; leave the weight empty."),
        CatalogErrorCode.PRICE_NOT_ABOVE_CAMPAIGN: _("This listing is in a campaign: its price must stay above "
                                                     "the campaign price until the campaign ends."),
        CatalogErrorCode.NET_WEIGHT_REQUIRED: _("Say how many grams one box or bag holds."),
        CatalogErrorCode.VILLAGE_NOT_IN_COUNTY: _("Pick a village of your county."),
        CatalogErrorCode.STALE_VERSION:
            _("The listing was changed elsewhere in the meantime. Check it and send again."),
        ErrorCode.PRECONDITION_REQUIRED:
            _("The listing was changed elsewhere in the meantime. Check it and send again."),
        CatalogErrorCode.ILLEGAL_STATUS_CHANGE: _("The listing's status changed in the meantime; nothing was done."),
        OrderErrorCode.ILLEGAL_TRANSITION: _("The order's status changed in the meantime; nothing was done."),
        CatalogErrorCode.STOCK_OUT_OF_RANGE: _("The stock cannot go below zero."),
    }


def _refusal(error: AppError) -> str:
    return _error_messages().get(error.code, error.message)


def _show_refusal(form, error: AppError) -> None:
    """Put a service's refusal beside its field (or above the form)."""
    field = ERROR_FIELDS.get(error.code)
    if field is not None:
        getattr(form, field).errors = [*getattr(form, field).errors, _refusal(error)]
    else:
        flash(_refusal(error), "error")


def _villages(user):
    return geo.list_villages(user.county_adcode) if user.county_adcode else []


@bp.get("/")
@people_page("seller")
def products(user):
    """My products, newest first, PRODUCTS_PER_PAGE a page. Any page number shows a page: one that
    is not a number, or below 1, the first; one past the last, the last."""
    number = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    page = catalog.list_seller_products(user, status=None, page=number, per_page=PRODUCTS_PER_PAGE)
    last = max(1, -(-page.total // PRODUCTS_PER_PAGE))
    if number > last:
        page = catalog.list_seller_products(user, status=None, page=last, per_page=PRODUCTS_PER_PAGE)
    return render_template("pages/sell/products.html", page=page, pages=last,
                           highlight=request.args.get("new", type=int))


def _listing_page(form, product=None, status=200):
    return render_template("pages/sell/listing_form.html", form=form, product=product), status


def _send_listing_once(user, form, send):
    """Run ``send`` (which lists or saves) for the first send of this form only; a second send of
    the same form (pressing twice, or the browser resending) is shown the first one's result."""
    first, earlier = pages.claim_form_token(form.form_token.data, user.id)
    if not first:
        flash(_("This form was already sent; it was saved once."), "notice")
        return redirect(earlier or url_for("sell.products"))
    try:
        product = send()
    except AppError as error:
        pages.release_form_token(form.form_token.data)
        _show_refusal(form, error)
        return None
    except Exception:
        pages.release_form_token(form.form_token.data)  # a failure of ours must not block sending again
        raise
    result = url_for("sell.products", new=product.id)
    pages.record_form_result(form.form_token.data, result)
    if product.status == ProductStatus.DRAFT:
        flash(_("Saved as a draft. Finish it whenever you like."), "notice")
    elif product.status == ProductStatus.PENDING_REVIEW:
        flash(_("Sent. It goes on sale once it has been reviewed."), "notice")
    else:
        flash(_("It is on sale now."), "notice")
    return redirect(result)


def _listing_form(user, **existing) -> ListingForm:
    """The listing form: as sent, as typed before a login (once), or as the listing is."""
    kept = take_kept_form() if request.method == "GET" else None
    if kept:
        flash(_("Here is what you typed before logging in. Choose the photos again, then send."), "notice")
        return ListingForm(formdata=kept, villages=_villages(user))
    return ListingForm(villages=_villages(user), **existing)


@bp.route("/products/new", methods=["GET", "POST"])
@people_page("seller")
@photo_uploads
def new_product(user):
    form = _listing_form(user)
    if not form.validate_on_submit():
        return _listing_page(form, status=422 if form.is_submitted() else 200)
    publish = request.form.get("action") != "draft"
    sent = _send_listing_once(user, form, lambda: catalog.create_product(
        user, publish=publish, photos=form.photo_contents(), **form.listing_fields()))
    return sent or _listing_page(form, status=422)


@bp.route("/products/<id:product_id>/edit", methods=["GET", "POST"])
@people_page("seller")
@photo_uploads
def edit_product(user, product_id):
    """Finish a draft (or fix a rejected listing) and send it, or save it again for later."""
    try:
        product = catalog.sellers_product(product_id, user)
    except AppError as error:
        return error_page(error.status, _("No such listing of yours."), error.code)
    if product.status not in FINISHABLE:
        return redirect(url_for("sell.products"))
    form = _listing_form(user, obj=product, price=product.price_fen)
    if not form.validate_on_submit():
        return _listing_page(form, product, status=422 if form.is_submitted() else 200)
    publish = request.form.get("action") != "draft"
    sent = _send_listing_once(user, form, lambda: _finish(product, user, form, publish))
    if sent:
        return sent
    product = catalog.sellers_product(product_id, user)
    form.version.data = product.version  # what was typed stays; sending again applies it to the newer save
    return _listing_page(form, product, status=422)


def _finish(product, user, form, publish: bool):
    fields = form.listing_fields()
    stock = fields.pop("stock_units")
    product = catalog.update_product(product.id, user, _version(form), photos=form.photo_contents(), **fields)
    if stock != product.stock_units:
        product = catalog.adjust_stock(product.id, user, stock - product.stock_units)
    return catalog.submit_product(product.id, user) if publish else product


def _version(form) -> int | None:
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


@bp.route("/products/<id:product_id>/price", methods=["GET", "POST"])
@people_page("seller")
def edit_price(user, product_id):
    try:
        product = catalog.sellers_product(product_id, user)
    except AppError as error:
        return error_page(error.status, _("No such listing of yours."), error.code)
    form = PriceForm(version=product.version, price=product.price_fen)
    if form.validate_on_submit():
        try:
            catalog.update_product(product_id, user, _version(form), price_fen=form.price.data)
        except AppError as error:
            form.price.errors = [_refusal(error)]
            product = catalog.sellers_product(product_id, user)
            form.version.data = product.version
        else:
            flash(_("New price saved."), "notice")
            return redirect(url_for("sell.products"))
    status = 422 if form.is_submitted() else 200
    return render_template("pages/sell/price_form.html", form=form, product=product), status


@bp.post("/products/<id:product_id>/<any(pause, resume):action>")
@people_page("seller")
def switch(user, product_id, action):
    """One tap takes a listing off sale or puts it back."""
    service = catalog.pause_product if action == "pause" else catalog.resume_product
    try:
        service(product_id, user)
    except AppError as error:
        flash(_refusal(error), "error")
    else:
        flash(_("Paused: buyers no longer see it.") if action == "pause" else _("Back on sale."), "notice")
    return redirect(url_for("sell.products"))


@bp.get("/orders", endpoint="orders")
@people_page("seller")
def orders_page(user):
    to_ship = orders.list_orders(user, view="to_ship", per_page=100).items
    recent = [order for order in orders.list_orders(user, view="sold", per_page=30).items if order.status != "paid"]
    station_names = {order.station_id: stations.get_station(order.station_id, include_inactive=True).name
                     for order in [*to_ship, *recent] if order.station_id}
    to_answer = claims.seller_claims(user, status=claims.ClaimStatus.OPEN, per_page=CLAIMS_TO_ANSWER).items
    answered = [claim for claim in claims.seller_claims(user, per_page=CLAIMS_TO_ANSWER).items
                if claim.status != claims.ClaimStatus.OPEN][:RECENT_CLAIMS]
    return render_template("pages/sell/orders.html", to_ship=to_ship, recent=recent, station_names=station_names,
                           ship_form=ShipForm(), to_answer=to_answer, answered=answered,
                           claim_words=CLAIM_STATUS_LABELS)


@bp.post("/orders/<id:order_id>/ship")
@people_page("seller")
def ship(user, order_id):
    form = ShipForm()
    if form.validate_on_submit():
        try:
            orders.move_order(order_id, "ship", user, carrier=form.carrier.data.strip(),
                              tracking_number=form.tracking_number.data.strip())
        except AppError as error:
            flash(_refusal(error), "error")
        else:
            flash(_("Marked as shipped."), "notice")
            return redirect(url_for("sell.orders"))
    try:
        order = orders.get_order(order_id, user)
    except AppError as error:
        return error_page(error.status, _("No such order of yours."), error.code)
    return render_template("pages/sell/ship_form.html", form=form, order=order), 422


@bp.get("/orders/<id:order_id>/labels")
@people_page("seller")
def labels(user, order_id):
    """A QR label (its trace page) for each line of one of my orders, to print for the parcel."""
    try:
        order = orders.get_order(order_id, user)
    except AppError as error:
        return error_page(error.status, _("No such order of yours."), error.code)
    if order.seller_user_id != user.id:
        return error_page(404, _("No such order of yours."), OrderErrorCode.ORDER_NOT_FOUND)
    return render_template("pages/sell/labels.html", order=order)
