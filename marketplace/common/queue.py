"""Enqueueing jobs for the jobs worker (procrastinate) in the caller's transaction, and reading
back the ones that failed.

Why hand-written SQL rather than procrastinate's own ``task.defer()``: procrastinate defers
through its own connection, so a job would be committed even when the change that caused it is
rolled back (or run before that change is visible). ``defer`` instead writes the job row through
``db.session``: it is committed with the caller's change, or not at all. The statements below
are the only ones in the service that touch procrastinate's tables (``procrastinate_jobs``,
``procrastinate_events``), created by migration 0014 from procrastinate's own schema; inserting a
``todo`` row is all procrastinate's ``procrastinate_defer_jobs_v1`` does too, and its triggers
record the ``deferred`` event and wake the workers (NOTIFY, delivered at commit). Every job's
lock is its task's name, as the worker's periodic jobs have (marketplace/jobs/tasks.py): two jobs
of one task never run at once.

A queueing lock (procrastinate's partial unique index on ``queueing_lock`` for jobs still
``todo``) keeps one job waiting per lock: a burst of payments enqueues one rollup, not one per
payment. The lock never makes ``defer`` raise or abort the caller's transaction: a job already
waiting (committed, or inserted earlier in this transaction) is seen first and nothing is
written; otherwise the insert says ``ON CONFLICT DO NOTHING``, so a job another transaction is
committing at that very moment only makes this one wait for that commit, then skip.
"""
import json
from datetime import timedelta

from sqlalchemy import text

from marketplace.common.sql import read_alone, write_in_session

_COLUMNS = "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, scheduled_at) "
_VALUES = ("CAST(:queue AS varchar), CAST(:task_name AS varchar), CAST(:lock AS text), CAST(:queueing_lock AS text), "
           "CAST(:args AS jsonb), CASE WHEN CAST(:delay_seconds AS float8) IS NULL THEN NULL "
           "ELSE clock_timestamp() + make_interval(secs => CAST(:delay_seconds AS float8)) END")
_DEFER = text(_COLUMNS + "VALUES (" + _VALUES + ") RETURNING id")
# One statement: a job already waiting is seen first and nothing is written (no sequence value,
# no speculative insertion); otherwise the insert, with the partial unique index's conflict
# handling for a job another transaction is committing at that moment.
_DEFER_UNLESS_WAITING = text(
    _COLUMNS + "SELECT " + _VALUES + " WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs "
    "WHERE queueing_lock = CAST(:queueing_lock AS text) AND status = 'todo') "
    "ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING RETURNING id")


def defer(task_name: str, *, queue: str = "default", args: dict | None = None,
          queueing_lock: str | None = None, delay: timedelta | None = None) -> None:
    """Enqueue ``task_name(**args)`` on ``queue`` in the session's transaction (the caller commits);
    with ``queueing_lock``, nothing happens if a job with that lock is already waiting; with
    ``delay``, the job runs no sooner than that from now."""
    params = {"queue": queue, "task_name": task_name, "lock": task_name, "queueing_lock": queueing_lock,
              "args": json.dumps(args or {}), "delay_seconds": delay.total_seconds() if delay is not None else None}
    if queueing_lock is None:
        write_in_session(_DEFER, params)
        return
    write_in_session(_DEFER_UNLESS_WAITING, params)


class JobNotRetryable(LookupError):
    """That job cannot be put back in its queue: unknown, not failed, or its work already waiting."""

    def __init__(self, job_id: int, status: str | None, reason: str | None = None):
        self.job_id, self.status = job_id, status
        reason = reason or ("no such job" if status is None else f"its status is {status}, not failed")
        super().__init__(f"Job {job_id} cannot be retried: {reason}.")


_FAILED = text(
    "SELECT j.id, j.task_name, j.queue_name, j.attempts, j.args, "
    "(SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'failed') AS failed_at "
    "FROM procrastinate_jobs j WHERE j.status = 'failed' ORDER BY j.id")
_STATUS = text("SELECT status::text AS status, queueing_lock, EXISTS (SELECT 1 FROM procrastinate_jobs other "
               "WHERE other.queueing_lock = jobs.queueing_lock AND other.status = 'todo') AS lock_taken "
               "FROM procrastinate_jobs jobs WHERE id = :job_id FOR UPDATE")
# procrastinate's own function for a manual retry: back to todo now, attempts + 1.
_RETRY = text("SELECT procrastinate_retry_job_v2(:job_id, clock_timestamp(), NULL, NULL, NULL)")


def failed_jobs() -> list:
    """Jobs that failed (after their retries), oldest first: id, task_name, queue_name, attempts,
    args and failed_at (procrastinate keeps no error text: the worker's log has the traceback)."""
    return read_alone(_FAILED, {})


def retry_failed_job(job_id: int) -> None:
    """Put a failed job back to ``todo`` to run as soon as a worker is free (the caller commits);
    raises JobNotRetryable for an unknown job or one that has not failed."""
    rows = write_in_session(_STATUS, {"job_id": job_id})
    status = rows[0].status if rows else None
    if status != "failed":
        raise JobNotRetryable(job_id, status)
    if rows[0].lock_taken:  # procrastinate keeps one job per queueing lock waiting
        raise JobNotRetryable(job_id, status, f"a job with its queueing lock {rows[0].queueing_lock!r} is already "
                                              "waiting and will do the same work")
    write_in_session(_RETRY, {"job_id": job_id})
