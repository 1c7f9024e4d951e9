"""Claim use cases: open a claim on a delivered order line, add photos, the seller's answer
(accept, offer, contest), the buyer's answer to an offer (accept, escalate), the administrators'
decision, the deadlines job, and the claim following the refund that pays it.

Rules:
- A claim is opened by the order's buyer, or by the partner of the station a villager's checkout
  was placed through, within CLAIM_WINDOW_HOURS of delivery (the hand-over at the station, or
  the receipt of an address delivery); "not received" from NOT_RECEIVED_AFTER_DAYS after shipping
  (and, once delivered, until the same window closes). It asks at most what the line can still
  give back (paid, less what is refunded or being refunded from it). One pending claim per line.
- The seller answers within SELLER_RESPONSE_HOURS: accept (the amount asked is refunded), offer
  less (the buyer accepts it or escalates), or contest with a note (and photos): a contested
  claim goes to the administrators at once, the buyer has nothing more to do.
- Silence accepts: the job accepts a claim the seller left unanswered (the amount asked), and an
  offer the buyer left unanswered for BUYER_RESPONSE_HOURS (the offer), recorded as
  auto_accepted with no actor; if less is left to refund by then, it grants what is left (0:
  the claim closes), and says so in the event's note.
- Administrators decide escalated claims: 0 up to what the line can still give back, with a
  reason; final.
- Money moves only through payments' refund path, for the claim's one order line: the order is
  locked (orders.lock_order, the lock payments.refunds.request_refund takes) and what is left is
  checked again under that lock before the refund is written, so a claim and an administrator's
  refund of the same line never add up to more than was paid. A person's acceptance that no
  longer fits is refused (409 not_enough_left_to_refund). The claim becomes refunded when the
  refund is confirmed (payments.refunds.refund_confirmed, followed below).
"""
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.services import Role, User
from marketplace.catalog import images as image_pipeline
from marketplace.claims.errors import ClaimErrorCode
from marketplace.claims.models import (
    PENDING_STATUSES,
    Claim,
    ClaimEvent,
    ClaimEventKind,
    ClaimPhoto,
    ClaimReason,
    ClaimSide,
    ClaimStatus,
)
from marketplace.common import storage
from marketplace.common.pagination import Page, paginate
from marketplace.common.time import utcnow
from marketplace.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Order, OrderStatus
from marketplace.payments import refunds
from marketplace.reports import review
from marketplace.reports.review import ClaimRate
from marketplace.stations import cash as station_cash
from marketplace.stations import services as stations

log = logging.getLogger(__name__)

MAX_PHOTOS_PER_SIDE = 4
DELIVERED_STATES = (OrderStatus.DELIVERED, OrderStatus.COMPLETED)
SHIPPED_STATES = (OrderStatus.SHIPPED, OrderStatus.AT_STATION, *DELIVERED_STATES)

__all__ = ["Claim", "ClaimEventKind", "ClaimRate", "ClaimReason", "ClaimStatus"]


class ClaimNotFound(NotFound):
    code = ClaimErrorCode.CLAIM_NOT_FOUND

    def __init__(self, claim_id: int):
        super().__init__(f"No claim with id {claim_id}.", details={"claim_id": claim_id})


class OrderLineNotFound(NotFound):
    code = ClaimErrorCode.ORDER_LINE_NOT_FOUND

    def __init__(self, order_line_id: int):
        super().__init__(f"No order line with id {order_line_id}.", details={"order_line_id": order_line_id})


class IllegalClaimMove(Conflict):
    code = ClaimErrorCode.ILLEGAL_CLAIM_MOVE

    def __init__(self, claim: Claim, action: str):
        super().__init__(f"A claim that is {claim.status} cannot be {action}.",
                         details={"claim_id": claim.id, "status": claim.status, "action": action})


class NotEnoughLeft(Conflict):
    code = ClaimErrorCode.NOT_ENOUGH_LEFT_TO_REFUND

    def __init__(self, claim: Claim, amount_fen: int, left_fen: int):
        super().__init__(f"Only {left_fen} fen of this order line can still be refunded, less than {amount_fen} fen.",
                         details={"claim_id": claim.id, "amount_fen": amount_fen, "refundable_fen": left_fen})


# ---------------------------------------------------------------- who is who on a claim


def _is_claimant(order: Order, user: User) -> bool:
    """The order's buyer, or the partner of the station a villager's checkout was placed through."""
    if order.buyer_user_id == user.id:
        return True
    checkout = order.checkout
    return (checkout.placed_by_user_id is not None and checkout.station_id is not None
            and stations.partner_of(checkout.station_id) == user.id)


def _can_see(claim: Claim, order: Order, user: User) -> bool:
    """Its claimant, its seller, the partner of the station it was delivered to (who pays cash
    refunds back), administrators."""
    return (user.has_role(Role.ADMIN) or claim.seller_user_id == user.id or _is_claimant(order, user)
            or (order.station_id is not None and stations.partner_of(order.station_id) == user.id))


def _order(claim: Claim) -> Order:
    return claim.line.order


def get_claim(claim_id: int, viewer: User) -> Claim:
    """A claim as its buyer (or the buyer's partner), its seller, its station's partner or an
    administrator sees it."""
    claim = db.session.get(Claim, claim_id)
    if claim is None or not _can_see(claim, _order(claim), viewer):
        raise ClaimNotFound(claim_id)
    return claim


def _as_seller(claim_id: int, actor: User) -> Claim:
    claim = get_claim(claim_id, actor)
    if claim.seller_user_id != actor.id:
        raise Forbidden("Only the seller of the order line answers this claim.", code=ClaimErrorCode.NOT_YOUR_CLAIM,
                        details={"claim_id": claim_id})
    return claim


def _as_claimant(claim_id: int, actor: User) -> Claim:
    claim = get_claim(claim_id, actor)
    if not _is_claimant(_order(claim), actor):
        raise Forbidden("Only the buyer who claims (or the partner who ordered for them) can do this.",
                        code=ClaimErrorCode.NOT_YOUR_CLAIM, details={"claim_id": claim_id})
    return claim


def _locked(claim: Claim) -> Claim:
    """The claim read again under its order's lock (the lock every refund of the order takes
    first), then its own row's; every move of a claim takes them in this order."""
    orders.lock_order(claim.order_id)
    return db.session.scalars(select(Claim).where(Claim.id == claim.id).with_for_update(of=Claim)
                              .execution_options(populate_existing=True)).one()


def _event(claim: Claim, kind: ClaimEventKind, actor: User | None, *, amount_fen: int | None = None,
           note: str | None = None, at: datetime | None = None) -> None:
    db.session.add(ClaimEvent(claim_id=claim.id, kind=kind, actor_user_id=actor.id if actor else None,
                              amount_fen=amount_fen, note=note, created_at=at or utcnow()))


def _deadline(setting: str, now: datetime) -> datetime:
    return now + timedelta(hours=current_app.config[setting])


# ---------------------------------------------------------------- opening a claim


def claim_window(order: Order) -> tuple[datetime | None, datetime | None]:
    """When a claim on the order's lines may be opened, (from, until): from delivery (or hand-over)
    until CLAIM_WINDOW_HOURS later, for every reason; a parcel shipped and not yet delivered, as not
    received only, from NOT_RECEIVED_AFTER_DAYS after shipping, with no end yet."""
    config = current_app.config
    if order.status in DELIVERED_STATES and order.delivered_at is not None:
        return order.delivered_at, order.delivered_at + timedelta(hours=config["CLAIM_WINDOW_HOURS"])
    if order.status in SHIPPED_STATES and order.shipped_at is not None:
        return order.shipped_at + timedelta(days=config["NOT_RECEIVED_AFTER_DAYS"]), None
    return None, None


def claimable_lines(order: Order, its_claims: Sequence[Claim]) -> set[int]:
    """The ids of the order's lines a claim may be opened on now: inside the window, none under way."""
    opens, closes = claim_window(order)
    now = utcnow()
    if opens is None or now < opens or (closes is not None and now > closes):
        return set()
    busy = {claim.order_line_id for claim in its_claims if claim.status in PENDING_STATUSES}
    return {line.id for line in order.lines if line.id not in busy}


def _check_window(order: Order, reason: str, now: datetime) -> None:
    config = current_app.config
    details = {"order_id": order.id, "status": order.status}
    if reason == ClaimReason.NOT_RECEIVED:
        if order.status not in SHIPPED_STATES or order.shipped_at is None:
            raise Conflict("This order has not been shipped yet.", code=ClaimErrorCode.LINE_NOT_DELIVERED, details=details)
        opens_at = order.shipped_at + timedelta(days=config["NOT_RECEIVED_AFTER_DAYS"])
        if now < opens_at:
            raise Conflict("A parcel can be claimed as not received only some days after shipping.",
                           code=ClaimErrorCode.NOT_RECEIVED_TOO_EARLY, details={**details, "opens_at": opens_at.isoformat()})
    elif order.status not in DELIVERED_STATES or order.delivered_at is None:
        raise Conflict("This order line has not been delivered yet.", code=ClaimErrorCode.LINE_NOT_DELIVERED,
                       details=details)
    closes_at = claim_window(order)[1]
    if closes_at is not None and now > closes_at:
        raise Conflict("The time to claim for this delivery has passed.", code=ClaimErrorCode.CLAIM_WINDOW_CLOSED,
                       details={**details, "closed_at": closes_at.isoformat()})


def _processed(photos: Sequence[bytes], already: int) -> list[image_pipeline.ProcessedImage]:
    """Every photo through the image pipeline before anything is written (raises ImageRejected)."""
    if already + len(photos) > MAX_PHOTOS_PER_SIDE:
        raise Conflict(f"Each side of a claim may add at most {MAX_PHOTOS_PER_SIDE} photos.",
                       code=ClaimErrorCode.TOO_MANY_CLAIM_PHOTOS, details={"photos": already, "max": MAX_PHOTOS_PER_SIDE})
    max_pixels = current_app.config["IMAGE_MAX_PIXELS"]
    return [image_pipeline.process_upload(content, max_pixels) for content in photos]


def _attach(claim: Claim, side: ClaimSide, actor: User, photos: list[image_pipeline.ProcessedImage]) -> None:
    for photo in photos:
        db.session.add(ClaimPhoto(claim_id=claim.id, side=side, added_by_user_id=actor.id,
                                  image_key=storage.save(photo.display, ".jpg"),
                                  thumbnail_key=storage.save(photo.thumbnail, ".jpg"),
                                  width=photo.width, height=photo.height))


def refundable_fen(order_line_id: int, viewer: User) -> int:
    """What a claim on this line could ask today (for forms); the line must be the viewer's to see."""
    order = orders.order_of_line(order_line_id)
    if order is None:
        raise OrderLineNotFound(order_line_id)
    try:
        orders.get_order(order.id, viewer)
    except NotFound:
        raise OrderLineNotFound(order_line_id) from None
    return refunds.refundable_on_line(order, order_line_id)


def open_claim(order_line_id: int, actor: User, *, reason: str, description: str, amount_fen: int,
               photos: Sequence[bytes] = ()) -> Claim:
    """Open a claim on an order line (see the module's rules); photos go through the image pipeline."""
    now = utcnow()
    order = orders.order_of_line(order_line_id)
    if order is None:
        raise OrderLineNotFound(order_line_id)
    if not _is_claimant(order, actor):
        try:
            orders.get_order(order.id, actor)
        except NotFound:
            raise OrderLineNotFound(order_line_id) from None
        raise Forbidden("Only the order's buyer (or the partner who ordered for them) can claim for it.",
                        code=ClaimErrorCode.NOT_CLAIMANT, details={"order_line_id": order_line_id})
    _check_window(order, reason, now)
    processed = _processed(photos, 0)
    order = orders.lock_order(order.id)
    if db.session.scalar(select(Claim.id).where(Claim.order_line_id == order_line_id,
                                                Claim.status.in_(PENDING_STATUSES))) is not None:
        raise Conflict("This order line already has a claim under way.", code=ClaimErrorCode.CLAIM_ALREADY_OPEN,
                       details={"order_line_id": order_line_id})
    left = refunds.refundable_on_line(order, order_line_id)
    if amount_fen > left:
        raise InvalidInput(f"At most {left} fen of this order line can still be refunded.",
                           code=ClaimErrorCode.CLAIM_EXCEEDS_REFUNDABLE,
                           details={"order_line_id": order_line_id, "refundable_fen": left, "requested_fen": amount_fen})
    claim = Claim(order_id=order.id, order_line_id=order_line_id, buyer_user_id=order.buyer_user_id,
                  seller_user_id=order.seller_user_id, opened_by_user_id=actor.id, reason=reason,
                  description=description.strip(), amount_asked_fen=amount_fen, status=ClaimStatus.OPEN,
                  respond_by=_deadline("SELLER_RESPONSE_HOURS", now), created_at=now)
    db.session.add(claim)
    db.session.flush()
    _attach(claim, ClaimSide.BUYER, actor, processed)
    _event(claim, ClaimEventKind.OPENED, actor, amount_fen=amount_fen, note=reason, at=now)
    try:
        db.session.commit()
    except IntegrityError:  # the partial unique index: another request opened one at the same moment
        db.session.rollback()
        raise Conflict("This order line already has a claim under way.", code=ClaimErrorCode.CLAIM_ALREADY_OPEN,
                       details={"order_line_id": order_line_id}) from None
    return db.session.get(Claim, claim.id)


def add_photo(claim_id: int, actor: User, content: bytes) -> Claim:
    """A photo for a pending claim, from the claimant's side or the seller's (each at most 4)."""
    return add_photos(claim_id, actor, [content])


def add_photos(claim_id: int, actor: User, contents: Sequence[bytes]) -> Claim:
    """Photos for a pending claim, from the claimant's side or the seller's (each at most 4 in
    all): every one through the image pipeline before any is kept, so all are added or none."""
    claim = get_claim(claim_id, actor)
    side = photo_side(claim, actor)
    if side is None:
        raise Forbidden("Only the claimant and the seller add photos to a claim.", code=ClaimErrorCode.NOT_YOUR_CLAIM,
                        details={"claim_id": claim_id})
    claim = _locked(claim)
    if claim.status not in PENDING_STATUSES:
        raise IllegalClaimMove(claim, "given photos")
    processed = _processed(contents, sum(1 for photo in claim.photos if photo.side == side))
    _attach(claim, side, actor, processed)
    for _photo in processed:
        _event(claim, ClaimEventKind.PHOTO_ADDED, actor, note=side)
    db.session.commit()
    return db.session.get(Claim, claim.id, populate_existing=True)


def photo_side(claim: Claim, user: User) -> ClaimSide | None:
    """The side of the claim whose photos ``user`` adds: the seller's, the claimant's, or None."""
    if claim.seller_user_id == user.id:
        return ClaimSide.SELLER
    if _is_claimant(_order(claim), user):
        return ClaimSide.BUYER
    return None


def photos_left(claim: Claim, side: ClaimSide) -> int:
    return MAX_PHOTOS_PER_SIDE - sum(1 for photo in claim.photos if photo.side == side)


# ---------------------------------------------------------------- granting money


def _grant(claim: Claim, amount_fen: int, actor: User | None, kind: ClaimEventKind, *, cap: bool,
           note: str | None = None, now: datetime | None = None) -> int | None:
    """Settle a locked claim at ``amount_fen`` with a refund of its line (the caller commits, then
    sends the refund); ``cap`` grants what is left when less is (else NotEnoughLeft). A grant of
    0 closes the claim. Returns the refund's id, if any."""
    now = now or utcnow()
    order = orders.lock_order(claim.order_id)  # held already: read afresh with what it has refunded
    left = refunds.refundable_on_line(order, claim.order_line_id)
    if amount_fen > left:
        if not cap:
            raise NotEnoughLeft(claim, amount_fen, left)
        note = f"{note + '; ' if note else ''}only {left} fen was left to refund of {amount_fen} fen"
        amount_fen = left
    claim.granted_fen, claim.resolved_at, claim.respond_by = amount_fen, now, None
    _event(claim, kind, actor, amount_fen=amount_fen, note=note, at=now)
    if amount_fen == 0:
        claim.status = ClaimStatus.CLOSED
        if kind != ClaimEventKind.DECIDED:
            _event(claim, ClaimEventKind.CLOSED, None, amount_fen=0, note="nothing left to refund", at=now)
        return None
    refund = refunds.new_refund(order, amount_fen, f"claim {claim.id} ({claim.reason})",
                                requested_by=actor.id if actor else None, on_line=claim.order_line_id)
    db.session.flush()
    claim.status, claim.refund_id = ClaimStatus.ACCEPTED, refund.id
    return refund.id


def _commit_and_send(claim: Claim, refund_id: int | None) -> Claim:
    db.session.commit()
    if refund_id is not None:
        refunds.submit_refunds_quietly([refund_id])
    return db.session.get(Claim, claim.id, populate_existing=True)


# ---------------------------------------------------------------- the seller's answer


def accept_claim(claim_id: int, seller: User) -> Claim:
    """The seller accepts: the amount asked is refunded (409 if less is left by now)."""
    claim = _locked(_as_seller(claim_id, seller))
    if claim.status != ClaimStatus.OPEN:
        raise IllegalClaimMove(claim, "accepted")
    refund_id = _grant(claim, claim.amount_asked_fen, seller, ClaimEventKind.ACCEPTED, cap=False)
    return _commit_and_send(claim, refund_id)


def offer_on_claim(claim_id: int, seller: User, *, amount_fen: int, note: str | None = None) -> Claim:
    """The seller offers less than asked; the buyer then accepts it or escalates."""
    claim = _locked(_as_seller(claim_id, seller))
    if claim.status != ClaimStatus.OPEN:
        raise IllegalClaimMove(claim, "offered")
    if amount_fen >= claim.amount_asked_fen:
        raise InvalidInput("An offer is less than the amount asked; to give all of it, accept the claim.",
                           code=ClaimErrorCode.OFFER_NOT_SMALLER,
                           details={"amount_asked_fen": claim.amount_asked_fen, "offered_fen": amount_fen})
    now = utcnow()
    claim.status, claim.offered_fen, claim.seller_note = ClaimStatus.OFFERED, amount_fen, note
    claim.respond_by = _deadline("BUYER_RESPONSE_HOURS", now)
    _event(claim, ClaimEventKind.OFFERED, seller, amount_fen=amount_fen, note=note, at=now)
    db.session.commit()
    return db.session.get(Claim, claim.id, populate_existing=True)


def contest_claim(claim_id: int, seller: User, *, note: str, photos: Sequence[bytes] = ()) -> Claim:
    """The seller contests with a note (and photos): the claim goes to the administrators at once."""
    claim = _locked(_as_seller(claim_id, seller))
    if claim.status != ClaimStatus.OPEN:
        raise IllegalClaimMove(claim, "contested")
    processed = _processed(photos, sum(1 for photo in claim.photos if photo.side == ClaimSide.SELLER))
    now = utcnow()
    claim.status, claim.seller_note, claim.respond_by = ClaimStatus.ESCALATED, note.strip(), None
    _attach(claim, ClaimSide.SELLER, seller, processed)
    _event(claim, ClaimEventKind.CONTESTED, seller, note=note.strip(), at=now)
    _event(claim, ClaimEventKind.ESCALATED, None, note="contested by the seller", at=now)
    db.session.commit()
    return db.session.get(Claim, claim.id, populate_existing=True)


# ---------------------------------------------------------------- the buyer's answer to an offer


def accept_offer(claim_id: int, actor: User) -> Claim:
    """The claimant accepts the seller's offer: it is refunded (409 if less is left by now)."""
    claim = _locked(_as_claimant(claim_id, actor))
    if claim.status != ClaimStatus.OFFERED:
        raise IllegalClaimMove(claim, "settled at the offer")
    refund_id = _grant(claim, claim.offered_fen, actor, ClaimEventKind.OFFER_ACCEPTED, cap=False)
    return _commit_and_send(claim, refund_id)


def escalate_claim(claim_id: int, actor: User, *, note: str | None = None) -> Claim:
    """The claimant refuses the seller's offer: the administrators decide."""
    claim = _locked(_as_claimant(claim_id, actor))
    if claim.status != ClaimStatus.OFFERED:
        raise IllegalClaimMove(claim, "escalated")
    claim.status, claim.respond_by = ClaimStatus.ESCALATED, None
    _event(claim, ClaimEventKind.ESCALATED, actor, note=note)
    db.session.commit()
    return db.session.get(Claim, claim.id, populate_existing=True)


# ---------------------------------------------------------------- the administrators' decision


def decide_claim(claim_id: int, admin: User, *, amount_fen: int, reason: str) -> Claim:
    """An administrator settles an escalated claim at 0 up to what the line can still give back;
    final, recorded with who and when."""
    claim = db.session.get(Claim, claim_id)
    if claim is None:
        raise ClaimNotFound(claim_id)
    claim = _locked(claim)
    if claim.status != ClaimStatus.ESCALATED:
        raise IllegalClaimMove(claim, "decided")
    left = refunds.refundable_on_line(orders.lock_order(claim.order_id), claim.order_line_id)
    if amount_fen > left:
        raise InvalidInput(f"At most {left} fen of this order line can still be refunded.",
                           code=ClaimErrorCode.DECISION_EXCEEDS_MAXIMUM,
                           details={"claim_id": claim.id, "maximum_fen": left, "amount_fen": amount_fen})
    now = utcnow()
    claim.decided_by_user_id, claim.decided_at, claim.decision_reason = admin.id, now, reason.strip()
    refund_id = _grant(claim, amount_fen, admin, ClaimEventKind.DECIDED, cap=False, note=reason.strip(), now=now)
    return _commit_and_send(claim, refund_id)


# ---------------------------------------------------------------- deadlines (the jobs worker)


def accept_overdue_claims(now: datetime | None = None, batch: int = 200) -> int:
    """Accept what was left unanswered past its deadline: an open claim at the amount asked, an
    offer at the offer; capped at what is left to refund. Each claim commits on its own, so one
    that cannot be refunded (logged, tried again next round) does not hold up the others."""
    now = now or utcnow()
    due = list(db.session.scalars(
        select(Claim.id).where(Claim.status.in_((ClaimStatus.OPEN, ClaimStatus.OFFERED)), Claim.respond_by <= now)
        .order_by(Claim.respond_by, Claim.id).limit(batch)))
    db.session.rollback()
    accepted = 0
    for claim_id in due:
        try:
            claim = _locked(db.session.get(Claim, claim_id))
            if claim.status not in (ClaimStatus.OPEN, ClaimStatus.OFFERED) or claim.respond_by > now:
                db.session.rollback()  # answered meanwhile
                continue
            offered = claim.status == ClaimStatus.OFFERED
            amount = claim.offered_fen if offered else claim.amount_asked_fen
            note = "the buyer did not answer the offer in time" if offered else "the seller did not answer in time"
            refund_id = _grant(claim, amount, None, ClaimEventKind.AUTO_ACCEPTED, cap=True, note=note, now=now)
            _commit_and_send(claim, refund_id)
            accepted += 1
        except AppError as error:
            db.session.rollback()
            log.warning("claim %s not accepted automatically yet: %s", claim_id, error.code)
    return accepted


# ---------------------------------------------------------------- following the refund


def _refund_confirmed(refund, confirmed_at: datetime, **_) -> None:
    """The refund paying a claim is confirmed (in the confirming transaction): the claim is refunded."""
    claim_id = db.session.scalar(
        update(Claim).where(Claim.refund_id == refund.id, Claim.status == ClaimStatus.ACCEPTED)
        .values(status=ClaimStatus.REFUNDED, refunded_at=confirmed_at).returning(Claim.id)
        .execution_options(synchronize_session=False))
    if claim_id is not None:
        db.session.add(ClaimEvent(claim_id=claim_id, kind=ClaimEventKind.REFUNDED, amount_fen=refund.amount_fen,
                                  note=f"refund {refund.id} confirmed", created_at=confirmed_at))


# Connected once, when this module is first imported (create_app imports it with the blueprints,
# in the web app, the CLI and the jobs worker alike).
refunds.refund_confirmed.connect(_refund_confirmed, weak=False)


# ---------------------------------------------------------------- reading


def _status_filter(query, status: str | None):
    return query.where(Claim.status == status) if status else query


def my_claims(viewer: User, *, status: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Claims the viewer made: as the buyer, or opened as the partner for a villager; newest first."""
    query = select(Claim).where(or_(Claim.buyer_user_id == viewer.id, Claim.opened_by_user_id == viewer.id))
    return paginate(_status_filter(query, status).order_by(Claim.id.desc()), page, per_page)


def station_claims(station_id: int, partner: User, *, status: str | None = None, page: int = 1,
                   per_page: int = 20) -> Page:
    """Claims on the orders delivered to one station, newest first, for its partner."""
    station_cash.require_partner(station_id, partner)
    query = select(Claim).join(Order, Order.id == Claim.order_id).where(Order.station_id == station_id)
    return paginate(_status_filter(query, status).order_by(Claim.id.desc()), page, per_page)


def station_claim(claim_id: int, station_id: int, partner: User) -> Claim:
    """One claim on an order delivered to the station, for its partner (another station's is not found)."""
    station_cash.require_partner(station_id, partner)
    claim = get_claim(claim_id, partner)
    if _order(claim).station_id != station_id:
        raise ClaimNotFound(claim_id)
    return claim


def seller_claims(seller: User, *, status: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Claims on the seller's order lines; those awaiting an answer soonest first, then newest."""
    query = select(Claim).where(Claim.seller_user_id == seller.id)
    return paginate(_status_filter(query, status).order_by(Claim.respond_by.asc().nulls_last(), Claim.id.desc()),
                    page, per_page)


def escalated_claims(*, page: int = 1, per_page: int = 20) -> Page:
    """The administrators' queue: escalated claims, oldest first."""
    query = select(Claim).where(Claim.status == ClaimStatus.ESCALATED).order_by(Claim.id)
    return paginate(query, page, per_page)


def claims_of_order(order_id: int, viewer: User) -> list[Claim]:
    """Every claim on an order's lines, for whoever may see the order (its buyer, seller, station
    partner, administrators)."""
    orders.get_order(order_id, viewer)
    return list(db.session.scalars(select(Claim).where(Claim.order_id == order_id).order_by(Claim.id)))


def seller_claim_rate(seller_user_id: int, now: datetime | None = None) -> ClaimRate:
    """Claims accepted / lines delivered of one seller over the last CLAIM_REVIEW_DAYS (the
    figure reports.review computes for its anomaly flags)."""
    return review.seller_claim_rate(seller_user_id, now)
