"""The jobs worker's tasks on procrastinate (a PostgreSQL-backed task queue): what runs, when, on
which queue, and what a failure does.

Each task is a plain sync function that runs inside an application context of the Flask app the
worker process built once, and removes its session afterwards. What runs when:

- periodically (procrastinate's ``periodic``, a cron with seconds): every worker runs the periodic
  deferrer, and each period's job is inserted once however many workers run, because
  procrastinate records each (task, period) in ``procrastinate_periodic_defers`` under a unique
  constraint and the first worker's insert wins;
- on an event: a payment or refund written to the sales ledger enqueues ``roll_up_sales`` in its
  own transaction (``marketplace.common.queue.defer``).

Every job carries its task's name as its lock, so two runs of one task never overlap (a later
job waits until the earlier one has finished). Tasks that are not retried also carry it as their
queueing lock: while one job of the task waits, the next period does not add another, so a slow
run never builds a backlog. ``reconcile_stripe_payments`` (Stripe may be away for a while) is
retried with exponential backoff instead and so has no queueing lock: procrastinate cannot put a
job back to ``todo`` while another with its queueing lock waits. The other tasks are not
retried: their next period does the same work, and the rollup's work waits in
``sales_ledger_queue`` whatever happens to a job. A job that fails for good stays in
``procrastinate_jobs`` as failed (``flask jobs failed``, ``flask jobs retry``).
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import procrastinate
from flask import Flask, current_app
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Status
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from marketplace.catalog import media
from marketplace.claims import services as claims
from marketplace.extensions import db
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.payments import reconcile
from marketplace.reports import rollup, snapshots
from marketplace.web import services as pages

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
# A 10 s recomputation of the stored reports must never hold up a rollup or an expiry: the
# snapshots have a queue of their own (and the worker runs JOBS_CONCURRENCY jobs at once).
SNAPSHOTS_QUEUE = "snapshots"


# ---------------------------------------------------------------- what each task does

def _forget_idempotency_keys() -> int:
    ttl = timedelta(hours=max(24, current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"]))
    return checkout_service.forget_idempotency_keys(ttl)


def _reconcile_open_payments() -> int:
    """Payments and refunds not yet settled here, checked with Stripe (when Stripe is configured).
    A Stripe that did not answer fails the job (after checking what it could), so that the worker
    retries it with backoff."""
    config = current_app.config
    if not config.get("STRIPE_SECRET_KEY"):
        return 0
    changes = reconcile.reconcile(only_open=True, window_hours=config["RECONCILE_WINDOW_HOURS"],
                                  fail_if_unreachable=True)
    for line in changes:
        log.info("reconcile: %s", line)
    return len(changes)


@dataclass(frozen=True)
class Task:
    """A task of the worker: its body returns how many things it changed."""

    name: str
    body: Callable[[], int]
    period_setting: str  # the config key holding its period in seconds
    queue: str = DEFAULT_QUEUE
    retried: bool = False
    needs_setting: str | None = None  # scheduled only when this config value is set

    def scheduled(self, config) -> bool:
        return self.needs_setting is None or bool(config.get(self.needs_setting))


# Looked up when they run (not bound here), so each call goes to the service as it is then.
TASKS = (
    Task("expire_unpaid_orders", lambda: orders.expire_due_checkouts(), "JOBS_INTERVAL_SECONDS"),
    Task("advance_settled_orders", lambda: orders.advance_settled_orders(), "JOBS_INTERVAL_SECONDS"),
    # Claims left unanswered past their deadline are accepted (the seller's silence, or the buyer's on an offer).
    Task("accept_overdue_claims", lambda: claims.accept_overdue_claims(), "CLAIM_DEADLINES_SECONDS"),
    Task("forget_idempotency_keys", _forget_idempotency_keys, "JOBS_INTERVAL_SECONDS"),
    Task("forget_form_tokens", lambda: pages.forget_form_tokens(), "JOBS_INTERVAL_SECONDS"),
    Task("reconcile_stripe_payments", _reconcile_open_payments, "RECONCILE_INTERVAL_SECONDS", retried=True,
         needs_setting="STRIPE_SECRET_KEY"),
    # Event-driven (a payment enqueues it); the period only catches what a lost job left behind.
    Task("roll_up_sales", lambda: rollup.roll_up_all(), "JOBS_INTERVAL_SECONDS"),
    Task("refresh_report_snapshots", lambda: snapshots.refresh(), "REPORT_SNAPSHOT_SECONDS", queue=SNAPSHOTS_QUEUE),
    # Files a failed or rolled-back upload left, or a removed photo: the store is listed whole, so hourly.
    Task("sweep_media", lambda: media.sweep_unreferenced_files(), "MEDIA_SWEEP_SECONDS"),
)


def job_names() -> list[str]:
    return [task.name for task in TASKS]


def run_once(only: str | None = None) -> dict[str, int]:
    """Run every task's body (or one) once, here and now; a failing one is logged, counted as -1,
    and the others still run."""
    results = {}
    for task in TASKS:
        if only and task.name != only:
            continue
        try:
            results[task.name] = task.body()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", task.name)
            results[task.name] = -1
    return results


# ---------------------------------------------------------------- the worker

def cron_every(seconds: int, setting: str) -> str:
    """A cron (seconds field last, as procrastinate's croniter reads it) for a period that divides
    a minute, an hour or a day evenly, so that every period has the same length."""
    if 0 < seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    minutes, hours = seconds // 60, seconds // 3600
    if seconds % 60 == 0 and 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if seconds % 3600 == 0 and 0 < hours < 24 and 24 % hours == 0:
        return f"0 */{hours} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    raise ValueError(f"{setting}={seconds}: a period must divide a minute, an hour or a day evenly "
                     "(e.g. 5, 30, 60, 600, 3600 or 86400 seconds).")


def libpq_conninfo(sqlalchemy_url: str) -> str:
    """The libpq connection string (``key=value ...``) of the app's SQLAlchemy URL: its host, port,
    user, password and database, and its query options (``host`` of a socket directory, ``sslmode``)."""
    url = make_url(sqlalchemy_url)
    parts = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
             "dbname": url.database, **url.query}
    return make_conninfo(**{key: value for key, value in parts.items() if value is not None})


def _in_app_context(flask_app: Flask, task: Task, say: Callable[[str], None]) -> Callable[..., int]:
    def run(timestamp: int | None = None) -> int:  # periodic jobs are given their period's timestamp
        with flask_app.app_context():
            try:
                changed = task.body()
            finally:
                db.session.remove()
        if changed:
            say(f"{task.name}: {changed}")
        return changed

    run.__name__ = run.__qualname__ = task.name
    return run


def build_worker_app(flask_app: Flask, say: Callable[[str], None] = log.info) -> procrastinate.App:
    """The procrastinate app of a worker process: every task, the periodic ones scheduled from
    the Flask app's config, on the Flask app's database; ``say`` hears a line per job that changed
    something (``roll_up_sales: 12``). A period the cron cannot keep raises ValueError."""
    config = flask_app.config
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=libpq_conninfo(config["SQLALCHEMY_DATABASE_URI"])))
    retry = procrastinate.RetryStrategy(max_attempts=config["JOBS_MAX_RETRIES"],
                                        exponential_wait=config["JOBS_RETRY_BACKOFF_SECONDS"])
    for task in TASKS:
        registered = app.task(name=task.name, queue=task.queue, lock=task.name,
                              queueing_lock=None if task.retried else task.name,
                              retry=retry if task.retried else False)(_in_app_context(flask_app, task, say))
        if task.scheduled(config):
            app.periodic(cron=cron_every(config[task.period_setting], task.period_setting),
                         periodic_id=task.name)(registered)
    _add_housekeeping(app, keep_hours=config["JOBS_KEEP_FINISHED_HOURS"])
    return app


def _add_housekeeping(app: procrastinate.App, *, keep_hours: int) -> None:
    """procrastinate's own upkeep: old finished jobs deleted (failed ones are kept until retried),
    and jobs left ``doing`` by a worker that died put back to ``todo``."""

    @app.periodic(cron="17 * * * *", periodic_id="remove_old_jobs")
    @app.task(name="remove_old_jobs", pass_context=True, lock="remove_old_jobs", queueing_lock="remove_old_jobs")
    async def remove_old_jobs(context, timestamp: int | None = None) -> None:
        await context.app.job_manager.delete_old_jobs(nb_hours=keep_hours)

    @app.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
    @app.task(name="retry_stalled_jobs", pass_context=True, lock="retry_stalled_jobs",
              queueing_lock="retry_stalled_jobs")
    async def retry_stalled_jobs(context, timestamp: int | None = None) -> None:
        # A worker that stopped sending heartbeats (killed, its machine gone) leaves its jobs
        # `doing`, and their lock would hold every later job of the task.
        manager = context.app.job_manager
        for job in await manager.get_stalled_jobs():
            try:
                await manager.retry_job(job)
                log.warning("job %s (%s) of a stalled worker put back in its queue", job.id, job.task_name)
            except procrastinate_errors.UniqueViolation:  # another job of the task waits: it does the work
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                log.warning("job %s (%s) of a stalled worker failed: another waits", job.id, job.task_name)


def run_worker(worker: procrastinate.App, *, concurrency: int) -> None:
    """Run the worker on every queue until SIGINT or SIGTERM (jobs in progress finish first)."""
    worker.run_worker(queues=None, concurrency=concurrency)
