#!/usr/bin/env python
"""Catalog HTTP benchmark: product list and product detail against a trivial JSON endpoint.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/catalog.py [--products 10000] [--duration 10] [--connections 16] [--keep-db]

What it does, in order:

1. makes sure PostgreSQL answers on 127.0.0.1:5432 (scripts/ensure-postgres) and that wrk is
   installed (``apt-get install -y wrk`` when it is missing and we are root);
2. drops and creates the database ``marketplace_bench_catalog``, runs ``flask db upgrade`` and
   ``flask seed demo --products N`` against it;
3. starts gunicorn exactly as in production (MARKETPLACE_ENV=production, a SECRET_KEY made for
   this run, ``--no-control-socket``, two sync workers per core) on a free port of 127.0.0.1 and
   waits for /readyz;
4. checks every URL once, warms every URL up, then runs wrk ``--latency`` against the trivial
   endpoint (/healthz, same app and settings) before and after each catalog scenario
   (B S1 B S2 B S3 B), so each scenario is compared with the mean of the two baseline runs
   around it;
5. prints requests/s, p50 and p99 with their ratios to the baseline and PASS/MISS against the
   targets (throughput ratio: list >= 0.30, detail >= 0.50), records each worker's peak RSS,
   and writes everything to bench/results/catalog-latest.json;
6. stops gunicorn (SIGTERM, then SIGKILL after 30 s) and drops the database unless --keep-db,
   also when something failed or the run was interrupted.

All traffic goes to 127.0.0.1 only, and every step has a time limit.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import urllib.parse
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from harness import (
    BASELINE,
    PRODUCTION_WORKERS,
    ROOT,
    BenchError,
    CpuMeter,
    Database,
    Scenario,
    Server,
    Wrk,
    WrkRun,
    baseline_summary,
    compare_with_baselines,
    cpu_busy_percent,
    cpu_model,
    fetch,
    interrupted,
    loadavg,
    mean_rows,
    noise_note,
    other_cores_mean,
    pad,
    preflight,
    production_env,
    say,
    seed_database,
    write_results,
)
from harness import PROFILES as PROFILES
from harness import profile as harness_profile

RESULTS = ROOT / "bench" / "results" / "catalog-latest.json"
DATABASE = "marketplace_bench_catalog"
BENCH_DB = Database(DATABASE)
DATABASE_URL = BENCH_DB.url
app_query = BENCH_DB.query

# A reference county of the demo seed (阿克苏市: 3 of the 21 demo specialties, ~14% of listings)
# and a word in the titles of 3 of them (阿克苏薄皮核桃, 乌什薄皮核桃, 华阴山核桃).
COUNTY = "652901"
WORD = "核桃"
DETAIL_IDS = 50  # active listings the detail scenario rotates over


# --- scenarios and wrk ---------------------------------------------------------------------


def page_size_parameter(base: str) -> str:
    """The list endpoint's page-size query parameter, read from the published OpenAPI document:
    ``per_page`` (page-number pagination) or ``limit`` (cursor pagination)."""
    status, body = fetch(base + "/api/v1/openapi.json")
    if status != 200:
        raise BenchError(f"GET /api/v1/openapi.json answered {status}.")
    operation = json.loads(body).get("paths", {}).get("/api/v1/products", {}).get("get", {})
    names = {parameter.get("name") for parameter in operation.get("parameters", [])}
    for name in ("per_page", "limit"):
        if name in names:
            return name
    raise BenchError(f"GET /api/v1/products has neither per_page nor limit among its parameters ({sorted(names)}).")


def scenarios(detail_ids: list[int], size: str = "per_page") -> list[Scenario]:
    ids = ", ".join(str(i) for i in detail_ids)
    lua = (
        "-- Rotates over active listings; each wrk thread keeps its own counter.\n"
        f"local ids = {{{ids}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  return wrk.format(\"GET\", \"/api/v1/products/\" .. ids[(n % #ids) + 1])\n"
        "end\n"
    )
    return [
        Scenario("list_county", f"list county={COUNTY}, 20 items", f"/api/v1/products?county={COUNTY}&{size}=20", 0.30),
        Scenario("list_q", f"list q={WORD}, 20 items", f"/api/v1/products?q={urllib.parse.quote(WORD)}&{size}=20", 0.30),
        Scenario("detail", f"detail, {len(detail_ids)} ids rotating", f"/api/v1/products/{detail_ids[0]}", 0.50, lua=lua),
    ]


def check_scenario(base: str, scenario: Scenario, detail_ids: list[int]) -> dict:
    """One plain GET per URL before any load: right status, right shape; returns facts for the report."""
    status, body = fetch(base + scenario.path)
    if status != 200:
        raise BenchError(f"GET {scenario.path} answered {status}: {body[:300]!r}")
    data = json.loads(body)
    facts = {"bytes": len(body)}
    if scenario.name.startswith("list"):
        items = len(data.get("items", []))
        if items != 20:
            raise BenchError(f"GET {scenario.path} returned {items} items; expected a full page of 20.")
        if "total" in data:
            facts["total_matching"] = data["total"]
        facts["pagination"] = "cursor" if "next_cursor" in data else "page number"
    elif scenario.name == "detail":
        sizes = []
        for product_id in detail_ids:
            status, body = fetch(f"{base}/api/v1/products/{product_id}")
            if status != 200:
                raise BenchError(f"GET /api/v1/products/{product_id} answered {status}: {body[:300]!r}")
            sizes.append(len(body))
        facts["bytes"] = round(statistics.mean(sizes))
    return facts


def profile(server: Server, load: Wrk, scenario: Scenario | None, seconds: int, name: str) -> None:
    """py-spy during one more, unmeasured run; stacks in artifacts/bench/catalog-NAME.collapsed.txt."""
    harness_profile(server, load, scenario, seconds, name, prefix="catalog")


# --- the run ------------------------------------------------------------------------------


def summarise(scenario_list: list[Scenario], runs: list[WrkRun]) -> dict:
    """Each scenario run against the mean of the baseline runs just before and after it (see
    harness.compare_with_baselines), averaged over the rounds, with its verdict."""
    by_scenario: dict[str, list[dict]] = {s.name: [] for s in scenario_list}
    for run, row in compare_with_baselines(runs):
        by_scenario[run.scenario].append(row)
    summary = {}
    for scenario in scenario_list:
        rows = by_scenario[scenario.name]
        mean = mean_rows(rows)
        ratio = mean["throughput_ratio"]
        summary[scenario.name] = {
            "label": scenario.label, "path": scenario.path, **mean, "target_throughput_ratio": scenario.target,
            "verdict": "PASS" if ratio >= scenario.target else "MISS", "rounds": len(rows), **scenario.check,
        }
    summary["baseline"] = baseline_summary(runs)
    return summary


def print_table(scenario_list: list[Scenario], summary: dict) -> None:
    base = summary["baseline"]
    header = (f"{'endpoint':<28} {'req/s':>8} {'ratio':>6} {'target':>7} {'p50 ms':>8} {'x base':>7} {'p99 ms':>8} "
              f"{'x base':>7} {'cpu ms':>7} {'cpu ratio':>9}  verdict")
    say("")
    say(header)
    say("-" * len(header))

    def cpu(row: dict, key: str, fmt: str, width: int) -> str:
        return format(row[key], fmt).rjust(width) if key in row else "?".rjust(width)

    say(f"{pad(base['label'], 28)} {base['requests_per_s']:8.1f} {'1.00':>6} {'':>7} {base['p50_ms']:8.2f} {'':>7} "
        f"{base['p99_ms']:8.2f} {'':>7} {cpu(base, 'cpu_ms_per_request', '.2f', 7)} {'1.00':>9}  "
        f"(runs {base['requests_per_s_min']:.0f}..{base['requests_per_s_max']:.0f} req/s)")
    for scenario in scenario_list:
        row = summary[scenario.name]
        say(f"{pad(row['label'], 28)} {row['requests_per_s']:8.1f} {row['throughput_ratio']:6.2f} "
            f"{'>=' + format(scenario.target, '.2f'):>7} {row['p50_ms']:8.2f} {row['p50_ratio']:7.1f} {row['p99_ms']:8.2f} "
            f"{row['p99_ratio']:7.1f} {cpu(row, 'cpu_ms_per_request', '.2f', 7)} {cpu(row, 'cpu_cost_ratio', '.2f', 9)}  "
            f"{row['verdict']}")
    say("ratio: requests/s over the mean of the baseline runs just before and after (the verdict uses it); x base: latency\n"
        "over the same baseline; cpu ms: CPU of the gunicorn workers + their PostgreSQL backends per request; cpu ratio:\n"
        "baseline cpu ms over the scenario's, an estimate of the ratio on an idle machine (informational)")


def pick_detail_ids(count: int) -> list[int]:
    rows = app_query("SELECT id FROM products WHERE status = 'active' ORDER BY id")
    if not rows:
        raise BenchError("The seed made no active listings.")
    ids = [r[0] for r in rows]
    step = max(1, len(ids) // count)
    return ids[::step][:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="listings to seed (default 10000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per URL, not measured (default 3)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat B S1 B S2 B S3 B this many times (default 1)")
    parser.add_argument("--workers", type=int, default=PRODUCTION_WORKERS,
                        help=f"gunicorn workers (default {PRODUCTION_WORKERS}: two per core, as the Procfile runs)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the database {DATABASE} afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--profile", action="append", default=[], choices=["baseline", "list_county", "list_q", "detail"],
                        help="after measuring, sample one worker with py-spy during an extra, unmeasured run of this "
                             f"scenario (repeatable); stacks go to {PROFILES.relative_to(ROOT)}/ (needs py-spy in .venv)")
    args = parser.parse_args(argv)
    if not (1 <= args.duration <= 120 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 5):
        parser.error("--duration is 1..120 s, --warmup 0..30 s, --rounds 1..5")
    if args.products < 100:
        parser.error("--products must be at least 100 (the list pages need matching listings)")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")

    args.output = args.output.resolve()  # relative to where we were started, before the chdir below

    # A SIGTERM (e.g. from make or a CI timeout) unwinds through the finally blocks below.
    signal.signal(signal.SIGTERM, interrupted)
    os.chdir(ROOT)
    server: Server | None = None
    database_created = False
    workdir = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    try:
        busy_before = cpu_busy_percent()
        load_before = loadavg()
        say(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_before}, CPU busy before start {busy_before}%")
        wrk, machine = preflight()

        env = production_env(DATABASE_URL)
        BENCH_DB.create()
        database_created = True
        counts = seed_database(BENCH_DB, env, args.products)

        server = Server(env, args.workers, workdir / "gunicorn.log")
        server.wait_ready()
        say(f"gunicorn ready on {server.base}, workers {server.workers()}")

        detail_ids = pick_detail_ids(DETAIL_IDS)
        scenario_list = scenarios(detail_ids, page_size_parameter(server.base))
        status, body = fetch(server.base + BASELINE)
        if status != 200:
            raise BenchError(f"GET {BASELINE} answered {status}: {body[:200]!r}")
        for scenario in scenario_list:
            scenario.check = check_scenario(server.base, scenario, detail_ids)
            say(f"  {scenario.name}: {scenario.check}")

        meter = CpuMeter()
        meter.app_pids = server.workers()
        load = Wrk(wrk, args.threads, args.connections, workdir, meter)
        if args.warmup:
            say(f"warm-up: {args.warmup} s per URL (not measured)")
            for scenario in [None, *scenario_list]:
                load.run(server.base, scenario, args.warmup, quiet=True)

        # The workers' database connections exist now (pool of one per sync worker, opened by the checks).
        meter.db_pids = BENCH_DB.backend_pids()
        say(f"measuring: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"baseline {BASELINE} around each scenario, {args.rounds} round(s)")
        runs = [load.run(server.base, None, args.duration)]
        for _ in range(args.rounds):
            for scenario in scenario_list:
                runs.append(load.run(server.base, scenario, args.duration))
                runs.append(load.run(server.base, None, args.duration))

        memory = server.worker_memory()
        load_after = loadavg()
        summary = summarise(scenario_list, runs)
        for name in args.profile:
            scenario = next((s for s in scenario_list if s.name == name), None)
            profile(server, load, scenario, args.duration, name)
        print_table(scenario_list, summary)
        for worker in memory:
            say(f"worker {worker['pid']}: peak RSS {worker['peak_rss_mib']} MiB (now {worker['rss_mib']} MiB)")
        other_cores = other_cores_mean(runs)
        say(f"load average before {load_before}, after {load_after}; other processes used {other_cores} of "
            f"{os.cpu_count()} cores on average during the measured runs")

        bad = [r for r in runs if r.non_2xx_3xx or r.socket_errors["timeout"]]
        result = {
            "benchmark": "catalog",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "noise": {"loadavg_before": load_before, "loadavg_after": load_after, "cpu_busy_percent_before": busy_before,
                      "other_cores_mean": other_cores, "note": noise_note()},
            "settings": {
                "products": args.products, "product_counts_by_status": counts, "duration_s": args.duration,
                "warmup_s": args.warmup, "connections": args.connections, "wrk_threads": args.threads,
                "rounds": args.rounds, "gunicorn_workers": args.workers, "worker_class": "sync",
                "gunicorn_command": "gunicorn " + " ".join(server.command[1:]), "marketplace_env": "production",
                "county": COUNTY, "q": WORD, "detail_ids": detail_ids,
                "order": "B " + " B ".join(s.name for s in scenario_list) + " B" + (f" (x{args.rounds})" if args.rounds > 1 else ""),
            },
            "summary": summary,
            "workers": memory,
            "runs": [asdict(r) for r in runs],
            "problems": [f"{r.scenario}: non-2xx {r.non_2xx_3xx}, socket errors {r.socket_errors}" for r in bad],
        }
        write_results(args.output, result)
        if bad:
            say("FAILED: some runs had non-2xx responses or time-outs: " + "; ".join(result["problems"]))
            return 1
        missed = [name for name in (s.name for s in scenario_list) if summary[name]["verdict"] == "MISS"]
        if missed:
            say(f"targets missed: {', '.join(missed)}")
            return 3 if args.check else 0
        say("all targets met")
        return 0
    except BenchError as error:
        say(f"\nbench/catalog.py: {error}")
        if server is not None and server.log_tail():
            say(f"last lines of gunicorn's log:\n{server.log_tail(40)}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        if server is not None:
            server.stop()
        if database_created and not args.keep_db:
            BENCH_DB.drop()
        elif database_created:
            say(f"kept database {DATABASE} ({DATABASE_URL})")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
