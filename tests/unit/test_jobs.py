"""Periodic jobs: unpaid checkouts expire after ORDER_PAYMENT_TTL and give their stock back, exactly
once; `flask jobs once` runs every job (or one) and reports what it changed."""
from datetime import timedelta

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.jobs import tasks
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, IdempotencyKey, Order, OrderEvent

JOB_NAMES = ("expire_unpaid_orders", "advance_settled_orders", "accept_overdue_claims",
             "forget_idempotency_keys", "forget_form_tokens",
             "reconcile_stripe_payments", "roll_up_sales", "refresh_report_snapshots", "sweep_media")


def stock_of(product: Product) -> int:
    return db.session.scalar(select(Product.stock_units).where(Product.id == product.id))


def checkout_status_of(checkout_id: int) -> str:
    return db.session.scalar(select(Checkout.status).where(Checkout.id == checkout_id))


def order_statuses(checkout_id: int) -> list[str]:
    return list(db.session.scalars(select(Order.status).where(Order.checkout_id == checkout_id).order_by(Order.id)))


def deadline_of(checkout_id: int):
    return db.session.scalar(select(Checkout.expires_at).where(Checkout.id == checkout_id))


def overdue(checkout) -> None:
    """Move a checkout's payment deadline into the past, as if its TTL had run out."""
    db.session.get(Checkout, checkout.id).expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()


def unpaid_checkout(build, *stock_units: int, quantity: int = 2):
    """An unpaid checkout of one product per given stock level (a different seller each), and the products."""
    products = [build.product(stock_units=units) for units in stock_units]
    return build.checkout(build.user("buyer"), products, quantity=quantity), products


# ---------------------------------------------------------------- expire_due_checkouts

def test_an_unpaid_checkout_expires_after_the_payment_ttl_and_returns_its_stock(app, build):
    checkout, (apples, walnuts) = unpaid_checkout(build, 10, 5)
    assert (stock_of(apples), stock_of(walnuts)) == (8, 3)
    placed_at = checkout.created_at
    ttl = timedelta(seconds=app.config["ORDER_PAYMENT_TTL"])
    assert ttl == timedelta(seconds=1800)

    assert orders.expire_due_checkouts(now=placed_at + ttl - timedelta(seconds=1)) == 0
    assert checkout_status_of(checkout.id) == "pending_payment"
    assert (stock_of(apples), stock_of(walnuts)) == (8, 3)

    assert orders.expire_due_checkouts(now=placed_at + ttl + timedelta(seconds=1)) == 2

    assert checkout_status_of(checkout.id) == "expired"
    assert order_statuses(checkout.id) == ["expired", "expired"]
    assert (stock_of(apples), stock_of(walnuts)) == (10, 5)


def test_expiry_is_recorded_as_a_system_move(build):
    checkout, _ = unpaid_checkout(build, 10)

    orders.expire_due_checkouts(now=deadline_of(checkout.id) + timedelta(seconds=1))

    last = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == checkout.orders[0].id)
                              .order_by(OrderEvent.id.desc())).first()
    assert (last.action, last.from_status, last.to_status, last.actor_user_id, last.note) == (
        "expire", "pending_payment", "expired", None, "payment deadline passed")


def test_expiring_again_returns_the_stock_only_once(build):
    checkout, (product,) = unpaid_checkout(build, 10, quantity=4)
    later = deadline_of(checkout.id) + timedelta(minutes=5)

    assert orders.expire_due_checkouts(now=later) == 1
    assert orders.expire_due_checkouts(now=later) == 0
    assert orders.expire_due_checkouts(now=later + timedelta(days=1)) == 0

    assert stock_of(product) == 10


def test_paid_and_cancelled_checkouts_never_expire(build):
    paid, (paid_product,) = unpaid_checkout(build, 10)
    build.pay(paid)
    cancelled, (cancelled_product,) = unpaid_checkout(build, 10)
    orders.move_order(cancelled.orders[0].id, "cancel", db.session.get(User, cancelled.buyer_user_id))

    assert orders.expire_due_checkouts(now=utcnow() + timedelta(days=1)) == 0

    assert (checkout_status_of(paid.id), checkout_status_of(cancelled.id)) == ("paid", "cancelled")
    assert (stock_of(paid_product), stock_of(cancelled_product)) == (8, 10)


def test_only_checkouts_past_their_deadline_expire(build):
    due, (due_product,) = unpaid_checkout(build, 10)
    fresh, (fresh_product,) = unpaid_checkout(build, 10)
    overdue(due)

    assert orders.expire_due_checkouts() == 1

    assert (checkout_status_of(due.id), checkout_status_of(fresh.id)) == ("expired", "pending_payment")
    assert (stock_of(due_product), stock_of(fresh_product)) == (10, 8)


def test_expired_stock_can_be_bought_again(build):
    checkout, (product,) = unpaid_checkout(build, 2, quantity=2)
    assert stock_of(product) == 0
    orders.expire_due_checkouts(now=deadline_of(checkout.id) + timedelta(seconds=1))

    again = build.checkout(build.user("buyer"), [product], quantity=2)

    assert order_statuses(again.id) == ["pending_payment"]
    assert stock_of(product) == 0


def test_expiry_works_through_more_checkouts_than_one_batch(build):
    product = build.product(stock_units=10)
    checkouts = [build.checkout(build.user("buyer"), [product]) for _ in range(5)]
    later = utcnow() + timedelta(days=1)

    assert orders.expire_due_checkouts(now=later, batch=2) == 2
    assert orders.expire_due_checkouts(now=later, batch=2) == 2
    assert orders.expire_due_checkouts(now=later, batch=2) == 1

    assert {checkout_status_of(c.id) for c in checkouts} == {"expired"}
    assert stock_of(product) == 10


# ---------------------------------------------------------------- flask jobs once

@pytest.fixture
def jobs_once(app):
    """Run `flask jobs once` with the given options."""
    runner = app.test_cli_runner()

    def run(*options: str):
        return runner.invoke(args=["jobs", "once", *options])

    return run


def _output_counts(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.strip().splitlines())


def test_jobs_once_runs_every_job_and_prints_what_each_changed(build, jobs_once):
    checkout, (product,) = unpaid_checkout(build, 10)
    overdue(checkout)

    result = jobs_once()

    assert result.exit_code == 0, result.output
    assert _output_counts(result.output) == {
        "expire_unpaid_orders": "1", "advance_settled_orders": "0", "accept_overdue_claims": "0",
        "forget_idempotency_keys": "0",
        "forget_form_tokens": "0", "reconcile_stripe_payments": "0", "roll_up_sales": "0", "refresh_report_snapshots": "36",
        "sweep_media": "0"}
    assert checkout_status_of(checkout.id) == "expired"
    assert stock_of(product) == 10


def test_jobs_once_only_expire_runs_just_the_expiry(build, jobs_once):
    checkout, (product,) = unpaid_checkout(build, 10)
    overdue(checkout)
    shipped, _ = unpaid_checkout(build, 10)
    build.pay(shipped)
    db.session.execute(Order.__table__.update().where(Order.checkout_id == shipped.id)
                       .values(status="shipped", shipped_at=utcnow() - timedelta(days=60)))

    result = jobs_once("--only", "expire_unpaid_orders")

    assert result.exit_code == 0, result.output
    assert _output_counts(result.output) == {"expire_unpaid_orders": "1"}
    assert checkout_status_of(checkout.id) == "expired"
    assert stock_of(product) == 10
    assert order_statuses(shipped.id) == ["shipped"]  # advancing settled orders did not run


def test_jobs_once_with_nothing_due_changes_nothing(build, jobs_once):
    checkout, (product,) = unpaid_checkout(build, 10)

    result = jobs_once("--only", "expire_unpaid_orders")

    assert result.exit_code == 0, result.output
    assert _output_counts(result.output) == {"expire_unpaid_orders": "0"}
    assert (checkout_status_of(checkout.id), stock_of(product)) == ("pending_payment", 8)


def test_jobs_once_advances_address_deliveries_shipped_long_ago(build, jobs_once):
    checkout, _ = unpaid_checkout(build, 10)
    build.pay(checkout)
    db.session.execute(Order.__table__.update().where(Order.checkout_id == checkout.id)
                       .values(status="shipped", shipped_at=utcnow() - timedelta(days=11)))

    result = jobs_once("--only", "advance_settled_orders")

    assert result.exit_code == 0, result.output
    assert _output_counts(result.output) == {"advance_settled_orders": "1"}
    assert order_statuses(checkout.id) == ["delivered"]


def test_jobs_once_forgets_idempotency_keys_past_their_retention(build, jobs_once):
    old, _ = unpaid_checkout(build, 10)
    recent, _ = unpaid_checkout(build, 10)
    db.session.execute(IdempotencyKey.__table__.update().where(IdempotencyKey.checkout_id == old.id)
                       .values(created_at=utcnow() - timedelta(days=3)))

    result = jobs_once("--only", "forget_idempotency_keys")

    assert result.exit_code == 0, result.output
    assert _output_counts(result.output) == {"forget_idempotency_keys": "1"}
    remaining = set(db.session.scalars(select(IdempotencyKey.checkout_id)))
    assert old.id not in remaining and recent.id in remaining


def test_jobs_once_refuses_an_unknown_job_name(build, jobs_once):
    checkout, _ = unpaid_checkout(build, 10)
    overdue(checkout)

    result = jobs_once("--only", "expire_everything")

    assert result.exit_code != 0
    assert "Unknown job 'expire_everything'" in result.output
    assert all(name in result.output for name in JOB_NAMES)
    assert checkout_status_of(checkout.id) == "pending_payment"


def test_a_failing_job_is_reported_and_the_others_still_run(build, jobs_once, monkeypatch):
    checkout, _ = unpaid_checkout(build, 10)
    build.pay(checkout)
    db.session.execute(Order.__table__.update().where(Order.checkout_id == checkout.id)
                       .values(status="shipped", shipped_at=utcnow() - timedelta(days=11)))
    db.session.commit()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(orders, "expire_due_checkouts", broken)

    result = jobs_once()

    assert result.exit_code == 1
    counts = _output_counts(result.output)
    assert counts["expire_unpaid_orders"].startswith("FAILED")
    assert counts["advance_settled_orders"] == "1"
    assert order_statuses(checkout.id) == ["delivered"]


def test_every_job_is_listed_by_name():
    assert tuple(tasks.job_names()) == JOB_NAMES


def test_expired_orders_count_matches_the_orders_moved(build):
    checkout, _ = unpaid_checkout(build, 10, 10, 10)
    before = db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "expire"))

    moved = orders.expire_due_checkouts(now=deadline_of(checkout.id) + timedelta(seconds=1))

    after = db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "expire"))
    assert moved == after - before == 3


# ---------------------------------------------------------------- the worker's schedule

def test_the_worker_schedules_each_periodic_task_from_its_setting(app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_INTERVAL_SECONDS", 30)
    monkeypatch.setitem(app.config, "RECONCILE_INTERVAL_SECONDS", 600)
    monkeypatch.setitem(app.config, "REPORT_SNAPSHOT_SECONDS", 60)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_schedule")

    worker = tasks.build_worker_app(app)

    crons = {name: periodic.cron for (name, _), periodic in worker.periodic_registry.periodic_tasks.items()}
    every_30_s = "* * * * * */30"
    assert crons == {"expire_unpaid_orders": every_30_s, "advance_settled_orders": every_30_s,
                     "accept_overdue_claims": "*/5 * * * *", "forget_idempotency_keys": every_30_s, "forget_form_tokens": every_30_s,
                     "roll_up_sales": every_30_s, "reconcile_stripe_payments": "*/10 * * * *",
                     "refresh_report_snapshots": "*/1 * * * *", "sweep_media": "0 */1 * * *",
                     "remove_old_jobs": "17 * * * *", "retry_stalled_jobs": "* * * * *"}
    snapshots, reconcile = worker.tasks["refresh_report_snapshots"], worker.tasks["reconcile_stripe_payments"]
    assert (snapshots.queue, snapshots.lock, snapshots.queueing_lock, snapshots.retry_strategy) == (
        "snapshots", "refresh_report_snapshots", "refresh_report_snapshots", None)
    assert (reconcile.queue, reconcile.lock, reconcile.queueing_lock) == ("default", "reconcile_stripe_payments", None)
    assert reconcile.retry_strategy.max_attempts == 5 and reconcile.retry_strategy.exponential_wait == 4


def test_reconciliation_is_not_scheduled_without_stripe(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", None)

    worker = tasks.build_worker_app(app)

    assert "reconcile_stripe_payments" in worker.tasks  # a job already queued still runs (and does nothing)
    assert "reconcile_stripe_payments" not in {name for name, _ in worker.periodic_registry.periodic_tasks}


@pytest.mark.parametrize(("seconds", "cron"), [(1, "* * * * * */1"), (5, "* * * * * */5"), (60, "*/1 * * * *"),
                                                (900, "*/15 * * * *"), (7200, "0 */2 * * *"), (86400, "0 0 * * *")])
def test_a_period_becomes_a_cron_that_keeps_every_period_the_same_length(seconds, cron):
    assert tasks.cron_every(seconds, "JOBS_INTERVAL_SECONDS") == cron


@pytest.mark.parametrize("seconds", [0, 7, 90, 3660, 5 * 3600, 2 * 86400])
def test_a_period_that_does_not_divide_a_minute_an_hour_or_a_day_is_refused_by_name(seconds):
    with pytest.raises(ValueError, match=f"JOBS_INTERVAL_SECONDS={seconds}: a period must divide"):
        tasks.cron_every(seconds, "JOBS_INTERVAL_SECONDS")


def test_the_worker_connects_where_the_app_does():
    over_tcp = tasks.libpq_conninfo("postgresql+psycopg://market:p%40ss@db.internal:6432/marketplace?sslmode=require")
    # as marketplace.local_postgres renders the embedded database's socket directory
    over_a_socket = tasks.libpq_conninfo("postgresql+psycopg://postgres@/marketplace?host=%2Fsrv%2Fpg+run+dir")

    assert conninfo_to_dict(over_tcp) == {"host": "db.internal", "port": "6432", "user": "market", "password": "p@ss",
                                          "dbname": "marketplace", "sslmode": "require"}
    assert conninfo_to_dict(over_a_socket) == {"host": "/srv/pg run dir", "user": "postgres", "dbname": "marketplace"}


def test_the_worker_refuses_to_start_with_a_period_it_cannot_keep(app, monkeypatch):
    monkeypatch.setitem(app.config, "REPORT_SNAPSHOT_SECONDS", 45)

    result = app.test_cli_runner().invoke(args=["jobs", "run"])

    assert result.exit_code == 1
    assert "REPORT_SNAPSHOT_SECONDS=45: a period must divide a minute, an hour or a day evenly" in result.output
    assert "jobs worker:" not in result.output  # it never started
