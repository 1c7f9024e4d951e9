"""flask commands: users, counties import, demo seed, jobs, payments reconcile, reports rebuild-rollups,
media sweep."""
import getpass
import json
from datetime import UTC
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from marketplace.accounts import services as accounts
from marketplace.errors import AppError
from marketplace.geo import county_import

users_cli = AppGroup("users", help="Manage accounts.")
counties_cli = AppGroup("counties", help="The county registry.")
seed_cli = AppGroup("seed", help="Reference and demo data.")
jobs_cli = AppGroup("jobs", help="The jobs worker (expiry of unpaid orders, rollups, ...) and its failed jobs.")
payments_cli = AppGroup("payments", help="Stripe payments.")
reports_cli = AppGroup("reports", help="The sales ledger and its rollups.")
media_cli = AppGroup("media", help="Uploaded photos in the media store.")


def _fail(error: AppError) -> None:
    raise click.ClickException(f"{error.message} [{error.code}]")


@users_cli.command("create-admin")
@click.option("--phone", default=None, help="Mainland mobile number (11 digits).")
@click.option("--email", default=None)
@click.option("--name", "display_name", default="管理员", show_default=True)
@click.option("--password", envvar="ADMIN_PASSWORD", default=None,
              help="Read from ADMIN_PASSWORD, or asked for when not given.")
def create_admin(phone, email, display_name, password):
    """Create an administrator account."""
    from marketplace.accounts.schemas import RegisterIn

    problems = RegisterIn().validate({"phone": phone, "email": email, "display_name": display_name,
                                      "password": password or "x" * 8})
    if problems:
        raise click.ClickException(f"Invalid input: {problems}")
    password = _new_password(password)
    try:
        user = accounts.create_account(display_name=display_name, password=password, roles=["admin"],
                                       phone=phone, email=email)
    except AppError as error:
        _fail(error)
    click.echo(f"Created administrator {user.id} ({user.phone or user.email}).")


@users_cli.command("set-password")
@click.argument("identifier")
@click.option("--password", default=None, help="Asked for when not given.")
def set_password(identifier, password):
    """Give the account with this phone number or email a new password; it is signed out everywhere."""
    password = _new_password(password)
    try:
        user = accounts.set_password(identifier, password)
    except AppError as error:
        _fail(error)
    click.echo(f"New password set for {user.id} ({user.phone or user.email}); its sign-ins and tokens have ended.")


def _new_password(password: str | None) -> str:
    """The password given, else asked for twice; 8 to 128 characters like the API's."""
    if not password:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise click.ClickException("The passwords differ.")
    if not 8 <= len(password) <= 128:
        raise click.ClickException("Passwords are 8 to 128 characters.")
    return password


@counties_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--poverty-list", is_flag=True, help="The file lists national poverty counties (adcode, exit_year).")
@click.option("--demonstration-list", is_flag=True, help="The file lists e-commerce demonstration counties (adcode).")
@click.option("--skip-bad-rows", is_flag=True, help="Apply the good rows even if some rows are bad.")
def import_counties(file: Path, poverty_list: bool, demonstration_list: bool, skip_bad_rows: bool):
    """Import an official county list (UTF-8 CSV, with or without BOM); all counties by default."""
    if poverty_list and demonstration_list:
        raise click.UsageError("Give --poverty-list or --demonstration-list, not both: a file is one list.")
    kind = "poverty" if poverty_list else "demonstration" if demonstration_list else "all"
    try:
        report = county_import.import_counties(file.read_bytes(), kind, skip_bad_rows=skip_bad_rows, progress=click.echo)
    except county_import.ImportHasBadRows as error:
        for row in error.report.bad_rows:
            click.echo(f"line {row.line}: {row.reason}", err=True)
        raise click.ClickException(
            f"{len(error.report.bad_rows)} bad row(s); nothing was imported. Fix them or pass --skip-bad-rows."
        ) from None
    except AppError as error:
        _fail(error)
    for row in report.bad_rows:
        click.echo(f"skipped line {row.line}: {row.reason}", err=True)
    click.echo(
        f"{file.name}: {report.rows} rows; created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, skipped {report.skipped}, repeated codes {report.repeated}"
    )


@seed_cli.command("demo")
@click.option("--seed", default=2026, show_default=True, help="Faker seed; the same seed gives the same data.")
@click.option("--sellers", default=12, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--buyers", default=30, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--stations", "stations_count", default=5, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--products", default=200, show_default=True, type=click.IntRange(0, 10_000_000),
              help="Top the catalog up to this many listings (bulk insert).")
@click.option("--history", "history_rows", default=None, type=click.IntRange(0, 100_000_000),
              help="Instead of the demo's sales (thirteen months up to now in the registered counties, station "
                   "business, an excluded sale), top the sales ledger up to this many rows of two years' sales "
                   "and refunds in every county (written with COPY), then rebuild the rollups; 0: no sales.")
@click.option("--history-end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last Asia/Shanghai day of the history, taken whole (default: now for the demo's sales, "
                   "yesterday for --history).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has accounts.")
def seed_demo(seed, sellers, buyers, stations_count, products, history_rows, history_end, if_empty):
    """Load the reference counties, demo accounts, villages, stations, listings and sales (deterministic per --seed)."""
    from seed import catalog, demo, history, sales

    if if_empty and not demo.is_empty():
        click.echo("The database already has data; not seeding.")
        return
    summary = demo.seed_demo(seed=seed, sellers=sellers, buyers=buyers, stations_count=stations_count, say=click.echo)
    summary.created["products"] = catalog.seed_products(products, seed=seed, say=click.echo)
    end = history_end.date() if history_end else None
    if history_rows is None:
        made = sales.seed_sales(seed=seed, end=end, say=click.echo)
        summary.created.update({"ledger rows": made.ledger_rows, "assisted orders": made.assisted_orders,
                                "cash collections": made.cash_collections, "exclusions": made.exclusions})
    elif history_rows:
        summary.created["ledger rows"] = history.seed_history(history_rows, end=end, seed=seed, say=click.echo).rows
    created = ", ".join(f"{kind} {count}" for kind, count in summary.created.items())
    click.echo(f"Created: {created}.")
    logins = ", ".join(f"{role} {phone}" for role, phone in demo.sample_logins().items())
    click.echo(f"Demo logins (password {demo.DEMO_PASSWORD}): {logins}")


@jobs_cli.command("run")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Jobs run at once (default JOBS_CONCURRENCY).")
def jobs_run(concurrency):
    """Run a jobs worker on every queue until stopped (the Procfile's worker); run as many as you
    like, on as many machines: each periodic job is still deferred once per period."""
    from flask import current_app

    from marketplace.jobs import tasks

    concurrency = concurrency or current_app.config["JOBS_CONCURRENCY"]
    try:
        worker = tasks.build_worker_app(current_app._get_current_object(), say=click.echo)
    except ValueError as error:  # a period the cron cannot keep
        raise click.ClickException(str(error)) from None
    click.echo(f"jobs worker: {concurrency} at once, queues {tasks.DEFAULT_QUEUE} and {tasks.SNAPSHOTS_QUEUE}: "
               f"{', '.join(tasks.job_names())}")
    tasks.run_worker(worker, concurrency=concurrency)


@jobs_cli.command("once")
@click.option("--only", default=None, help="Run just this job.")
def jobs_once(only):
    """Run each periodic job once, here and now, and print what it changed."""
    from marketplace.jobs import tasks

    if only and only not in tasks.job_names():
        raise click.ClickException(f"Unknown job {only!r}; jobs: {', '.join(tasks.job_names())}")
    results = tasks.run_once(only)
    for name, count in results.items():
        click.echo(f"{name}: {'FAILED (see log)' if count < 0 else count}")
    if any(count < 0 for count in results.values()):
        raise SystemExit(1)


@jobs_cli.command("failed")
def jobs_failed():
    """List the jobs that failed after their retries (the worker's log has each traceback)."""
    from marketplace.common import queue

    rows = queue.failed_jobs()
    if not rows:
        click.echo("No failed jobs.")
    for row in rows:
        when = row.failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if row.failed_at else "-"
        click.echo(f"{row.id}\t{row.task_name}\tqueue {row.queue_name}\t{row.attempts} attempt(s)\t"
                   f"failed {when}\targs {json.dumps(row.args, sort_keys=True)}")


@jobs_cli.command("retry")
@click.argument("job_id", type=click.IntRange(1))
def jobs_retry(job_id):
    """Put a failed job back in its queue, to run as soon as a worker is free."""
    from marketplace.common import queue
    from marketplace.extensions import db

    try:
        queue.retry_failed_job(job_id)
    except queue.JobNotRetryable as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Job {job_id} is waiting to run again.")


@payments_cli.command("reconcile")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]), default=None,
              help="Look at payments created since this UTC date or time (default: RECONCILE_WINDOW_HOURS ago).")
def payments_reconcile(since):
    """Compare recent payments with Stripe, repair what webhooks missed, and print each change."""

    from flask import current_app

    from marketplace.payments import reconcile

    try:
        changes = reconcile.reconcile(since.replace(tzinfo=UTC) if since else None,
                                      window_hours=current_app.config["RECONCILE_WINDOW_HOURS"])
    except AppError as error:
        _fail(error)
    for line in changes:
        click.echo(line)
    click.echo(f"{len(changes)} change(s)")


@reports_cli.command("rebuild-rollups")
def reports_rebuild_rollups():
    """Recompute the county/day rollups from the whole sales ledger (the job keeps them current)."""
    from marketplace.reports import rollup

    rows = rollup.rebuild()
    click.echo(f"rollups rebuilt from {rows} ledger row(s)")


@media_cli.command("sweep")
def media_sweep():
    """Delete stored files no row names, once older than MEDIA_SWEEP_GRACE_HOURS; print how many."""
    from marketplace.catalog import media

    try:
        deleted = media.sweep_unreferenced_files()
    except AppError as error:
        _fail(error)
    click.echo(f"{deleted} unreferenced file(s) deleted")


def register(app: Flask) -> None:
    for group in (users_cli, counties_cli, seed_cli, jobs_cli, payments_cli, reports_cli, media_cli):
        app.cli.add_command(group)
