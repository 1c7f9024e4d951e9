"""Cash at a service station: the partner takes a checkout's cash or pays a refund back, and the
station's cash ledger records it in the same transaction as the payment it settles."""
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.services import User
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Checkout
from marketplace.payments import cash_at_station as payments_cash
from marketplace.payments.cash_at_station import Refund
from marketplace.payments.intents import CheckoutNotPayable
from marketplace.stations import cash as station_cash
from marketplace.stations.cash import CashEntryKind


def record_cash_collection(checkout_id: int, partner: User, *, amount_fen: int) -> Checkout:
    """The station's partner took the buyer's cash for the whole checkout: its orders become paid.

    The amount must equal what the checkout owes; partial collections are refused."""
    checkout = payments_cash.cash_checkout(checkout_id)
    station_cash.require_partner(checkout.station_id, partner)
    checkout = payments_cash.take_cash(checkout_id, amount_fen)
    station_cash.add_entry(checkout.station_id, CashEntryKind.COLLECTION, amount_fen, partner,
                           checkout_id=checkout.id, note=f"cash for checkout {checkout.id}")
    payments_cash.settle_cash_payment(checkout)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise CheckoutNotPayable(orders.load_checkout(checkout_id),
                                 "The cash for this checkout was already collected.") from None
    return orders.load_checkout(checkout_id)


def record_cash_refund(refund_id: int, partner: User) -> Refund:
    """The station's partner paid a cash refund back to the buyer."""
    refund = payments_cash.cash_refund(refund_id)
    station_id = orders.station_of_order(refund.order_id)
    station_cash.require_partner(station_id, partner)
    orders.lock_order(refund.order_id)
    payments_cash.confirm_cash_refund(refund)
    station_cash.add_entry(station_id, CashEntryKind.REFUND, refund.amount_fen, partner, refund_id=refund.id,
                           note=f"cash paid back for order {refund.order_id}")
    db.session.commit()
    return refund
