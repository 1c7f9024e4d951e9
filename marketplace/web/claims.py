"""Claim pages: the buyer opens a claim on a received order line and follows it (/claims), the
station partner does the same for a villager from the desk, the seller answers from /sell, and
every party sees one claim page: its state, deadline, offer, photos, timeline and refund. Every
change goes through the claims services (web.admin_claims: the administrators' queue)."""
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.catalog.errors import CatalogErrorCode
from marketplace.claims import services as claims
from marketplace.claims.errors import ClaimErrorCode
from marketplace.errors import AppError, ErrorCode
from marketplace.flows.station_cash import record_cash_refund
from marketplace.orders import services as orders
from marketplace.orders.errors import OrderErrorCode
from marketplace.payments.errors import PaymentErrorCode
from marketplace.payments.refunds import refunds_of
from marketplace.reports.charts import yuan as _yuan  # the pages' one way of showing fen as yuan
from marketplace.stations import cash as station_cash
from marketplace.stations.errors import StationErrorCode
from marketplace.web import services as pages
from marketplace.web.claim_forms import (
    REASON_LABELS,
    STATUS_LABELS,
    ClaimButtonForm,
    ContestForm,
    DecisionForm,
    EscalateForm,
    OfferForm,
    OpenClaimForm,
    PhotosForm,
)
from marketplace.web.sell import photo_uploads
from marketplace.web.session import error_page, people_page, take_kept_form

bp = Blueprint("claim_pages", __name__)

CLAIMS_PER_PAGE = 20
LAST_PAGE = 1000
# Refusals shown as a page of their own (not beside a form): the claim or line is not the reader's.
REFUSALS = (ClaimErrorCode.CLAIM_NOT_FOUND, ClaimErrorCode.ORDER_LINE_NOT_FOUND, ClaimErrorCode.NOT_CLAIMANT,
            ClaimErrorCode.NOT_YOUR_CLAIM, OrderErrorCode.ORDER_NOT_FOUND, StationErrorCode.NOT_STATION_PARTNER,
            StationErrorCode.STATION_NOT_FOUND)
PHOTO_CODES = (CatalogErrorCode.NOT_AN_IMAGE, CatalogErrorCode.IMAGE_REJECTED, CatalogErrorCode.IMAGE_TOO_LARGE,
               CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE, CatalogErrorCode.IMAGE_TOO_MANY_PIXELS,
               ClaimErrorCode.TOO_MANY_CLAIM_PHOTOS, ErrorCode.STORAGE_UNAVAILABLE)
AMOUNT_CODES = (ClaimErrorCode.CLAIM_EXCEEDS_REFUNDABLE, ClaimErrorCode.OFFER_NOT_SMALLER,
                ClaimErrorCode.DECISION_EXCEEDS_MAXIMUM)


def _event_words() -> dict[str, str]:
    kind = claims.ClaimEventKind
    return {kind.OPENED: _("Claim opened, asking ¥%(yuan)s back"), kind.PHOTO_ADDED: _("A photo was added"),
            kind.OFFERED: _("The seller offered ¥%(yuan)s"), kind.ACCEPTED: _("The seller accepted: ¥%(yuan)s back"),
            kind.OFFER_ACCEPTED: _("The offer of ¥%(yuan)s was accepted"), kind.CONTESTED: _("The seller disagreed"),
            kind.ESCALATED: _("Sent to the platform's staff to decide"),
            kind.DECIDED: _("The platform's staff decided: ¥%(yuan)s back"),
            kind.AUTO_ACCEPTED: _("No answer in time: ¥%(yuan)s back"), kind.REFUNDED: _("Refunded ¥%(yuan)s"),
            kind.CLOSED: _("Closed without refund")}


# Events whose note a person wrote (the others' notes are the system's own records).
PEOPLES_NOTES = (claims.ClaimEventKind.OFFERED, claims.ClaimEventKind.CONTESTED, claims.ClaimEventKind.ESCALATED,
                 claims.ClaimEventKind.DECIDED)


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    words: str
    note: str | None


def timeline(claim) -> list[TimelineEntry]:
    words = _event_words()
    return [TimelineEntry(event.created_at, event.kind,
                          words.get(event.kind, event.kind) % {"yuan": _yuan(event.amount_fen or 0)},
                          event.note if event.kind in PEOPLES_NOTES and event.actor_user_id is not None else None)
            for event in claim.events]


def _messages() -> dict[enum.StrEnum, str]:
    """The claims services' refusals, in the reader's language."""
    return {
        ClaimErrorCode.CLAIM_NOT_FOUND: _("There is no such claim of yours."),
        ClaimErrorCode.ORDER_LINE_NOT_FOUND: _("There is no such order line of yours."),
        ClaimErrorCode.NOT_CLAIMANT: _("Only the buyer (or the station partner who ordered for them) can claim for this."),
        ClaimErrorCode.NOT_YOUR_CLAIM: _("This claim is not yours to answer."),
        ClaimErrorCode.LINE_NOT_DELIVERED: _("A claim can be opened once the parcel has been received."),
        ClaimErrorCode.NOT_RECEIVED_TOO_EARLY:
            _("A parcel can be claimed as never arrived only %(days)d days after it was shipped.",
              days=current_app.config["NOT_RECEIVED_AFTER_DAYS"]),
        ClaimErrorCode.CLAIM_WINDOW_CLOSED: _("The time to claim has passed: %(hours)d hours after receiving the parcel.",
                                              hours=current_app.config["CLAIM_WINDOW_HOURS"]),
        ClaimErrorCode.CLAIM_ALREADY_OPEN: _("This line already has a claim under way."),
        ClaimErrorCode.ILLEGAL_CLAIM_MOVE: _("The claim has moved on meanwhile; nothing was changed. Its state is shown below."),
        ClaimErrorCode.OFFER_NOT_SMALLER: _("An offer is less than the amount asked; to give all of it, accept the claim."),
        ClaimErrorCode.TOO_MANY_CLAIM_PHOTOS: _("A claim has at most 4 photos from each side."),
        CatalogErrorCode.NOT_AN_IMAGE: _("This file is not a photo. Choose a JPEG, PNG, WebP or HEIC picture."),
        CatalogErrorCode.IMAGE_REJECTED: _("This file is not a photo. Choose a JPEG, PNG, WebP or HEIC picture."),
        CatalogErrorCode.IMAGE_TOO_LARGE: _("This photo is larger than 10 MB; take it again at a smaller size."),
        CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE:
            _("This kind of picture is not accepted. Choose a JPEG, PNG, WebP or HEIC photo."),
        CatalogErrorCode.IMAGE_TOO_MANY_PIXELS: _("This picture has too many pixels; take it again at a smaller size."),
        ErrorCode.STORAGE_UNAVAILABLE: _("The photos could not be stored just now; nothing was saved. Send again in a minute."),
        PaymentErrorCode.REFUND_NOT_FOUND: _("This claim has no refund to pay back in cash."),
        PaymentErrorCode.NOT_CASH_REFUND: _("This refund goes back through the online payment, not in cash."),
        PaymentErrorCode.REFUND_ALREADY_SETTLED: _("This refund was already paid back."),
        StationErrorCode.NOT_STATION_PARTNER: _("This is not your station: you can act only for the station you run."),
        StationErrorCode.STATION_NOT_FOUND: _("There is no such station."),
        OrderErrorCode.ORDER_NOT_FOUND: _("There is no such order of yours."),
    }


# Refusals that say how much the line can still give back (details.refundable_fen or maximum_fen).
HOW_MUCH_LEFT = (ClaimErrorCode.CLAIM_EXCEEDS_REFUNDABLE, ClaimErrorCode.NOT_ENOUGH_LEFT_TO_REFUND,
                 ClaimErrorCode.DECISION_EXCEEDS_MAXIMUM)


def message(error: AppError) -> str:
    """A refusal in the reader's language; one about the amount says how much is left."""
    details = error.details or {}
    left = details.get("refundable_fen", details.get("maximum_fen"))
    if error.code in HOW_MUCH_LEFT and isinstance(left, int):
        return _("At most ¥%(yuan)s of this line can still be given back.", yuan=_yuan(left))
    return _messages().get(error.code, _("This could not be done (%(code)s).", code=error.code))


def refused(error: AppError):
    return error_page(error.status, message(error), error.code)


def _show_on(form, error: AppError) -> None:
    """A service's refusal beside the field it is about, else above the form."""
    field = "photos" if error.code in PHOTO_CODES else "amount" if error.code in AMOUNT_CODES else None
    if field and field in form:
        form[field].errors = [*form[field].errors, message(error)]
    else:
        form.form_errors.append(message(error))


class Refused(Exception):
    """A form's send the service refused: shown again beside its fields, with the error's status."""

    def __init__(self, status: int):
        self.status = status


def send_once(user, form, act: Callable, *, done: Callable[[object], tuple[str, str]], fallback: str):
    """The first send of this form acts; a second send of it (pressed twice, resent) goes where the
    first led. A refusal about the form raises Refused after putting it beside its field; one
    about the claim itself (not theirs, not found) propagates."""
    token = form.form_token.data  # OneTimeTokenField replaces a token this site could not have drawn
    first, earlier = pages.claim_form_token(token, user.id)
    if not first:
        flash(_("This form was already sent; it was acted on once."), "notice")
        return redirect(earlier or fallback)
    try:
        result = act()
    except AppError as error:
        pages.release_form_token(token)
        if error.code in REFUSALS:
            raise
        _show_on(form, error)
        raise Refused(error.status) from None
    except Exception:
        pages.release_form_token(token)  # a failure of ours must not block sending again
        raise
    path, notice = done(result)
    pages.record_form_result(token, path)
    flash(notice, "notice")
    return redirect(path)


def page_number() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), LAST_PAGE)


# ---------------------------------------------------------------- which lines may be claimed


def claims_by_line(its_claims) -> dict[int, object]:
    """The latest claim of each line (a line may have had an earlier one, ended)."""
    return {claim.order_line_id: claim for claim in its_claims}


# ---------------------------------------------------------------- opening a claim


def _open_page(user, order, line, form, where: dict, status: int = 200):
    try:
        refundable = claims.refundable_fen(line.id, user)
    except AppError:
        refundable = None
    closes = claims.claim_window(order)[1]
    return render_template("pages/claims/open.html", form=form, order=order, line=line, refundable=refundable,
                           closes=closes, reasons=REASON_LABELS, **where), status


def _open(user, order, line, where: dict, claim_url: Callable[[int], str]):
    kept = take_kept_form() if request.method == "GET" else None
    if kept:
        flash(_("Here is what you typed before logging in. Choose the photos again, then send."), "notice")
    form = OpenClaimForm(formdata=kept) if kept else OpenClaimForm()
    if not form.validate_on_submit():
        return _open_page(user, order, line, form, where, 422 if form.is_submitted() else 200)
    try:
        return send_once(user, form, lambda: claims.open_claim(
            line.id, user, reason=form.reason.data, description=form.description.data.strip(),
            amount_fen=form.amount.data, photos=form.photo_contents()),
            done=lambda claim: (claim_url(claim.id), _("Claim sent. The seller answers within %(hours)d hours.",
                                                      hours=current_app.config["SELLER_RESPONSE_HOURS"])),
            fallback=request.path)
    except Refused as refusal:
        return _open_page(user, order, line, form, where, refusal.status)


def _line_of(order, line_id: int):
    return next((line for line in order.lines if line.id == line_id), None)


@bp.route("/orders/<id:order_id>/lines/<id:line_id>/claim", methods=["GET", "POST"])
@people_page("buyer")
@photo_uploads
def open_claim(user, order_id, line_id):
    """The buyer's claim on one line of a received parcel."""
    try:
        order = orders.get_order(order_id, user)
    except AppError as error:
        return refused(error)
    line = _line_of(order, line_id)
    if line is None or user.id not in (order.buyer_user_id, order.checkout.placed_by_user_id):
        return error_page(404, _("There is no such order line of yours."), ClaimErrorCode.ORDER_LINE_NOT_FOUND)
    try:
        return _open(user, order, line, {"layout": "pages/shop/layout.html", "back": url_for("my_orders.show",
                                                                                            order_id=order.id)},
                     lambda claim_id: url_for(".show", claim_id=claim_id))
    except AppError as error:
        return refused(error)


@bp.route("/station/<id:station_id>/parcels/<id:order_id>/lines/<id:line_id>/claim", methods=["GET", "POST"])
@people_page("partner")
@photo_uploads
def station_open_claim(user, station_id, order_id, line_id):
    """The partner's claim for a villager, on a parcel the station handed over."""
    try:
        station = station_cash.require_partner(station_id, user)
        order = orders.get_order(order_id, user)
        line = _line_of(order, line_id)
        if order.station_id != station_id or line is None:
            raise orders.OrderNotFound(order_id)
        return _open(user, order, line, {"layout": "pages/station/layout.html", "station": station,
                                         "back": url_for("station.parcels", station_id=station_id)},
                     lambda claim_id: url_for(".station_claim", station_id=station_id, claim_id=claim_id))
    except AppError as error:
        return refused(error)


# ---------------------------------------------------------------- one claim, as each party sees it


@dataclass(frozen=True)
class Action:
    form: type
    run: Callable  # (claim_id, user, form) -> what the service returns
    notice: Callable  # (result) -> the notice shown after it


def _refund_of(claim, user):
    if claim.refund_id is None:
        return None
    return next((refund for refund in refunds_of(claim.order_id, user) if refund.id == claim.refund_id), None)


def _pay_back_cash(claim_id: int, partner):
    """The partner paid the claim's cash refund back (flows.station_cash: the station's ledger)."""
    claim = claims.get_claim(claim_id, partner)
    if claim.refund_id is None:
        raise claims.IllegalClaimMove(claim, "paid back in cash")
    return record_cash_refund(claim.refund_id, partner)


ACTIONS = {
    "accept": Action(ClaimButtonForm, lambda claim_id, user, form: claims.accept_claim(claim_id, user),
                     lambda claim: _("Accepted: ¥%(yuan)s goes back to the buyer.", yuan=_yuan(claim.granted_fen))),
    "offer": Action(OfferForm, lambda claim_id, user, form: claims.offer_on_claim(
        claim_id, user, amount_fen=form.amount.data, note=(form.note.data or "").strip() or None),
        lambda claim: _("Offer of ¥%(yuan)s sent to the buyer.", yuan=_yuan(claim.offered_fen))),
    "contest": Action(ContestForm, lambda claim_id, user, form: claims.contest_claim(
        claim_id, user, note=form.note.data.strip(), photos=form.photo_contents()),
        lambda claim: _("Sent to the platform's staff, who will decide.")),
    "accept-offer": Action(ClaimButtonForm, lambda claim_id, user, form: claims.accept_offer(claim_id, user),
                           lambda claim: _("Offer accepted: ¥%(yuan)s comes back to you.",
                                           yuan=_yuan(claim.granted_fen))),
    "escalate": Action(EscalateForm, lambda claim_id, user, form: claims.escalate_claim(
        claim_id, user, note=(form.note.data or "").strip() or None),
        lambda claim: _("Sent to the platform's staff, who will decide.")),
    "cash-paid": Action(ClaimButtonForm, lambda claim_id, user, form: _pay_back_cash(claim_id, user),
        lambda refund: _("Recorded: ¥%(yuan)s paid back in cash.", yuan=_yuan(refund.amount_fen))),
    "photos": Action(PhotosForm, lambda claim_id, user, form: claims.add_photos(claim_id, user, form.photo_contents()),
                     lambda claim: _("Photos added to the claim.")),
    "decide": Action(DecisionForm, lambda claim_id, user, form: claims.decide_claim(
        claim_id, user, amount_fen=form.amount.data, reason=form.reason.data.strip()),
        lambda claim: _("Decided: ¥%(yuan)s back.", yuan=_yuan(claim.granted_fen or 0))),
}


def available_actions(claim, side: str, refund) -> tuple[str, ...]:
    """What the reader may do on this claim now, by the side they read it from: its answers, and
    more photos while it is under way and their side has room for them."""
    answers = _answers(claim, side, refund)
    if side in ("buyer", "station", "seller") and claim.status in claims.PENDING_STATUSES and claims.photos_left(
            claim, claims.ClaimSide.SELLER if side == "seller" else claims.ClaimSide.BUYER) > 0:
        return (*answers, "photos")
    return answers


def _answers(claim, side: str, refund) -> tuple[str, ...]:
    status = claim.status
    if side == "seller" and status == claims.ClaimStatus.OPEN:
        return ("accept", "offer", "contest")
    if side in ("buyer", "station") and status == claims.ClaimStatus.OFFERED:
        return ("accept-offer", "escalate")
    if side == "station" and refund is not None and refund.method == "cash" and refund.status == "pending":
        return ("cash-paid",)
    if side == "admin" and status == claims.ClaimStatus.ESCALATED:
        return ("decide",)
    return ()


def claim_page(user, claim, side: str, where: dict, failed: tuple[str, object] | None = None, status: int = 200,
               **extra):
    """One claim as ``side`` (buyer, seller, station, admin) reads it, with the forms it may send."""
    refund = _refund_of(claim, user)
    actions = available_actions(claim, side, refund)
    forms = {action: ACTIONS[action].form(formdata=None) for action in actions}
    problems = []
    if failed is not None and failed[0] in forms:
        forms[failed[0]] = failed[1]
    elif failed is not None:  # the claim moved on: the form is gone, its refusal is shown above
        problems = [*failed[1].form_errors, *(error for field in failed[1] for error in field.errors)]
    return render_template("pages/claims/claim.html", claim=claim, side=side, refund=refund, forms=forms,
                           timeline=timeline(claim), status_words=STATUS_LABELS, reasons=REASON_LABELS,
                           problems=problems, **where, **extra), status


def act(user, claim_id: int, action: str, side: str, where: dict, claim_url: str, **extra):
    """Send one of the claim page's forms (``action``); POST-redirect-GET to ``claim_url``."""
    claim = claims.get_claim(claim_id, user)
    if request.method == "GET":
        return redirect(claim_url)
    spec = ACTIONS[action]
    form = spec.form()
    if form.validate_on_submit():
        try:
            return send_once(user, form, lambda: spec.run(claim_id, user, form),
                             done=lambda result: (claim_url, spec.notice(result)), fallback=claim_url)
        except Refused as refusal:
            return claim_page(user, claims.get_claim(claim_id, user), side, where, (action, form), refusal.status,
                              **extra)
    return claim_page(user, claim, side, where, (action, form), 422, **extra)


# -- the buyer


def _buyer_where() -> dict:
    return {"layout": "pages/shop/layout.html", "act_endpoint": "claim_pages.buyer_act"}


@bp.get("/claims", endpoint="list")
@people_page("buyer")
def my_claims(user):
    found = claims.my_claims(user, page=page_number(), per_page=CLAIMS_PER_PAGE)
    return render_template("pages/claims/list.html", found=found, status_words=STATUS_LABELS, reasons=REASON_LABELS,
                           side="buyer", list_endpoint="claim_pages.list", **_buyer_where())


@bp.get("/claims/<id:claim_id>", endpoint="show")
@people_page("buyer")
def show(user, claim_id):
    try:
        return claim_page(user, claims.get_claim(claim_id, user), "buyer", _buyer_where())
    except AppError as error:
        return refused(error)


# The buttons' URLs also answer GET (with the claim): a form sent after the sign-in ran out comes
# back here by GET once the buyer has logged in again.
@bp.route("/claims/<id:claim_id>/<any('accept-offer', escalate, photos):action>", methods=["GET", "POST"])
@people_page("buyer")
@photo_uploads
def buyer_act(user, claim_id, action):
    try:
        return act(user, claim_id, action, "buyer", _buyer_where(), url_for(".show", claim_id=claim_id))
    except AppError as error:
        return refused(error)


# -- the seller


def _seller_where() -> dict:
    return {"layout": "pages/sell/layout.html", "act_endpoint": "claim_pages.seller_act"}


@bp.get("/sell/claims/<id:claim_id>")
@people_page("seller")
def seller_claim(user, claim_id):
    try:
        return claim_page(user, claims.get_claim(claim_id, user), "seller", _seller_where())
    except AppError as error:
        return refused(error)


@bp.route("/sell/claims/<id:claim_id>/<any(accept, offer, contest, photos):action>", methods=["GET", "POST"])
@people_page("seller")
@photo_uploads
def seller_act(user, claim_id, action):
    try:
        return act(user, claim_id, action, "seller", _seller_where(), url_for(".seller_claim", claim_id=claim_id))
    except AppError as error:
        return refused(error)


# -- the station partner


def _station_where(station_id: int, user) -> dict:
    return {"layout": "pages/station/layout.html", "station": station_cash.require_partner(station_id, user),
            "act_endpoint": "claim_pages.station_act", "act_args": {"station_id": station_id}}


@bp.get("/station/<id:station_id>/claims")
@people_page("partner")
def station_claims(user, station_id):
    """The claims on the station's parcels (and the cash the partner owes back)."""
    try:
        where = _station_where(station_id, user)
        found = claims.station_claims(station_id, user, page=page_number(), per_page=CLAIMS_PER_PAGE)
    except AppError as error:
        return refused(error)
    cash_due = {claim.id for claim in found.items
                if "cash-paid" in available_actions(claim, "station", _refund_of(claim, user))}
    return render_template("pages/claims/list.html", found=found, status_words=STATUS_LABELS, reasons=REASON_LABELS,
                           side="station", cash_due=cash_due, list_endpoint="claim_pages.station_claims",
                           list_args={"station_id": station_id}, **where)


@bp.get("/station/<id:station_id>/claims/<id:claim_id>")
@people_page("partner")
def station_claim(user, station_id, claim_id):
    try:
        return claim_page(user, claims.station_claim(claim_id, station_id, user), "station",
                          _station_where(station_id, user))
    except AppError as error:
        return refused(error)


@bp.route("/station/<id:station_id>/claims/<id:claim_id>/<any('accept-offer', escalate, 'cash-paid', photos):action>",
          methods=["GET", "POST"])
@people_page("partner")
@photo_uploads
def station_act(user, station_id, claim_id, action):
    try:
        claims.station_claim(claim_id, station_id, user)
        return act(user, claim_id, action, "station", _station_where(station_id, user),
                   url_for(".station_claim", station_id=station_id, claim_id=claim_id))
    except AppError as error:
        return refused(error)
