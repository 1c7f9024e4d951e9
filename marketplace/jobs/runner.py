"""Running the periodic jobs once or in a loop; safe to run in several workers at once."""
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from flask import current_app

from marketplace.extensions import db
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.payments import reconcile
from marketplace.reports import rollup, snapshots
from marketplace.web import services as pages

log = logging.getLogger(__name__)


def _jobs() -> dict[str, Callable[[], int]]:
    ttl = timedelta(hours=max(24, current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"]))
    return {
        "expire_unpaid_orders": orders.expire_due_checkouts,
        "advance_settled_orders": orders.advance_settled_orders,
        "forget_idempotency_keys": lambda: checkout_service.forget_idempotency_keys(ttl),
        "forget_form_tokens": pages.forget_form_tokens,
        "reconcile_stripe_payments": _reconcile_open_payments,
        "roll_up_sales": rollup.roll_up_all,
        "refresh_report_snapshots": _refresh_report_snapshots,
    }


_last_reconcile = {"at": float("-inf")}
_last_snapshots = {"at": float("-inf")}


def _refresh_report_snapshots() -> int:
    """The whole-country standard reports, recomputed at most every REPORT_SNAPSHOT_SECONDS when
    the rollups (or the day, or the county flags) changed."""
    if time.monotonic() - _last_snapshots["at"] < current_app.config["REPORT_SNAPSHOT_SECONDS"]:
        return 0
    _last_snapshots["at"] = time.monotonic()
    return snapshots.refresh()


def _reconcile_open_payments() -> int:
    """Payments and refunds not yet settled here, checked with Stripe every RECONCILE_INTERVAL_SECONDS
    (when Stripe is configured)."""
    config = current_app.config
    if not config.get("STRIPE_SECRET_KEY") or time.monotonic() - _last_reconcile["at"] < config["RECONCILE_INTERVAL_SECONDS"]:
        return 0
    _last_reconcile["at"] = time.monotonic()
    changes = reconcile.reconcile(only_open=True, window_hours=current_app.config["RECONCILE_WINDOW_HOURS"])
    for line in changes:
        log.info("reconcile: %s", line)
    return len(changes)


def run_once(only: str | None = None) -> dict[str, int]:
    """Run every job (or one) once; a failing job is logged and the others still run."""
    results = {}
    for name, job in _jobs().items():
        if only and name != only:
            continue
        try:
            results[name] = job()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
            results[name] = -1
    return results


def job_names() -> list[str]:
    return list(_jobs())


def run_forever(interval: float, say: Callable[[str], None], stop: Callable[[], bool] = lambda: False) -> None:
    while not stop():
        started = time.monotonic()
        results = run_once()
        changed = {name: count for name, count in results.items() if count}
        if changed:
            say(", ".join(f"{name}: {count}" for name, count in changed.items()))
        db.session.remove()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
