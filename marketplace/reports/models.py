"""The sales ledger (append-only) and the county/day rollups built from it."""
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.common.time import utcnow
from marketplace.extensions import db

# 64-bit ids on PostgreSQL (ten million rows a year is nothing); SQLite's rowid is already 64-bit.
LedgerId = BigInteger().with_variant(Integer(), "sqlite")


class SalesLedgerEntry(db.Model):
    """One sale (+units, +fen) of an order line when its order is paid, or one refund (−units,
    −fen) of it when the refund is confirmed. Written in the transaction that moves the money;
    never updated or deleted. What is sold is copied from the order line, so later edits of a
    product or a county never change the figures."""

    __tablename__ = "sales_ledger"
    __table_args__ = (
        CheckConstraint("kind IN ('sale', 'refund')", name="known_kind"),
        CheckConstraint("(kind = 'sale' AND units > 0 AND amount_fen > 0) OR "
                        "(kind = 'refund' AND units <= 0 AND amount_fen <= 0)", name="sign_follows_kind"),
        Index("ix_sales_ledger_day_county", "business_day", "origin_county_adcode"),
        Index("uq_sales_ledger_sale_line", "order_line_id", unique=True,
              postgresql_where=text("kind = 'sale'"), sqlite_where=text("kind = 'sale'")),
        Index("uq_sales_ledger_refund_line", "refund_id", "order_line_id", unique=True,
              postgresql_where=text("kind = 'refund'"), sqlite_where=text("kind = 'refund'")),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    business_day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai calendar day of occurred_at
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    category: Mapped[str] = mapped_column(String(32))
    origin_county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("service_stations.id"))
    units: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)


class SalesLedgerQueue(db.Model):
    """Ledger rows not yet in the rollups. Each is written with its ledger row and taken (deleted)
    by the rollup job, so a row is rolled up exactly once even when transactions commit out of id
    order, which an id watermark alone would miss."""

    __tablename__ = "sales_ledger_queue"

    ledger_id: Mapped[int] = mapped_column(LedgerId, ForeignKey("sales_ledger.id"), primary_key=True)


class CountyDailySales(db.Model):
    """Sales of one county on one Asia/Shanghai day; orders, buyers and sellers are exact distinct
    counts for that day and county (see CountyDailyMember)."""

    __tablename__ = "county_daily_sales"

    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    buyers: Mapped[int] = mapped_column(Integer, default=0)
    sellers: Mapped[int] = mapped_column(Integer, default=0)
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    units_refunded: Mapped[int] = mapped_column(Integer, default=0)
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class CountyDailyCategorySales(db.Model):
    """The same money and units per category (for reports by category)."""

    __tablename__ = "county_daily_category_sales"

    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    units_sold: Mapped[int] = mapped_column(Integer, default=0)
    units_refunded: Mapped[int] = mapped_column(Integer, default=0)
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class CountyDailyMember(db.Model):
    """Who took part in a county's sales on a day (an order, a buyer or a seller), so that the
    rollup's distinct counts stay exact however its input is batched."""

    __tablename__ = "county_daily_members"
    __table_args__ = (CheckConstraint("kind IN ('order', 'buyer', 'seller')", name="known_kind"),)

    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    county_adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class RollupState(db.Model):
    """When the rollup job last ran, for reports to say how fresh they are."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rows_rolled_up: Mapped[int] = mapped_column(BigInteger, default=0)
