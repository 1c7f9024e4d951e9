"""Report periods: presets and explicit ranges of Asia/Shanghai calendar days."""
import enum
from dataclasses import dataclass
from datetime import date, timedelta

from marketplace.common.time import business_day, utcnow
from marketplace.errors import InvalidInput
from marketplace.reports.errors import ReportErrorCode

PRESETS = ("today", "last_7_days", "last_30_days", "month", "year", "double11")
MAX_YEARS = 5  # the longest period a report covers


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive
    preset: str | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def a_year_earlier(self) -> "Period":
        """The same calendar days one year before (29 February becomes the 28th)."""
        return Period(_year_before(self.first), _year_before(self.last))


def _year_before(day: date) -> date:
    return _years_after(day, -1)


def _years_after(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def current_day() -> date:
    """The Asia/Shanghai calendar day it is now: presets end on it."""
    return business_day(utcnow())


class PeriodProblem(enum.StrEnum):
    """What is wrong with a period asked for (``details["problem"]`` of invalid_period), so that
    pages can say it in their reader's language."""

    PRESET_AND_RANGE = "preset_and_range"
    YEAR_WITHOUT_DOUBLE11 = "year_without_double11"
    HALF_RANGE = "half_range"
    REVERSED_RANGE = "reversed_range"
    TOO_LONG = "too_long"
    UNKNOWN_PRESET = "unknown_preset"


class InvalidPeriod(InvalidInput):
    code = ReportErrorCode.INVALID_PERIOD

    def __init__(self, message: str, problem: PeriodProblem, details: dict | None = None):
        super().__init__(message, details={"problem": problem, **(details or {})})
        self.problem = problem


def resolve(*, preset: str | None = None, first: date | None = None, last: date | None = None,
            year: int | None = None, today: date | None = None) -> Period:
    """The period a report asked for: a preset, or from/to (both inclusive); the default is the last 30 days.

    ``double11`` is 1 to 11 November of ``year`` (by default the latest Double 11 that has begun)."""
    today = today or current_day()
    if preset and (first or last):
        raise InvalidPeriod("Give either a preset or from/to, not both.", PeriodProblem.PRESET_AND_RANGE)
    if year is not None and preset != "double11":
        raise InvalidPeriod("year goes with preset=double11 only.", PeriodProblem.YEAR_WITHOUT_DOUBLE11)
    if preset is None and (first or last):
        if not (first and last):
            raise InvalidPeriod("Give both from and to (inclusive days).", PeriodProblem.HALF_RANGE)
        if first > last:
            raise InvalidPeriod(f"from ({first}) is after to ({last}).", PeriodProblem.REVERSED_RANGE,
                                details={"from": str(first), "to": str(last)})
        if last >= _years_after(first, MAX_YEARS):
            raise InvalidPeriod("A report covers at most five years.", PeriodProblem.TOO_LONG,
                                details={"max_years": MAX_YEARS, "latest_to": str(_years_after(first, MAX_YEARS) - timedelta(days=1))})
        return Period(first, last)
    preset = preset or "last_30_days"
    if preset == "today":
        return Period(today, today, preset)
    if preset == "last_7_days":
        return Period(today - timedelta(days=6), today, preset)
    if preset == "last_30_days":
        return Period(today - timedelta(days=29), today, preset)
    if preset == "month":
        return Period(today.replace(day=1), today, preset)
    if preset == "year":
        return Period(today.replace(month=1, day=1), today, preset)
    if preset == "double11":
        year = year or (today.year if today >= date(today.year, 11, 1) else today.year - 1)
        return Period(date(year, 11, 1), date(year, 11, 11), preset)
    raise InvalidPeriod(f"Unknown preset {preset!r}; use one of {', '.join(PRESETS)}.", PeriodProblem.UNKNOWN_PRESET)
