"""/metrics for Prometheus: request latency by url rule (prometheus-flask-exporter), the business
counters of marketplace.common.metrics, and gauges computed at scrape time (rollup lag, job queue).

Who may scrape: with METRICS_TOKEN set, a caller sending it as a bearer token; without it, the
machine itself only (a loopback address that no proxy forwarded). Under gunicorn with several
workers, PROMETHEUS_MULTIPROC_DIR names the directory where every worker writes its counters, and
a scrape of any worker adds them all up (gunicorn.conf.py sets it and cleans up after workers).
"""
import hmac
import ipaddress
import os

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import text

from marketplace.errors import ErrorCode, error_response
from marketplace.extensions import db
from marketplace.reports import rollup

bp = Blueprint("monitoring", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Queued, running and failed jobs: what an operator acts on. Succeeded jobs are history (and many).
# (A tuple of constants, written into the statement as an SQL list.)
JOB_STATUSES = ("todo", "doing", "failed")


def init_app(app: Flask) -> None:
    """Time every request by its url rule (not its path, so ids do not multiply the series) and
    serve /metrics. Each app gets its own exporter registry: the exporter registers its metrics
    once per registry, and tests build many apps in one process."""
    exporter = PrometheusMetrics.for_app_factory(
        path=None, group_by="url_rule", registry=CollectorRegistry(auto_describe=True),
        # Scrapes and probes would swamp the latency of what people use.
        excluded_paths=["^/metrics$", "^/healthz$", "^/readyz$"],
    )
    exporter.init_app(app)
    app.extensions["prometheus_exporter"] = exporter
    app.register_blueprint(bp)


class ScrapeTimeGauges(Collector):
    """Figures read from the database when Prometheus scrapes: one cheap query each."""

    def collect(self):
        lag = GaugeMetricFamily("marketplace_rollup_lag_seconds",
                                "Seconds the oldest sales-ledger row not yet in the report rollups has waited")
        lag.add_metric([], rollup.lag_seconds())
        yield lag
        jobs = GaugeMetricFamily("marketplace_jobs", "Jobs on the task queue by queue and status "
                                 "(todo: queue depth, failed: kept after their last retry)", labels=["queue", "status"])
        for queue, status, count in _job_counts():
            jobs.add_metric([queue, status], count)
        yield jobs


def _job_counts() -> list[tuple[str, str, int]]:
    """Jobs by queue and status; nothing while the task queue's table does not exist yet."""
    if db.session.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
        return []
    rows = db.session.execute(text(
        "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
        f"WHERE status IN {JOB_STATUSES!r} GROUP BY 1, 2 ORDER BY 1, 2"))
    return [(queue, status, int(count)) for queue, status, count in rows]


class ProcessRegistry(Collector):
    """This process's own metrics (default registry and the app's exporter), when every worker is its
    own process without a shared directory (development, tests)."""

    def __init__(self, *registries: CollectorRegistry):
        self.registries = registries

    def collect(self):
        for registry in self.registries:
            yield from registry.collect()


def _may_scrape() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())
    # The real client (after ProxyFix with TRUSTED_PROXIES hops): the machine itself. A loopback
    # request carrying X-Forwarded-For without trusted proxies came through a local proxy for
    # someone else, so it is not the machine's own.
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    forwarded = "HTTP_X_FORWARDED_FOR" in request.environ and not current_app.config["TRUSTED_PROXIES"]
    return loopback and not forwarded


@bp.get("/metrics")
def metrics():
    """Prometheus text format; see the module docstring for who may read it."""
    if not _may_scrape():
        return error_response(403, ErrorCode.FORBIDDEN, "Metrics are for the operators' scraper: send "
                              "Authorization: Bearer <METRICS_TOKEN>, or scrape from the machine itself.")
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(ProcessRegistry(REGISTRY, current_app.extensions["prometheus_exporter"].registry))
    registry.register(ScrapeTimeGauges())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE)
