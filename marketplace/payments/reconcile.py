"""Reconciliation: ask Stripe about recent payments and repair what webhooks missed.

For each PaymentIntent created in the window it re-fetches the intent and, where money moved,
its refunds. A status Stripe knows and this database does not is applied through the same code
as a webhook, under a synthetic event id (``reconcile:<object id>:<status>``), so a late webhook
and a reconciliation run cannot both apply it. Refunds still waiting to be sent are sent.
Each change is returned as one printable line.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select

from marketplace.common.time import utcnow
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import OrderStatus
from marketplace.payments import gateway
from marketplace.payments.events import INTENT_RANK, apply_stripe_event
from marketplace.payments.models import (
    EventOutcome,
    EventSource,
    PaymentIntent,
    PaymentIntentStatus,
    Refund,
    RefundStatus,
)
from marketplace.payments.refunds import submit_refund

log = logging.getLogger(__name__)

INTENT_EVENTS = {PaymentIntentStatus.SUCCEEDED: "payment_intent.succeeded",
                 PaymentIntentStatus.CANCELED: "payment_intent.canceled",
                 PaymentIntentStatus.REQUIRES_PAYMENT_METHOD: "payment_intent.payment_failed"}
# What is worth a line of the report: an event applied now, or one flagged for review.
REPORTED = (EventOutcome.APPLIED, EventOutcome.FLAGGED)


def _intents(since: datetime, only_open: bool) -> list[PaymentIntent]:
    query = select(PaymentIntent).where(PaymentIntent.created_at >= since).order_by(PaymentIntent.id)
    if only_open:
        pending_refund = exists().where(Refund.payment_intent_id == PaymentIntent.id,
                                        Refund.status == RefundStatus.PENDING)
        settled = (PaymentIntentStatus.SUCCEEDED, PaymentIntentStatus.CANCELED)
        query = query.where(or_(PaymentIntent.status.not_in(settled), pending_refund))
    return list(db.session.scalars(query))


def reconcile(since: datetime | None = None, *, only_open: bool = False, window_hours: int = 72,
              fail_if_unreachable: bool = False) -> list[str]:
    """Repair local payment state from Stripe for intents created since ``since``.

    ``only_open`` (the periodic job) skips intents that are settled here with no refund pending;
    the command looks at every intent in the window. With ``fail_if_unreachable`` (the job, which
    the worker retries with backoff), intents Stripe did not answer about raise
    PaymentProviderUnavailable once every other intent has been checked."""
    since = since or utcnow() - timedelta(hours=window_hours)
    changes: list[str] = []
    unreachable = 0
    for intent in _intents(since, only_open):
        intent_id, stripe_id, checkout_id = intent.id, intent.stripe_id, intent.checkout_id
        db.session.rollback()  # nothing is held while Stripe answers
        try:
            changes += _reconcile_intent(intent_id, stripe_id, checkout_id)
        except AppError as error:
            db.session.rollback()
            changes.append(f"checkout {checkout_id}: {stripe_id} not checked ({error.code})")
            log.warning("reconcile %s: %s", stripe_id, error.code)
            unreachable += isinstance(error, gateway.PaymentProviderUnavailable)
    if fail_if_unreachable and unreachable:
        raise gateway.PaymentProviderUnavailable(f"Stripe did not answer about {unreachable} payment(s); "
                                                 f"the other changes are kept: {'; '.join(changes)}")
    return changes


def _reconcile_intent(intent_id: int, stripe_id: str, checkout_id: int) -> list[str]:
    changes = []
    remote = gateway.retrieve_payment_intent(stripe_id)
    local_status = db.session.get(PaymentIntent, intent_id).status
    if remote.status != local_status:
        changes += _reconcile_event_lines(checkout_id, stripe_id, remote)
    if INTENT_RANK.get(remote.status, 0) == 1 and _checkout_closed(checkout_id):
        # Nobody should pay for orders that expired or were cancelled: close the intent at Stripe.
        closed = gateway.cancel_payment_intent(stripe_id)
        changes += _reconcile_event_lines(checkout_id, stripe_id, closed)
    if remote.status != PaymentIntentStatus.SUCCEEDED:
        return changes
    stripe_refunds = gateway.list_refunds(stripe_id)
    for stripe_refund in stripe_refunds:
        event = {"id": f"reconcile:{stripe_refund.id}:{stripe_refund.status}", "type": "charge.refunded",
                 "data": {"object": {"object": "charge", "payment_intent": stripe_id}}}
        result = apply_stripe_event(event, source=EventSource.RECONCILE, stripe_refunds=[stripe_refund])
        if result.outcome in REPORTED:
            changes.append(f"checkout {checkout_id}: refund {stripe_refund.id} ({stripe_refund.amount} fen, "
                           f"{stripe_refund.status}) -> {result.outcome}" + (f" ({result.note})" if result.note else ""))
    waiting = db.session.scalars(select(Refund.id).where(Refund.payment_intent_id == intent_id,
                                                         Refund.status == RefundStatus.PENDING,
                                                         Refund.stripe_refund_id.is_(None))).all()
    for refund_id in waiting:
        changes += _send(refund_id, stripe_refunds)
    return changes


def _reconcile_event_lines(checkout_id: int, stripe_id: str, remote: gateway.Intent) -> list[str]:
    """Apply what Stripe says about an intent as if its webhook had come."""
    kind = INTENT_EVENTS.get(remote.status)
    if kind is None:
        return []
    event = {"id": f"reconcile:{stripe_id}:{remote.status}", "type": kind,
             "data": {"object": {"id": remote.id, "object": "payment_intent", "status": remote.status,
                                 "amount": remote.amount, "currency": remote.currency, "metadata": remote.metadata,
                                 "last_payment_error": {"message": remote.last_error} if remote.last_error else None}}}
    result = apply_stripe_event(event, source=EventSource.RECONCILE)
    changes = []
    if result.outcome in REPORTED:
        changes.append(f"checkout {checkout_id}: {stripe_id} {remote.status} -> {result.outcome}"
                       + (f" ({result.note})" if result.note else ""))
    for refund_id in result.refund_ids:
        changes += _send(refund_id, None)
    return changes


def _checkout_closed(checkout_id: int) -> bool:
    status = orders.checkout_status(checkout_id)
    db.session.rollback()
    return status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED)


def _send(refund_id: int, known: list[gateway.StripeRefund] | None) -> list[str]:
    refund = submit_refund(refund_id, known=known)
    if refund.stripe_refund_id is None:
        return []
    return [f"checkout {refund.checkout_id}: refund {refund.id} of {refund.amount_fen} fen sent ({refund.status})"]
