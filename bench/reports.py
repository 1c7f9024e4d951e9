#!/usr/bin/env python
"""Reports benchmark: the 30-day all-county summary and county ranking at a small and a large sales
ledger (10 thousand and 10 million rows by default), and the rollup job's lag during a flash sale.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/reports.py [--small 10000] [--large 10000000] [--keep-db] [--flash-on both]

What it does, in order:

1. makes sure PostgreSQL answers on 127.0.0.1:5432 and that wrk is installed (harness.preflight);
2. for each size, the database ``marketplace_bench_reports_<size>`` (10k, 10m): dropped, created,
   ``flask db upgrade`` and ``flask seed demo --history N`` (two years of sales in all 2,846
   counties, COPY, rollups rebuilt); with --keep-db an existing one whose ledger has exactly N
   rows is reused. Then ``flask jobs once --only roll_up_sales`` and ``--only
   refresh_report_snapshots`` (the stored whole-country reports), ANALYZE, and in a child process
   with an app context ``snapshots.refresh(force=True)`` timed, report by report: what the jobs
   worker does after every roll-up that added sales;
3. starts one gunicorn per database (production config, ``--no-control-socket``, two sync workers per core),
   logs in as the demo administrator (POST /api/v1/auth/login), checks the answers (the stored
   summary equals the live one of the same days except ``period.preset``, the stored ranking's
   rows equal the live ranking's, both agree with sums over the ledger itself, and the stored
   reports' basis holds), warms up, and measures with wrk, each URL on the small database and
   right after on the large one (the order flips every round): /healthz, the stored summary and
   ranking (``preset=last_30_days``), and the same two computed live (``from``/``to`` naming the
   same 30 days, which bypasses the stored reports);
4. prints requests/s, p50, p99 and the ratio large / small of each URL; the verdict (p50 ratio
   <= 1.5) applies to the two stored URLs, the live ratios are information;
5. flash sale, for each size of --flash-on: a copy of the database (CREATE DATABASE ... TEMPLATE),
   N cash-at-station checkouts placed through the service (child process), gunicorn plus a jobs
   worker (``flask jobs run`` with JOBS_INTERVAL_SECONDS=1), then wrk posts the cash
   collections (POST /api/v1/checkouts/<id>/cash-collection as the station's partner, each
   checkout once) for --flash-seconds while the ledger queue is sampled every 0.5 s (rows
   waiting, age of the oldest); the burst is placed so that the worker's once-a-minute refresh of
   the stored reports falls in its middle. Reported: sales/s, max and p95 rows waiting, max age
   (the lag), time from the end of the burst until the queue is empty; then the rollups must
   equal the ledger;
6. writes bench/results/reports-latest.json, stops every process it started, and drops the
   databases unless --keep-db (the flash copies always).

All traffic goes to 127.0.0.1 only, and every step has a time limit.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from harness import (
    PRODUCTION_WORKERS,
    ROOT,
    BenchError,
    CpuMeter,
    Database,
    Scenario,
    Server,
    Wrk,
    admin_sql,
    cpu_busy_percent,
    cpu_model,
    fetch,
    interrupted,
    loadavg,
    noise_note,
    pad,
    preflight,
    production_env,
    run_flask,
    say,
    utc_now_iso,
    venv_tool,
    write_results,
)

RESULTS = ROOT / "bench" / "results" / "reports-latest.json"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # report days are Asia/Shanghai days
ADMIN = {"identifier": "13800000000", "password": "demo-pass-2026"}  # the demo seed's administrator
TARGET = 1.5  # latency at the large ledger over latency at the small one, for the stored reports
PRESET = "last_30_days"
FLASH_LINES = 2  # lines (ledger rows) per flash-sale checkout, of one seller
SAMPLE_EVERY = 0.5  # seconds between samples of the ledger queue
REFRESH_MIDDLE = 0.5  # where in the burst the worker's scheduled refresh of the stored reports falls
# Log lines of gunicorn, the app and the jobs worker that mean something went wrong (as bench/checkout.py).
LOG_PROBLEMS = re.compile(r"\[(ERROR|CRITICAL)\]|\"level\": \"(ERROR|CRITICAL)\"|WORKER TIMEOUT|Traceback|unhandled error|database unavailable|job \S+ failed")


def size_label(rows: int) -> str:
    for unit, suffix in ((1_000_000, "m"), (1_000, "k")):
        if rows % unit == 0:
            return f"{rows // unit}{suffix}"
    return str(rows)


def shanghai_today():
    return datetime.now(SHANGHAI).date()


# --- in the app (a child process with the production config) --------------------------------


def in_app(task: str, spec_path: str) -> None:
    """``--in-app TASK SPEC``: run one task in an app context and write its JSON answer to spec['out']."""
    sys.path.insert(0, str(ROOT))
    from marketplace import create_app

    spec = json.loads(Path(spec_path).read_text())
    with create_app().app_context():
        answer = {"refresh": time_refresh, "prepare-flash": prepare_flash}[task](spec)
    Path(spec["out"]).write_text(json.dumps(answer))


def time_refresh(spec: dict) -> dict:
    """``snapshots.refresh(force=True)``: every stored report recomputed, as after a roll-up that
    added sales; timed in all and per report and preset (the query part, without dumping)."""
    from marketplace.reports import snapshots

    by_report: dict[str, dict[str, float]] = {}
    for name, (compute, schema) in list(snapshots.REPORTS.items()):
        def timed(period, compute=compute, name=name):
            started = time.perf_counter()
            result = compute(period)
            by_report.setdefault(name, {})[period.preset] = round(time.perf_counter() - started, 3)
            return result
        snapshots.REPORTS[name] = (timed, schema)
    started = time.perf_counter()
    stored = snapshots.refresh(force=True)
    return {"seconds": round(time.perf_counter() - started, 2), "reports_stored": stored, "by_report": by_report}


def prepare_flash(spec: dict) -> dict:
    """Cash-at-station checkouts placed through the service, and a bearer token per station partner."""
    import random

    from sqlalchemy import select, update

    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import User, UserRole
    from marketplace.catalog.models import Product
    from marketplace.catalog.taxonomy import ProductStatus
    from marketplace.extensions import db
    from marketplace.orders.checkout import place_checkout
    from marketplace.orders.services import amount_due_fen
    from marketplace.stations.models import ServiceStation
    from seed.demo import DEMO_PASSWORD

    rng = random.Random(2026)
    stations = db.session.execute(select(ServiceStation.id, User.phone).join(User, User.id == ServiceStation.partner_user_id)
                                  .where(ServiceStation.is_active).order_by(ServiceStation.id)).all()
    tokens = {station: accounts.log_in(phone, DEMO_PASSWORD)[0] for station, phone in stations}
    listings: dict[int, list] = {}
    for row in db.session.execute(select(Product.id, Product.seller_user_id, Product.min_order_units)
                                  .where(Product.status == ProductStatus.ACTIVE).order_by(Product.id)):
        listings.setdefault(row.seller_user_id, []).append(row)
    sellers = rng.sample(sorted(s for s, rows in listings.items() if len(rows) >= FLASH_LINES), spec["sellers"])
    db.session.execute(update(Product).where(Product.seller_user_id.in_(sellers)).values(stock_units=1_000_000))
    db.session.commit()
    buyer_ids = db.session.scalars(select(UserRole.user_id).where(UserRole.role == "buyer").order_by(UserRole.user_id)
                                   .limit(2000)).all()
    buyer_ids = [b for b in buyer_ids if b not in set(sellers)]  # nobody buys from themselves
    counties = len({db.session.get(User, s).county_adcode for s in sellers})

    started = time.monotonic()
    lines = []
    for number in range(spec["checkouts"]):
        if number % 500 == 0:
            db.session.expunge_all()  # keep the identity map small
        station = rng.choice(stations).id
        chosen = rng.sample(listings[rng.choice(sellers)], FLASH_LINES)
        checkout, _ = place_checkout(
            rng.choice(buyer_ids), lines=[{"product_id": p.id, "quantity": max(1, p.min_order_units)} for p in chosen],
            delivery={"station_id": station}, payment_method="cash_at_station", idempotency_key=f"bench-reports-{number}")
        lines.append(f"{tokens[station]}\t{checkout.id}\t{amount_due_fen(checkout)}")
    Path(spec["lines"]).write_text("\n".join(lines) + "\n")
    return {"checkouts": len(lines), "seconds": round(time.monotonic() - started, 1), "stations": len(stations),
            "sellers": len(sellers), "seller_counties": counties, "buyers": len(buyer_ids)}


def run_in_app(env: dict, workdir: Path, task: str, spec: dict, timeout: int) -> dict:
    spec = {**spec, "out": str(workdir / f"{task}-out.json")}
    path = workdir / f"{task}-spec.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--in-app", task, str(path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"{task} (in the app) failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return json.loads(Path(spec["out"]).read_text())


# --- databases ---------------------------------------------------------------------------------


def ledger_rows(database: Database) -> int | None:
    """Rows in the database's sales ledger; None when the database or the table does not exist."""
    import psycopg

    try:
        return database.query("SELECT count(*) FROM sales_ledger")[0][0]
    except psycopg.Error:  # no such database, or not migrated
        return None


def timed_flask(env: dict, *args: str, timeout: int) -> float:
    started = time.monotonic()
    run_flask(env, *args, timeout=timeout)
    return round(time.monotonic() - started, 1)


def prepare_database(database: Database, rows: int, env: dict, workdir: Path, keep: bool) -> dict:
    """Seeded (or reused) with ``rows`` ledger rows, rolled up, the stored reports current and timed."""
    facts: dict = {"database": database.name, "ledger_rows_wanted": rows}
    found = ledger_rows(database) if keep else None
    if found == rows:
        say(f"database {database.name}: reused (--keep-db), its ledger has {found:,} rows")
        facts["reused"] = True
    else:
        if keep and found is not None:
            say(f"database {database.name} has {found:,} ledger rows, not {rows:,}: seeding it again")
        database.create()
        facts["reused"] = False
        facts["seconds_db_upgrade"] = timed_flask(env, "db", "upgrade", timeout=300)
        facts["seconds_seed"] = timed_flask(env, "seed", "demo", "--history", str(rows), timeout=rows // 1000 + 900)
    facts["ledger_rows"] = ledger_rows(database)
    if facts["ledger_rows"] != rows:
        raise BenchError(f"{database.name}: the ledger has {facts['ledger_rows']} rows after seeding, not {rows}.")
    facts["seconds_roll_up_sales"] = timed_flask(env, "jobs", "once", "--only", "roll_up_sales", timeout=3600)
    facts["seconds_refresh_job"] = timed_flask(env, "jobs", "once", "--only", "refresh_report_snapshots", timeout=3600)
    started = time.monotonic()
    database.query("ANALYZE")  # the rollup tables were just rebuilt; autovacuum would get there too
    facts["seconds_analyze"] = round(time.monotonic() - started, 1)
    (facts["rollup_rows"], facts["county_days_30"], facts["counties_with_sales_30"]), = database.query(
        "SELECT (SELECT count(*) FROM county_daily_sales), count(*), count(DISTINCT county_adcode) "
        "FROM county_daily_sales WHERE business_day > %s", (shanghai_today() - timedelta(days=30),))
    facts["database_size"] = database.query("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
    say(f"  ledger {facts['ledger_rows']:,} rows, rollups {facts['rollup_rows']:,} county-days "
        f"({facts['county_days_30']:,} in the last 30 days, {facts['counties_with_sales_30']:,} counties), "
        f"database {facts['database_size']}")
    say("  timing snapshots.refresh(force=True): every stored report recomputed, as after a roll-up with new sales")
    facts["refresh"] = run_in_app(env, workdir, "refresh", {}, timeout=3600)
    slowest = sorted(((s, f"{r}/{p}") for r, presets in facts["refresh"]["by_report"].items() for p, s in presets.items()),
                     reverse=True)[:4]
    say(f"  refresh: {facts['refresh']['reports_stored']} reports in {facts['refresh']['seconds']} s; slowest: "
        + ", ".join(f"{name} {seconds} s" for seconds, name in slowest))
    return facts


def snapshot_basis(database: Database) -> dict:
    """Whether the stored 30-day summary and ranking are served as stored (snapshots._holds, in SQL)."""
    rows = database.query(
        "SELECT s.report, s.business_day, s.rollup_version = r.version, "
        "s.counties_updated_at IS NOT DISTINCT FROM (SELECT max(updated_at) FROM counties) "
        "FROM report_snapshots s CROSS JOIN rollup_state r WHERE r.name = 'county_daily_sales' AND s.preset = %s "
        "AND s.report IN ('summary', 'counties')", (PRESET,))
    today = shanghai_today()
    return {report: bool(day == today and same_version and same_counties) for report, day, same_version, same_counties in rows}


# --- the read measurements -------------------------------------------------------------------


def log_in(base: str) -> str:
    status, body = fetch(base + "/api/v1/auth/login", method="POST", data=json.dumps(ADMIN).encode(),
                         headers={"Content-Type": "application/json"})
    if status != 200:
        raise BenchError(f"Logging in as the demo administrator answered {status}: {body[:300]!r}")
    return json.loads(body)["token"]


def read_scenarios(token: str) -> list[Scenario]:
    """/healthz and the four report URLs; wrk sends the bearer token from a one-line Lua script."""
    today = shanghai_today()
    days = f"from={today - timedelta(days=29)}&to={today}"  # the days of last_30_days, named explicitly
    lua = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    return [
        Scenario("healthz", "baseline /healthz", "/healthz", 0.0),
        Scenario("summary_stored", "summary, stored", f"/api/v1/reports/summary?preset={PRESET}", TARGET, lua=lua),
        Scenario("counties_stored", "county ranking, stored", f"/api/v1/reports/counties?preset={PRESET}&limit=50",
                 TARGET, lua=lua),
        Scenario("summary_live", "summary, live", f"/api/v1/reports/summary?{days}", 0.0, lua=lua),
        Scenario("counties_live", "county ranking, live", f"/api/v1/reports/counties?{days}&limit=50", 0.0, lua=lua),
    ]


def get_json(base: str, path: str, token: str) -> dict:
    status, body = fetch(base + path, headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def check_answers(base: str, token: str, scenarios: list[Scenario], database: Database) -> dict:
    """Stored and live answers agree, with each other, with the stored rows and with the ledger."""
    by_name = {s.name: s for s in scenarios}
    answers = {name: get_json(base, by_name[name].path, token)
               for name in ("summary_stored", "summary_live", "counties_stored", "counties_live")}
    problems = []
    stored, live = answers["summary_stored"], answers["summary_live"]
    if stored["period"].get("preset") != PRESET or live["period"].get("preset") is not None:
        problems.append(f"summary periods: stored {stored['period']}, live {live['period']}")
    without_preset = [{**body, "period": {**body["period"], "preset": None}} for body in (stored, live)]
    if without_preset[0] != without_preset[1]:
        problems.append(f"the stored summary differs from the live one:\n  stored {stored}\n  live   {live}")
    if answers["counties_stored"]["items"] != answers["counties_live"]["items"]:
        problems.append("the stored county ranking differs from the live one")
    bodies = dict(database.query("SELECT report, body FROM report_snapshots WHERE preset = %s", (PRESET,)))
    if json.loads(bodies["summary"]) != stored:
        problems.append("the stored summary answered is not the stored row (was it computed live?)")
    if json.loads(bodies["counties"])["items"][:50] != answers["counties_stored"]["items"]:
        problems.append("the stored ranking answered is not the first 50 rows of the stored row")
    period = stored["period"]
    (net, units, orders, buyers, sellers), = database.query(
        "SELECT coalesce(sum(amount_fen), 0), coalesce(sum(units), 0), "
        "count(DISTINCT (business_day, origin_county_adcode, order_id)) FILTER (WHERE kind = 'sale'), "
        "count(DISTINCT buyer_user_id) FILTER (WHERE kind = 'sale'), count(DISTINCT seller_user_id) FILTER (WHERE kind = 'sale') "
        "FROM sales_ledger WHERE business_day BETWEEN %s AND %s", (period["first_day"], period["last_day"]))
    ledger = {"net_fen": net, "units": units, "orders": orders, "buyers": buyers, "sellers": sellers}
    figures = {key: stored["figures"][key] for key in ledger}
    if figures != ledger:
        problems.append(f"summary figures {figures} differ from the ledger's {ledger}")
    basis = snapshot_basis(database)
    if basis != {"summary": True, "counties": True}:
        problems.append(f"the stored reports' basis does not hold: {basis}")
    if problems:
        raise BenchError("Wrong answers before measuring:\n" + "\n".join(problems))
    top = answers["counties_stored"]["items"][0]
    return {"period": {key: period[key] for key in ("first_day", "last_day", "days")}, "figures": stored["figures"],
            "ledger_agrees": ledger, "ranking_rows": len(answers["counties_stored"]["items"]),
            "top_county": f"{top['county']} ({top['province']}) {top['net_fen']} fen",
            "stored_ranking_counties": len(json.loads(bodies["counties"])["items"]),
            "bytes": {name: len(json.dumps(body, ensure_ascii=False).encode()) for name, body in answers.items()}}


def measure_reads(sides: dict, scenarios: dict, args) -> list:
    """Each URL on the small database and right after on the large one; the order flips each round."""
    runs = []
    names = [s.name for s in next(iter(scenarios.values()))]
    labels = list(sides)
    if args.warmup:
        say(f"warm-up: {args.warmup} s per URL and database (not measured)")
        for label in labels:
            for scenario in scenarios[label]:
                sides[label]["load"].run(sides[label]["server"].base, scenario, args.warmup, quiet=True)
    for label in labels:
        sides[label]["load"].meter.db_pids = sides[label]["database"].backend_pids()
    say(f"measuring: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, {args.rounds} round(s)")
    for round_number in range(args.rounds):
        order = labels if round_number % 2 == 0 else labels[::-1]
        for index, name in enumerate(names):
            for label in order:
                side = sides[label]
                scenario = scenarios[label][index]
                run = side["load"].run(side["server"].base, scenario, args.duration, quiet=True)
                # Requests in flight when wrk stops are still served: let them finish before the next run.
                time.sleep(min(5.0, run.p99_ms / 1000 + 0.2))
                runs.append({"size": label, "round": round_number + 1, **asdict(run)})
                say(f"  {label:>4} {name:<16} {run.requests_per_s:9.1f} req/s   p50 {run.p50_ms:8.2f} ms   "
                    f"p99 {run.p99_ms:8.2f} ms" + (f"   non-2xx {run.non_2xx_3xx}" if run.non_2xx_3xx else "")
                    + (f"   cores app/db/wrk/other {run.cpu_cores['app']:.2f}/{run.cpu_cores['db']:.2f}/"
                       f"{run.cpu_cores['wrk']:.2f}/{run.cpu_cores['other']:.2f}" if run.cpu_cores else ""))
    return runs


def summarise_reads(scenarios: list[Scenario], runs: list[dict], small: str, large: str) -> dict:
    summary = {}
    for scenario in scenarios:
        sizes = {}
        for label in (small, large):
            mine = [r for r in runs if r["scenario"] == scenario.name and r["size"] == label]
            sizes[label] = {key: round(statistics.mean(r[key] for r in mine), 3)
                            for key in ("requests_per_s", "p50_ms", "p99_ms")}
        p50_ratio = sizes[large]["p50_ms"] / sizes[small]["p50_ms"]
        row = {"label": scenario.label, "path": scenario.path, **sizes, "p50_ratio": round(p50_ratio, 2),
               "p99_ratio": round(sizes[large]["p99_ms"] / sizes[small]["p99_ms"], 2),
               "throughput_ratio": round(sizes[large]["requests_per_s"] / sizes[small]["requests_per_s"], 2)}
        if scenario.target:
            row.update(target_p50_ratio=scenario.target, verdict="PASS" if p50_ratio <= scenario.target else "MISS")
        summary[scenario.name] = row
    return summary


def print_reads(summary: dict, small: str, large: str) -> None:
    header = (f"{'URL':<24} {small + ' req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {large + ' req/s':>10} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'p50 x':>6} {'p99 x':>6}  verdict")
    say("\n" + header + "\n" + "-" * len(header))
    for row in summary.values():
        a, b = row[small], row[large]
        say(f"{pad(row['label'], 24)} {a['requests_per_s']:10.1f} {a['p50_ms']:8.2f} {a['p99_ms']:8.2f} "
            f"{b['requests_per_s']:10.1f} {b['p50_ms']:8.2f} {b['p99_ms']:8.2f} {row['p50_ratio']:6.2f} "
            f"{row['p99_ratio']:6.2f}  {row.get('verdict', '(information)')}")
    say(f"p50 x, p99 x: latency at {large} over latency at {small}; the verdict: p50 x <= {TARGET} for the stored reports")


# --- the flash sale --------------------------------------------------------------------------


FLASH_LUA = r"""-- Cash collections, written by bench/reports.py. Each wrk thread sends its share of the lines of
-- the file ("<partner token>\t<checkout id>\t<amount fen>": thread i the lines i, i+@THREADS@, ...),
-- each once; with none left it asks for /healthz instead (counted as spare).
local path, nthreads = "@LINES@", @THREADS@
local requests, threads = {}, {}
sent, spare, answers = 0, 0, {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == id - 1 then
      local token, checkout, amount = line:match("^(%S+)\t(%d+)\t(%d+)$")
      requests[#requests + 1] = wrk.format("POST", "/api/v1/checkouts/" .. checkout .. "/cash-collection",
        {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
        '{"amount_fen": ' .. amount .. '}')
    end
    n = n + 1
  end
end

function request()
  if sent < #requests then
    sent = sent + 1
    return requests[sent]
  end
  spare = spare + 1
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  answers[status] = (answers[status] or 0) + 1
end

function done(summary, latency, requests_)
  local total = {}
  for _, thread in ipairs(threads) do
    io.write(string.format("SENT %d %d\n", thread:get("sent"), thread:get("spare")))
    for status, n in pairs(thread:get("answers") or {}) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("ANSWER %d %d\n", status, n)) end
end
"""


class QueueSampler(threading.Thread):
    """Every SAMPLE_EVERY s: ledger rows waiting in the queue, and the age of the oldest (now minus
    its ledger row's occurred_at, by PostgreSQL's clock)."""

    def __init__(self, database: Database, t0: float):
        super().__init__(daemon=True)
        self.database, self.t0 = database, t0
        self.samples: list[tuple[float, int, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database.dsn, autocommit=True, connect_timeout=10) as connection:
            while not self.stopping.is_set():
                started = time.monotonic()
                waiting, age = connection.execute(
                    "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(l.occurred_at)), 0) "
                    "FROM sales_ledger_queue q JOIN sales_ledger l ON l.id = q.ledger_id").fetchone()
                self.samples.append((round(started - self.t0, 2), int(waiting), round(float(age), 2)))
                self.stopping.wait(max(0.0, SAMPLE_EVERY - (time.monotonic() - started)))

    def last(self) -> tuple[float, int, float]:
        return self.samples[-1] if self.samples else (0.0, -1, 0.0)


class JobsWorker:
    """``flask jobs run`` (every periodic job each second), its output lines timestamped as they arrive."""

    def __init__(self, env: dict, t0: float):
        self.t0 = t0
        self.lines: list[tuple[float, str]] = []
        command = [venv_tool("flask"), "--app", "wsgi", "jobs", "run"]
        say("$ JOBS_INTERVAL_SECONDS=1 flask --app wsgi jobs run")
        self.process = subprocess.Popen(command, cwd=ROOT, env={**env, "JOBS_INTERVAL_SECONDS": "1"}, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((round(time.monotonic() - self.t0, 2), line.rstrip()))

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.lines:
                if text in line:
                    return at
            if self.process.poll() is not None:
                raise BenchError("The jobs worker exited:\n" + "\n".join(line for _, line in self.lines[-30:]))
            time.sleep(0.1)
        raise BenchError(f"The jobs worker printed no {text!r} within {timeout:.0f} s.")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.reader.join(timeout=5)


def flash_sale(source: Database, label: str, refresh_seconds: float, wrk: str, workdir: Path, args) -> dict:
    """A burst of cash collections on a copy of ``source``, the ledger queue sampled throughout."""
    database = Database(f"marketplace_bench_reports_flash_{label}")
    workdir = workdir / f"flash-{label}"
    workdir.mkdir()
    env = production_env(database.url)
    server = worker = sampler = None
    facts: dict = {"database": database.name, "copy_of": source.name}
    try:
        say(f"\nflash sale on {label}: database {database.name}, a copy of {source.name}")
        started = time.monotonic()
        admin_sql(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)")
        admin_sql(f"CREATE DATABASE {database.name} TEMPLATE {source.name} STRATEGY FILE_COPY")
        facts["seconds_copy"] = round(time.monotonic() - started, 1)
        say(f"  copied in {facts['seconds_copy']} s; placing {args.flash_checkouts:,} cash-at-station checkouts "
            f"({FLASH_LINES} lines of one of {args.flash_sellers} sellers each) through place_checkout")
        lines = workdir / "collections.txt"
        facts["prepared"] = run_in_app(env, workdir, "prepare-flash", {
            "checkouts": args.flash_checkouts + 1, "sellers": args.flash_sellers, "lines": str(lines)},
            timeout=args.flash_checkouts // 10 + 600)
        say(f"  {facts['prepared']}")
        check_line, rest = lines.read_text().split("\n", 1)
        lines.write_text(rest)

        t0 = time.monotonic()
        server = Server(env, args.workers, workdir / "gunicorn.log")
        server.wait_ready()
        token, checkout_id, amount = check_line.split("\t")
        collect = f"{server.base}/api/v1/checkouts/{checkout_id}/cash-collection"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"amount_fen": int(amount)}).encode()
        answers = [fetch(collect, method="POST", data=body, headers=headers)[0] for _ in range(2)]
        if answers != [201, 409]:
            raise BenchError(f"Collecting cash for checkout {checkout_id} twice answered {answers}; expected [201, 409].")

        sampler = QueueSampler(database, t0)
        sampler.start()
        worker = JobsWorker(env, t0)
        first_round = worker.wait_for("jobs: every", timeout=60)
        worker.wait_for("refresh_report_snapshots: ", timeout=refresh_seconds * 3 + 60)  # its first refresh is done
        # The worker refreshes the stored reports at most every REPORT_SNAPSHOT_SECONDS (60 s), timed from the
        # start of its first round: place the burst so that the next refresh falls in its middle.
        burst_start = t0 + first_round + 60 - args.flash_seconds * REFRESH_MIDDLE
        say(f"  the worker refreshed the stored reports in its first round; the burst starts in "
            f"{max(0.0, burst_start - time.monotonic()):.0f} s so that its next refresh falls in the burst's middle")
        time.sleep(max(0.0, burst_start - time.monotonic()))
        if sampler.last()[1] != 0:
            raise BenchError(f"The ledger queue is not empty before the burst: {sampler.last()}")

        script = workdir / "flash.lua"
        script.write_text(FLASH_LUA.replace("@LINES@", str(lines)).replace("@THREADS@", str(args.threads)))
        meter, jobs_meter = CpuMeter(), CpuMeter()
        meter.app_pids, meter.db_pids, jobs_meter.app_pids = server.workers(), database.backend_pids(), [worker.process.pid]
        load = Wrk(wrk, args.threads, args.flash_connections, workdir, meter)
        scenario = Scenario("flash", "cash collections", "/api/v1/checkouts/0/cash-collection", 0.0,
                            lua=script.read_text())
        say(f"  burst: wrk -t{args.threads} -c{args.flash_connections} -d{args.flash_seconds}s posting cash collections")
        burst_began = time.monotonic() - t0
        jobs_before = jobs_meter.start()
        run = load.run(server.base, scenario, args.flash_seconds)
        burst_ended = time.monotonic() - t0
        jobs_cores = jobs_meter.stop(jobs_before).get("app")
        deadline = time.monotonic() + args.flash_drain_timeout
        while time.monotonic() < deadline and not (sampler.last()[0] > burst_ended and sampler.last()[1] == 0):
            time.sleep(0.1)
        time.sleep(1.0)
        sampler.stopping.set()
        sampler.join(timeout=10)

        facts.update(flash_figures(run, load.last_output, sampler.samples, worker.lines, burst_began, burst_ended))
        facts["cpu_cores"] = {**run.cpu_cores, "jobs_worker": jobs_cores}
        facts["connections"] = args.flash_connections
        facts["problems"] = flash_checks(database, facts)
        say_flash(label, facts)
        return facts
    finally:
        if sampler is not None:
            sampler.stopping.set()
        if worker is not None:
            worker.stop()
            facts["worker_log"] = [f"{at:7.2f} {line}" for at, line in worker.lines][-400:]
            facts.setdefault("problems", []).extend(f"jobs worker: {line}" for line in log_problems(facts["worker_log"]))
        if server is not None:
            server.stop()
            facts.setdefault("problems", []).extend(
                f"gunicorn: {line}" for line in log_problems(server.log_path.read_text(errors="replace").splitlines()))
        database.drop()


def flash_figures(run, output: str, samples: list, worker_lines: list, began: float, ended: float) -> dict:
    answers = {int(status): int(n) for status, n in re.findall(r"^ANSWER (\d+) (\d+)$", output, re.M)}
    spare = sum(int(s) for _, s in re.findall(r"^SENT (\d+) (\d+)$", output, re.M))
    during = [s for s in samples if began <= s[0] <= ended]
    after = [s for s in samples if s[0] > ended]
    empty = next((s for s in after if s[1] == 0), None)
    waiting = sorted(s[1] for s in during) or [0]
    refreshes = [(at, line) for at, line in worker_lines if "refresh_report_snapshots: " in line and began - 5 <= at]
    # The worker prints a line after each round that changed something: from the burst until the queue
    # is empty, every round.
    until = empty[0] if empty else ended
    rounds = [at for at, line in worker_lines if "roll_up_sales: " in line and began <= at <= until]
    gaps = [b - a for a, b in pairwise(rounds)] or [0.0]
    return {
        "seconds": run.seconds, "answers": answers, "spare_requests": spare,
        "sales_per_s": round(answers.get(201, 0) / run.seconds, 1),
        "ledger_rows_per_s": round(answers.get(201, 0) * FLASH_LINES / run.seconds, 1),
        "p50_ms": run.p50_ms, "p99_ms": run.p99_ms,
        "max_rows_waiting": max(waiting), "p95_rows_waiting": waiting[min(len(waiting) - 1, int(0.95 * len(waiting)))],
        "max_age_s": max((s[2] for s in during + after), default=0.0),
        "drain_s": round(empty[0] - ended, 2) if empty else None,
        "rollup_rounds": len(rounds),
        "rollup_round_gap_s": {"median": round(statistics.median(gaps), 2), "max": round(max(gaps), 2)},
        "worker_rounds_with_refresh": [f"round ended {at - began:.1f} s after the burst began: {line}"
                                       for at, line in refreshes],
        "burst": {"began_s": began, "ended_s": ended},
        "samples": samples,
    }


def flash_checks(database: Database, facts: dict) -> list[str]:
    """After the queue drained: the rollups add up to the ledger, and each 201 is a paid sale."""
    problems = []
    if facts["drain_s"] is None:
        problems.append("the ledger queue did not empty after the burst")
    if facts["spare_requests"]:
        problems.append(f"wrk ran out of prepared checkouts ({facts['spare_requests']} spare requests); "
                        "raise --flash-checkouts")
    if set(facts["answers"]) - {201}:
        problems.append(f"answers other than 201: {facts['answers']}")
    (ledger_net, ledger_units, rollup_net, rollup_units, queued), = database.query(
        "SELECT (SELECT sum(amount_fen) FROM sales_ledger), (SELECT sum(units) FROM sales_ledger), "
        "(SELECT sum(net_fen) FROM county_daily_sales), "
        "(SELECT sum(units_sold - units_refunded - units_excluded) FROM county_daily_sales), "
        "(SELECT count(*) FROM sales_ledger_queue)")
    facts["rollups_equal_ledger"] = (ledger_net, ledger_units) == (rollup_net, rollup_units) and queued == 0
    if not facts["rollups_equal_ledger"]:
        problems.append(f"rollups {rollup_net} fen / {rollup_units} units, ledger {ledger_net} fen / {ledger_units} "
                        f"units, {queued} rows still queued")
    # Each 201 is a recorded collection; a few more may have been served after wrk stopped listening.
    paid = database.query("SELECT count(*) FROM station_cash_entries WHERE kind = 'collection'")[0][0] - 1  # the check
    facts["collections_recorded"] = paid
    if not facts["answers"].get(201, 0) <= paid <= facts["answers"].get(201, 0) + facts["connections"]:
        problems.append(f"{paid} cash collections recorded for {facts['answers'].get(201, 0)} answers 201")
    return problems


def say_flash(label: str, f: dict) -> None:
    say(f"  {label}: {f['sales_per_s']} sales/s ({f['ledger_rows_per_s']} ledger rows/s) for {f['seconds']} s, "
        f"answers {f['answers']}; rows waiting max {f['max_rows_waiting']}, p95 {f['p95_rows_waiting']}; "
        f"oldest waiting row at most {f['max_age_s']} s old; queue empty {f['drain_s']} s after the burst; "
        f"{f['rollup_rounds']} roll-up rounds until then, {f['rollup_round_gap_s']} s apart; "
        f"cores {f['cpu_cores']}")
    for line in f["worker_rounds_with_refresh"]:
        say(f"    worker: {line}")
    for problem in f["problems"]:
        say(f"  PROBLEM: {problem}")


def log_problems(lines: list[str]) -> list[str]:
    return [line for line in lines if LOG_PROBLEMS.search(line)][:20]


# --- the run ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="ledger rows of the small database (default 10000)")
    parser.add_argument("--large", type=int, default=10_000_000, help="ledger rows of the large one (default 10000000)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per URL and database (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="measure every URL on both databases this often (default 2)")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections for the reads (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=PRODUCTION_WORKERS,
                        help=f"gunicorn workers (default {PRODUCTION_WORKERS}: two per core, as the Procfile runs)")
    parser.add_argument("--flash-on", choices=["small", "large", "both", "none"], default="both",
                        help="which database's copy gets the flash sale (default both)")
    parser.add_argument("--flash-seconds", type=int, default=30, help="length of the burst (default 30)")
    parser.add_argument("--flash-connections", type=int, default=32, help="wrk connections in the burst (default 32)")
    parser.add_argument("--flash-checkouts", type=int, default=5000, help="checkouts prepared per burst (default 5000)")
    parser.add_argument("--flash-sellers", type=int, default=50, help="sellers whose listings are on sale (default 50)")
    parser.add_argument("--flash-drain-timeout", type=int, default=300, help="seconds to wait for the queue to empty")
    parser.add_argument("--keep-db", action="store_true",
                        help="reuse a database whose ledger has the right row count, and keep the databases afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--check", action="store_true", help="exit 3 when the target is missed")
    parser.add_argument("--in-app", nargs=2, metavar=("TASK", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_app:
        in_app(*args.in_app)
        return 0
    if not (1 <= args.duration <= 120 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 6):
        parser.error("--duration is 1..120 s, --warmup 0..30 s, --rounds 1..6")
    if not (1000 <= args.small < args.large <= 100_000_000):
        parser.error("--small must be at least 1000 and below --large (at most 100000000)")
    if not (5 <= args.flash_seconds <= 120):
        parser.error("--flash-seconds is 5..120")
    args.output = args.output.resolve()

    signal.signal(signal.SIGTERM, interrupted)
    os.chdir(ROOT)
    began = time.monotonic()
    small, large = size_label(args.small), size_label(args.large)
    databases = {small: Database(f"marketplace_bench_reports_{small}"), large: Database(f"marketplace_bench_reports_{large}")}
    rows = {small: args.small, large: args.large}
    sides: dict[str, dict] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    result: dict = {"benchmark": "reports", "problems": []}
    try:
        busy_before, load_before = cpu_busy_percent(), loadavg()
        say(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_before}, CPU busy before start {busy_before}%")
        wrk, machine = preflight()
        result.update(date=utc_now_iso(), machine=machine, sizes={})

        for label, database in databases.items():
            say(f"\n{label}: {rows[label]:,} ledger rows in {database.name}")
            (workdir / label).mkdir()
            result["sizes"][label] = prepare_database(database, rows[label], production_env(database.url),
                                                      workdir / label, args.keep_db)

        scenarios = {}
        for label, database in databases.items():
            server = Server(production_env(database.url), args.workers, workdir / label / "gunicorn.log")
            sides[label] = {"server": server, "database": database}
            server.wait_ready()
            token = log_in(server.base)
            scenarios[label] = read_scenarios(token)
            result["sizes"][label]["checks"] = check_answers(server.base, token, scenarios[label], database)
            say(f"{label}: gunicorn on {server.base}; answers checked: {result['sizes'][label]['checks']['figures']}")
            meter = CpuMeter()
            meter.app_pids = server.workers()
            sides[label]["load"] = Wrk(wrk, args.threads, args.connections, workdir / label, meter)
        load_reads = loadavg()
        runs = measure_reads(sides, scenarios, args)
        for label, side in sides.items():
            basis = snapshot_basis(side["database"])
            if basis != {"summary": True, "counties": True}:
                result["problems"].append(f"{label}: the stored reports' basis moved during the run: {basis}")
            result["sizes"][label]["workers"] = side["server"].worker_memory()
            side["server"].stop()
            result["problems"] += [f"{label} gunicorn: {line}" for line in
                                   log_problems(side["server"].log_path.read_text(errors="replace").splitlines())]
        sides.clear()
        reads = summarise_reads(scenarios[small], runs, small, large)
        print_reads(reads, small, large)
        bad = [f"{r['size']} {r['scenario']}: non-2xx {r['non_2xx_3xx']}, socket errors {r['socket_errors']}"
               for r in runs if r["non_2xx_3xx"] or r["socket_errors"]["timeout"]]
        result["problems"] += bad
        result.update(reads=reads, read_runs=runs)

        flash_sizes = {"small": [small], "large": [large], "both": [small, large], "none": []}[args.flash_on]
        result["flash"] = {}
        for label in flash_sizes:
            facts = flash_sale(databases[label], label, result["sizes"][label]["refresh"]["seconds"], wrk, workdir, args)
            result["flash"][label] = facts
            result["problems"] += [f"flash {label}: {p}" for p in facts["problems"]]

        result["noise"] = {"loadavg_before": load_before, "loadavg_at_reads": load_reads, "loadavg_after": loadavg(),
                           "cpu_busy_percent_before": busy_before, "note": noise_note()}
        result["settings"] = {key: value for key, value in vars(args).items() if key not in ("in_app", "output")}
        result["settings"].update(preset=PRESET, target_p50_ratio=TARGET, worker_class="sync", marketplace_env="production",
                                  flash_lines_per_checkout=FLASH_LINES, sample_every_s=SAMPLE_EVERY)
        result["minutes"] = round((time.monotonic() - began) / 60, 1)
        write_results(args.output, result)
        say(f"load average before {load_before}, during the reads {load_reads}, after {loadavg()}; "
            f"{result['minutes']} min in all")
        if result["problems"]:
            say("FAILED: " + "; ".join(result["problems"]))
            return 1
        missed = [name for name, row in reads.items() if row.get("verdict") == "MISS"]
        if missed:
            say(f"target missed: {', '.join(missed)}")
            return 3 if args.check else 0
        say("target met")
        return 0
    except BenchError as error:
        say(f"\nbench/reports.py: {error}")
        for side in sides.values():
            say(f"last lines of gunicorn's log:\n{side['server'].log_tail(30)}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        for side in sides.values():
            side["server"].stop()
        for database in databases.values():
            if args.keep_db:
                say(f"kept database {database.name}")
            else:
                database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
