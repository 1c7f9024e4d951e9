"""scripts/tour, the README's API tour, run against the service as `make run` serves it: a database of
its own, migrated and seeded with `flask seed demo`, gunicorn, and localstripe sending its webhooks."""
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.stripe_server import LocalStripe, free_port, start_localstripe, stop, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WEBHOOK_SECRET = "whsec_marketplace_tour"
STARTUP_SECONDS = 60
TOUR_SECONDS = 300


@pytest.fixture
def tour_database(database_url) -> Iterator[str]:
    """A database next to the run's, made empty for the tour and dropped after it."""
    url = make_url(database_url)
    name = f"{url.database}_tour"
    server = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    def admin(sql: str) -> None:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(command: list[str], env: dict, timeout: float) -> None:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _wait_for_health(base_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert server.poll() is None, f"gunicorn exited {server.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"gunicorn did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_the_readme_tour_runs_against_a_demo_server(tour_database, tmp_path):
    stripe_port, web_port = free_port(), free_port()
    stripe = LocalStripe(f"http://127.0.0.1:{stripe_port}")
    base_url = f"http://127.0.0.1:{web_port}"
    env = {**os.environ, "DATABASE_URL": tour_database, "MARKETPLACE_ENV": "development", "FLASK_APP": "wsgi",
           "MARKETPLACE_INSTANCE_DIR": str(tmp_path / "instance"), "MEDIA_ROOT": str(tmp_path / "media"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "STRIPE_API_BASE": stripe.base_url,
           "STRIPE_SECRET_KEY": stripe.secret_key, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "MARKETPLACE_URL": base_url, "LOG_FORMAT": "text"}
    env.pop("TEST_DATABASE_URL", None)
    env.pop("REDIS_URL", None)  # rate limits in memory, as `make run` has them
    (tmp_path / "metrics").mkdir()
    _run([str(BIN / "flask"), "db", "upgrade"], env, timeout=120)
    _run([str(BIN / "flask"), "seed", "demo"], env, timeout=300)

    stripe_log, web_log = tmp_path / "localstripe.log", tmp_path / "gunicorn.log"
    localstripe = start_localstripe(stripe_port, stripe_log)
    with web_log.open("wb") as log:
        web = subprocess.Popen([str(BIN / "gunicorn"), "--no-control-socket", "-c", "gunicorn.conf.py", "--workers", "2",
                                "--bind", f"127.0.0.1:{web_port}", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answering(stripe, localstripe, stripe_log)
        stripe.register_webhook(f"{base_url}/api/v1/payments/stripe/webhook", WEBHOOK_SECRET)
        _wait_for_health(base_url, web, web_log)

        # The jobs worker is not needed: payments and refunds are applied by the webhook as it
        # arrives, and the reports answer (with their freshness) whether or not rollups have run.
        tour = subprocess.run([str(ROOT / "scripts" / "tour")], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=TOUR_SECONDS)
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
        stop(localstripe)

    assert tour.returncode == 0, f"scripts/tour exited {tour.returncode}:\n{tour.stderr[-6000:]}\n" \
                                 f"gunicorn:\n{web_log.read_text()[-3000:]}"
    assert "The tour ran all" in tour.stderr


def test_the_tour_stops_at_the_first_step_a_server_does_not_answer(tmp_path):
    env = {**os.environ, "MARKETPLACE_URL": f"http://127.0.0.1:{free_port()}"}

    tour = subprocess.run([str(ROOT / "scripts" / "tour")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)

    assert tour.returncode != 0
    assert "TOUR FAILED at step 1 (the published API and its docs" in tour.stderr
