"""Buying (blueprint ``buy``): the checkout form (an address or a service station, and how to pay),
the payment page (the only page with script: Stripe Elements takes the card), and a checkout's
page, which shows it paid once Stripe's event has been applied."""
import enum
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from marketplace.campaigns.errors import CampaignErrorCode
from marketplace.common.metrics import Channel, checkout_placed, counting_checkout
from marketplace.common.time import BUSINESS_TZ, utcnow
from marketplace.errors import AppError
from marketplace.flows.cancellation import cancel_order
from marketplace.geo import services as geo
from marketplace.orders import addresses, cart
from marketplace.orders import services as orders
from marketplace.orders.checkout import place_checkout
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.lifecycle import OrderStatus
from marketplace.payments import intents
from marketplace.payments.errors import PaymentErrorCode
from marketplace.stations import services as stations
from marketplace.web import security_headers
from marketplace.web import services as pages
from marketplace.web.buy_forms import PAYMENT_METHOD_LABELS, ButtonForm, CheckoutForm, PayForm
from marketplace.web.session import error_page, people_page, take_kept_form

bp = Blueprint("buy", __name__)

STRIPE_JS = "https://js.stripe.com/v3/"
# What Stripe.js from js.stripe.com reaches besides it (Stripe's guide to Content-Security-Policy).
STRIPE_API_ORIGIN, STRIPE_HOOKS_ORIGIN, STRIPE_SUBDOMAINS = "https://api.stripe.com", "https://hooks.stripe.com", ["https://*.js.stripe.com"]
REGION_ROWS = 500  # more counties than any province has
STATIONS_SHOWN = 50
# Where a refusal of place_checkout is shown: beside this field (else above the form).
ERROR_FIELDS = {OrderErrorCode.UNKNOWN_COUNTY: "county", OrderErrorCode.STATION_UNAVAILABLE: "station_id"}


def _messages() -> dict[enum.StrEnum, str]:
    """Refusals of the checkout and the payment, in the reader's language."""
    return {
        OrderErrorCode.UNKNOWN_COUNTY: _("This county is not in the registry; pick one from the list."),
        OrderErrorCode.STATION_UNAVAILABLE: _("This station is closed now; pick another one or deliver to an address."),
        OrderErrorCode.CART_TOTAL_TOO_LARGE: _("This cart is too large for one payment; order part of it first."),
        OrderErrorCode.IDEMPOTENCY_KEY_REUSED: _("This form was already used for another order; open a new one."),
        PaymentErrorCode.CARD_DECLINED: _("The card was declined. Check the card details or use another card."),
        PaymentErrorCode.METHOD_NOT_AVAILABLE: _("This way of paying is not available right now."),
        PaymentErrorCode.PAYMENT_PROVIDER_UNAVAILABLE:
            _("The payment service is not answering. Nothing was charged; try again in a minute."),
        PaymentErrorCode.PAYMENT_PROVIDER_ERROR: _("The payment service refused this card. Type the card again."),
        PaymentErrorCode.PAYMENTS_NOT_CONFIGURED: _("Paying online is not possible on this server."),
    }


def _decline_reasons() -> dict[str, str]:
    """Stripe's decline codes a buyer can act on."""
    return {"insufficient_funds": _("The card has not enough money."),
            "expired_card": _("The card has expired."),
            "incorrect_cvc": _("The security code is wrong."),
            "authentication_required": _("The bank wants to confirm this payment, which this page cannot do yet. "
                                         "Use another card.")}


def _message(error: AppError) -> str:
    if error.code == PaymentErrorCode.CARD_DECLINED:
        reason = _decline_reasons().get((error.details or {}).get("reason"))
        return f"{_messages()[error.code]} {reason}" if reason else _messages()[error.code]
    return _messages().get(error.code, _("This could not be done (%(code)s).", code=error.code))


# ---------------------------------------------------------------- checkout


def _regions(form) -> None:
    """The province -> prefecture -> county -> station choices for what the form has chosen so far."""
    form.province.choices = [SelectChoice("", _("Choose a province"))] + [
        SelectChoice(province.adcode, province.name) for province in geo.list_provinces()]
    counties = []
    if form.province.data in _values(form.province.choices[1:]):
        counties = geo.list_counties(province=form.province.data, per_page=REGION_ROWS).items
    prefectures = sorted({county.prefecture_name for county in counties if county.prefecture_name})
    form.prefecture.choices = [SelectChoice("", _("All cities"))] + [SelectChoice(name, name) for name in prefectures]
    if form.prefecture.data in prefectures:
        counties = [county for county in counties if county.prefecture_name == form.prefecture.data]
    form.county.choices = [SelectChoice("", _("Choose a county"))] + [
        SelectChoice(county.adcode, county.name) for county in counties]
    open_stations = []
    if form.county.data in _values(form.county.choices[1:]):
        open_stations = stations.list_stations(county=form.county.data, per_page=STATIONS_SHOWN).items
    form.station_id.choices = [SelectChoice(str(station.id), f"{station.name} · {station.address}")
                               for station in open_stations]


def _values(choices) -> list[str]:
    return [choice.value for choice in choices]


def _address_choices(form, saved) -> None:
    counties = {adcode: geo.get_county(adcode) for adcode in {address.county_adcode for address in saved}}
    form.saved_address.choices = [
        SelectChoice(str(address.id), f"{address.recipient_name} {address.recipient_phone} · "
                                      f"{counties[address.county_adcode].name} {address.detail}") for address in saved
    ] + [SelectChoice("", _("A new address"))]


def _checkout_form(saved) -> CheckoutForm:
    """The form as sent, as typed before a login (once), or new (the last address chosen)."""
    kept = take_kept_form() if request.method == "GET" else None
    if kept is not None:
        form = CheckoutForm(formdata=kept)
    elif request.method == "POST":
        form = CheckoutForm()
    else:
        form = CheckoutForm(formdata=None, saved_address=str(saved[0].id) if saved else "")
    _address_choices(form, saved)
    _regions(form)
    return form


def _delivery(form, user) -> dict:
    if form.delivery.data == "station":
        return {"station_id": int(form.station_id.data)}
    if form.saved_address.data:
        address = addresses.get_address(user.id, int(form.saved_address.data))
        return {"address": {"recipient": address.recipient_name, "phone": address.recipient_phone,
                            "county_adcode": address.county_adcode, "detail": address.detail}}
    return {"address": {"recipient": form.recipient.data.strip(), "phone": form.phone.data.strip(),
                        "county_adcode": form.county.data, "detail": form.detail.data.strip()}}


def _beijing(iso_moment: str) -> str:
    return datetime.fromisoformat(iso_moment).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


def campaign_refusal(error: AppError, title: str) -> str | None:
    """A campaign's refusal of a checkout line, in the reader's language (None: not a campaign's)."""
    details = error.details or {}
    if error.code == CampaignErrorCode.CAMPAIGN_NOT_STARTED:
        return _("%(title)s: its campaign opens at %(time)s (Beijing time); it cannot be ordered before then. "
                 "Nothing was ordered.", title=title, time=_beijing(details["opens_at"]))
    if error.code == CampaignErrorCode.CAMPAIGN_LIMIT_REACHED:
        if details.get("already_bought"):
            return _("%(title)s: at most %(limit)d per buyer in this campaign, and you already have %(had)d. "
                     "Nothing was ordered.", title=title, limit=details["limit"], had=details["already_bought"])
        return _("%(title)s: at most %(limit)d per buyer in this campaign. Nothing was ordered.",
                 title=title, limit=details["limit"])
    if error.code == CampaignErrorCode.CAMPAIGN_SOLD_OUT:
        return _("%(title)s: only %(n)d left at the campaign price. Nothing was ordered.",
                 title=title, n=details["units_left"])
    if error.code == CampaignErrorCode.CAMPAIGN_ENDED:
        return _("%(title)s: its campaign has ended and the normal price applies again; check the order and "
                 "send it again.", title=title)
    return None


def _show_refusal(form, error: AppError, priced) -> None:
    """A refusal of the checkout beside its field, or above the form naming the products."""
    titles = {line.product_id: line.title for group in priced.groups for line in group.lines}
    campaign = campaign_refusal(error, titles.get((error.details or {}).get("product_id"), ""))
    if campaign is not None:
        form.form_errors.append(campaign)
        return
    if error.code == OrderErrorCode.OUT_OF_STOCK:
        form.sold_out = [(product["title"], product["available_units"]) for product in error.details["products"]]
        return
    if error.code == OrderErrorCode.CART_REJECTED:
        named = [titles.get(int(product_id), product_id) for product_id in (error.details or {}).get("products", {})]
        form.form_errors.append(_("These can no longer be ordered: %(names)s. Your cart shows why.",
                                  names="、".join(map(str, named))))
        return
    field = ERROR_FIELDS.get(error.code)
    if field is not None:
        form[field].errors = [*form[field].errors, _message(error)]
    else:
        form.form_errors.append(_message(error))


@bp.route("/checkout", methods=["GET", "POST"])
@people_page("buyer")
def checkout(user):
    priced = cart.price_cart(cart.saved_cart(user.id), user.id)
    saved = addresses.list_addresses(user.id)
    form = _checkout_form(saved)
    form.sold_out = []
    placing = request.method == "POST" and request.form.get("action", "place") == "place"
    if not priced.groups:
        return _nothing_to_order(user, form.form_token.data if placing else None)
    if not placing:  # a "show" button: the next level of the county choice
        return _checkout_page(form, priced, saved)
    if not form.validate():
        return _checkout_page(form, priced, saved, 422)
    if form.cart_seen.data != _cart_key(priced):
        _name_changes(form, priced)
        return _checkout_page(form, priced, saved, 409)
    token = form.form_token.data
    first, earlier = pages.claim_form_token(token, user.id)
    if not first:
        flash(_("This order was already sent; it was placed once."), "notice")
        return redirect(earlier or url_for("my_orders.list"))
    try:
        with counting_checkout(Channel.STOREFRONT):
            placed, created = place_checkout(user.id, lines=priced.buyable_lines, delivery=_delivery(form, user),
                                             payment_method=form.payment_method.data, idempotency_key=token)
    except AppError as error:
        pages.release_form_token(token)
        _show_refusal(form, error, priced)
        priced = cart.price_cart(cart.saved_cart(user.id), user.id)
        return _checkout_page(form, priced, saved, 409 if error.status == 409 else 422)
    except Exception:
        pages.release_form_token(token)
        raise
    checkout_placed(Channel.STOREFRONT, created=created)
    result = url_for("buy.pay", checkout_id=placed.id)
    pages.record_form_result(token, result)
    return redirect(result)


def _nothing_to_order(user, sent_token: str | None):
    """An empty cart: back to it; unless this is the checkout form sent again after it ordered
    (the cart emptied by that order), which goes where the first send led."""
    if sent_token is not None:
        first, earlier = pages.claim_form_token(sent_token, user.id)
        if not first:
            flash(_("This order was already sent; it was placed once."), "notice")
            return redirect(earlier or url_for("my_orders.list"))
        pages.release_form_token(sent_token)
    flash(_("Nothing in your cart can be ordered now."), "notice")
    return redirect(url_for("cart.show"))


def _cart_key(priced) -> str:
    return ",".join(f"{line['product_id']}x{line['quantity']}" for line in priced.buyable_lines)


def _name_changes(form, priced) -> None:
    """The lines the buyer saw that cannot be bought now (sold out meanwhile, mostly)."""
    seen = {part.split("x")[0] for part in (form.cart_seen.data or "").split(",")}
    form.sold_out = [(line.title or line.product_id, line.stock_units) for line in priced.unbuyable
                     if str(line.product_id) in seen]
    if not form.sold_out:
        form.form_errors.append(_("Your cart changed meanwhile; check the order below and send it again."))


def _checkout_page(form, priced, saved, status=200):
    form.cart_seen.data = _cart_key(priced)
    return render_template("pages/buy/checkout.html", form=form, priced=priced, saved=saved,
                           payment_labels=PAYMENT_METHOD_LABELS), status


# ---------------------------------------------------------------- paying


def stripe_js_url() -> str:
    """Stripe.js: as configured; else localstripe's when the Stripe API is an emulator, else Stripe's."""
    config = current_app.config
    if config.get("STRIPE_JS_URL"):
        return config["STRIPE_JS_URL"]
    if config.get("STRIPE_API_BASE"):
        return config["STRIPE_API_BASE"].rstrip("/") + "/js.stripe.com/v3/"
    return STRIPE_JS


def _publishable_key() -> str | None:
    config = current_app.config
    return config.get("STRIPE_PUBLISHABLE_KEY") or ("pk_test_localstripe" if config.get("STRIPE_API_BASE") else None)


def _my_checkout(checkout_id: int, user):
    """The buyer's own checkout (one placed for them by a partner too), else None."""
    try:
        checkout = orders.get_checkout(checkout_id, user)
    except AppError:
        return None
    return checkout if user.id in (checkout.buyer_user_id, checkout.placed_by_user_id) else None


def payable_state(checkout) -> str:
    """paid, payable, cash (paid at the station) or closed (expired, cancelled: order again)."""
    if checkout.status == OrderStatus.PAID:
        return "paid"
    if checkout.payment_method == "cash_at_station":
        return "cash"
    if checkout.status == OrderStatus.PENDING_PAYMENT and checkout.expires_at > utcnow():
        return "payable"
    return "closed"


def stripe_policy(js_url: str) -> str:
    """The card page's Content-Security-Policy: the pages' own, plus Stripe.js from its server, the
    API it calls and the frames of its card field (Stripe's own list for js.stripe.com; the server
    Stripe.js came from otherwise, as localstripe's calls its own server)."""
    js_origin = _origin(js_url)
    api_base = current_app.config.get("STRIPE_API_BASE")
    connect = [js_origin, _origin(api_base) if api_base else STRIPE_API_ORIGIN]
    if js_origin != _origin(STRIPE_JS):
        return security_headers.page_policy(script_src=[js_origin], connect_src=connect, frame_src=[js_origin])
    return security_headers.page_policy(script_src=[js_origin, *STRIPE_SUBDOMAINS], connect_src=connect,
                                        frame_src=[js_origin, *STRIPE_SUBDOMAINS, STRIPE_HOOKS_ORIGIN])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _pay_page(checkout, form, status=200, error=None, wechat_qr=None, state=None):
    state = state or payable_state(checkout)
    online = bool(current_app.config.get("STRIPE_SECRET_KEY")) and _publishable_key() is not None
    js_url = stripe_js_url()
    page = render_template("pages/buy/pay.html", checkout=checkout, form=form, state=state, error=error,
                           online=online, stripe_js=js_url, stripe_key=_publishable_key(),
                           reorder=ButtonForm(), wechat_qr=wechat_qr, payment_labels=PAYMENT_METHOD_LABELS)
    return page, status, {"Content-Security-Policy": stripe_policy(js_url)}


@bp.route("/checkouts/<id:checkout_id>/pay", methods=["GET", "POST"])
@people_page("buyer")
def pay(user, checkout_id):
    checkout = _my_checkout(checkout_id, user)
    if checkout is None:
        return error_page(404, _("No such order of yours."), OrderErrorCode.CHECKOUT_NOT_FOUND)
    form = PayForm()
    if request.method == "GET" or payable_state(checkout) != "payable":
        return _pay_page(checkout, PayForm(formdata=None), 200 if request.method == "GET" else 409)
    if checkout.payment_method != "card":
        return _pay_by_redirect(user, checkout)
    if not form.validate_on_submit():
        return _pay_page(checkout, PayForm(formdata=None), 422, error=_("Type the card details again."))
    token = form.form_token.data
    first, earlier = pages.claim_form_token(token, user.id)
    result = url_for("buy.status", checkout_id=checkout_id)
    if not first:
        flash(_("This payment was already sent; it is paid once."), "notice")
        return redirect(earlier or result)
    try:
        intents.pay_by_card(checkout_id, user, form.card_token.data)
    except AppError as error:
        pages.release_form_token(token)
        return _refused_payment(user, checkout_id, error)
    except Exception:
        pages.release_form_token(token)
        raise
    pages.record_form_result(token, result)
    flash(_("Thank you. The payment is being confirmed."), "notice")
    return redirect(result)


def _refused_payment(user, checkout_id: int, error: AppError):
    """The payment page again, saying why (a new form: the card is typed again)."""
    checkout = _my_checkout(checkout_id, user)
    if error.code == PaymentErrorCode.CHECKOUT_NOT_PAYABLE:
        # Refused although the checkout is still open here: Stripe has the money, its event is on the way.
        paid = payable_state(checkout) in ("paid", "payable")
        return _pay_page(checkout, PayForm(formdata=None), 409, state="paid" if paid else None)
    return _pay_page(checkout, PayForm(formdata=None), error.status if error.status < 500 else 503,
                     error=_message(error))


def _pay_by_redirect(user, checkout):
    """Alipay goes to Alipay's page and back; WeChat Pay shows a QR code to scan."""
    try:
        start = intents.pay_by_redirect(checkout.id, user, url_for("buy.status", checkout_id=checkout.id,
                                                                   _external=True))
    except AppError as error:
        return _refused_payment(user, checkout.id, error)
    action = start.remote.next_action or {}
    if action.get("type") == "alipay_handle_redirect":
        return redirect(action["alipay_handle_redirect"]["url"])
    if action.get("type") == "wechat_pay_display_qr_code":
        return _pay_page(start.checkout, PayForm(formdata=None),
                         wechat_qr=action["wechat_pay_display_qr_code"].get("image_data_url"))
    return redirect(url_for("buy.status", checkout_id=checkout.id))


@bp.get("/checkouts/<id:checkout_id>")
@people_page("buyer")
def status(user, checkout_id):
    """The checkout and its orders; while a payment is being confirmed the page reloads itself."""
    checkout = _my_checkout(checkout_id, user)
    if checkout is None:
        return error_page(404, _("No such order of yours."), OrderErrorCode.CHECKOUT_NOT_FOUND)
    try:
        intent = intents.payment_of(checkout_id, user).intent
    except AppError:
        intent = None
    state = payable_state(checkout)
    waiting = state == "payable" and intent is not None and intent.status == "processing"
    return render_template("pages/buy/checkout_status.html", checkout=checkout, state=state, waiting=waiting,
                           intent=intent, reorder=ButtonForm(), payment_labels=PAYMENT_METHOD_LABELS)


@bp.post("/checkouts/<id:checkout_id>/reorder")
@people_page("buyer")
def reorder(user, checkout_id):
    """Order again what an unpaid checkout held: its lines go back in the cart, and its orders that
    still wait for payment are cancelled so their stock is free again."""
    checkout = _my_checkout(checkout_id, user)
    if checkout is None:
        return error_page(404, _("No such order of yours."), OrderErrorCode.CHECKOUT_NOT_FOUND)
    if not ButtonForm().validate() or payable_state(checkout) in ("paid", "cash"):
        return redirect(url_for("buy.status", checkout_id=checkout_id))
    left_out = 0
    for order in checkout.orders:
        if order.status == OrderStatus.PENDING_PAYMENT:
            try:
                cancel_order(order.id, user, note="ordered again")
            except AppError:
                pass  # paid or expired meanwhile: nothing to free
        for line in order.lines:
            try:
                cart.set_cart_quantity(user.id, line.product_id, line.quantity)
            except AppError:
                left_out += 1
    if left_out:
        flash(_("Some products are no longer sold and were left out."), "notice")
    flash(_("The products are back in your cart."), "notice")
    return redirect(url_for("cart.show"))

