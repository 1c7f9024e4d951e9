"""Proof on one machine of a many-machine deployment (issue 16): HAProxy in front of two app nodes
that share no local file, two job workers, PostgreSQL, Redis, localstripe and a local S3.

The cluster is started once for the module (tests/cluster/cluster.py, as ``scripts/cluster
start`` does) in a temporary directory, on a database and a Redis database number of its own, and
stopped at the end whatever happens. A missing piece (PostgreSQL, Redis, HAProxy, moto) fails the
test with what to do; nothing is skipped. Everything goes through the balancer unless a test
addresses one node on purpose. The tests run in the order written: the last one kills a node.
Figures (flash-sale duration, orders/s, answers lost to the kill) are printed at the end and
written to artifacts/cluster-figures.json.
"""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.cluster import client
from tests.cluster.client import Checkout
from tests.cluster.cluster import NODES, ROOT, Cluster, ClusterError, Settings
from tests.image_files import encoded, photo

FLASH_UNITS = 1_000
BUYERS = 1_200  # each tries once to buy 1 unit of the flash product: 1,000 get it, 200 are refused
FLASH_THREADS = 48
KILL_THREADS = 16
KILL_AFTER_SECONDS = 3.0
LOAD_AFTER_KILL_SECONDS = 6.0
# A node killed with SIGKILL drops the requests it holds; a request that reaches it in the few
# milliseconds while its processes die is dropped too. Anything sent later must be answered.
KILL_GRACE_SECONDS = 0.25
# Short periods for the periodic jobs (each must divide a minute), so that a run sees several.
JOB_PERIOD_SECONDS = 5
SNAPSHOT_PERIOD_SECONDS = 10
JOB_PERIODS = {"JOBS_INTERVAL_SECONDS": JOB_PERIOD_SECONDS, "RECONCILE_INTERVAL_SECONDS": JOB_PERIOD_SECONDS,
               "REPORT_SNAPSHOT_SECONDS": SNAPSHOT_PERIOD_SECONDS, "MEDIA_SWEEP_SECONDS": JOB_PERIOD_SECONDS}
# Every periodic task of the worker with its period.
PERIODIC_TASKS = {"expire_unpaid_orders": JOB_PERIOD_SECONDS, "advance_settled_orders": JOB_PERIOD_SECONDS,
                  "forget_idempotency_keys": JOB_PERIOD_SECONDS, "forget_form_tokens": JOB_PERIOD_SECONDS,
                  "reconcile_stripe_payments": JOB_PERIOD_SECONDS, "roll_up_sales": JOB_PERIOD_SECONDS,
                  "refresh_report_snapshots": SNAPSHOT_PERIOD_SECONDS, "sweep_media": JOB_PERIOD_SECONDS}
MIN_PERIODS_SEEN = 3
IMMUTABLE = "public, max-age=31536000, immutable"
FIGURES_PATH = ROOT / "artifacts" / "cluster-figures.json"

figures: dict = {}


def _interrupted(signum, frame):
    """SIGTERM (a CI time-out) unwinds like Ctrl-C, so the cluster is still stopped."""
    raise KeyboardInterrupt


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    """The cluster, started once for this module; stopped at the end even when a test fails."""
    settings = dataclasses.replace(
        Settings.from_env(), run_dir=tmp_path_factory.mktemp("cluster"), port=0,
        database=f"marketplace_cluster_test_{os.getpid()}", redis_db=14, web_workers=2,
        app_settings={name: str(value) for name, value in JOB_PERIODS.items()})
    running = Cluster(settings)
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        started = time.monotonic()
        try:
            running.start()
        except ClusterError as error:
            pytest.fail(f"The cluster did not start: {error}", pytrace=False)
        figures["cluster_start_s"] = round(time.monotonic() - started, 1)
        yield running
    finally:
        running.stop(quiet=True)
        signal.signal(signal.SIGTERM, previous)
        _report_figures(request)


def _report_figures(request) -> None:
    if not figures:
        return
    FIGURES_PATH.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_PATH.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    lines = [f"cluster figures ({FIGURES_PATH.relative_to(ROOT)}):"] + [f"  {k}: {v}" for k, v in figures.items()]
    # Shown in every run's output (CI's too), not only when a test fails.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines), flush=True)


@pytest.fixture(scope="module")
def shop(cluster, tmp_path_factory) -> dict:
    """Buyers with tokens, a verified seller, a flash product of 1,000 units and a steady one."""
    workdir = tmp_path_factory.mktemp("shop")
    spec, out = workdir / "spec.json", workdir / "out.json"
    spec.write_text(json.dumps({"buyers": BUYERS, "flash_units": FLASH_UNITS, "steady_units": 1_000_000}))
    result = subprocess.run([sys.executable, "-m", "tests.cluster.sale_data", str(spec), str(out)], cwd=ROOT,
                            env=cluster.env_for("shop"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"setting up the shop failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return json.loads(out.read_text())


def query(cluster: Cluster, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(cluster.database_dsn(), autocommit=True, connect_timeout=10) as connection:
        return connection.execute(sql, params).fetchall()


def units_sold(cluster: Cluster, product_id: int) -> dict:
    (sold, lines, buyers, checkouts), = query(
        cluster, "SELECT coalesce(sum(l.quantity), 0), count(*), count(DISTINCT o.buyer_user_id), "
                 "count(DISTINCT o.checkout_id) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                 "WHERE l.product_id = %s", (product_id,))
    (stock,), = query(cluster, "SELECT stock_units FROM products WHERE id = %s", (product_id,))
    return {"units_sold": int(sold), "lines": lines, "buyers": buyers, "checkouts": checkouts, "stock_left": stock}


def outcome(answer: client.Answer) -> str:
    if answer.status == 0:
        return f"no answer ({answer.error})"
    return str(answer.status) if answer.status < 300 else f"{answer.status} {answer.error_code}"


def test_flash_sale_through_the_balancer_sells_exactly_the_stock(cluster, shop):
    product_id = shop["products"]["flash"]
    checkouts = [Checkout(token, product_id, shop["county"], f"flash-{number:06d}")
                 for number, token in enumerate(shop["buyer_tokens"][:BUYERS])]
    started = time.monotonic()
    results = client.send_all(cluster.state()["balancer"], checkouts, threads=FLASH_THREADS)
    answers = [answer for _, answer in results]

    assert Counter(map(outcome, answers)) == {"201": FLASH_UNITS, "409 out_of_stock": BUYERS - FLASH_UNITS}
    assert units_sold(cluster, product_id) == {"units_sold": FLASH_UNITS, "lines": FLASH_UNITS, "buyers": FLASH_UNITS,
                                               "checkouts": FLASH_UNITS, "stock_left": 0}
    by_node = Counter(answer.served_by for answer in answers if answer.status == 201)
    assert set(by_node) == set(NODES), f"both nodes sell: {by_node}"

    sold_out = sorted(answer.answered for answer in answers if answer.status == 201)[-1] - started
    latencies = sorted(answer.answered - answer.sent for answer in answers)
    figures["flash_sale"] = {
        "units": FLASH_UNITS, "buyers": BUYERS, "threads": FLASH_THREADS, "sold_out_s": round(sold_out, 2),
        "orders_per_s": round(FLASH_UNITS / sold_out, 1), "all_answered_s": round(time.monotonic() - started, 2),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000), "p99_ms": round(latencies[int(len(latencies) * .99)] * 1000),
        "orders_by_node": dict(sorted(by_node.items())),
    }


def test_photo_uploaded_through_one_node_is_served_by_the_other(cluster, shop):
    nodes = cluster.state()["nodes"]
    boundary = "cluster-photo-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"walnuts.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + encoded(photo(800, 600), "PNG") + f"\r\n--{boundary}--\r\n".encode()
    uploaded = client.request(nodes["node1"], "POST", f"/api/v1/products/{shop['products']['steady']}/images", body=body,
                              headers={"Authorization": f"Bearer {shop['seller_token']}",
                                       "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert uploaded.status == 201, uploaded.body[:500]
    image = uploaded.json()["images"][-1]

    for url in (image["url"], image["thumbnail_url"]):
        path = urllib.parse.urlsplit(url).path
        from_node2 = client.request(nodes["node2"], "GET", path)
        from_node1 = client.request(nodes["node1"], "GET", path)
        assert from_node2.status == 200, (path, from_node2.status, from_node2.body[:300])
        assert from_node2.headers.get("cache-control") == IMMUTABLE
        assert from_node2.body == from_node1.body and from_node2.body
    # Neither node kept a file of its own: the photo is in the bucket they share.
    for name in NODES:
        assert not [p for p in (Path(cluster.run_dir) / name / "media").rglob("*") if p.is_file()], name
    key = urllib.parse.urlsplit(image["url"]).path.removeprefix("/media/")
    listing = client.request(cluster.state()["s3"], "GET", "/marketplace-cluster?list-type=2")
    assert listing.status == 200 and f"<Key>{key}</Key>".encode() in listing.body, listing.body[:500]


def test_ten_wrong_passwords_over_both_nodes_trip_the_shared_login_limit(cluster, shop):
    state = cluster.state()
    balancer, node1, node2 = state["balancer"], state["nodes"]["node1"], state["nodes"]["node2"]
    phone, wrong = shop["buyer_phones"][0], "not-the-password"
    # Through the balancer and straight to each node, API and page logins in turn.
    plan = [(balancer, client.api_login), (node1, client.page_login), (node2, client.api_login),
            (balancer, client.page_login), (node1, client.api_login), (node2, client.page_login),
            (balancer, client.api_login), (node1, client.page_login), (node2, client.api_login),
            (balancer, client.page_login)]
    attempts = [login(base, phone, wrong) for base, login in plan]
    assert [a.status for a in attempts] == [401] * 10, [outcome(a) for a in attempts]

    eleventh = {"node1 API": client.api_login(node1, phone, wrong), "node2 page": client.page_login(node2, phone, wrong),
                "balancer API": client.api_login(balancer, phone, wrong),
                "balancer page": client.page_login(balancer, phone, wrong)}
    assert {where: a.status for where, a in eleventh.items()} == dict.fromkeys(eleventh, 429)
    # The limit is the client's, not the balancer's: behind HAProxy another address has its own
    # count (TRUSTED_PROXIES=1 reads it from X-Forwarded-For), and a forged X-Forwarded-For
    # changes nothing (HAProxy appends the real address, the one the app trusts).
    other_client = client.api_login(balancer, shop["buyer_phones"][1], wrong, source="127.0.0.2")
    assert other_client.status == 401, outcome(other_client)
    forged = client.api_login(balancer, phone, wrong, headers={"X-Forwarded-For": "203.0.113.9"})
    assert forged.status == 429, outcome(forged)


def test_each_periodic_job_ran_once_per_period_with_two_workers(cluster, shop):
    # Long enough for a few periods of the slowest task since the workers started.
    wait = cluster.state()["started_at"] + (MIN_PERIODS_SEEN + 1) * max(PERIODIC_TASKS.values()) - time.time()
    if wait > 0:
        time.sleep(wait)
    # procrastinate gives each periodic job its period's timestamp (args.timestamp); its
    # procrastinate_periodic_defers keeps only each task's latest period, so the history is the jobs'.
    jobs = query(cluster, """
        SELECT j.task_name, (j.args->>'timestamp')::bigint, count(*), array_agg(j.status::text),
               array_agg(j.worker_id), sum(e.started), sum(e.retried)
        FROM procrastinate_jobs j
        JOIN LATERAL (SELECT count(*) FILTER (WHERE type = 'started') AS started,
                             count(*) FILTER (WHERE type = 'deferred_for_retry') AS retried
                      FROM procrastinate_events WHERE job_id = j.id) e ON true
        WHERE j.args ? 'timestamp' GROUP BY 1, 2 ORDER BY 1, 2""")
    periods: dict[str, list[int]] = {}
    statuses: Counter = Counter()
    workers = set()
    for task, timestamp, count, job_statuses, worker_ids, started, retried in jobs:
        # However many workers defer it, one job per task and period, started once (retries apart).
        assert count == 1, f"{task}, period {timestamp}: {count} jobs"
        assert started <= 1 + retried, f"{task}, period {timestamp}: started {started} times"
        periods.setdefault(task, []).append(timestamp)
        statuses.update(job_statuses)
        workers.update(worker for worker in worker_ids if worker is not None)
    for task, period in PERIODIC_TASKS.items():
        seen = periods.get(task, [])
        assert len(seen) >= MIN_PERIODS_SEEN, f"{task}: periods {seen}"
        gaps = [(earlier, later) for earlier, later in zip(seen, seen[1:], strict=False) if later - earlier != period]
        assert gaps == [], f"{task} has no job for some periods of {period} s: {gaps}"
    assert set(statuses) <= {"succeeded", "doing", "todo"}, statuses
    assert statuses["succeeded"] >= len(jobs) - 2 * len(PERIODIC_TASKS)  # only the latest periods may be pending
    assert len(workers) == 2, f"periodic jobs were run by workers {workers}"
    figures["periodic_jobs"] = {"periods_seen": {task: len(periods.get(task, [])) for task in PERIODIC_TASKS},
                                "job_statuses": dict(statuses), "workers_that_ran_them": len(workers)}


def test_killing_a_node_mid_load_loses_no_order(cluster, shop):
    product_id = shop["products"]["steady"]
    buyers = [Checkout(token, product_id, shop["county"], f"steady-{number:06d}")
              for number, token in enumerate(shop["buyer_tokens"][:200])]
    stock_before = units_sold(cluster, product_id)["stock_left"]
    started = time.monotonic()
    until = started + KILL_AFTER_SECONDS + LOAD_AFTER_KILL_SECONDS
    results: list = []
    load = threading.Thread(target=lambda: results.extend(
        client.send_all(cluster.state()["balancer"], client.endless(buyers), threads=KILL_THREADS, until=until)))
    load.start()
    try:
        time.sleep(KILL_AFTER_SECONDS)
        killed_at = cluster.kill("node2")
        marked_down_at = None
        while marked_down_at is None and time.monotonic() < until:
            if cluster.node_states().get("node2") != "UP":
                marked_down_at = time.monotonic()
            time.sleep(0.02)
    finally:
        load.join(timeout=LOAD_AFTER_KILL_SECONDS + 60)
    assert not load.is_alive()
    assert marked_down_at is not None, f"HAProxy still sees node2 up: {cluster.node_states()}"
    answers = [answer for _, answer in results]

    before = [a for a in answers if a.answered < killed_at]
    after = [a for a in answers if a.sent > killed_at + KILL_GRACE_SECONDS]
    in_flight = [a for a in answers if a.sent <= killed_at <= a.answered]
    failed = [(checkout, a) for checkout, a in results if a.status != 201]
    assert {a.served_by for a in before} == set(NODES), "both nodes served before the kill"
    assert after and {a.served_by for a in after} == {"node1"}
    # The balancer keeps answering: only requests the dead node held can fail, nothing sent later.
    assert [outcome(a) for a in after if a.status != 201] == []
    assert all(a.sent <= killed_at + KILL_GRACE_SECONDS for _, a in failed), [outcome(a) for _, a in failed]
    # Not "at most one per thread": a thread whose request died with node 2 may send its next one
    # to node 2 too in the few ms before HAProxy marks it down (seen once: 17 failures, 16 threads).
    assert [outcome(a) for _, a in failed if a.sent > marked_down_at] == []

    # No order lost: every 201 is in the database. A failed request sent again with its
    # Idempotency-Key gets the checkout the dead node committed (200) or places it now (201).
    placed = {a.json()["id"] for _, a in results if a.status == 201}
    retried = [(checkout, checkout.send(cluster.state()["balancer"])) for checkout, _ in failed]
    assert [outcome(a) for _, a in retried if a.status not in (200, 201)] == []
    recovered = {a.json()["id"] for _, a in retried}
    found = {row[0] for row in query(cluster, "SELECT id FROM checkouts WHERE id = ANY(%s)", (list(placed | recovered),))}
    assert found == placed | recovered
    sold = units_sold(cluster, product_id)
    assert sold["checkouts"] == len(placed | recovered), "one checkout per Idempotency-Key: none lost, none doubled"
    assert stock_before - sold["stock_left"] == sold["units_sold"] == len(placed | recovered)

    figures["node_killed"] = {
        "threads": KILL_THREADS, "checkouts_answered": len(answers), "created": len(placed),
        "orders_per_s_before_kill": round(sum(a.status == 201 for a in before) / (killed_at - started), 1),
        "orders_per_s_after_kill": round(sum(a.status == 201 for a in after)
                                         / max(0.001, until - killed_at - KILL_GRACE_SECONDS), 1),
        "in_flight_at_kill": len(in_flight), "failed": len(failed),
        "failed_by_answer": dict(Counter(outcome(a) for _, a in failed)),
        "failed_resent": dict(Counter(outcome(a) for _, a in retried)),
        "haproxy_marked_down_after_s": round(marked_down_at - killed_at, 2),
        # Connections node 2 refused after the kill, each sent on to node 1 by HAProxy.
        "redispatched_by_haproxy": int(cluster.node_stats()["node2"].get("wredis") or 0),
    }
