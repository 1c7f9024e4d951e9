"""Service stations: where partners take cash orders and hand over parcels."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.geo.models import Village


class ServiceStation(db.Model):
    __tablename__ = "service_stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    partner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    village: Mapped[Village] = relationship(lazy="joined")
    partner: Mapped[User] = relationship(lazy="joined")


class CashEntryKind(enum.StrEnum):
    COLLECTION = "collection"  # cash taken from a buyer: the only kind that adds to what the station owes
    REFUND = "refund"  # cash paid back to a buyer
    REMITTANCE = "remittance"  # cash handed over to the platform


_COLLECTION = f"kind = '{CashEntryKind.COLLECTION}'"


class StationCashEntry(db.Model):
    """One movement of the cash a station holds for the platform: + collected from buyers,
    − paid back to buyers, − remitted to the platform. The balance (what it owes) is the sum."""

    __tablename__ = "station_cash_entries"
    __table_args__ = (
        CheckConstraint(one_of("kind", CashEntryKind), name="known_kind"),
        CheckConstraint(f"({_COLLECTION} AND amount_fen > 0) OR (kind <> '{CashEntryKind.COLLECTION}' AND amount_fen < 0)",
                        name="sign_follows_kind"),
        # A checkout's cash is collected once; a refund is paid back once.
        Index("uq_station_cash_collection_checkout", "checkout_id", unique=True,
              postgresql_where=text(_COLLECTION)),
        Index("uq_station_cash_refund", "refund_id", unique=True,
              postgresql_where=text("refund_id IS NOT NULL")),
        Index("ix_station_cash_station_id", "station_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("service_stations.id"))
    kind: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(Integer)
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(300))
    recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Villager(db.Model):
    """A villager without a phone (or who will not use it) whom a station's partner sells and buys for.

    The villager's account (``user``) has no password and cannot log in; it is the seller of record
    of what the partner lists for them and the buyer of record of what the partner orders for them,
    so settlement, the sales ledger and the reports name the villager, not the partner. The
    partner of ``station`` acts for them; the consent to that is recorded once, when they are
    registered."""

    __tablename__ = "villagers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("service_stations.id"), index=True)
    # A number to reach them (a neighbour's, a landline), never used to log in; optional.
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    consent_recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consent_recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])
    station: Mapped[ServiceStation] = relationship(lazy="joined")

    @property
    def name(self) -> str:
        return self.user.display_name
