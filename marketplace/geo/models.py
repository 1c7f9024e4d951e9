"""Geography: provinces, counties keyed by 6-digit GB/T 2260 code, villages."""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.common.time import utcnow
from marketplace.extensions import db


class Province(db.Model):
    __tablename__ = "provinces"

    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class County(db.Model):
    __tablename__ = "counties"
    __table_args__ = (
        CheckConstraint("length(adcode) = 6", name="adcode_six_digits"),
        CheckConstraint(
            "poverty_exit_year IS NULL OR is_national_poverty_county", name="exit_year_only_for_poverty"
        ),
    )

    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    province_adcode: Mapped[str] = mapped_column(ForeignKey("provinces.adcode"), index=True)
    prefecture_name: Mapped[str | None] = mapped_column(String(60))
    is_national_poverty_county: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    poverty_exit_year: Mapped[int | None] = mapped_column(Integer)
    is_demonstration_county: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    province: Mapped[Province] = relationship(lazy="joined")


class Village(db.Model):
    __tablename__ = "villages"
    __table_args__ = (UniqueConstraint("county_adcode", "name", name="uq_villages_county_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    county_adcode: Mapped[str] = mapped_column(ForeignKey("counties.adcode"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    county: Mapped[County] = relationship(lazy="joined")
