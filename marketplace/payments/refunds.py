"""Refunds: asked for (whole, by lines or by amount), sent to Stripe once, and settled when Stripe
(or the partner paying cash back) confirms them.

A refund counts against what may still be refunded from the moment it is asked for; it reaches
the ledgers (the seller's settlement, the sales ledger) only when it is confirmed. Stripe is
called only outside transactions that hold locks.
"""
import logging
from datetime import timedelta

from blinker import Namespace
from sqlalchemy import func, select, update

from marketplace.accounts.services import Role, User
from marketplace.common.time import utcnow
from marketplace.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Order, OrderStatus
from marketplace.payments import gateway, settlement
from marketplace.payments.errors import PaymentErrorCode
from marketplace.payments.models import (
    PaymentIntent,
    PaymentIntentStatus,
    Refund,
    RefundLine,
    RefundMethod,
    RefundStatus,
)
from marketplace.reports import ledger

log = logging.getLogger(__name__)

# A refund claimed for sending to Stripe longer ago than this was probably lost with its worker.
REFUND_CLAIM_TIMEOUT = timedelta(minutes=2)
# Refunds that count against what an order may still give back.
OUTSTANDING = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)

# Sent with the refund (sender) inside the transaction that confirms it, whichever way it was
# confirmed (Stripe's answer or webhook, reconciliation, the partner paying cash back), so that a
# domain above payments (claims) can follow its own records in the same transaction without
# payments knowing it.
refund_confirmed = Namespace().signal("refund-confirmed")


class RefundNotFound(NotFound):
    code = PaymentErrorCode.REFUND_NOT_FOUND

    def __init__(self, refund_id: int):
        super().__init__(f"No refund with id {refund_id}.", details={"refund_id": refund_id})


class RefundRejected(InvalidInput):
    code = PaymentErrorCode.REFUND_REJECTED


def refunded_fen(order_id: int, statuses=OUTSTANDING, *, exclude: int | None = None) -> int:
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
        .where(Refund.order_id == order_id, Refund.status.in_(OUTSTANDING))
        .group_by(RefundLine.order_line_id)
    ).all()
    return {line_id: (int(units), int(money)) for line_id, units, money in rows}


def refundable_on_line(order: Order, line_id: int) -> int:
    """What one line of an order can still give back, in fen: its paid amount less what was
    refunded or is being refunded from it, never more than the whole order has left."""
    line = next((line for line in order.lines if line.id == line_id), None)
    if line is None or order.paid_at is None:
        return 0
    on_line = line.line_total_fen - _refunded_by_line(order.id).get(line_id, (0, 0))[1]
    return max(0, min(on_line, order.total_fen - refunded_fen(order.id)))


def _succeeded_intent(checkout_id: int) -> PaymentIntent | None:
    return db.session.scalar(select(PaymentIntent).where(PaymentIntent.checkout_id == checkout_id,
                                                         PaymentIntent.status == PaymentIntentStatus.SUCCEEDED))


def new_refund(order: Order, amount_fen: int, reason: str, *, requested_by: int | None,
               intent: PaymentIntent | None = None, lines: dict[int, int] | None = None,
               on_line: int | None = None) -> Refund:
    """A pending refund of one order (the caller commits). Stripe refunds go back through the
    PaymentIntent that took the money; cash ones are paid back at the station. ``on_line`` puts the
    whole amount on that one order line (no units): a claim's refund; the caller has checked it
    with refundable_on_line under the order's lock."""
    by_cash = order.checkout.payment_method == "cash_at_station"
    intent = None if by_cash else (intent or _succeeded_intent(order.checkout_id))
    if not by_cash and intent is None:
        raise Conflict("No online payment was recorded for this order, so there is nothing to refund through it.",
                       code=PaymentErrorCode.PAYMENT_NOT_FOUND, details={"order_id": order.id})
    refund = Refund(order_id=order.id, checkout_id=order.checkout_id,
                    method=RefundMethod.CASH if by_cash else RefundMethod.STRIPE,
                    amount_fen=amount_fen, status=RefundStatus.PENDING, reason=reason[:300],
                    requested_by_user_id=requested_by, payment_intent_id=intent.id if intent else None)
    if on_line is not None:
        refund.lines = [RefundLine(order_line_id=on_line, quantity=0, amount_fen=amount_fen)]
    else:
        refund.lines = _refund_lines(order, amount_fen, lines)
    db.session.add(refund)
    return refund


def _refund_lines(order: Order, amount_fen: int, units: dict[int, int] | None) -> list[RefundLine]:
    """Which lines a refund's money and units come from, so reports can take them off the right
    county and category. Units go back at their price; money they do not carry (a refund by
    amount, or units of a line that already gave back part of its money by amount) spreads over the
    lines in order, without units. A line never gives back more money than it brought in; only
    shipping is left off the lines."""
    done = _refunded_by_line(order.id)
    money_left = {line.id: line.line_total_fen - done.get(line.id, (0, 0))[1] for line in order.lines}
    prices = {line.id: line.unit_price_fen for line in order.lines}
    counts, shares, left = units or {}, {}, amount_fen
    for line_id in sorted(counts):
        shares[line_id] = min(prices[line_id] * counts[line_id], money_left[line_id], left)
        money_left[line_id] -= shares[line_id]
        left -= shares[line_id]
    for line_id in sorted(money_left):
        spread = min(money_left[line_id], left)
        shares[line_id] = shares.get(line_id, 0) + spread
        left -= spread
    return [RefundLine(order_line_id=line_id, quantity=counts.get(line_id, 0), amount_fen=shares[line_id])
            for line_id in sorted(shares) if counts.get(line_id, 0) or shares[line_id]]


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
            raise Forbidden("Only administrators and the order's seller can refund it.",
                            code=PaymentErrorCode.REFUND_NOT_ALLOWED)
        if order.status != OrderStatus.PAID:
            raise Forbidden("Sellers can refund their orders only before shipping; ask an administrator.",
                            code=PaymentErrorCode.REFUND_NOT_ALLOWED,
                            details={"order_id": order.id, "status": order.status})
    order = orders.lock_order(order_id)
    if order.paid_at is None:
        raise Conflict("This order was never paid, so there is nothing to refund.", code=PaymentErrorCode.ORDER_NOT_PAID,
                       details={"order_id": order.id, "status": order.status})
    already = refunded_fen(order.id)
    refundable = order.total_fen - already
    units: dict[int, int] = {}
    if lines:
        remaining = _remaining_units(order)
        prices = {line.id: line.unit_price_fen for line in order.lines}
        for item in lines:
            line_id, quantity = item["order_line_id"], item["quantity"]
            if line_id not in remaining:
                raise RefundRejected(f"Order line {line_id} is not part of order {order.id}.",
                                     code=PaymentErrorCode.UNKNOWN_ORDER_LINE, details={"order_line_id": line_id})
            if line_id in units:
                raise RefundRejected("Each order line may appear once in a refund.",
                                     code=PaymentErrorCode.DUPLICATE_ORDER_LINE, details={"order_line_id": line_id})
            if quantity > remaining[line_id]:
                raise RefundRejected(f"Only {remaining[line_id]} unit(s) of line {line_id} can still be refunded.",
                                     code=PaymentErrorCode.REFUND_EXCEEDS_UNITS,
                                     details={"order_line_id": line_id, "refundable_units": remaining[line_id]})
            units[line_id] = quantity
        amount = sum(prices[line_id] * quantity for line_id, quantity in units.items())
    elif amount_fen is not None:
        amount = amount_fen
    else:
        amount = refundable
        units = {line_id: left for line_id, left in _remaining_units(order).items() if left > 0}
    if refundable <= 0:
        raise Conflict("This order has already been refunded in full.", code=PaymentErrorCode.NOTHING_TO_REFUND,
                       details={"order_id": order.id, "paid_fen": order.total_fen, "refunded_fen": already})
    if amount > refundable:
        raise RefundRejected(f"At most {refundable} fen of this order can still be refunded.",
                             code=PaymentErrorCode.REFUND_EXCEEDS_PAID,
                             details={"paid_fen": order.total_fen, "refunded_fen": already, "refundable_fen": refundable,
                                      "requested_fen": amount})
    refund = new_refund(order, amount, reason, requested_by=actor.id, lines=units)
    db.session.commit()
    submit_refunds_quietly([refund.id])
    return db.session.get(Refund, refund.id)


def refund_the_rest(order: Order, reason: str, *, requested_by: int) -> Refund | None:
    """A pending refund of all a paid order has not given back yet, or None if nothing is left
    (or it was never paid); the caller commits, then sends it with submit_refunds_quietly."""
    if order.paid_at is None:
        return None
    left = order.total_fen - refunded_fen(order.id)
    if left <= 0:
        return None
    units = {line_id: units for line_id, units in _remaining_units(order).items() if units > 0}
    return new_refund(order, left, reason, requested_by=requested_by, lines=units)


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
        update(Refund).where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING,
                             Refund.method == RefundMethod.STRIPE, Refund.stripe_refund_id.is_(None),
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
    # FOR NO KEY UPDATE: it serializes what is recorded about this intent's refunds, yet lets a
    # cancel or refund that holds the checkout insert a refund row referring to the intent (a
    # foreign-key check, FOR KEY SHARE) while this waits for the checkout: no deadlock.
    intent = db.session.scalars(select(PaymentIntent).where(PaymentIntent.id == intent.id)
                                .with_for_update(key_share=True)).one()
    settle_stripe_refund(intent, stripe_refund)
    db.session.commit()
    return db.session.get(Refund, refund_id)


def settle_stripe_refund(intent: PaymentIntent, stripe_refund: gateway.StripeRefund) -> bool | None:
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
    if stripe_refund.status == gateway.StripeRefundStatus.SUCCEEDED:
        return confirm_refund(refund)
    if stripe_refund.status in (gateway.StripeRefundStatus.FAILED, gateway.StripeRefundStatus.CANCELED):
        moved = db.session.execute(
            update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.PENDING)
            .values(status=RefundStatus.FAILED, failure=(stripe_refund.failure_reason or stripe_refund.status)[:300])
            .execution_options(synchronize_session=False)).rowcount
        return bool(moved)
    return False


def confirm_refund(refund: Refund) -> bool:
    """A pending refund is confirmed: it reaches the seller's ledger and the sales ledger (the
    caller commits). False if it was confirmed before."""
    now = utcnow()
    moved = db.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.PENDING)
        .values(status=RefundStatus.SUCCEEDED, confirmed_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        return False
    # One order's refunds are confirmed one at a time, so each sees the ones before it (commission).
    order = orders.lock_order(refund.order_id)
    if settlement.debit_refund(refund, order, refunded_fen(order.id, (RefundStatus.SUCCEEDED,), exclude=refund.id)):
        ledger.record_refund(refund, order, now)
    refund_confirmed.send(refund, confirmed_at=now)
    return True


def refunds_of(order_id: int, viewer: User) -> list[Refund]:
    orders.get_order(order_id, viewer)
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))
