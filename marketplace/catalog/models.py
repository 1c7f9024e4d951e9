"""Catalog models: products with origin traceability, their images and review decisions."""
import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.catalog.taxonomy import SOLD_OUT, Category, ProductStatus, Unit
from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.geo.models import County, Village


def listing_etag(version: int, stock_units: int, campaign: str | None = None) -> str:
    """A listing's ETag: its version (what If-Match checks), its stock (which sales move), and,
    for a public read, its campaign and whether it is live (which the clock moves)."""
    return f'"v{version}-s{stock_units}-c{campaign}"' if campaign else f'"v{version}-s{stock_units}"'


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("stock_units >= 0", name="stock_not_negative"),
        CheckConstraint("units_sold >= 0", name="units_sold_not_negative"),
        CheckConstraint("min_order_units >= 1", name="min_order_positive"),
        CheckConstraint(one_of("category", Category), name="known_category"),
        CheckConstraint(one_of("unit", Unit), name="known_unit"),
        CheckConstraint(one_of("status", ProductStatus), name="known_status"),
        # Each browse order has an index ending in its sort key and the id tie-breaker, so a page
        # of 20 is read in order and stops after 20 rows.
        Index("ix_products_status_created", "status", "created_at", "id"),
        Index("ix_products_status_price", "status", "price_fen", "id"),
        Index("ix_products_county_status_created", "origin_county_adcode", "status", "created_at", "id"),
        Index("ix_products_status_sold", "status", "units_sold", "id"),
        # Serves ILIKE '%...%' title search on PostgreSQL (created with pg_trgm by migration 0002).
        Index("ix_products_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The station partner who listed it for a villager without a phone (the villager is the seller of record).
    listed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(8))
    net_weight_grams: Mapped[int | None] = mapped_column(Integer)
    price_fen: Mapped[int] = mapped_column(Integer)
    stock_units: Mapped[int] = mapped_column(Integer, default=0)
    # Units in orders that are not cancelled or expired; moved by the same statements as stock.
    units_sold: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    min_order_units: Mapped[int] = mapped_column(Integer, default=1)
    origin_county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    origin_village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    harvest_date: Mapped[date | None] = mapped_column(Date)
    ships_within_days: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.DRAFT)
    review_note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Bumped by every change to the listing (not by stock moves); the ETag is built from it.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The public name of its trace page (溯源), drawn by PostgreSQL: unguessable, never reused.
    trace_token: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=text("gen_random_uuid()"), unique=True)

    __mapper_args__ = {"version_id_col": version}

    # Loaded by separate IN queries: joining them into the page query made PostgreSQL join every
    # matching row before sorting out the 20 it shows.
    seller: Mapped[User] = relationship(lazy="selectin", foreign_keys=[seller_user_id])
    origin_county: Mapped[County] = relationship(lazy="selectin")
    origin_village: Mapped[Village | None] = relationship(lazy="selectin")
    images: Mapped[list["ProductImage"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductImage.position", lazy="selectin"
    )

    @property
    def public_status(self) -> str:
        if self.status == ProductStatus.ACTIVE and self.stock_units == 0:
            return SOLD_OUT
        return self.status

    @property
    def etag(self) -> str:
        return listing_etag(self.version, self.stock_units)


class ProductImage(db.Model):
    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "position", name="uq_product_images_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    image_key: Mapped[str] = mapped_column(String(120))
    thumbnail_key: Mapped[str] = mapped_column(String(120))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship(back_populates="images")


class ProductReview(db.Model):
    """One review decision (or submission) on a listing: who, when, why."""

    __tablename__ = "product_reviews"
    __table_args__ = (CheckConstraint("decision IN ('submitted', 'approved', 'rejected')", name="known_decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
