"""The sales ledger (append-only) and the county/day rollups built from it."""
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db

LEDGER_KINDS = ("sale", "refund", "exclusion", "inclusion")


class SalesLedgerEntry(db.Model):
    """One sale (+units, +fen) of an order line when its order is paid, or one refund (−units,
    −fen) of it when the refund is confirmed. Written in the transaction that moves the money;
    never updated or deleted. What is sold is copied from the order line, so later edits of a
    product or a county never change the figures.

    An administrator's exclusion of a sale from the official figures appends ``exclusion`` rows
    that bring the line's figures to zero on each day it had any (and lifting it, ``inclusion``
    rows that restore them), so the rollups stay sums of the ledger. The exclusion's (and the
    inclusion's) row on the day of the sale also takes the line out of (puts it back into) the
    counts of orders, buyers and sellers: ``count_change`` −1 (+1)."""

    __tablename__ = "sales_ledger"
    __table_args__ = (
        CheckConstraint(one_of("kind", LEDGER_KINDS), name="known_kind"),
        CheckConstraint("(kind = 'sale' AND units > 0 AND amount_fen > 0) OR "
                        "(kind = 'refund' AND units <= 0 AND amount_fen <= 0) OR "
                        "kind IN ('exclusion', 'inclusion')", name="sign_follows_kind"),
        Index("ix_sales_ledger_day_county", "business_day", "origin_county_adcode"),
        Index("uq_sales_ledger_sale_line", "order_line_id", unique=True,
              postgresql_where=text("kind = 'sale'")),
        Index("uq_sales_ledger_refund_line", "refund_id", "order_line_id", unique=True,
              postgresql_where=text("kind = 'refund'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # 64-bit: ten million rows a year is nothing
    kind: Mapped[str] = mapped_column(String(10))
    business_day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai calendar day of occurred_at
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    exclusion_id: Mapped[int | None] = mapped_column(ForeignKey("sale_exclusions.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    category: Mapped[str] = mapped_column(String(32))
    origin_county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"))
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    buyer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("service_stations.id"))
    units: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(Integer)
    # Exclusion and inclusion rows only: −1 / +1 when the row takes the line's sale out of / back
    # into the counts of orders, buyers and sellers; 0 for every other row (a sale counts by its kind).
    count_change: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    @property
    def counted_lines(self) -> int:
        """How this row changes the number of counted sale lines of its order, buyer and seller that day."""
        return 1 if self.kind == "sale" else self.count_change


class SalesLedgerQueue(db.Model):
    """Ledger rows not yet in the rollups. Each is written with its ledger row and taken (deleted)
    by the rollup job, so a row is rolled up exactly once even when transactions commit out of id
    order, which an id watermark alone would miss."""

    __tablename__ = "sales_ledger_queue"

    ledger_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales_ledger.id"), primary_key=True)


class CountyDailySales(db.Model):
    """Sales of one county on one Asia/Shanghai day; orders, buyers and sellers are exact distinct
    counts for that day and county of those with a sale that counts (not excluded by review; see
    CountyDailyMember)."""

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
    units_excluded: Mapped[int] = mapped_column(Integer, default=0)
    excluded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # taken out of the official figures
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # gross − refunded − excluded


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
    units_excluded: Mapped[int] = mapped_column(Integer, default=0)
    excluded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # taken out of the official figures
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # gross − refunded − excluded


class CountyDailyMember(db.Model):
    """Who took part in a county's sales on a day (an order, a buyer or a seller), with how many
    of their sale lines count (``sale_lines``: sales less those excluded by review), so that the
    rollup's distinct counts stay exact however its input is batched: a member counts while
    ``sale_lines`` is above zero."""

    __tablename__ = "county_daily_members"
    __table_args__ = (
        CheckConstraint("kind IN ('order', 'buyer', 'seller')", name="known_kind"),
        # A province's or county's distinct buyers and sellers (an official's reports) without
        # reading every county's members of the period: a year of one county in milliseconds.
        Index("ix_county_daily_members_county", "county_adcode", "kind", "business_day", "member_id", "sale_lines"),
    )

    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    county_adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RollupState(db.Model):
    """When the rollup job last ran, for reports to say how fresh they are; ``version`` grows with
    every change to the rollups (report snapshots record the version they were computed from)."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rows_rolled_up: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ReportSnapshot(db.Model):
    """A whole-country report for a standard period, computed by the rollup job from the rollups
    (as the report endpoint would) and served as is while its basis holds: the same Asia/Shanghai
    day, rollup version and county flags."""

    __tablename__ = "report_snapshots"

    report: Mapped[str] = mapped_column(String(20), primary_key=True)
    preset: Mapped[str] = mapped_column(String(20), primary_key=True)
    business_day: Mapped[date] = mapped_column(Date)
    rollup_version: Mapped[int] = mapped_column(BigInteger)
    counties_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The shape of body (snapshots.BODY_VERSIONS); '' for rows stored before there was one: never served.
    body_version: Mapped[str] = mapped_column(String(16), server_default="")
    body: Mapped[str] = mapped_column(Text)


class SaleExclusion(db.Model):
    """An administrator took an order's sales out of the official figures (while lifted_at is null)."""

    __tablename__ = "sale_exclusions"
    __table_args__ = (Index("uq_sale_exclusions_active_order", "order_id", unique=True,
                            postgresql_where=text("lifted_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    flag: Mapped[str | None] = mapped_column(String(30))  # the anomaly that led to it, if any
    reason: Mapped[str] = mapped_column(String(300))
    excluded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    excluded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lifted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lift_reason: Mapped[str | None] = mapped_column(String(300))


HOUSEHOLD_STATUSES = ("verified", "rejected", "revoked")


class PovertyHouseholdReview(db.Model):
    """A decision on whether a seller is a registered poor household; the latest one holds."""

    __tablename__ = "poverty_household_reviews"
    __table_args__ = (
        CheckConstraint(one_of("status", HOUSEHOLD_STATUSES), name="known_status"),
        Index("ix_poverty_household_reviews_seller", "seller_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10))
    evidence_note: Mapped[str] = mapped_column(String(500))
    reviewed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewAuditEntry(db.Model):
    """Every review action, in order: who did what to which record, and why."""

    __tablename__ = "review_audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    subject_type: Mapped[str] = mapped_column(String(20))  # seller or order
    subject_id: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
