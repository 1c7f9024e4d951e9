"""A settable clock for the moments money moves and reports read "today"."""
from datetime import UTC, datetime

from marketplace.catalog import stock
from marketplace.claims import services as claims
from marketplace.common.time import utcnow
from marketplace.orders import services as orders
from marketplace.payments import cash_at_station, events, intents, refunds
from marketplace.reports import periods, review


class Clock:
    """The instant payments are settled (orders.services, payments.events, payments.cash_at_station),
    checkouts are payable (payments.intents), refunds confirmed (payments.refunds), report presets
    read "today" (reports.periods) and listings are priced by their campaigns (catalog.stock); the
    real time while ``now`` is unset."""

    def __init__(self, monkeypatch):
        self.now: datetime | None = None
        for module in (orders, cash_at_station, events, intents, refunds, periods, claims, review, stock):
            monkeypatch.setattr(module, "utcnow", self.read)

    def at(self, moment: str) -> datetime:
        self.now = datetime.fromisoformat(moment).astimezone(UTC)
        return self.now

    def read(self) -> datetime:
        return self.now or utcnow()
