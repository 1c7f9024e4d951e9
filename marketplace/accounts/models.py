"""Accounts: users with one or more roles, the counties an official's reports cover, and hashed bearer tokens."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.common.sql import one_of
from marketplace.common.time import utcnow
from marketplace.extensions import db


class Role(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    PARTNER = "partner"
    ADMIN = "admin"
    # A county or provincial commerce bureau: reads the sales reports of its report scope only.
    OFFICIAL = "official"


# Sellers and partners work in a county; their accounts must name it.
ROLES_NEEDING_COUNTY = frozenset({Role.SELLER, Role.PARTNER})
LOCALES = ("zh_CN", "en")


class User(db.Model):
    __tablename__ = "users"
    # Villagers a station partner acts for have no password and cannot log in, so they need no
    # phone or email; everyone who logs in has one of them.
    __table_args__ = (CheckConstraint("password_hash IS NULL OR phone IS NOT NULL OR email IS NOT NULL",
                                      name="login_needs_identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(11), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    # None: the account cannot log in (a villager without a phone, represented by a station partner).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Each browser sign-in carries the generation it began in; logging out, a deactivation and a
    # new password move it on, so every session cookie of the account, saved or stolen, stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    county_adcode: Mapped[str | None] = mapped_column(ForeignKey("counties.adcode"), index=True)
    # Verified sellers publish without review; set by an administrator.
    seller_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    role_rows: Mapped[list["UserRole"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )
    # Loaded when asked for (report requests of officials, account pages), not with every token.
    report_scope: Mapped["ReportScope | None"] = relationship(
        cascade="all, delete-orphan", foreign_keys="ReportScope.user_id", uselist=False
    )

    @property
    def roles(self) -> list[str]:
        return [row.role for row in self.role_rows]

    def has_role(self, *roles: str) -> bool:
        return any(row.role in roles for row in self.role_rows)


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="known_role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="role_rows")


class ReportScope(db.Model):
    """The counties an official's reports cover: one province or one county of the registry,
    granted by an administrator."""

    __tablename__ = "report_scopes"
    __table_args__ = (
        CheckConstraint("(province_adcode IS NULL AND county_adcode IS NOT NULL) OR "
                        "(province_adcode IS NOT NULL AND county_adcode IS NULL)", name="province_or_county"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    province_adcode: Mapped[str | None] = mapped_column(ForeignKey("provinces.adcode"))
    county_adcode: Mapped[str | None] = mapped_column(ForeignKey("counties.adcode"))
    granted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def adcode(self) -> str:
        return self.province_adcode or self.county_adcode

    @property
    def kind(self) -> str:
        return "province" if self.province_adcode else "county"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")
