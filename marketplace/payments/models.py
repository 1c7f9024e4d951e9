"""Payment records: Stripe PaymentIntents per checkout, Stripe events applied once, refunds, and the
sellers' settlement ledger."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db


def _partial_unique(name: str, columns: list[str], where: str) -> Index:
    """A unique index over the rows matching ``where`` (a partial index)."""
    return Index(name, *columns, unique=True, postgresql_where=text(where))


class PaymentIntentStatus(enum.StrEnum):
    """The Stripe PaymentIntent statuses this marketplace records (Stripe's own strings)."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class PaymentIntent(db.Model):
    """One Stripe PaymentIntent created for a checkout; a checkout gets a new attempt only after
    its previous intent was cancelled."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        UniqueConstraint("checkout_id", "attempt", name="uq_payment_intents_checkout_attempt"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    stripe_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_method: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # Stripe's status (a PaymentIntentStatus), moved only forward by rank (see events.INTENT_RANK).
    # No CHECK: the column takes whatever Stripe answers, and migration 0004 made none.
    status: Mapped[str] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(String(300))
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class EventOutcome(enum.StrEnum):
    """What became of a Stripe event."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    IGNORED = "ignored"  # a type this marketplace does not use
    FLAGGED = "flagged"  # recorded for an administrator to look into
    DUPLICATE = "duplicate"  # a later delivery of a recorded event: an answer, never stored


# What a stored event can say: a duplicate delivery never gets a row of its own.
STRIPE_EVENT_OUTCOMES = (EventOutcome.APPLIED, EventOutcome.UNCHANGED, EventOutcome.IGNORED, EventOutcome.FLAGGED)


class EventSource(enum.StrEnum):
    WEBHOOK = "webhook"
    RECONCILE = "reconcile"


class StripeEvent(db.Model):
    """A Stripe event, recorded in the same transaction as its effect so it is applied once."""

    __tablename__ = "stripe_events"
    __table_args__ = (CheckConstraint(one_of("outcome", STRIPE_EVENT_OUTCOMES), name="known_outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(20), default=EventSource.WEBHOOK)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RefundMethod(enum.StrEnum):
    STRIPE = "stripe"
    CASH = "cash"  # paid back by the partner at the station


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(db.Model):
    """Money going back to the buyer for one order: through Stripe, or in cash at the station.

    A refund is ``pending`` from the moment it is asked for (so its amount already counts
    against what may still be refunded) until Stripe confirms it, or the partner records the
    cash paid back; only then does it reach the ledgers.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(one_of("method", RefundMethod), name="known_method"),
        CheckConstraint(one_of("status", RefundStatus), name="known_status"),
        Index("ix_refunds_status_submitted", "status", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default=RefundStatus.PENDING)
    reason: Mapped[str] = mapped_column(String(300))
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payment_intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # When a worker last sent it to Stripe; a claim keeps two workers from sending it at once.
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list["RefundLine"]] = relationship(order_by="RefundLine.order_line_id", lazy="selectin",
                                                     cascade="all, delete-orphan")


class RefundLine(db.Model):
    """Units of one order line a refund gives back and the part of its money that line accounts
    for (a refund by amount spreads its money over the lines with no units)."""

    __tablename__ = "refund_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0 AND amount_fen >= 0 AND quantity + amount_fen > 0", name="something_back"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)


class SellerEntryKind(enum.StrEnum):
    SALE = "sale"
    COMMISSION = "commission"
    REFUND = "refund"
    PAYOUT = "payout"


class SellerLedgerEntry(db.Model):
    """One movement of what the platform owes a seller: + paid sales, − refunds, − commission
    (and + commission given back on refunds), − payouts. The balance is the sum."""

    __tablename__ = "seller_ledger_entries"
    __table_args__ = (
        CheckConstraint(one_of("kind", SellerEntryKind), name="known_kind"),
        # A sale and its commission are written once per order, a refund's entries once per refund.
        _partial_unique("uq_seller_ledger_order_kind", ["order_id", "kind"],
                        "refund_id IS NULL AND order_id IS NOT NULL"),
        _partial_unique("uq_seller_ledger_refund_kind", ["refund_id", "kind"],
                        "refund_id IS NOT NULL"),
        Index("ix_seller_ledger_seller_id", "seller_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(300))
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
