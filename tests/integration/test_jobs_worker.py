"""Two `flask jobs run` workers at once, as on two machines, on a database of their own (the
suite's rolled-back transaction is invisible to other processes): each periodic task is deferred
and run once per period however many workers run; a job enqueued in a transaction that rolls
back never runs, one committed does; a failing job is retried with backoff, then kept as failed,
listed and retried by `flask jobs failed` and `flask jobs retry`.

What is proved is read from procrastinate's own records (procrastinate_jobs, procrastinate_events,
procrastinate_workers). The periods are 2 s (every period setting through its environment
variable), so the whole module takes under a minute.
"""
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from marketplace import create_app
from marketplace.common import queue
from marketplace.config import TestConfig
from marketplace.extensions import db
from marketplace.payments import events
from tests.builders import Builders
from tests.conftest import database_beside
from tests.stripe_server import free_port

pytestmark = pytest.mark.real_commits  # the test's own app commits to the workers' database

ROOT = Path(__file__).resolve().parents[2]
PERIOD = 2
PERIODIC_TASKS = ("expire_unpaid_orders", "advance_settled_orders", "accept_overdue_claims",
                  "forget_idempotency_keys", "forget_form_tokens",
                  "reconcile_stripe_payments", "roll_up_sales", "refresh_report_snapshots", "sweep_media")
MAX_RETRIES, BACKOFF = 2, 2  # a failing job runs 3 times: at once, 2 s later, then 4 s later


def _flask(url: str, *args: str, output=subprocess.PIPE, **env) -> subprocess.Popen:
    environment = {**os.environ, "MARKETPLACE_ENV": "development", "DATABASE_URL": url, "FLASK_APP": "wsgi", **env}
    return subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT, env=environment,
                            stdout=output, stderr=subprocess.STDOUT, text=True)


def flask_command(url: str, *args: str) -> str:
    """Run a flask command on that database, as an operator would; its output (it must succeed)."""
    process = _flask(url, *args)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def workers_database(database_url) -> str:
    """A database beside the test database, migrated with `flask db upgrade`; dropped afterwards."""
    with database_beside(database_url, "jobs") as workers_url:
        flask_command(workers_url, "db", "upgrade")
        yield workers_url


@pytest.fixture(scope="module")
def workers(workers_database, tmp_path_factory):
    """Two `flask jobs run` processes started at once, every period 2 s, Stripe configured but at a
    port where nothing listens (so reconciliation fails whenever there is a payment to check)."""
    env = {"JOBS_INTERVAL_SECONDS": str(PERIOD), "RECONCILE_INTERVAL_SECONDS": str(PERIOD),
           "REPORT_SNAPSHOT_SECONDS": str(PERIOD), "MEDIA_SWEEP_SECONDS": str(PERIOD),
           "CLAIM_DEADLINES_SECONDS": str(PERIOD),
           "JOBS_MAX_RETRIES": str(MAX_RETRIES),
           "JOBS_RETRY_BACKOFF_SECONDS": str(BACKOFF), "JOBS_CONCURRENCY": "2",
           "STRIPE_SECRET_KEY": "sk_test_jobs", "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
           "STRIPE_MAX_NETWORK_RETRIES": "0", "STRIPE_TIMEOUT_SECONDS": "2",
           # The media sweep lists this directory: never the checkout's own instance/media.
           "MEDIA_STORAGE": "local", "MEDIA_ROOT": str(tmp_path_factory.mktemp("worker-media"))}
    logs = [tmp_path_factory.mktemp("worker") / "log" for _ in range(2)]  # a file: a full pipe would stop a worker
    processes = []
    for log in logs:
        with log.open("w") as output:
            processes.append(_flask(workers_database, "jobs", "run", output=output, **env))
    engine = create_engine(workers_database)
    try:
        deadline = time.monotonic() + 30
        while _scalar(engine, "SELECT count(*) FROM procrastinate_workers") < 2:
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    pytest.fail(f"a worker stopped at start:\n{log.read_text()}")
            assert time.monotonic() < deadline, "the two workers did not register within 30 s"
            time.sleep(0.2)
        yield engine
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        engine.dispose()


def _scalar(engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def _rows(engine, sql: str, **params) -> list:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def wait_for(condition, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)
    return result


def jobs_command(app: Flask, *args: str) -> str:
    """The output of `flask jobs ...` on that app (it must succeed)."""
    result = app.test_cli_runner().invoke(args=["jobs", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def workers_app(workers_database) -> Flask:
    """The application on the workers' database, for the test's own transactions."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = workers_database

    app = create_app(Config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_each_periodic_task_runs_once_per_period_with_two_workers(workers):
    started = time.time()
    time.sleep(4 * PERIOD + 1)

    jobs = _rows(workers, "SELECT task_name, (args->>'timestamp')::bigint AS at, status::text AS status, worker_id "
                          "FROM procrastinate_jobs WHERE args ? 'timestamp' ORDER BY id")
    periods = defaultdict(list)
    for job in jobs:
        periods[job.task_name].append(job.at)
    for task in PERIODIC_TASKS:
        ticks = sorted(periods[task])
        assert len(ticks) == len(set(ticks)), f"{task} deferred twice for one period: {ticks}"
        assert ticks and ticks[0] <= started, f"{task} missed the period the workers started in: {ticks}"
        assert ticks == list(range(ticks[0], ticks[-1] + PERIOD, PERIOD)), f"{task} skipped a period: {ticks}"
        assert len(ticks) >= 4, ticks
    finished = [job for job in jobs if job.task_name in PERIODIC_TASKS and job.at < time.time() - PERIOD]
    assert {job.status for job in finished} == {"succeeded"}
    assert len({job.worker_id for job in finished}) == 2  # both workers took jobs
    queues = dict(_rows(workers, "SELECT DISTINCT task_name, queue_name FROM procrastinate_jobs "
                                 "WHERE task_name = ANY(:tasks)", tasks=list(PERIODIC_TASKS)))
    assert queues == {task: "snapshots" if task == "refresh_report_snapshots" else "default" for task in PERIODIC_TASKS}


def test_a_job_runs_only_if_the_transaction_that_enqueued_it_commits(workers, workers_app):
    queue.defer("forget_form_tokens", queueing_lock="enqueued-then-rolled-back")
    db.session.rollback()
    queue.defer("forget_form_tokens", queueing_lock="enqueued-and-committed")
    db.session.commit()

    def status_of(marker: str):
        return _scalar(workers, "SELECT status::text FROM procrastinate_jobs WHERE queueing_lock = :marker", marker=marker)

    wait_for(lambda: status_of("enqueued-and-committed") == "succeeded", "the committed job to run")
    time.sleep(PERIOD)  # the workers fetch every job that is due; give a lost one time to show up
    assert status_of("enqueued-then-rolled-back") is None
    assert _scalar(workers, "SELECT count(*) FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
                            "WHERE j.queueing_lock LIKE 'enqueued-%'") == 3  # deferred, started, succeeded


def test_a_failing_job_is_retried_with_backoff_then_kept_failed_listed_and_retried(workers, workers_app):
    """The failure is a real one: reconciliation asks Stripe about an open payment, and the
    workers' STRIPE_API_BASE is a port where nothing listens (as when Stripe is unreachable).
    Once the payment's webhook has arrived, nothing is left to ask Stripe and the retried job
    succeeds."""
    build = Builders(workers_app)
    intent = build.intent(build.checkout())  # committed: an open payment to check with Stripe
    opened = _scalar(workers, "SELECT max(id) FROM procrastinate_jobs")

    def first_failed():
        return _scalar(workers, "SELECT min(id) FROM procrastinate_jobs WHERE task_name = 'reconcile_stripe_payments' "
                                "AND status = 'failed' AND id > :opened", opened=opened)

    job_id = wait_for(first_failed, "a reconciliation to fail for good", seconds=30)
    runs = _rows(workers, "SELECT type::text AS type, at FROM procrastinate_events "
                          "WHERE job_id = :id AND type <> 'scheduled' ORDER BY id", id=job_id)  # moves only
    assert [run.type for run in runs] == ["deferred", "started", "deferred_for_retry", "started", "deferred_for_retry",
                                          "started", "failed"]
    starts = [run.at for run in runs if run.type == "started"]
    waits = [(later - earlier).total_seconds() for earlier, later in zip(starts, starts[1:], strict=False)]
    assert BACKOFF <= waits[0] < BACKOFF**2 <= waits[1], waits  # 2 s, then 4 s: exponential backoff
    assert _scalar(workers, "SELECT attempts FROM procrastinate_jobs WHERE id = :id", id=job_id) == MAX_RETRIES + 1

    listed = jobs_command(workers_app, "failed")
    line = next(line for line in listed.splitlines() if line.startswith(f"{job_id}\t"))
    assert "\treconcile_stripe_payments\tqueue default\t3 attempt(s)\tfailed 20" in line, listed

    events.apply_stripe_event(build.stripe_event(intent, "payment_intent.canceled"))  # the webhook arrives
    db.session.commit()
    assert f"Job {job_id} is waiting to run again." in jobs_command(workers_app, "retry", str(job_id))

    wait_for(lambda: _scalar(workers, "SELECT status::text FROM procrastinate_jobs WHERE id = :id", id=job_id)
             == "succeeded", "the retried job to succeed")
    assert f"{job_id}\t" not in jobs_command(workers_app, "failed")
    again = workers_app.test_cli_runner().invoke(args=["jobs", "retry", str(job_id)])
    assert again.exit_code == 1 and f"Job {job_id} cannot be retried: its status is succeeded, not failed." in again.output


def test_a_job_left_doing_by_a_worker_that_died_is_put_back_and_runs(workers, workers_app):
    """A worker killed mid-job (its machine gone) leaves the job `doing`, holding its task's lock;
    retry_stalled_jobs (every minute; enqueued here at once) puts it back once the worker has
    sent no heartbeat for 30 s, and it runs."""
    with workers.begin() as connection:
        dead = connection.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) "
                                       "VALUES (now() - interval '5 minutes') RETURNING id")).scalar()
    stalled = None
    while stalled is None:  # the lock is free between two runs of the task
        try:
            with workers.begin() as connection:
                stalled = connection.execute(text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, status, worker_id) "
                    "VALUES ('default', 'forget_form_tokens', 'forget_form_tokens', 'doing', :dead) RETURNING id"),
                    {"dead": dead}).scalar()
        except IntegrityError:
            time.sleep(0.1)

    queue.defer("retry_stalled_jobs")
    db.session.commit()

    wait_for(lambda: _scalar(workers, "SELECT status::text FROM procrastinate_jobs WHERE id = :id", id=stalled)
             == "succeeded", "the stalled job to run again")
    assert [row.type for row in _rows(workers, "SELECT type::text AS type FROM procrastinate_events "
                                               "WHERE job_id = :id AND type <> 'scheduled' ORDER BY id",
                                      id=stalled)] == [
        "deferred_for_retry", "started", "succeeded"]  # (a job inserted `doing` has no `deferred` event)
