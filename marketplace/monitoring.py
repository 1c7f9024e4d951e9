"""/metrics for Prometheus: request latency by url rule, the business counters of
marketplace.common.metrics, and gauges computed at scrape time (rollup lag, job queue).

Who may scrape: with METRICS_TOKEN set, a caller sending it as a bearer token; without it, the
machine itself only (a loopback address that no proxy forwarded). Under gunicorn with several
workers, PROMETHEUS_MULTIPROC_DIR names the directory where every worker writes its counters, and
a scrape of any worker adds them all up (gunicorn.conf.py sets it and cleans up after workers).
"""
import hmac
import ipaddress
import os
from time import perf_counter

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from marketplace.errors import ErrorCode, error_response
from marketplace.extensions import db
from marketplace.reports import rollup

bp = Blueprint("monitoring", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Queued, running and failed jobs: what an operator acts on. Succeeded jobs are history (and many).
# (A tuple of constants, written into the statement as an SQL list.)
JOB_STATUSES = ("todo", "doing", "failed")


# Scrapes and probes would swamp the latency of what people use.
NOT_TIMED = frozenset({"monitoring.metrics", "health.healthz", "health.readyz"})


class RequestMetrics:
    """Every answered request by method, url rule (not its path, so ids do not multiply the series)
    and status: its latency and its count. The names are the ones Prometheus' Flask exporter uses,
    so dashboards built on them keep working; one after_request hook costs a request a few
    microseconds, where the exporter's three hooks cost a catalog read a tenth of its time."""

    def __init__(self):
        # Each app its own registry: tests build many apps in one process, and a metric name may
        # be registered once per registry.
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram("flask_http_request_duration_seconds", "Flask HTTP request duration in seconds",
                                 ("method", "url_rule", "status"), registry=self.registry)
        self.answered = Counter("flask_http_request_total", "Total number of HTTP requests",
                                ("method", "status"), registry=self.registry)

    def record(self, response):
        started = g.get("request_started")
        endpoint = request.endpoint
        if started is None or endpoint in NOT_TIMED:
            return response
        method, status = request.method, str(response.status_code)
        rule = request.url_rule
        self.latency.labels(method, rule.rule if rule is not None else "none", status).observe(
            perf_counter() - started)
        self.answered.labels(method, status).inc()
        return response


def init_app(app: Flask) -> None:
    """Time every request (errors.py stamps its start as its first hook) and serve /metrics."""
    request_metrics = RequestMetrics()
    app.after_request(request_metrics.record)
    app.extensions["request_metrics"] = request_metrics
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
    """This process's own metrics (default registry and the app's request metrics), when every worker is its
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
        registry.register(ProcessRegistry(REGISTRY, current_app.extensions["request_metrics"].registry))
    registry.register(ScrapeTimeGauges())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE)
