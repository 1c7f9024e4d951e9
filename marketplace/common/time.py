"""Time helpers: store UTC, reason about business days in Asia/Shanghai."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes read back from SQLite are UTC; give them their zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def business_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day a UTC moment falls on."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()
