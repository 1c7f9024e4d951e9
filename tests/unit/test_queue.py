"""Enqueueing jobs in the caller's transaction (marketplace.common.queue): a queueing lock keeps
one job waiting and never raises or spoils the caller's transaction; a payment enqueues its
rollup; `flask jobs retry` refuses what it cannot retry. (The worker side, with real worker
processes, is tests/integration/test_jobs_worker.py.)"""
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from marketplace.common import queue
from marketplace.extensions import db


def waiting_jobs(task_name: str) -> list:
    return db.session.execute(text(
        "SELECT task_name, queue_name, lock, queueing_lock, args, status::text AS status, "
        "scheduled_at - clock_timestamp() AS due_in FROM procrastinate_jobs "
        "WHERE task_name = :task_name AND status = 'todo' ORDER BY id"), {"task_name": task_name}).all()


def test_a_queueing_lock_keeps_one_job_waiting_without_raising_or_spoiling_the_transaction(build):
    product = build.product(stock_units=10)

    queue.defer("roll_up_sales", queueing_lock="roll_up_sales")
    queue.defer("roll_up_sales", queueing_lock="roll_up_sales")
    product.stock_units = 7  # the caller's own change, after the second defer, in the same transaction
    db.session.commit()
    queue.defer("roll_up_sales", queueing_lock="roll_up_sales")  # a committed job waits already
    db.session.commit()

    jobs = waiting_jobs("roll_up_sales")
    assert [(job.queue_name, job.lock, job.queueing_lock, job.args) for job in jobs] == [
        ("default", "roll_up_sales", "roll_up_sales", {})]
    assert db.session.execute(text("SELECT stock_units FROM products WHERE id = :id"), {"id": product.id}).scalar() == 7


def test_without_a_queueing_lock_every_defer_is_a_job_with_its_arguments_and_queue(session):
    queue.defer("refresh_report_snapshots", queue="snapshots", args={"force": True})
    queue.defer("refresh_report_snapshots", queue="snapshots", args={"force": False})

    jobs = waiting_jobs("refresh_report_snapshots")
    assert [(job.queue_name, job.args, job.queueing_lock) for job in jobs] == [
        ("snapshots", {"force": True}, None), ("snapshots", {"force": False}, None)]


def test_a_delayed_job_is_due_that_much_later(session):
    queue.defer("roll_up_sales", delay=timedelta(seconds=30))

    (job,) = waiting_jobs("roll_up_sales")
    assert timedelta(seconds=28) < job.due_in <= timedelta(seconds=30)


def test_a_job_deferred_in_a_rolled_back_transaction_is_gone(session):
    queue.defer("forget_form_tokens")
    assert len(waiting_jobs("forget_form_tokens")) == 1

    db.session.rollback()

    assert waiting_jobs("forget_form_tokens") == []


def test_a_burst_of_payments_enqueues_one_rollup_due_after_the_rollup_delay(app, build):
    assert app.config["ROLLUP_DELAY_SECONDS"] == 2
    for _ in range(3):
        build.pay(build.checkout())

    (job,) = waiting_jobs("roll_up_sales")
    assert (job.queueing_lock, job.lock) == ("roll_up_sales", "roll_up_sales")
    assert timedelta(0) < job.due_in <= timedelta(seconds=2)
    assert db.session.execute(text("SELECT count(*) FROM sales_ledger_queue")).scalar() == 3


@pytest.mark.real_commits
def test_two_transactions_deferring_under_one_lock_at_once_both_commit_and_leave_one_job(app):
    """The second sees no committed job, so it inserts; ON CONFLICT makes it wait for the first's
    commit (a moment) and then write nothing, instead of failing on the unique index."""
    first_deferred, outcomes = threading.Event(), {}

    def in_own_transaction(name: str, before=None, after=None):
        try:
            with app.app_context():
                if before:
                    before()
                started = time.monotonic()
                queue.defer("roll_up_sales", queueing_lock="roll_up_sales")
                outcomes[f"{name} waited"] = time.monotonic() - started
                if after:
                    after()
                db.session.commit()
                db.session.remove()
            outcomes[name] = "committed"
        except Exception as error:  # reported by the assertion below
            outcomes[name] = repr(error)

    first = threading.Thread(target=in_own_transaction,
                             args=("first", None, lambda: (first_deferred.set(), time.sleep(0.5))))
    second = threading.Thread(target=in_own_transaction, args=("second", lambda: first_deferred.wait(5)))
    first.start(), second.start()
    first.join(10), second.join(10)

    assert (outcomes["first"], outcomes["second"]) == ("committed", "committed"), outcomes
    assert 0.3 < outcomes["second waited"] < 2  # until the first committed
    assert len(waiting_jobs("roll_up_sales")) == 1


@pytest.fixture
def jobs_cli(app):
    """Run a `flask jobs` command."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["jobs", *args])


def test_retrying_an_unknown_job_or_one_that_has_not_failed_is_refused(session, jobs_cli):
    queue.defer("forget_form_tokens")
    waiting_id = db.session.execute(text("SELECT max(id) FROM procrastinate_jobs")).scalar()

    unknown, waiting = jobs_cli("retry", str(waiting_id + 1000)), jobs_cli("retry", str(waiting_id))

    assert unknown.exit_code == 1 and f"Job {waiting_id + 1000} cannot be retried: no such job." in unknown.output
    assert waiting.exit_code == 1 and f"Job {waiting_id} cannot be retried: its status is todo, not failed." in waiting.output


def test_jobs_failed_with_none_says_so(session, jobs_cli):
    result = jobs_cli("failed")

    assert result.exit_code == 0, result.output
    assert result.output == "No failed jobs.\n"


def a_failed_job(task_name: str, queueing_lock: str | None = None) -> int:
    """A job as the worker leaves one that failed for good (three runs)."""
    job_id = db.session.execute(text(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status, attempts) "
        "VALUES ('default', :task, :lock, :queueing_lock, '{\"force\": true}', 'failed', 3) RETURNING id"),
        {"task": task_name, "lock": task_name, "queueing_lock": queueing_lock}).scalar()
    db.session.execute(text("INSERT INTO procrastinate_events (job_id, type) VALUES (:id, 'failed')"), {"id": job_id})
    return job_id


def test_jobs_failed_lists_each_failed_job_and_retry_puts_it_back(session, jobs_cli):
    job_id = a_failed_job("refresh_report_snapshots")

    listed = jobs_cli("failed")
    retried = jobs_cli("retry", str(job_id))

    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{job_id}\trefresh_report_snapshots\tqueue default\t3 attempt(s)\tfailed 20")
    assert listed.output.rstrip().endswith('\targs {"force": true}')
    assert retried.exit_code == 0 and retried.output == f"Job {job_id} is waiting to run again.\n"
    assert [(job.args, job.status) for job in waiting_jobs("refresh_report_snapshots")] == [({"force": True}, "todo")]
    assert jobs_cli("failed").output == "No failed jobs.\n"


def test_a_failed_job_whose_work_is_already_waiting_is_not_retried(session, jobs_cli):
    job_id = a_failed_job("roll_up_sales", queueing_lock="roll_up_sales")
    queue.defer("roll_up_sales", queueing_lock="roll_up_sales")

    result = jobs_cli("retry", str(job_id))

    assert result.exit_code == 1
    assert (f"Job {job_id} cannot be retried: a job with its queueing lock 'roll_up_sales' is already waiting "
            "and will do the same work.") in result.output
    assert len(waiting_jobs("roll_up_sales")) == 1
