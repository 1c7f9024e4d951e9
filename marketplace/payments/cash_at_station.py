"""The payments side of cash at a service station: a checkout's cash taken, a refund's cash paid back.

The flows of the station desk (marketplace.flows.station_cash) call these between checking the
partner and writing the station's cash ledger, all in one transaction; here are the payment
rules: a cash checkout is paid whole or not at all, and a cash refund is paid back once.
"""
from marketplace.common.time import utcnow
from marketplace.errors import Conflict, InvalidInput
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Checkout
from marketplace.payments import refunds, settlement
from marketplace.payments.errors import PaymentErrorCode
from marketplace.payments.intents import check_payable
from marketplace.payments.models import Refund, RefundMethod


def cash_checkout(checkout_id: int) -> Checkout:
    """A checkout to be paid in cash at its station (read, not locked)."""
    checkout = orders.load_checkout(checkout_id)
    if checkout.payment_method != "cash_at_station":
        raise Conflict("This checkout is paid online, not in cash.", code=PaymentErrorCode.NOT_CASH_CHECKOUT,
                       details={"checkout_id": checkout.id})
    return checkout


def take_cash(checkout_id: int, amount_fen: int) -> Checkout:
    """Lock a cash checkout still payable whose due is exactly ``amount_fen`` (partial payments are
    refused); the caller records the cash, then calls settle_cash_payment and commits."""
    checkout = orders.lock_checkout(checkout_id)
    check_payable(checkout, in_cash=True)
    due = orders.amount_due_fen(checkout)
    if amount_fen != due:
        raise InvalidInput(f"The checkout owes {due} fen; collect exactly that amount (partial payments are not allowed).",
                           code=PaymentErrorCode.CASH_AMOUNT_MISMATCH,
                           details={"due_fen": due, "amount_fen": amount_fen})
    return checkout


def settle_cash_payment(checkout: Checkout) -> None:
    """The cash taken pays the locked checkout's orders (the caller commits)."""
    note = "cash collected at the station"
    if settlement.settle_unpaid_checkout(checkout.id, paid_at=utcnow(), note=note) is None:
        settlement.settle_checkout(checkout, covers_orders_since=utcnow(), note=note)
        return
    # Paid by plain SQL: what the session holds of the checkout is read again when next used.
    for order in checkout.orders:
        db.session.expire(order)
    db.session.expire(checkout)


def cash_refund(refund_id: int) -> Refund:
    """A refund the partner pays back in cash at the station."""
    refund = db.session.get(Refund, refund_id)
    if refund is None:
        raise refunds.RefundNotFound(refund_id)
    if refund.method != RefundMethod.CASH:
        raise Conflict("This refund goes back through the online payment, not in cash.",
                       code=PaymentErrorCode.NOT_CASH_REFUND, details={"refund_id": refund_id})
    return refund


def confirm_cash_refund(refund: Refund) -> None:
    """The partner paid a cash refund back: it reaches the seller's ledger and the reports (the
    caller has locked its order, records the cash and commits)."""
    if not refunds.confirm_refund(refund):
        raise Conflict("This refund was already paid back.", code=PaymentErrorCode.REFUND_ALREADY_SETTLED,
                       details={"refund_id": refund.id})
