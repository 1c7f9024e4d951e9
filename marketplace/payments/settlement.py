"""Seller settlement: what the platform owes each seller, entry by entry, and what money arriving
for a checkout does (its orders paid, their sellers credited, the sales ledger told).

Rules:
- A paid order credits its seller with everything the buyer paid for it (goods and shipping,
  since the seller ships) and debits the platform commission on it.
- Commission is ``PLATFORM_COMMISSION_BPS`` basis points of the order's net paid amount, rounded
  half up to the fen. A refund debits the refunded amount and credits back the commission
  difference, commission(net before) − commission(net after), so after any sequence of refunds
  the commission entries of an order sum to exactly commission(net paid).
- Payouts, recorded by administrators with the transfer's reference, debit the balance and can
  never exceed it. The balance is the sum of the entries.
"""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, text

from marketplace.accounts import services as accounts
from marketplace.accounts.services import Role, User
from marketplace.common.pagination import Page, paginate
from marketplace.common.sql import write_in_session
from marketplace.errors import Conflict, Forbidden
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import Checkout, Order
from marketplace.payments.errors import PaymentErrorCode
from marketplace.payments.models import Refund, SellerEntryKind, SellerLedgerEntry
from marketplace.reports import ledger


def commission_fen(amount_fen: int) -> int:
    """The platform's commission on an amount, rounded half up to the fen (integers only)."""
    return (amount_fen * current_app.config["PLATFORM_COMMISSION_BPS"] + 5000) // 10000


def settle_checkout(checkout: Checkout, *, covers_orders_since: datetime, note: str) -> orders.Settlement:
    """Money for a locked checkout arrived (from Stripe or in cash): its orders are settled as
    orders.settle_checkout_payment says, and each order now paid credits its seller and counts as
    a sale in the sales ledger. The caller commits, and refunds what the settlement says to."""
    outcome = orders.settle_checkout_payment(checkout, covers_orders_since=covers_orders_since, note=note)
    for order in outcome.paid:
        credit_sale(order)
        ledger.record_sale(order, outcome.paid_at)
    return outcome


def settle_unpaid_checkout(checkout_id: int, *, paid_at: datetime, note: str) -> list[int] | None:
    """settle_checkout's common case in plain SQL: the checkout and all its orders awaited the money,
    so every order becomes paid, credits its seller and counts as a sale; returns the orders' ids
    (the caller commits). None, with the checkout locked and nothing changed, when it is not that
    simple: then settle_checkout (after orders.lock_checkout)."""
    lines = orders.pay_unpaid_checkout(checkout_id, paid_at=paid_at, note=note)
    if lines is None:
        return None
    paid = {line.order_id: line for line in lines}
    entries = [(order.seller_user_id, kind, amount, order.order_id) for order in paid.values()
               for kind, amount in ((SellerEntryKind.SALE, order.total_fen),
                                    (SellerEntryKind.COMMISSION, -commission_fen(order.total_fen)))]
    write_in_session(_CREDIT_SALES, {"sellers": [e[0] for e in entries], "kinds": [str(e[1]) for e in entries],
                                     "amounts": [e[2] for e in entries], "orders": [e[3] for e in entries],
                                     "at": paid_at})
    ledger.record_sale_lines(lines, paid_at)
    return list(paid)


# credit_sale's entries for several orders at once (settle_unpaid_checkout).
_CREDIT_SALES = text(
    "INSERT INTO seller_ledger_entries (seller_user_id, kind, amount_fen, order_id, created_at) "
    "SELECT seller, kind, amount, order_id, :at FROM unnest(CAST(:sellers AS integer[]), CAST(:kinds AS varchar[]), "
    "CAST(:amounts AS integer[]), CAST(:orders AS integer[])) WITH ORDINALITY AS e(seller, kind, amount, order_id, n) "
    "ORDER BY n RETURNING id")


def credit_sale(order: Order) -> None:
    """A paid order's sale and commission entries (the caller commits)."""
    db.session.add_all([
        SellerLedgerEntry(seller_user_id=order.seller_user_id, kind=SellerEntryKind.SALE, amount_fen=order.total_fen,
                          order_id=order.id),
        SellerLedgerEntry(seller_user_id=order.seller_user_id, kind=SellerEntryKind.COMMISSION,
                          amount_fen=-commission_fen(order.total_fen), order_id=order.id),
    ])


def debit_refund(refund: Refund, order: Order, refunded_before_fen: int) -> bool:
    """A confirmed refund's entries, if the order's sale was credited (the caller commits).

    Money paid for an order that never became a sale (cancelled or expired before its payment
    arrived) goes straight back to the buyer and never touches the seller's ledger; False then."""
    sold = db.session.scalar(select(SellerLedgerEntry.id).where(
        SellerLedgerEntry.order_id == order.id, SellerLedgerEntry.kind == SellerEntryKind.SALE, SellerLedgerEntry.refund_id.is_(None)))
    if sold is None:
        return False
    net_before = order.total_fen - refunded_before_fen
    net_after = net_before - refund.amount_fen
    db.session.add_all([
        SellerLedgerEntry(seller_user_id=order.seller_user_id, kind=SellerEntryKind.REFUND, amount_fen=-refund.amount_fen,
                          order_id=order.id, refund_id=refund.id),
        SellerLedgerEntry(seller_user_id=order.seller_user_id, kind=SellerEntryKind.COMMISSION,
                          amount_fen=commission_fen(net_before) - commission_fen(net_after),
                          order_id=order.id, refund_id=refund.id),
    ])
    return True


def _balance(seller_user_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(SellerLedgerEntry.amount_fen), 0))
                             .where(SellerLedgerEntry.seller_user_id == seller_user_id))


@dataclass
class SellerLedger:
    seller_user_id: int
    balance_fen: int
    entries: Page

    # The page's fields at the top level, beside the balance.
    items = property(lambda self: self.entries.items)
    page = property(lambda self: self.entries.page)
    per_page = property(lambda self: self.entries.per_page)
    total = property(lambda self: self.entries.total)


def _seller(seller_user_id: int, viewer: User) -> User:
    if viewer.id != seller_user_id and not viewer.has_role(Role.ADMIN):
        raise Forbidden("You can only see your own settlement ledger.", code=PaymentErrorCode.NOT_YOUR_LEDGER)
    return accounts.get_user(seller_user_id)


def seller_ledger(seller_user_id: int, viewer: User, *, page: int = 1, per_page: int = 50) -> SellerLedger:
    """A seller's entries, newest first, and the balance the platform owes them."""
    _seller(seller_user_id, viewer)
    entries = paginate(select(SellerLedgerEntry).where(SellerLedgerEntry.seller_user_id == seller_user_id)
                       .order_by(SellerLedgerEntry.id.desc()), page, per_page)
    return SellerLedger(seller_user_id, _balance(seller_user_id), entries)


class PayoutExceedsBalance(Conflict):
    code = PaymentErrorCode.PAYOUT_EXCEEDS_BALANCE


def record_payout(seller_user_id: int, admin: User, *, amount_fen: int, reference: str,
                  note: str | None = None) -> SellerLedgerEntry:
    """An administrator records money sent to a seller (e.g. a bank transfer and its reference)."""
    accounts.get_user(seller_user_id)
    # Serialize payouts to one seller so two at once cannot overdraw the balance.
    db.session.execute(select(User.id).where(User.id == seller_user_id).with_for_update())
    balance = _balance(seller_user_id)
    if amount_fen > balance:
        raise PayoutExceedsBalance(f"The payout of {amount_fen} fen is more than the {balance} fen owed to the seller.",
                                   details={"amount_fen": amount_fen, "balance_fen": balance})
    entry = SellerLedgerEntry(seller_user_id=seller_user_id, kind=SellerEntryKind.PAYOUT, amount_fen=-amount_fen,
                              reference=reference.strip(), note=note, recorded_by_user_id=admin.id)
    db.session.add(entry)
    db.session.commit()
    return entry
