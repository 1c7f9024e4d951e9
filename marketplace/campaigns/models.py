"""Campaigns, the listings in them (items), and what each buyer has bought of an item."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalog.models import Product
from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db


class CampaignStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class ItemState(enum.StrEnum):
    """A listing's place in a campaign: proposed by its seller, decided by an administrator."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by its seller, while pending
    REMOVED = "removed"  # by an administrator, or with its cancelled campaign


# States that hold the listing's place: a listing is in at most one such item whose window overlaps.
HOLDS_PLACE = (ItemState.PENDING, ItemState.APPROVED)


class Campaign(db.Model):
    """A named sale window [starts_at, ends_at), stored UTC, given and shown in Asia/Shanghai."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(one_of("status", CampaignStatus), name="known_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    poverty_counties_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.ACTIVE)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    items: Mapped[list["CampaignItem"]] = relationship(back_populates="campaign", order_by="CampaignItem.id",
                                                       lazy="selectin")


class CampaignItem(db.Model):
    """A listing in a campaign: its campaign price, the units of its stock the campaign may sell
    (stock_cap; each also takes a unit of the listing's stock), the limit per buyer, and the units
    sold in orders not cancelled or expired. starts_at and ends_at copy the campaign's window (the
    campaign's updates keep them equal), so that the database refuses a listing in two overlapping
    campaigns, and the price of now is read off the item alone."""

    __tablename__ = "campaign_items"
    __table_args__ = (
        CheckConstraint("campaign_price_fen > 0", name="price_positive"),
        CheckConstraint("stock_cap >= 1", name="cap_positive"),
        CheckConstraint("per_buyer_limit >= 1", name="limit_positive"),
        CheckConstraint("units_sold >= 0 AND units_sold <= stock_cap", name="units_sold_within_cap"),
        CheckConstraint(one_of("state", ItemState), name="known_state"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        ExcludeConstraint(("product_id", "="), (text("tstzrange(starts_at, ends_at)"), "&&"),
                          where=text("state IN ('pending', 'approved')"), using="gist",
                          name="ex_campaign_items_one_campaign_at_a_time"),
        # The listing's live or next campaign (catalog.stock.CAMPAIGN_OFFER), and the next moment a
        # price changes (catalog.stock.next_price_change).
        Index("ix_campaign_items_live_by_product", "product_id", "ends_at", postgresql_where=text("state = 'approved'")),
        Index("ix_campaign_items_approved_starts", "starts_at", postgresql_where=text("state = 'approved'")),
        Index("ix_campaign_items_approved_ends", "ends_at", postgresql_where=text("state = 'approved'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    campaign_price_fen: Mapped[int] = mapped_column(Integer)
    stock_cap: Mapped[int] = mapped_column(Integer)
    per_buyer_limit: Mapped[int] = mapped_column(Integer)
    units_sold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(16))
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    proposed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(lazy="joined")

    @property
    def units_left(self) -> int:
        return self.stock_cap - self.units_sold


class CampaignAllowance(db.Model):
    """Units of an item a buyer (the buyer of record: a villager, not the partner who ordered) holds
    in orders not cancelled or expired; the checkout's conditional upsert keeps it within the limit."""

    __tablename__ = "campaign_allowances"
    __table_args__ = (CheckConstraint("units >= 0", name="units_not_negative"),)

    campaign_item_id: Mapped[int] = mapped_column(ForeignKey("campaign_items.id"), primary_key=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)
