"""Paying a checkout online: its Stripe PaymentIntent (card, Alipay, WeChat Pay), started or read back.

Stripe is called only outside transactions that hold locks; what it answers is recorded in a
short transaction afterwards. The checkout becomes paid later, from the intent's Stripe event
(payments.events), never from here.
"""
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.services import User
from marketplace.common.time import utcnow
from marketplace.errors import AppError, Conflict, NotFound
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Checkout, OrderStatus
from marketplace.payments import gateway
from marketplace.payments.errors import PaymentErrorCode
from marketplace.payments.models import PaymentIntent, PaymentIntentStatus

log = logging.getLogger(__name__)


class CheckoutNotPayable(Conflict):
    code = PaymentErrorCode.CHECKOUT_NOT_PAYABLE

    def __init__(self, checkout: Checkout, why: str):
        super().__init__(why, details={"checkout_id": checkout.id, "status": checkout.status})


@dataclass
class PaymentStart:
    checkout: Checkout
    intent: PaymentIntent
    remote: gateway.Intent | None  # what Stripe says now (None when only the local record was read)
    created: bool = False


def _latest_intent(checkout_id: int) -> PaymentIntent | None:
    return db.session.scalar(select(PaymentIntent).where(PaymentIntent.checkout_id == checkout_id)
                             .order_by(PaymentIntent.attempt.desc()).limit(1))


def check_payable(checkout: Checkout, *, in_cash: bool) -> None:
    """Refuse paying a checkout the wrong way (online or in cash), twice, or after its deadline."""
    if checkout.payment_method == "cash_at_station" and not in_cash:
        raise Conflict("This checkout is paid in cash at its service station.", code=PaymentErrorCode.PAID_AT_STATION,
                       details={"checkout_id": checkout.id})
    if checkout.payment_method != "cash_at_station" and in_cash:
        raise Conflict("This checkout is paid online, not in cash.", code=PaymentErrorCode.NOT_CASH_CHECKOUT,
                       details={"checkout_id": checkout.id})
    if checkout.status == OrderStatus.PAID:
        raise CheckoutNotPayable(checkout, "This checkout is already paid.")
    if checkout.status != OrderStatus.PENDING_PAYMENT or checkout.expires_at <= utcnow():
        ran_out = checkout.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED)
        state = OrderStatus.EXPIRED if ran_out else checkout.status
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
    if latest is not None and latest.status != PaymentIntentStatus.CANCELED:
        if latest.status == PaymentIntentStatus.SUCCEEDED:
            raise CheckoutNotPayable(checkout, "This checkout is already paid.")
        check_payable(checkout, in_cash=False)
        db.session.rollback()  # hold nothing while Stripe answers
        return PaymentStart(checkout, latest, gateway.retrieve_payment_intent(latest.stripe_id))
    check_payable(checkout, in_cash=False)
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
        return PaymentStart(orders.load_checkout(checkout_id), winner, remote)
    return PaymentStart(orders.load_checkout(checkout_id), record, remote, created=True)


def _cancel_quietly(stripe_id: str) -> None:
    try:
        gateway.cancel_payment_intent(stripe_id)
    except AppError:
        log.warning("could not cancel duplicate payment intent %s; reconciliation will see it", stripe_id)


# Stripe statuses of an intent that has taken the buyer's money, or is taking it.
TAKEN = (PaymentIntentStatus.SUCCEEDED, PaymentIntentStatus.PROCESSING, PaymentIntentStatus.REQUIRES_CAPTURE)
AFTER_CONFIRMING = (PaymentIntentStatus.SUCCEEDED, PaymentIntentStatus.CANCELED)


def pay_by_card(checkout_id: int, viewer: User, card_token: str) -> PaymentStart:
    """Pay the checkout with the card of a Stripe.js token (the card page's form sends it).

    The checkout still becomes paid only from the intent's succeeded event. A declined card
    cancels the intent, so the buyer's next try starts a fresh one: Stripe would let the declined
    intent be confirmed again, localstripe cannot, and a fresh intent works with both."""
    start = start_payment(checkout_id, viewer)
    if start.remote is not None and start.remote.status in TAKEN:
        raise CheckoutNotPayable(start.checkout, "This checkout is already paid.")
    try:
        remote = gateway.pay_with_card_token(start.intent.stripe_id, card_token)
    except gateway.CardDeclined as declined:
        _set_aside(start.intent, declined.details["reason"])
        raise
    # Recorded as processing, not succeeded: only the succeeded event (ranked above) settles it.
    db.session.execute(update(PaymentIntent).where(PaymentIntent.id == start.intent.id,
                                                   PaymentIntent.status.not_in(AFTER_CONFIRMING))
                       .values(status=PaymentIntentStatus.PROCESSING, last_error=None, updated_at=utcnow()))
    db.session.commit()
    return PaymentStart(start.checkout, start.intent, remote)


def pay_by_redirect(checkout_id: int, viewer: User, return_url: str) -> PaymentStart:
    """Start paying the checkout with Alipay or WeChat Pay: the intent's next_action tells where
    the buyer goes (Alipay's page) or what they scan (WeChat Pay's QR code); they come back to
    ``return_url``."""
    start = start_payment(checkout_id, viewer)
    if start.remote is not None and start.remote.status in TAKEN:
        raise CheckoutNotPayable(start.checkout, "This checkout is already paid.")
    if start.remote is not None and start.remote.next_action:
        return start
    remote = gateway.confirm_with_redirect(start.intent.stripe_id, start.checkout.payment_method, return_url)
    return PaymentStart(start.checkout, start.intent, remote)


def _set_aside(intent: PaymentIntent, reason: str) -> None:
    """Cancel a declined intent at Stripe and here; if Stripe does not answer, it stays live and
    is tried again."""
    stripe_id, intent_id = intent.stripe_id, intent.id
    db.session.rollback()
    try:
        gateway.cancel_payment_intent(stripe_id)
    except AppError:
        log.warning("could not cancel declined payment intent %s; it is tried again", stripe_id)
        return
    db.session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                   PaymentIntent.status.not_in(TAKEN))
                       .values(status=PaymentIntentStatus.CANCELED, last_error=reason[:300], updated_at=utcnow()))
    db.session.commit()


def payment_of(checkout_id: int, viewer: User) -> PaymentStart:
    """The checkout's latest PaymentIntent as recorded here (no call to Stripe)."""
    checkout = orders.get_checkout(checkout_id, viewer)
    intent = _latest_intent(checkout.id)
    if intent is None:
        raise NotFound("This checkout has no online payment yet.", code=PaymentErrorCode.PAYMENT_NOT_FOUND,
                       details={"checkout_id": checkout_id})
    return PaymentStart(checkout, intent, None)
