"""Checkouts (one payment), orders (one per seller), lines that copy what was sold, and events;
the buyer's saved cart and address book."""
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.campaigns import models as campaign_models  # noqa: F401  (order_lines.campaign_item_id's table)
from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.lifecycle import OrderStatus

PAYMENT_METHODS = ("card", "alipay", "wechat_pay", "cash_at_station")
DELIVERY_KINDS = ("station", "address")
# The conditions of the orders the jobs worker settles (SQL, shared by the partial indexes and the job).
SHIPPED_TO_ADDRESS_SQL = f"status = '{OrderStatus.SHIPPED.value}' AND delivery_kind = 'address'"
DELIVERED_SQL = f"status = '{OrderStatus.DELIVERED.value}'"



class Checkout(db.Model):
    """What one payment covers: the orders of one cart, split per seller."""

    __tablename__ = "checkouts"
    __table_args__ = (
        CheckConstraint(one_of("payment_method", PAYMENT_METHODS), name="known_payment_method"),
        CheckConstraint(one_of("delivery_kind", DELIVERY_KINDS), name="known_delivery_kind"),
        CheckConstraint("grand_total_fen = items_total_fen + shipping_total_fen", name="totals_add_up"),
        CheckConstraint(
            "(delivery_kind = 'station' AND station_id IS NOT NULL) OR "
            "(delivery_kind = 'address' AND address_county_adcode IS NOT NULL)", name="delivery_complete"),
        Index("ix_checkouts_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The station partner who placed it for a villager (the villager is the buyer of record).
    placed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payment_method: Mapped[str] = mapped_column(String(20))
    delivery_kind: Mapped[str] = mapped_column(String(10))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("service_stations.id"), index=True)
    recipient_name: Mapped[str | None] = mapped_column(String(60))
    recipient_phone: Mapped[str | None] = mapped_column(String(20))
    address_county_adcode: Mapped[str | None] = mapped_column(ForeignKey("counties.adcode"))
    address_detail: Mapped[str | None] = mapped_column(String(200))
    items_total_fen: Mapped[int] = mapped_column(Integer)
    shipping_total_fen: Mapped[int] = mapped_column(Integer)
    grand_total_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="cny")
    # Mirrors its orders while unpaid: pending_payment, then paid, expired or cancelled.
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING_PAYMENT)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    orders: Mapped[list["Order"]] = relationship(back_populates="checkout", order_by="Order.id", lazy="selectin")


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", OrderStatus), name="known_status"),
        CheckConstraint("total_fen = items_total_fen + shipping_fee_fen", name="totals_add_up"),
        Index("ix_orders_seller_status", "seller_user_id", "status"),
        Index("ix_orders_buyer_created", "buyer_user_id", "created_at"),
        Index("ix_orders_station_status", "station_id", "status"),
        # What the jobs worker settles each round (orders.services.advance_settled_orders): only
        # the orders on their way, a small part of all orders, in the order they fall due.
        Index("ix_orders_shipped_to_address", "shipped_at", "id",
              postgresql_where=text(SHIPPED_TO_ADDRESS_SQL)),
        Index("ix_orders_delivered", "delivered_at", "id",
              postgresql_where=text(DELIVERED_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("service_stations.id"))
    delivery_kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING_PAYMENT)
    items_total_fen: Mapped[int] = mapped_column(Integer)
    shipping_fee_fen: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    checkout: Mapped[Checkout] = relationship(back_populates="orders")
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", order_by="OrderLine.id", lazy="selectin")
    events: Mapped[list["OrderEvent"]] = relationship(order_by="OrderEvent.id", lazy="selectin")


class OrderLine(db.Model):
    """What was sold, copied at the moment of sale; later product edits never change it."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("line_total_fen = unit_price_fen * quantity", name="line_total_exact"),
        Index("ix_order_lines_campaign_item", "campaign_item_id", postgresql_where=text("campaign_item_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(8))
    net_weight_grams: Mapped[int | None] = mapped_column(Integer)
    origin_county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    origin_village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    harvest_date: Mapped[date | None] = mapped_column(Date)
    unit_price_fen: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_fen: Mapped[int] = mapped_column(Integer)
    # The public name of its trace page, printed as a QR code on the parcel (drawn by PostgreSQL).
    trace_token: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=text("gen_random_uuid()"), unique=True)
    # The campaign item it was sold under (at its campaign price, which unit_price_fen keeps).
    campaign_item_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_items.id"))

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderEvent(db.Model):
    """One move of an order: from, to, who (none for the system), when, why."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyKey(db.Model):
    """A client's Idempotency-Key for a checkout, with a digest of the request it came with."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(100))
    request_digest: Mapped[str] = mapped_column(String(64))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    checkout: Mapped[Checkout] = relationship()


class CartLine(db.Model):
    """A product in a signed-in buyer's cart (a visitor's cart is a cookie until they log in)."""

    __tablename__ = "cart_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 10000", name="quantity_in_range"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeliveryAddress(db.Model):
    """An address a buyer delivers to; the checkout saves each one it delivers to, last used first."""

    __tablename__ = "delivery_addresses"
    __table_args__ = (
        UniqueConstraint("user_id", "recipient_name", "recipient_phone", "county_adcode", "detail",
                         name="uq_delivery_addresses_same_address"),
        Index("ix_delivery_addresses_user_last_used", "user_id", "last_used_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_name: Mapped[str] = mapped_column(String(60))
    recipient_phone: Mapped[str] = mapped_column(String(20))
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    detail: Mapped[str] = mapped_column(String(200))
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
