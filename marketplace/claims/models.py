"""Claims on order lines, their photos and their timeline."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.models import OrderLine


class ClaimReason(enum.StrEnum):
    DAMAGED = "damaged"
    ROTTEN = "rotten"
    SHORT_WEIGHT = "short_weight"
    WRONG_ITEM = "wrong_item"
    NOT_RECEIVED = "not_received"


class ClaimStatus(enum.StrEnum):
    """open (the seller's turn) -> offered (the buyer's turn) / escalated (the administrators')
    -> accepted (a refund is on its way) -> refunded (the refund is confirmed); closed: ended
    without money (decided at 0, or nothing was left to refund)."""

    OPEN = "open"
    OFFERED = "offered"
    ESCALATED = "escalated"
    ACCEPTED = "accepted"
    REFUNDED = "refunded"
    CLOSED = "closed"


# A line has at most one claim in these states (the partial unique index below).
PENDING_STATUSES = (ClaimStatus.OPEN, ClaimStatus.OFFERED, ClaimStatus.ESCALATED)
PENDING_SQL = f"status IN ({', '.join(repr(str(s)) for s in PENDING_STATUSES)})"


class ClaimEventKind(enum.StrEnum):
    OPENED = "opened"
    PHOTO_ADDED = "photo_added"
    OFFERED = "offered"
    ACCEPTED = "accepted"  # by the seller, the amount asked
    OFFER_ACCEPTED = "offer_accepted"  # by the buyer
    CONTESTED = "contested"
    ESCALATED = "escalated"
    DECIDED = "decided"
    AUTO_ACCEPTED = "auto_accepted"  # a deadline passed with no answer (no actor)
    REFUNDED = "refunded"
    CLOSED = "closed"


class ClaimSide(enum.StrEnum):
    BUYER = "buyer"  # the buyer, or the partner who placed the order for a villager
    SELLER = "seller"


class Claim(db.Model):
    """A buyer's claim on one order line: what went wrong, how much they ask, how it ended."""

    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint(one_of("reason", ClaimReason), name="known_reason"),
        CheckConstraint(one_of("status", ClaimStatus), name="known_status"),
        CheckConstraint("amount_asked_fen > 0", name="amount_asked_positive"),
        CheckConstraint("offered_fen IS NULL OR offered_fen > 0", name="offer_positive"),
        CheckConstraint("granted_fen IS NULL OR granted_fen >= 0", name="granted_not_negative"),
        Index("uq_claims_one_pending_per_line", "order_line_id", unique=True, postgresql_where=text(PENDING_SQL)),
        Index("ix_claims_status_respond_by", "status", "respond_by"),
        Index("ix_claims_seller_status", "seller_user_id", "status"),
        Index("ix_claims_buyer", "buyer_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(1000))
    amount_asked_fen: Mapped[int] = mapped_column(Integer)
    offered_fen: Mapped[int | None] = mapped_column(Integer)
    granted_fen: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=ClaimStatus.OPEN)
    # When the party whose turn it is (seller while open, buyer while offered) must have answered.
    respond_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seller_note: Mapped[str | None] = mapped_column(String(1000))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    line: Mapped[OrderLine] = relationship(lazy="joined")
    photos: Mapped[list["ClaimPhoto"]] = relationship(order_by="ClaimPhoto.id", lazy="selectin")
    events: Mapped[list["ClaimEvent"]] = relationship(order_by="ClaimEvent.id", lazy="selectin")


class ClaimPhoto(db.Model):
    """A photo of a claim, from the buyer's side or the seller's, through the catalog's image pipeline."""

    __tablename__ = "claim_photos"
    __table_args__ = (CheckConstraint(one_of("side", ClaimSide), name="known_side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    side: Mapped[str] = mapped_column(String(10))
    added_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    image_key: Mapped[str] = mapped_column(String(120), index=True)
    thumbnail_key: Mapped[str] = mapped_column(String(120), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClaimEvent(db.Model):
    """One step of a claim's timeline: what, who (none for the system), how much, why, when."""

    __tablename__ = "claim_events"
    __table_args__ = (CheckConstraint(one_of("kind", ClaimEventKind), name="known_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount_fen: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
