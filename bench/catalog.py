#!/usr/bin/env python
"""Catalog HTTP benchmark: product list and product detail against a bare Flask app.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/catalog.py [--products 10000] [--duration 10] [--connections 16] [--keep-db]

What it does, in order:

1. makes sure PostgreSQL answers on 127.0.0.1:5432 (scripts/ensure-postgres) and that wrk is
   installed (``apt-get install -y wrk`` when it is missing and we are root);
2. drops and creates the database ``marketplace_bench_catalog``, runs ``flask db upgrade`` and
   ``flask seed demo --products N --history 0`` (no sales) against it;
3. starts two gunicorns on free ports of 127.0.0.1 (harness.start_servers) and waits for their
   /readyz: the app exactly as the Procfile runs it (``-c gunicorn.conf.py``,
   MARKETPLACE_ENV=production, a SECRET_KEY made for this run, ``--no-control-socket``, two sync
   workers per core), and the baseline, a bare Flask app of one JSON view (harness.BARE_APP) with
   the same gunicorn settings;
4. checks every URL once, warms every URL up, then runs wrk ``--latency`` against the bare app
   before and after each scenario (B healthz B S1 B S2 B S3 B: the app's own /healthz, then the
   catalog's), so each scenario is compared with the mean of the two bare runs around it;
5. prints requests/s, p50 and p99 with their ratios to the bare app, requests/s over the app's
   /healthz as a second column, CPU per request (the app's workers and the bare app's counted
   apart), and PASS/MISS against the targets (throughput over the bare app's: list by county and
   by search word >= 0.30, detail >= 0.50, /healthz >= 0.80; each of the app's workers' peak RSS
   < 150 MiB), and writes everything to bench/results/catalog-latest.json;
6. stops both gunicorns (SIGTERM, then SIGKILL after 30 s) and drops the database unless
   --keep-db, also when something failed or the run was interrupted.

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
    PRODUCTION_WORKERS,
    ROOT,
    BenchError,
    Database,
    Scenario,
    Server,
    Wrk,
    cpu_busy_percent,
    cpu_model,
    fetch,
    healthz_scenario,
    interrupted,
    loadavg,
    memory_verdicts,
    meter_servers,
    missed_targets,
    noise_note,
    other_cores_mean,
    preflight,
    print_table,
    production_env,
    say,
    seed_database,
    start_servers,
    summarise,
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
        healthz_scenario(),
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
    if scenario.name == "healthz":
        return facts
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
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat B healthz B S1 B S2 B S3 B this many times (default 1)")
    parser.add_argument("--workers", type=int, default=PRODUCTION_WORKERS,
                        help=f"gunicorn workers (default {PRODUCTION_WORKERS}: two per core, as the Procfile runs)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the database {DATABASE} afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--profile", action="append", default=[],
                        choices=["baseline", "healthz", "list_county", "list_q", "detail"],
                        help="after measuring, sample one worker with py-spy during an extra, unmeasured run of this "
                             "scenario (repeatable; baseline: the bare app, healthz: the app's /healthz); stacks go to "
                             f"{PROFILES.relative_to(ROOT)}/ (needs py-spy in .venv)")
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
    servers: list[Server] = []
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

        app, bare = start_servers(env, args.workers, workdir, servers)

        detail_ids = pick_detail_ids(DETAIL_IDS)
        scenario_list = scenarios(detail_ids, page_size_parameter(app.base))
        for scenario in scenario_list:
            scenario.check = check_scenario(app.base, scenario, detail_ids)
            say(f"  {scenario.name}: {scenario.check}")

        meter = meter_servers(app, bare)
        load = Wrk(wrk, args.threads, args.connections, workdir, meter)
        if args.warmup:
            say(f"warm-up: {args.warmup} s per URL (not measured)")
            load.run(bare.base, None, args.warmup, quiet=True)
            for scenario in scenario_list:
                load.run(app.base, scenario, args.warmup, quiet=True)

        # The workers' database connections exist now (pool of one per sync worker, opened by the checks).
        meter.db_pids = BENCH_DB.backend_pids()
        say(f"measuring: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"the bare app around each scenario, {args.rounds} round(s)")
        runs = [load.run(bare.base, None, args.duration)]
        for _ in range(args.rounds):
            for scenario in scenario_list:
                runs.append(load.run(app.base, scenario, args.duration))
                runs.append(load.run(bare.base, None, args.duration))

        memory = memory_verdicts(app.worker_memory())
        load_after = loadavg()
        summary = summarise(scenario_list, runs)
        for name in args.profile:
            scenario = next((s for s in scenario_list if s.name == name), None)
            profile(app if scenario else bare, load, scenario, args.duration, name)
        names = [s.name for s in scenario_list]
        print_table(summary, names, memory)
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
                "gunicorn_command": "gunicorn " + " ".join(app.command[1:]),
                "bare_command": "gunicorn " + " ".join(bare.command[1:]), "marketplace_env": "production",
                "county": COUNTY, "q": WORD, "detail_ids": detail_ids,
                "order": "B " + " B ".join(s.name for s in scenario_list) + " B" + (f" (x{args.rounds})" if args.rounds > 1 else ""),
            },
            "summary": summary,
            "workers": memory,
            "bare_workers": bare.worker_memory(),
            "runs": [asdict(r) for r in runs],
            "problems": [f"{r.scenario}: non-2xx {r.non_2xx_3xx}, socket errors {r.socket_errors}" for r in bad],
        }
        write_results(args.output, result)
        if bad:
            say("FAILED: some runs had non-2xx responses or time-outs: " + "; ".join(result["problems"]))
            return 1
        missed = missed_targets(summary, names, memory)
        if missed:
            say(f"targets missed: {', '.join(missed)}")
            return 3 if args.check else 0
        say("all targets met")
        return 0
    except BenchError as error:
        say(f"\nbench/catalog.py: {error}")
        for server in servers:
            if server.log_tail():
                say(f"last lines of {server.log_path.name}:\n{server.log_tail(40)}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        for server in servers:
            server.stop()
        if database_created and not args.keep_db:
            BENCH_DB.drop()
        elif database_created:
            say(f"kept database {DATABASE} ({DATABASE_URL})")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
