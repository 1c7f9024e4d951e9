"""Stripe events: webhook deliveries verified and applied exactly once, and those flagged for review.

Each Stripe event id is stored in the same transaction as its effect, so an event is applied
once however often it comes. A PaymentIntent's status only moves up by rank (failed <
cancelled < succeeded), so events applied in any order end in the same state. An order becomes
paid only from a verified event (or reconciliation's re-fetch of the intent, applied as one).
"""
from dataclasses import dataclass, field

from sqlalchemy import select, text

from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import write_in_session
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.payments import gateway, refunds, settlement
from marketplace.payments.models import EventOutcome, EventSource, PaymentIntent, PaymentIntentStatus, StripeEvent

S = PaymentIntentStatus
# How far each Stripe status has got; a status only ever moves to a higher rank.
INTENT_RANK = {S.REQUIRES_PAYMENT_METHOD: 1, S.REQUIRES_CONFIRMATION: 1, S.REQUIRES_ACTION: 1, S.PROCESSING: 1,
               S.REQUIRES_CAPTURE: 1, S.CANCELED: 2, S.SUCCEEDED: 3}


@dataclass
class EventResult:
    outcome: EventOutcome
    note: str | None = None
    refund_ids: list[int] = field(default_factory=list)
    # What a webhook delivery carried (receive_webhook fills them in), for the route's metrics.
    event_type: str | None = None
    event_created: int | None = None


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
    result.event_type, result.event_created = event["type"], event.get("created")
    refunds.submit_refunds_quietly(result.refund_ids)
    return result


def _refunds_in(charge: dict) -> list[gateway.StripeRefund]:
    """The refunds of a charge event; newer API versions leave them out, so then ask Stripe."""
    listed = (charge.get("refunds") or {}).get("data")
    if isinstance(listed, list):
        return [gateway.refund_from(item) for item in listed if isinstance(item, dict)]
    if isinstance(charge.get("payment_intent"), str):
        return gateway.list_refunds(charge["payment_intent"])
    return []


def apply_stripe_event(event: dict, *, source: EventSource = EventSource.WEBHOOK,
                       stripe_refunds: list[gateway.StripeRefund] | None = None) -> EventResult:
    """Apply one verified Stripe event exactly once, recording its id in the same transaction."""
    kind = event["type"]
    obj = event["data"]["object"]
    intent_id = obj.get("id") if kind.startswith("payment_intent.") else obj.get("payment_intent")
    if not isinstance(intent_id, str) or len(intent_id) > 255:
        intent_id = None
    # A second delivery of this event stops here, after waiting for the first to commit: the row
    # is already there, and the insert does nothing (no unique-violation error in either log).
    recorded = write_in_session(_RECORD_EVENT, {"event_id": event["id"], "type": kind[:80], "source": str(source),
                                                "outcome": str(EventOutcome.APPLIED), "intent_id": intent_id,
                                                "at": utcnow()})
    if not recorded:
        db.session.rollback()
        return EventResult(EventOutcome.DUPLICATE)
    if kind not in HANDLED_EVENTS:
        result = EventResult(EventOutcome.IGNORED)
    elif kind == "payment_intent.succeeded" and intent_id and (paid := _succeeded_at_once(intent_id, obj)):
        result = paid
    elif intent_id is None:
        result = EventResult(EventOutcome.FLAGGED, "The event names no PaymentIntent.")
    else:
        # FOR NO KEY UPDATE, as refunds.submit_refund: a cancel holding the checkout may still insert
        # a refund row referring to this intent while this handler waits for that checkout.
        intent = db.session.scalars(select(PaymentIntent).where(PaymentIntent.stripe_id == intent_id)
                                    .with_for_update(key_share=True).execution_options(populate_existing=True)).one_or_none()
        if intent is None:
            result = EventResult(EventOutcome.FLAGGED, f"PaymentIntent {intent_id} was not created by this marketplace.")
        else:
            try:
                result = _HANDLERS[kind](intent, obj, event, stripe_refunds)
            except MALFORMED:
                db.session.rollback()
                db.session.add(StripeEvent(stripe_event_id=event["id"], type=kind[:80], source=source,
                                           stripe_payment_intent_id=intent_id, outcome=EventOutcome.FLAGGED,
                                           note="The event's object is malformed."))
                db.session.commit()
                return EventResult(EventOutcome.FLAGGED, "The event's object is malformed.")
    write_in_session(_RECORD_OUTCOME, {"id": recorded[0].id, "outcome": str(result.outcome),
                                       "note": result.note[:300] if result.note else None})
    db.session.commit()
    return result


# An event's record, written first (a second delivery finds it and stops) and completed with its
# outcome in the same transaction. Plain SQL: they run for every delivery.
_RECORD_EVENT = text(
    "INSERT INTO stripe_events (stripe_event_id, type, source, outcome, stripe_payment_intent_id, received_at) "
    "VALUES (:event_id, :type, :source, :outcome, :intent_id, :at) ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id")
_RECORD_OUTCOME = text("UPDATE stripe_events SET outcome = :outcome, note = :note WHERE id = :id RETURNING id")


def _payment_succeeded(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    amount, currency = int(obj["amount"]), str(obj["currency"]).lower()
    if amount != intent.amount_fen or currency != intent.currency:
        return EventResult(EventOutcome.FLAGGED, f"Stripe reports {amount} {currency}, but the checkout asked for "
                                                 f"{intent.amount_fen} {intent.currency}; not applied.")
    if intent.status == PaymentIntentStatus.SUCCEEDED:
        return EventResult(EventOutcome.UNCHANGED)
    intent.status = PaymentIntentStatus.SUCCEEDED
    intent.succeeded_at = utcnow()
    intent.last_error = None
    paid = settlement.settle_unpaid_checkout(intent.checkout_id, paid_at=intent.succeeded_at, note=_paid_note(intent.stripe_id))
    if paid is not None:  # the common case: every order awaited this payment
        return EventResult(EventOutcome.APPLIED, f"{len(paid)} order(s) paid")
    return _settle_succeeded(intent)


def _succeeded_at_once(intent_id: str, obj: dict) -> EventResult | None:
    """payment_intent.succeeded for an intent of this marketplace, of the amount asked, not yet
    succeeded: marked so by one statement that also locks it (as _payment_succeeded's
    FOR NO KEY UPDATE and its flush do in two, with the ORM's work around each), then settled.
    None, with nothing changed, for every other case: _payment_succeeded decides those.
    Plain SQL because every paid checkout comes this way (bench/README.md, the webhook)."""
    try:
        amount, currency = int(obj["amount"]), str(obj["currency"]).lower()
    except MALFORMED:
        return None
    marked = write_in_session(_MARK_SUCCEEDED, {"intent_id": intent_id, "amount": amount, "currency": currency,
                                                "succeeded": str(PaymentIntentStatus.SUCCEEDED), "at": utcnow()})
    if not marked:
        return None
    intent = marked[0]
    paid = settlement.settle_unpaid_checkout(intent.checkout_id, paid_at=intent.succeeded_at, note=_paid_note(intent_id))
    if paid is not None:
        return EventResult(EventOutcome.APPLIED, f"{len(paid)} order(s) paid")
    return _settle_succeeded(db.session.get(PaymentIntent, intent.id, populate_existing=True))


_MARK_SUCCEEDED = text(
    "UPDATE payment_intents SET status = :succeeded, succeeded_at = :at, last_error = NULL, updated_at = :at "
    "WHERE stripe_id = :intent_id AND status <> :succeeded AND amount_fen = :amount AND currency = :currency "
    "RETURNING id, checkout_id, succeeded_at")


def _paid_note(stripe_id: str) -> str:
    return f"paid through Stripe ({stripe_id})"


def _settle_succeeded(intent: PaymentIntent) -> EventResult:
    """A succeeded intent (marked, locked) whose checkout is not simply all unpaid: expired or
    cancelled orders, or a checkout another payment settled."""
    checkout = orders.lock_checkout(intent.checkout_id)
    outcome = settlement.settle_checkout(checkout, covers_orders_since=intent.created_at, note=_paid_note(intent.stripe_id))
    made = [refunds.new_refund(order, order.total_fen, why, requested_by=None, intent=intent)
            for order, why in outcome.refund]
    if not outcome.paid and not made:
        return EventResult(EventOutcome.FLAGGED,
                           "The checkout was already settled by another payment; refund this one by hand.")
    db.session.flush()
    note = f"{len(outcome.paid)} order(s) paid" + (f", {len(made)} refunded automatically" if made else "")
    return EventResult(EventOutcome.APPLIED, note, [refund.id for refund in made])


def _payment_failed(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    if INTENT_RANK.get(intent.status, 0) > 1:
        return EventResult(EventOutcome.UNCHANGED, f"The payment is already {intent.status}.")
    error = gateway.intent_from(obj).last_error
    intent.status = PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
    intent.last_error = (error or "The payment failed.")[:300]
    return EventResult(EventOutcome.APPLIED, intent.last_error)


def _payment_canceled(intent: PaymentIntent, obj: dict, event: dict, _refunds) -> EventResult:
    if INTENT_RANK.get(intent.status, 0) >= INTENT_RANK[PaymentIntentStatus.CANCELED]:
        return EventResult(EventOutcome.UNCHANGED, f"The payment is already {intent.status}.")
    intent.status = PaymentIntentStatus.CANCELED
    return EventResult(EventOutcome.APPLIED,
                       "The payment was cancelled; the checkout can be paid again until it expires.")


def _charge_refunded(intent: PaymentIntent, obj: dict, event: dict,
                     stripe_refunds: list[gateway.StripeRefund] | None) -> EventResult:
    if stripe_refunds is None:
        stripe_refunds = [gateway.refund_from(item) for item in (obj.get("refunds") or {}).get("data") or []]
    changed, unknown = 0, []
    for stripe_refund in stripe_refunds:
        result = refunds.settle_stripe_refund(intent, stripe_refund)
        if result is None:
            unknown.append(f"{stripe_refund.id} ({stripe_refund.amount} fen)")
        changed += result is True
    if unknown:
        return EventResult(EventOutcome.FLAGGED, "Refunds not made through this marketplace: " + ", ".join(unknown))
    return EventResult(EventOutcome.APPLIED if changed else EventOutcome.UNCHANGED,
                       f"{changed} refund(s) confirmed" if changed else None)


_HANDLERS = {"payment_intent.succeeded": _payment_succeeded, "payment_intent.payment_failed": _payment_failed,
             "payment_intent.canceled": _payment_canceled, "charge.refunded": _charge_refunded}


def flagged_events(page: int = 1, per_page: int = 50) -> Page:
    """Events that were recorded but not applied, for an administrator to look into."""
    return paginate(select(StripeEvent).where(StripeEvent.outcome == EventOutcome.FLAGGED)
                    .order_by(StripeEvent.id.desc()), page, per_page)
