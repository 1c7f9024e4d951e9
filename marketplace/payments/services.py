"""Payment use cases: paying a checkout through Stripe, applying Stripe events exactly once,
refunds, and cash collected at a station.

Rules:
- Stripe is called only outside transactions that hold locks (stock, orders, refunds); what it
  answers is recorded in a short transaction afterwards.
- An order becomes paid only from a verified Stripe event (or a re-fetch of the PaymentIntent by
  reconciliation) or a recorded cash collection.
- Each Stripe event id is stored in the same transaction as its effect, so an event is applied
  once however often it comes. A PaymentIntent's status only moves up by rank (failed <
  cancelled < succeeded), so events applied in any order end in the same state.
- A refund counts against what may still be refunded from the moment it is asked for; it
  reaches the ledgers only when Stripe confirms it (or the partner records the cash paid back).
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import Role, User
from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import upsert
from marketplace.common.time import as_utc, utcnow
from marketplace.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.lifecycle import OrderStatus
from marketplace.orders.models import Checkout, Order
from marketplace.payments import gateway, settlement
from marketplace.payments.models import PaymentIntent, Refund, RefundLine, StripeEvent
from marketplace.reports import ledger
from marketplace.stations import cash

log = logging.getLogger(__name__)

# How far each Stripe status has got; a status only ever moves to a higher rank.
INTENT_RANK = {"requires_payment_method": 1, "requires_confirmation": 1, "requires_action": 1, "processing": 1,
               "requires_capture": 1, "canceled": 2, "succeeded": 3}
# A refund claimed for sending to Stripe longer ago than this was probably lost with its worker.
REFUND_CLAIM_TIMEOUT = timedelta(minutes=2)


class CheckoutNotPayable(Conflict):
    code = "checkout_not_payable"

    def __init__(self, checkout: Checkout, why: str):
        super().__init__(why, details={"checkout_id": checkout.id, "status": checkout.status})


class RefundNotFound(NotFound):
    code = "refund_not_found"

    def __init__(self, refund_id: int):
        super().__init__(f"No refund with id {refund_id}.", details={"refund_id": refund_id})


# ---------------------------------------------------------------- paying a checkout with Stripe


@dataclass
class PaymentStart:
    checkout: Checkout
    intent: PaymentIntent
    remote: gateway.Intent | None  # what Stripe says now (None when only the local record was read)
    created: bool = False


def _latest_intent(checkout_id: int) -> PaymentIntent | None:
    return db.session.scalar(select(PaymentIntent).where(PaymentIntent.checkout_id == checkout_id)
                             .order_by(PaymentIntent.attempt.desc()).limit(1))


def _check_payable(checkout: Checkout, *, in_cash: bool) -> None:
    if checkout.payment_method == "cash_at_station" and not in_cash:
        raise Conflict("This checkout is paid in cash at its service station.", code="paid_at_station",
                       details={"checkout_id": checkout.id})
    if checkout.payment_method != "cash_at_station" and in_cash:
        raise Conflict("This checkout is paid online, not in cash.", code="not_cash_checkout",
                       details={"checkout_id": checkout.id})
    if checkout.status == OrderStatus.PAID:
        raise CheckoutNotPayable(checkout, "This checkout is already paid.")
    if checkout.status != OrderStatus.PENDING_PAYMENT or as_utc(checkout.expires_at) <= utcnow():
        state = "expired" if checkout.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED) else checkout.status
        raise CheckoutNotPayable(checkout, f"This checkout is {state} and can no longer be paid; place a new one.")


def start_payment(checkout_id: int, viewer: User) -> PaymentStart:
    """Create the checkout's PaymentIntent, or return the live one (with a fresh client secret).

    A checkout gets a new intent only after its previous one was cancelled. Two requests racing
    to create the first intent both ask Stripe (with the same idempotency key, which Stripe uses
    to return one intent); if Stripe still made two, the loser's intent is cancelled and both
    requests answer with the winner's.
    """
    checkout = orders.get_checkout(checkout_id, viewer)
    latest = _latest_intent(checkout.id)
    if latest is not None and latest.status != "canceled":
        if latest.status == "succeeded":
            raise CheckoutNotPayable(checkout, "This checkout is already paid.")
        _check_payable(checkout, in_cash=False)
        db.session.rollback()  # hold nothing while Stripe answers
        return PaymentStart(checkout, latest, gateway.retrieve_payment_intent(latest.stripe_id))
    _check_payable(checkout, in_cash=False)
    attempt = latest.attempt + 1 if latest else 1
    amount = orders.amount_due_fen(checkout)
    method, currency = checkout.payment_method, checkout.currency
    db.session.rollback()
    remote = gateway.create_payment_intent(
        amount_fen=amount, currency=currency, method=method,
        idempotency_key=f"checkout-{checkout_id}-attempt-{attempt}",
        metadata={"checkout_id": str(checkout_id), "attempt": str(attempt)},
    )
    record = PaymentIntent(checkout_id=checkout_id, attempt=attempt, stripe_id=remote.id, payment_method=method,
                           amount_fen=amount, currency=currency, status=remote.status)
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        winner = db.session.scalar(select(PaymentIntent).where(PaymentIntent.checkout_id == checkout_id,
                                                               PaymentIntent.attempt == attempt))
        if winner is None:
            raise
        if winner.stripe_id != remote.id:
            _cancel_quietly(remote.id)
            remote = gateway.retrieve_payment_intent(winner.stripe_id)
        return PaymentStart(db.session.get(Checkout, checkout_id), winner, remote)
    return PaymentStart(db.session.get(Checkout, checkout_id), record, remote, created=True)


def _cancel_quietly(stripe_id: str) -> None:
    try:
        gateway.cancel_payment_intent(stripe_id)
    except AppError:
        log.warning("could not cancel duplicate payment intent %s; reconciliation will see it", stripe_id)


def payment_of(checkout_id: int, viewer: User) -> PaymentStart:
    """The checkout's latest PaymentIntent as recorded here (no call to Stripe)."""
    checkout = orders.get_checkout(checkout_id, viewer)
    intent = _latest_intent(checkout.id)
    if intent is None:
        raise NotFound("This checkout has no online payment yet.", code="payment_not_found",
                       details={"checkout_id": checkout_id})
    return PaymentStart(checkout, intent, None)


# ---------------------------------------------------------------- Stripe events


@dataclass
class EventResult:
    outcome: str  # applied, unchanged, ignored, flagged, or duplicate (already recorded)
    note: str | None = None
    refund_ids: list[int] = field(default_factory=list)


# What reading a well-signed event whose object is not shaped as Stripe's can raise.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError)

HANDLED_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                  "charge.refunded")


def receive_webhook(payload: bytes, signature_header: str | None) -> EventResult:
    """Verify a webhook delivery, apply its event once, then send any refunds it caused to Stripe."""
    event = gateway.verify_webhook(payload, signature_header)
    stripe_refunds = None
    if event["type"] == "charge.refunded":
        try:
            stripe_refunds = _refunds_in(event["data"]["object"])
        except MALFORMED:
            stripe_refunds = None  # apply_stripe_event finds the same fault and flags the event
    result = apply_stripe_event(event, stripe_refunds=stripe_refunds)
    submit_refunds_quietly(result.refund_ids)
    return result


def _refunds_in(charge: dict) -> list[gateway.StripeRefund]:
    """The refunds of a charge event; newer API versions leave them out, so then ask Stripe."""
    listed = (charge.get("refunds") or {}).get("data")
    if isinstance(listed, list):
        return [gateway.refund_from(item) for item in listed if isinstance(item, dict)]
    if isinstance(charge.get("payment_intent"), str):
        return gateway.list_refunds(charge["payment_intent"])
    return []


def apply_stripe_event(event: dict, *, source: str = "webhook",
                       stripe_refunds: list[gateway.StripeRefund] | None = None) -> EventResult:
    """Apply one verified Stripe event exactly once, recording its id in the same transaction."""
    kind = event["type"]
    obj = event["data"]["object"]
    intent_id = obj.get("id") if kind.startswith("payment_intent.") else obj.get("payment_intent")
    if not isinstance(intent_id, str) or len(intent_id) > 255:
        intent_id = None
    # A second delivery of this event stops here, after waiting for the first to commit: the row
    # is already there, and the insert does nothing (no unique-violation error in either log).
    record_id = db.session.execute(
        upsert(StripeEvent).values(stripe_event_id=event["id"], type=kind[:80], source=source, outcome="applied",
                                   stripe_payment_intent_id=intent_id)
        .on_conflict_do_nothing(index_elements=["stripe_event_id"]).returning(StripeEvent.id)
    ).scalar_one_or_none()
    if record_id is None:
        db.session.rollback()
        return EventResult("duplicate")
    if kind not in HANDLED_EVENTS:
        result = EventResult("ignored")
    elif intent_id is None:
        result = EventResult("flagged", "The event names no PaymentIntent.")
    else:
        intent = db.session.scalars(select(PaymentIntent).where(PaymentIntent.stripe_id == intent_id)
                                    .with_for_update().execution_options(populate_existing=True)).one_or_none()
        if intent is None:
            result = EventResult("flagged", f"PaymentIntent {intent_id} was not created by this marketplace.")
        else:
            try:
                result = _HANDLERS[kind](intent, obj, event, stripe_refunds)
            except MALFORMED:
                db.session.rollback()
                db.session.add(StripeEvent(stripe_event_id=event["id"], type=kind[:80], source=source,
                                           stripe_payment_intent_id=intent_id, outcome="flagged",
                                           note="The event's object is malformed."))
                db.session.commit()
                return EventResult("flagged", "The event's object is malformed.")
    db.session.execute(update(StripeEvent).where(StripeEvent.id == record_id).values(
        outcome=result.outcome, note=result.note[:300] if result.note else None))
    db.session.commit()
    return result


def _record_sales(outcome: orders.Settlement) -> None:
    """Orders just paid: their sellers are credited and the sales ledger counts them."""
    for order in outcome.paid:
        settlement.credit_sale(order)
        ledger.record_sale(order, outcome.paid_at)


def _payment_succeeded(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    amount, currency = int(obj["amount"]), str(obj["currency"]).lower()
    if amount != intent.amount_fen or currency != intent.currency:
        return EventResult("flagged", f"Stripe reports {amount} {currency}, but the checkout asked for "
                                      f"{intent.amount_fen} {intent.currency}; not applied.")
    if intent.status == "succeeded":
        return EventResult("unchanged")
    intent.status = "succeeded"
    intent.succeeded_at = utcnow()
    intent.last_error = None
    checkout = orders.lock_checkout(intent.checkout_id)
    outcome = orders.settle_checkout_payment(checkout, covers_orders_since=intent.created_at,
                                             note=f"paid through Stripe ({intent.stripe_id})")
    _record_sales(outcome)
    refunds = [_new_refund(order, order.total_fen, why, requested_by=None, intent=intent)
               for order, why in outcome.refund]
    if not outcome.paid and not refunds:
        return EventResult("flagged", "The checkout was already settled by another payment; refund this one by hand.")
    db.session.flush()
    note = f"{len(outcome.paid)} order(s) paid" + (f", {len(refunds)} refunded automatically" if refunds else "")
    return EventResult("applied", note, [refund.id for refund in refunds])


def _payment_failed(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    if INTENT_RANK.get(intent.status, 0) > 1:
        return EventResult("unchanged", f"The payment is already {intent.status}.")
    error = gateway.intent_from(obj).last_error
    intent.status = "requires_payment_method"
    intent.last_error = (error or "The payment failed.")[:300]
    return EventResult("applied", intent.last_error)


def _payment_canceled(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    if INTENT_RANK.get(intent.status, 0) >= INTENT_RANK["canceled"]:
        return EventResult("unchanged", f"The payment is already {intent.status}.")
    intent.status = "canceled"
    return EventResult("applied", "The payment was cancelled; the checkout can be paid again until it expires.")


def _charge_refunded(intent: PaymentIntent, obj: dict, event: dict,
                     stripe_refunds: list[gateway.StripeRefund] | None) -> EventResult:
    if stripe_refunds is None:
        stripe_refunds = [gateway.refund_from(item) for item in (obj.get("refunds") or {}).get("data") or []]
    changed, unknown = 0, []
    for stripe_refund in stripe_refunds:
        result = _settle_stripe_refund(intent, stripe_refund)
        if result is None:
            unknown.append(f"{stripe_refund.id} ({stripe_refund.amount} fen)")
        changed += result is True
    if unknown:
        return EventResult("flagged", "Refunds not made through this marketplace: " + ", ".join(unknown))
    return EventResult("applied" if changed else "unchanged", f"{changed} refund(s) confirmed" if changed else None)


_HANDLERS = {"payment_intent.succeeded": _payment_succeeded, "payment_intent.payment_failed": _payment_failed,
             "payment_intent.canceled": _payment_canceled, "charge.refunded": _charge_refunded}


def flagged_events(page: int = 1, per_page: int = 50) -> Page:
    """Events that were recorded but not applied, for an administrator to look into."""
    return paginate(select(StripeEvent).where(StripeEvent.outcome == "flagged").order_by(StripeEvent.id.desc()),
                    page, per_page)


# ---------------------------------------------------------------- refunds


class RefundRejected(InvalidInput):
    code = "refund_rejected"


def _refunded_fen(order_id: int, statuses=("pending", "succeeded"), *, exclude: int | None = None) -> int:
    query = select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(Refund.order_id == order_id,
                                                                         Refund.status.in_(statuses))
    if exclude is not None:
        query = query.where(Refund.id != exclude)
    return db.session.scalar(query)


def _refunded_by_line(order_id: int) -> dict[int, tuple[int, int]]:
    """Units and money already given back (or on their way) per order line."""
    rows = db.session.execute(
        select(RefundLine.order_line_id, func.sum(RefundLine.quantity), func.sum(RefundLine.amount_fen))
        .join(Refund, Refund.id == RefundLine.refund_id)
        .where(Refund.order_id == order_id, Refund.status.in_(("pending", "succeeded")))
        .group_by(RefundLine.order_line_id)
    ).all()
    return {line_id: (int(units), int(money)) for line_id, units, money in rows}


def _succeeded_intent(checkout_id: int) -> PaymentIntent | None:
    return db.session.scalar(select(PaymentIntent).where(PaymentIntent.checkout_id == checkout_id,
                                                         PaymentIntent.status == "succeeded"))


def _new_refund(order: Order, amount_fen: int, reason: str, *, requested_by: int | None,
                intent: PaymentIntent | None = None, lines: dict[int, int] | None = None) -> Refund:
    """A pending refund of one order (the caller commits). Stripe refunds go back through the
    PaymentIntent that took the money; cash ones are paid back at the station."""
    by_cash = order.checkout.payment_method == "cash_at_station"
    intent = None if by_cash else (intent or _succeeded_intent(order.checkout_id))
    if not by_cash and intent is None:
        raise Conflict("No online payment was recorded for this order, so there is nothing to refund through it.",
                       code="payment_not_found", details={"order_id": order.id})
    refund = Refund(order_id=order.id, checkout_id=order.checkout_id, method="cash" if by_cash else "stripe",
                    amount_fen=amount_fen, status="pending", reason=reason[:300], requested_by_user_id=requested_by,
                    payment_intent_id=intent.id if intent else None)
    refund.lines = _refund_lines(order, amount_fen, lines)
    db.session.add(refund)
    return refund


def _refund_lines(order: Order, amount_fen: int, units: dict[int, int] | None) -> list[RefundLine]:
    """Which lines a refund's money and units come from, so reports can take them off the right
    county and category. Units go back at their price; a refund by amount spreads its money over
    the lines in order, without units. A line never gives back more money than it brought in."""
    done = _refunded_by_line(order.id)
    money_left = {line.id: line.line_total_fen - done.get(line.id, (0, 0))[1] for line in order.lines}
    prices = {line.id: line.unit_price_fen for line in order.lines}
    left, result = amount_fen, []
    for line_id in sorted(units) if units else sorted(money_left):
        count = units[line_id] if units else 0
        share = min(prices[line_id] * count if units else money_left[line_id], money_left[line_id], left)
        left -= share
        if count or share:
            result.append(RefundLine(order_line_id=line_id, quantity=count, amount_fen=share))
    return result


def _remaining_units(order: Order) -> dict[int, int]:
    done = _refunded_by_line(order.id)
    return {line.id: line.quantity - done.get(line.id, (0, 0))[0] for line in order.lines}


def request_refund(order_id: int, actor: User, *, reason: str, lines: list[dict] | None = None,
                   amount_fen: int | None = None) -> Refund:
    """Refund a paid order, whole (neither lines nor amount), by lines, or by an amount in fen.

    Administrators may refund any paid order; its seller only before shipping. The refund is
    sent to Stripe at once (or waits for the partner to pay cash back); if Stripe cannot be
    reached it stays pending and the reconciliation job sends it later.
    """
    order = orders.get_order(order_id, actor)
    if not actor.has_role(Role.ADMIN):
        if order.seller_user_id != actor.id:
            raise Forbidden("Only administrators and the order's seller can refund it.", code="refund_not_allowed")
        if order.status != OrderStatus.PAID:
            raise Forbidden("Sellers can refund their orders only before shipping; ask an administrator.",
                            code="refund_not_allowed", details={"order_id": order.id, "status": order.status})
    order = db.session.scalars(select(Order).where(Order.id == order_id).with_for_update()
                               .execution_options(populate_existing=True)).one()
    if order.paid_at is None:
        raise Conflict("This order was never paid, so there is nothing to refund.", code="order_not_paid",
                       details={"order_id": order.id, "status": order.status})
    already = _refunded_fen(order.id)
    refundable = order.total_fen - already
    units: dict[int, int] = {}
    if lines:
        remaining = _remaining_units(order)
        prices = {line.id: line.unit_price_fen for line in order.lines}
        for item in lines:
            line_id, quantity = item["order_line_id"], item["quantity"]
            if line_id not in remaining:
                raise RefundRejected(f"Order line {line_id} is not part of order {order.id}.",
                                     code="unknown_order_line", details={"order_line_id": line_id})
            if line_id in units:
                raise RefundRejected("Each order line may appear once in a refund.", code="duplicate_order_line",
                                     details={"order_line_id": line_id})
            if quantity > remaining[line_id]:
                raise RefundRejected(f"Only {remaining[line_id]} unit(s) of line {line_id} can still be refunded.",
                                     code="refund_exceeds_units",
                                     details={"order_line_id": line_id, "refundable_units": remaining[line_id]})
            units[line_id] = quantity
        amount = sum(prices[line_id] * quantity for line_id, quantity in units.items())
    elif amount_fen is not None:
        amount = amount_fen
    else:
        amount = refundable
        units = {line_id: left for line_id, left in _remaining_units(order).items() if left > 0}
    if refundable <= 0:
        raise Conflict("This order has already been refunded in full.", code="nothing_to_refund",
                       details={"order_id": order.id, "paid_fen": order.total_fen, "refunded_fen": already})
    if amount > refundable:
        raise RefundRejected(f"At most {refundable} fen of this order can still be refunded.",
                             code="refund_exceeds_paid",
                             details={"paid_fen": order.total_fen, "refunded_fen": already, "refundable_fen": refundable,
                                      "requested_fen": amount})
    refund = _new_refund(order, amount, reason, requested_by=actor.id, lines=units)
    db.session.commit()
    submit_refunds_quietly([refund.id])
    return db.session.get(Refund, refund.id)


def cancel_order(order_id: int, actor: User, *, note: str | None = None) -> Order:
    """Cancel an order before shipping; stock returns, and a paid order's money goes back."""
    created: list[Refund] = []

    def refund_if_paid(order: Order) -> None:
        if order.paid_at is None:
            return
        left = order.total_fen - _refunded_fen(order.id)
        if left > 0:
            units = {line_id: units for line_id, units in _remaining_units(order).items() if units > 0}
            created.append(_new_refund(order, left, "Order cancelled" + (f": {note}" if note else "."),
                                       requested_by=actor.id, lines=units))

    order = orders.move_order(order_id, "cancel", actor, note=note, before_commit=refund_if_paid)
    submit_refunds_quietly([refund.id for refund in created])
    return order


def submit_refunds_quietly(refund_ids: list[int]) -> None:
    """Send refunds to Stripe now; one that cannot be sent stays pending for the reconciliation job."""
    for refund_id in refund_ids:
        try:
            submit_refund(refund_id)
        except AppError as error:
            db.session.rollback()
            log.warning("refund %s not sent to Stripe yet: %s", refund_id, error.code)


def submit_refund(refund_id: int, *, known: list[gateway.StripeRefund] | None = None) -> Refund:
    """Send one pending Stripe refund, claimed first so that two workers never both send it.

    A refund sent before whose answer was lost (its worker died after Stripe answered) is looked
    up among the PaymentIntent's refunds (by our id in its metadata) before it is sent again. A
    send that fails releases its claim, so the next reconciliation tries again at once."""
    refund = db.session.get(Refund, refund_id, populate_existing=True)
    if refund is None:
        raise RefundNotFound(refund_id)
    sent_before = refund.submitted_at is not None
    now = utcnow()
    claimed = db.session.execute(
        update(Refund).where(Refund.id == refund_id, Refund.status == "pending", Refund.method == "stripe",
                             Refund.stripe_refund_id.is_(None),
                             (Refund.submitted_at.is_(None)) | (Refund.submitted_at < now - REFUND_CLAIM_TIMEOUT))
        .values(submitted_at=now).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return db.session.get(Refund, refund_id)
    intent = db.session.get(PaymentIntent, refund.payment_intent_id)
    amount, metadata = refund.amount_fen, {"refund_id": str(refund.id), "order_id": str(refund.order_id),
                                           "checkout_id": str(refund.checkout_id)}
    db.session.rollback()
    try:
        stripe_refund = None
        if sent_before or known is not None:
            listed = known if known is not None else gateway.list_refunds(intent.stripe_id)
            stripe_refund = next((r for r in listed if r.metadata.get("refund_id") == str(refund_id)), None)
        if stripe_refund is None:
            stripe_refund = gateway.create_refund(payment_intent=intent.stripe_id, amount_fen=amount,
                                                  idempotency_key=f"refund-{refund_id}", metadata=metadata)
    except AppError:
        db.session.rollback()
        # Stripe answered no, or nothing (it may still have made the refund): release the claim but
        # keep it marked as sent, so the next attempt looks among Stripe's refunds before sending.
        db.session.execute(update(Refund).where(Refund.id == refund_id, Refund.stripe_refund_id.is_(None))
                           .values(submitted_at=now - REFUND_CLAIM_TIMEOUT - timedelta(seconds=1))
                           .execution_options(synchronize_session=False))
        db.session.commit()
        raise
    intent = db.session.scalars(select(PaymentIntent).where(PaymentIntent.id == intent.id).with_for_update()).one()
    _settle_stripe_refund(intent, stripe_refund)
    db.session.commit()
    return db.session.get(Refund, refund_id)


def _settle_stripe_refund(intent: PaymentIntent, stripe_refund: gateway.StripeRefund) -> bool | None:
    """Record what Stripe says about one refund: True if it changed something here, False if
    already known, None if the refund was not made through this marketplace."""
    refund = db.session.scalar(select(Refund).where(Refund.stripe_refund_id == stripe_refund.id))
    if refund is None and stripe_refund.metadata.get("refund_id", "").isdigit():
        refund = db.session.get(Refund, int(stripe_refund.metadata["refund_id"]))
        if refund is not None and (refund.payment_intent_id != intent.id or refund.stripe_refund_id not in (None, stripe_refund.id)):
            refund = None
    if refund is None:
        return None
    if refund.stripe_refund_id is None:
        refund.stripe_refund_id = stripe_refund.id
    if stripe_refund.status == "succeeded":
        return _confirm_refund(refund)
    if stripe_refund.status in ("failed", "canceled"):
        moved = db.session.execute(
            update(Refund).where(Refund.id == refund.id, Refund.status == "pending")
            .values(status="failed", failure=(stripe_refund.failure_reason or stripe_refund.status)[:300])
            .execution_options(synchronize_session=False)).rowcount
        return bool(moved)
    return False


def _confirm_refund(refund: Refund, *, cash_by: User | None = None) -> bool:
    """A pending refund is confirmed: it reaches the seller's ledger (and the station's, for cash)."""
    now = utcnow()
    moved = db.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == "pending")
        .values(status="succeeded", confirmed_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        return False
    # One order's refunds are confirmed one at a time, so each sees the ones before it (commission).
    order = db.session.scalars(select(Order).where(Order.id == refund.order_id).with_for_update()).one()
    if settlement.debit_refund(refund, order, _refunded_fen(order.id, ("succeeded",), exclude=refund.id)):
        ledger.record_refund(refund, order, now)
    if cash_by is not None:
        cash.add_entry(order.station_id, "refund", refund.amount_fen, cash_by, refund_id=refund.id,
                       note=f"cash paid back for order {order.id}")
    return True


def refunds_of(order_id: int, viewer: User) -> list[Refund]:
    orders.get_order(order_id, viewer)
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))


# ---------------------------------------------------------------- cash at the station


def record_cash_collection(checkout_id: int, partner: User, *, amount_fen: int) -> Checkout:
    """The station's partner took the buyer's cash for the whole checkout: its orders become paid.

    The amount must equal what the checkout owes; partial collections are refused."""
    checkout = db.session.get(Checkout, checkout_id)
    if checkout is None:
        raise orders.CheckoutNotFound(checkout_id)
    if checkout.payment_method != "cash_at_station":
        raise Conflict("This checkout is paid online, not in cash.", code="not_cash_checkout",
                       details={"checkout_id": checkout.id})
    cash.require_partner(checkout.station_id, partner)
    checkout = orders.lock_checkout(checkout_id)
    _check_payable(checkout, in_cash=True)
    due = orders.amount_due_fen(checkout)
    if amount_fen != due:
        raise InvalidInput(f"The checkout owes {due} fen; collect exactly that amount (partial payments are not allowed).",
                           code="cash_amount_mismatch", details={"due_fen": due, "amount_fen": amount_fen})
    cash.add_entry(checkout.station_id, "collection", due, partner, checkout_id=checkout.id,
                   note=f"cash for checkout {checkout.id}")
    outcome = orders.settle_checkout_payment(checkout, covers_orders_since=utcnow(), note="cash collected at the station")
    _record_sales(outcome)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise CheckoutNotPayable(db.session.get(Checkout, checkout_id),
                                 "The cash for this checkout was already collected.") from None
    return db.session.get(Checkout, checkout_id)


def record_cash_refund(refund_id: int, partner: User) -> Refund:
    """The station's partner paid a cash refund back to the buyer."""
    refund = db.session.get(Refund, refund_id)
    if refund is None:
        raise RefundNotFound(refund_id)
    order = db.session.get(Order, refund.order_id)
    if refund.method != "cash":
        raise Conflict("This refund goes back through the online payment, not in cash.", code="not_cash_refund",
                       details={"refund_id": refund_id})
    cash.require_partner(order.station_id, partner)
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
    if not _confirm_refund(refund, cash_by=partner):
        raise Conflict("This refund was already paid back.", code="refund_already_settled",
                       details={"refund_id": refund_id})
    db.session.commit()
    return db.session.get(Refund, refund_id)

