#!/usr/bin/env python
"""Storefront HTTP benchmark: the home page and a product page against a bare Flask app.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/storefront.py [--products 2000] [--duration 10] [--connections 16] [--keep-db]

What it does, in order:

1. makes sure PostgreSQL answers on 127.0.0.1:5432 and that wrk is installed (harness.preflight);
2. drops and creates the database ``marketplace_bench_storefront``, runs ``flask db upgrade`` and
   ``flask seed demo --products N --history 0`` (no sales) against it, and gives every listing a photo row (the keys
   are not served: only the pages' HTML is measured, as a browser's first request for them);
3. starts two gunicorns (harness.start_servers): the app as the Procfile runs it (``-c
   gunicorn.conf.py``, MARKETPLACE_ENV=production, ``--no-control-socket``, two sync workers per
   core), and the baseline, a bare Flask app of one view returning a small JSON object (no
   extension, no database, harness.BARE_APP) with the same gunicorn settings;
4. checks every URL once, warms every URL up, then runs wrk ``--latency`` against the bare app
   before and after each scenario (B S1 B S2 ... B): the app's /healthz; the home page and a
   product page (50 ids rotating) as anonymous first visits (no cookie: each answer is a 200,
   counted by a Lua check, and each product page draws a session and its CSRF token); and their
   revalidations with If-None-Match (each answer a 304; the product page's with its session);
5. prints requests/s and latency with their ratios to the bare app (and to /healthz, a second
   column), CPU per request (the app's workers and the bare app's counted apart), PASS/MISS
   against the targets (home and product page >= 0.30x the bare app, the app's /healthz >=
   0.80x, each of the app's workers' peak RSS < 150 MiB), and writes everything to
   bench/results/storefront-latest.json;
6. stops both gunicorns and drops the database unless --keep-db, also on failure or interrupt.

All traffic goes to 127.0.0.1 only, and every step has a time limit.
"""
from __future__ import annotations

import argparse
import http.cookies
import os
import re
import shutil
import signal
import sys
import tempfile
import urllib.error
import urllib.request
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

RESULTS = ROOT / "bench" / "results" / "storefront-latest.json"
DATABASE = "marketplace_bench_storefront"
BENCH_DB = Database(DATABASE)
PRODUCT_IDS = 50  # active listings the product page scenarios rotate over
TARGET = 0.30  # home and product page: at least this share of the bare app's requests/s


def _lua(paths: list[str], expected: int, headers: list[dict] | None = None) -> str:
    """A wrk script: rotates over ``paths`` (with their own headers), counts answers whose status
    is not ``expected`` and prints ``wrong_status N`` at the end."""
    def lua_string(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = ", ".join(lua_string(path) for path in paths)
    header_rows = ", ".join(
        "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in h.items()) + "}" for h in (headers or []))
    return (
        f"local paths = {{{rows}}}\n"
        f"local headers = {{{header_rows}}}\n"
        "local threads = {}\n"
        "local n = 0\n"
        "function setup(thread) table.insert(threads, thread) end\n"
        "function init(args) wrong = 0 end\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local i = (n % #paths) + 1\n"
        "  return wrk.format(\"GET\", paths[i], headers[i] or {})\n"
        "end\n"
        f"response = function(status, headers, body) if status ~= {expected} then wrong = wrong + 1 end end\n"
        "function done(summary, latency, requests)\n"
        "  local total = 0\n"
        "  for _, t in ipairs(threads) do total = total + t:get(\"wrong\") end\n"
        "  io.write(\"wrong_status \" .. total .. \"\\n\")\n"
        "end\n"
    )


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def product_visits(base: str, paths: list[str]) -> tuple[list[dict], list[int]]:
    """Each product page visited once in one session: the headers that revalidate it (the session
    cookie and its ETag; private ETags name the hour, so they are fetched right before their run)
    and the pages' sizes."""
    session_cookie, revalidate, sizes = None, [], []
    for path in paths:
        status, headers, body = _get(base + path, {"Cookie": session_cookie} if session_cookie else {})
        if status != 200 or not re.search(rb'id="add-to-cart"', body):
            raise BenchError(f"GET {path} answered {status} without the add-to-cart form: {body[:200]!r}")
        if session_cookie is None:
            cookie = http.cookies.SimpleCookie(headers.get("Set-Cookie", ""))
            if "session" not in cookie:
                raise BenchError(f"GET {path} drew no session for its CSRF token: {headers}")
            session_cookie = f"session={cookie['session'].value}"
        revalidate.append({"Cookie": session_cookie, "If-None-Match": headers["ETag"]})
        sizes.append(len(body))
    status, _, _ = _get(base + paths[0], revalidate[0])
    if status != 304:
        raise BenchError(f"GET {paths[0]} with its ETag and session answered {status}, not 304.")
    return revalidate, sizes


def scenarios(base: str, product_ids: list[int]) -> list[Scenario]:
    """The scenarios, each checked once (status, caching headers); the revalidations carry the
    ETags (and for product pages the session cookie) of a first visit."""
    status, headers, body = _get(base + "/")
    if status != 200 or headers.get("Cache-Control") != "public, max-age=30" or "ETag" not in headers:
        raise BenchError(f"GET / answered {status} {headers.get('Cache-Control')!r}: {body[:200]!r}")
    home_etag, home_bytes = headers["ETag"], len(body)
    product_paths = [f"/products/{i}" for i in product_ids]
    revalidate, sizes = product_visits(base, product_paths)
    facts = {"home_bytes": home_bytes, "product_bytes_mean": round(sum(sizes) / len(sizes))}
    return [
        healthz_scenario(lua=_lua(["/healthz"], 200)),
        Scenario("home", "home page, first visit", "/", TARGET, lua=_lua(["/"], 200), check=facts),
        Scenario("product", f"product page, {len(product_ids)} ids", product_paths[0], TARGET,
                 lua=_lua(product_paths, 200), check=facts),
        Scenario("home_304", "home page, If-None-Match", "/", 0.0,
                 lua=_lua(["/"], 304, [{"If-None-Match": home_etag}])),
        Scenario("product_304", "product page, If-None-Match", product_paths[0], 0.0,
                 lua=_lua(product_paths, 304, revalidate)),
    ]


def pick_product_ids(count: int) -> list[int]:
    rows = BENCH_DB.query("SELECT id FROM products WHERE status = 'active' AND stock_units > 0 ORDER BY id")
    if not rows:
        raise BenchError("The seed made no active listings in stock.")
    ids = [row[0] for row in rows]
    return ids[::max(1, len(ids) // count)][:count]


def add_photo_rows() -> None:
    """One photo per listing, as sellers' listings have (cards and product pages draw them)."""
    BENCH_DB.query("INSERT INTO product_images (product_id, position, image_key, thumbnail_key, width, height, created_at) "
                   "SELECT id, 1, 'be/nc/' || id || '.jpg', 'be/nc/' || id || '-400.jpg', 1600, 1200, now() "
                   "FROM products")


def wrong_statuses(output: str) -> int:
    match = re.search(r"^wrong_status (\d+)$", output, re.M)
    if not match:
        raise BenchError(f"wrk printed no wrong_status line:\n{output}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000, help="listings to seed (default 2000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per URL, not measured (default 3)")
    parser.add_argument("--workers", type=int, default=PRODUCTION_WORKERS,
                        help=f"gunicorn workers of each server (default {PRODUCTION_WORKERS}: two per core)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the database {DATABASE} afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    if not (1 <= args.duration <= 120 and 0 <= args.warmup <= 30):
        parser.error("--duration is 1..120 s, --warmup 0..30 s")
    if args.products < 100:
        parser.error("--products must be at least 100")
    args.output = args.output.resolve()

    signal.signal(signal.SIGTERM, interrupted)
    os.chdir(ROOT)
    servers: list[Server] = []
    database_created = False
    workdir = Path(tempfile.mkdtemp(prefix="bench-storefront-"))
    try:
        busy_before, load_before = cpu_busy_percent(), loadavg()
        say(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_before}, CPU busy before start {busy_before}%")
        wrk, machine = preflight()
        env = production_env(BENCH_DB.url)
        BENCH_DB.create()
        database_created = True
        counts = seed_database(BENCH_DB, env, args.products)
        add_photo_rows()

        app, bare = start_servers(env, args.workers, workdir, servers)
        product_ids = pick_product_ids(PRODUCT_IDS)
        scenario_list = scenarios(app.base, product_ids)
        say(f"  checked: {scenario_list[1].check}")

        meter = meter_servers(app, bare)
        load = Wrk(wrk, args.threads, args.connections, workdir, meter)
        if args.warmup:
            say(f"warm-up: {args.warmup} s per URL (not measured)")
            load.run(bare.base, None, args.warmup, quiet=True)
            for scenario in scenario_list:
                load.run(app.base, scenario, args.warmup, quiet=True)
        meter.db_pids = BENCH_DB.backend_pids()
        say(f"measuring: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            "the bare app around each scenario")
        runs = [load.run(bare.base, None, args.duration)]
        problems = []
        for scenario in scenario_list:
            if scenario.name == "product_304":
                paths = [f"/products/{i}" for i in product_ids]
                scenario.lua = _lua(paths, 304, product_visits(app.base, paths)[0])
            runs.append(load.run(app.base, scenario, args.duration))
            wrong = wrong_statuses(load.last_output)
            if wrong:
                problems.append(f"{scenario.name}: {wrong} answers were not the expected status")
            runs.append(load.run(bare.base, None, args.duration))
        problems += [f"{r.scenario}: non-2xx/3xx {r.non_2xx_3xx}, socket errors {r.socket_errors}"
                     for r in runs if r.non_2xx_3xx or r.socket_errors["timeout"]]

        summary = summarise(scenario_list, runs)
        memory = memory_verdicts(app.worker_memory())
        names = [s.name for s in scenario_list]
        print_table(summary, names, memory)
        load_after = loadavg()
        other_cores = other_cores_mean(runs)
        say(f"load average before {load_before}, after {load_after}; other processes used {other_cores} of "
            f"{os.cpu_count()} cores on average during the measured runs")
        result = {
            "benchmark": "storefront",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "noise": {"loadavg_before": load_before, "loadavg_after": load_after, "cpu_busy_percent_before": busy_before,
                      "other_cores_mean": other_cores, "note": noise_note()},
            "settings": {
                "products": args.products, "product_counts_by_status": counts, "duration_s": args.duration,
                "warmup_s": args.warmup, "connections": args.connections, "wrk_threads": args.threads,
                "gunicorn_workers": args.workers, "worker_class": "sync", "marketplace_env": "production",
                "app_command": "gunicorn " + " ".join(app.command[1:]),
                "bare_command": "gunicorn " + " ".join(bare.command[1:]), "product_ids": product_ids,
                "order": "B " + " B ".join(s.name for s in scenario_list) + " B",
            },
            "summary": summary,
            "workers": memory,
            "bare_workers": bare.worker_memory(),
            "runs": [asdict(r) for r in runs],
            "problems": problems,
        }
        write_results(args.output, result)
        if problems:
            say("FAILED: " + "; ".join(problems))
            return 1
        missed = missed_targets(summary, names, memory)
        if missed:
            say(f"targets missed: {', '.join(missed)}")
            return 3 if args.check else 0
        say("all targets met")
        return 0
    except BenchError as error:
        say(f"\nbench/storefront.py: {error}")
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
            say(f"kept database {DATABASE} ({BENCH_DB.url})")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
