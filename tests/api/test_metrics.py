"""/metrics: Prometheus text that the counters of checkouts, payments and webhooks move, latency by
url rule, gauges read at scrape time; only the operators' scraper may read it; several worker
processes add up through PROMETHEUS_MULTIPROC_DIR."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from marketplace import create_app
from marketplace.common import queue
from marketplace.config import TestConfig
from tests.metrics import samples_of, scrape, value
from tests.webhooks import WEBHOOK_PATH, signed_delivery

ROOT = Path(__file__).resolve().parents[2]


def auth(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def place(client, headers, product, quantity: int, key: str):
    body = {"lines": [{"product_id": product.id, "quantity": quantity}], "payment_method": "card",
            "delivery": {"address": {"recipient": "张三", "phone": "13800138000",
                                     "county_adcode": product.origin_county_adcode, "detail": "人民路1号"}}}
    return client.post("/api/v1/checkouts", json=body, headers={**headers, "Idempotency-Key": key})


@pytest.fixture
def app_with(app, database_url):
    """An app on the test database with some settings of its own."""

    def build(**settings):
        class Config(TestConfig):
            SQLALCHEMY_DATABASE_URI = database_url

        for name, setting in settings.items():
            setattr(Config, name, setting)
        return create_app(Config)

    return build


# ---------------------------------------------------------------- what moves the counters


def test_placed_and_refused_checkouts_are_counted_by_reason(client, build):
    buyer = auth(build, build.user("buyer"))
    product = build.product(stock_units=3)
    before = scrape(client)

    assert place(client, buyer, product, 2, "metrics-1").status_code == 201
    assert place(client, buyer, product, 2, "metrics-1").status_code == 200  # a replay places nothing
    assert place(client, buyer, product, 2, "metrics-2").status_code == 409  # one left

    after = scrape(client)
    placed = "marketplace_checkouts_placed_total"
    refused = "marketplace_checkouts_refused_total"
    assert value(after, placed, channel="api") - value(before, placed, channel="api") == 1
    assert (value(after, refused, channel="api", reason="out_of_stock")
            - value(before, refused, channel="api", reason="out_of_stock")) == 1


def test_an_applied_webhook_counts_a_payment_and_its_lag(client, build):
    checkout = build.checkout(build.user("buyer"), [build.product()])
    event = {**build.stripe_event(build.intent(checkout)), "created": int(time.time()) - 30}
    before = scrape(client)

    assert client.post(WEBHOOK_PATH, **signed_delivery(event)).json["outcome"] == "applied"
    assert client.post(WEBHOOK_PATH, **signed_delivery(event)).json["outcome"] == "duplicate"  # not counted again

    after = scrape(client)
    applied = {"method": "stripe", "kind": "payment_intent.succeeded"}
    assert value(after, "marketplace_payments_applied_total", **applied) - value(
        before, "marketplace_payments_applied_total", **applied) == 1
    lag = "marketplace_stripe_webhook_lag_seconds"
    assert value(after, f"{lag}_count") - value(before, f"{lag}_count") == 1
    assert 30 <= value(after, f"{lag}_sum") - value(before, f"{lag}_sum") < 90
    # The payment put the sale on the ledger; the rollups have not taken it yet.
    assert value(after, "marketplace_rollup_lag_seconds") >= 0


def test_cash_collected_at_a_station_counts_as_a_payment(client, build):
    partner = build.user("partner")
    checkout = build.checkout(build.user("buyer"), [build.product()], station=build.station(partner=partner),
                              payment_method="cash_at_station")
    before = scrape(client)
    response = client.post(f"/api/v1/checkouts/{checkout.id}/cash-collection",
                           json={"amount_fen": checkout.grand_total_fen}, headers=auth(build, partner))
    assert response.status_code == 201
    cash = {"method": "cash", "kind": "cash_collection"}
    assert value(scrape(client), "marketplace_payments_applied_total", **cash) - value(
        before, "marketplace_payments_applied_total", **cash) == 1


def test_latency_is_grouped_by_url_rule_not_by_path(client, build):
    products = [build.product(), build.product()]
    for product in products:
        assert client.get(f"/api/v1/products/{product.id}").status_code == 200

    samples = scrape(client)
    paths = {dict(labels).get("url_rule") for name, labels in samples
             if name == "flask_http_request_duration_seconds_count"}
    assert "/api/v1/products/<id:product_id>" in paths
    assert not any(path and str(products[0].id) in path for path in paths)


def test_job_queue_gauge_reports_nothing_while_the_task_queue_table_does_not_exist(client, session):
    # As before migration 0014 ran (this test's transaction, with the DROP, is rolled back).
    session.execute(text("DROP TABLE procrastinate_jobs CASCADE"))

    response = client.get("/metrics")

    assert response.status_code == 200
    assert "# TYPE marketplace_jobs gauge" in response.get_data(as_text=True)
    assert not [key for key in scrape(client) if key[0] == "marketplace_jobs"]


def test_job_queue_gauge_counts_waiting_running_and_failed_jobs_by_queue(client, session):
    for task_name in ("roll_up_sales", "forget_form_tokens", "sweep_media"):
        queue.defer(task_name)
    queue.defer("refresh_report_snapshots", queue="snapshots")
    session.execute(text("UPDATE procrastinate_jobs SET status = 'doing' WHERE task_name IN "
                         "('sweep_media', 'refresh_report_snapshots')"))
    session.execute(text("UPDATE procrastinate_jobs SET status = 'failed' WHERE task_name = 'refresh_report_snapshots'"))

    jobs = {dict(labels)["queue"] + "/" + dict(labels)["status"]: count
            for (name, labels), count in scrape(client).items() if name == "marketplace_jobs"}

    assert jobs == {"default/todo": 2, "default/doing": 1, "snapshots/failed": 1}


# ---------------------------------------------------------------- who may scrape


def test_with_a_token_only_its_bearer_may_scrape(app_with):
    client = app_with(METRICS_TOKEN="scrape-secret-0123456789").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-secret"}, {"Authorization": "scrape-secret-0123456789"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert "marketplace_rollup_lag_seconds" in {
        name for name, _ in scrape(client, Authorization="Bearer scrape-secret-0123456789")}


def test_without_a_token_only_the_machine_itself_may_scrape(app_with):
    client = app_with(METRICS_TOKEN=None).test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    from_afar = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert from_afar.status_code == 403 and from_afar.json["error"]["code"] == "forbidden"
    # A proxy on the same machine forwarding someone else's request is not the machine itself.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def test_behind_a_trusted_proxy_the_forwarded_client_decides(app_with):
    client = app_with(METRICS_TOKEN=None, TRUSTED_PROXIES=1).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_metrics_is_not_an_api_endpoint_in_the_openapi_document(client):
    assert not [path for path in client.get("/api/v1/openapi.json").json["paths"] if "metrics" in path]


# ---------------------------------------------------------------- several worker processes

WORKER = """
import sys
from marketplace import create_app

client = create_app().test_client()
for _ in range(int(sys.argv[1])):
    assert client.get("/login").status_code == 200
if sys.argv[2] == "scrape":
    sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_a_scrape_adds_up_the_requests_of_every_worker_process(app, database_url, tmp_path):
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DATABASE_URL": database_url,
                   "MARKETPLACE_ENV": "development", "METRICS_TOKEN": ""}

    def worker(requests: int, then: str = "") -> subprocess.CompletedProcess:
        run = subprocess.run([sys.executable, "-c", WORKER, str(requests), then], cwd=ROOT, env=environment,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        return run

    worker(3)
    worker(4)
    scraped = worker(0, "scrape").stdout  # a third worker, which served none of them

    samples = samples_of(scraped)
    login = {"method": "GET", "status": "200", "url_rule": "/login"}
    assert value(samples, "flask_http_request_duration_seconds_count", **login) == 7
    assert "marketplace_rollup_lag_seconds" in {name for name, _ in samples}
