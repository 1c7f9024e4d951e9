"""The business metrics on /metrics that routes move: checkouts placed and refused, payments
applied, Stripe webhook lag. Services stay free of metrics; the routes that call them count
what they returned or raised (the scrape-time gauges are in marketplace/monitoring.py).

The metrics live in prometheus_client's default registry, once per process; under gunicorn with
PROMETHEUS_MULTIPROC_DIR every worker writes its own file and a scrape adds them up.
"""
import enum
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from marketplace.errors import AppError

# In multiprocess mode a metric without labels opens its file when it is created, at this import;
# any process of the app (the jobs worker, `flask db upgrade`) may be first to need the directory.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


class Channel(enum.StrEnum):
    """Where a checkout was placed."""

    API = "api"
    STOREFRONT = "storefront"  # the buyers' checkout page
    STATION_DESK = "station_desk"  # a partner ordering for a villager


CHECKOUTS_PLACED = Counter("marketplace_checkouts_placed", "Checkouts placed (idempotent replays not counted)",
                           ["channel"])
CHECKOUTS_REFUSED = Counter("marketplace_checkouts_refused", "Checkouts the checkout service refused, by error code",
                            ["channel", "reason"])
PAYMENTS_APPLIED = Counter("marketplace_payments_applied",
                           "Payments applied: Stripe events by type, cash collected at stations",
                           ["method", "kind"])
# Stripe retries a failed delivery for days, so the buckets reach past an hour.
WEBHOOK_LAG = Histogram("marketplace_stripe_webhook_lag_seconds",
                        "Seconds from a Stripe event's creation to its being applied here",
                        buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600))


@contextmanager
def counting_checkout(channel: Channel) -> Iterator[None]:
    """Count a refusal of the checkout placed inside the block by its error code; the caller
    counts a success with `checkout_placed` (it alone knows whether the checkout is new)."""
    try:
        yield
    except AppError as error:
        CHECKOUTS_REFUSED.labels(channel=channel, reason=str(error.code)).inc()
        raise


def checkout_placed(channel: Channel, *, created: bool = True) -> None:
    if created:
        CHECKOUTS_PLACED.labels(channel=channel).inc()


def stripe_event_applied(event_type: str, created: int | float | None) -> None:
    """A verified Stripe event changed something here; `created` is Stripe's Unix time of the event."""
    PAYMENTS_APPLIED.labels(method="stripe", kind=event_type).inc()
    if isinstance(created, int | float):
        WEBHOOK_LAG.observe(max(time.time() - created, 0))


def cash_collected() -> None:
    PAYMENTS_APPLIED.labels(method="cash", kind="cash_collection").inc()
