"""Time helpers: store UTC, reason about business days in Asia/Shanghai."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def business_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day a moment (timezone-aware, as PostgreSQL returns them) falls on."""
    return moment.astimezone(BUSINESS_TZ).date()
