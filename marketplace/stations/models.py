"""Service stations: where partners take cash orders and hand over parcels."""
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
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
