#!/usr/bin/env python
"""Checkout HTTP benchmark: steady checkouts and a flash sale against a bare Flask app.

Run from the repository root with the project's virtualenv:

    .venv/bin/python bench/checkout.py [--products 10000] [--buyers 2000] [--duration 10] [--keep-db]
                                       [--campaign-units 1000] [--campaign-checkouts 2]

What it does, in order:

1. makes sure PostgreSQL answers on 127.0.0.1:5432 and that wrk is installed (as bench/catalog.py);
2. drops and creates the database ``marketplace_bench_checkout``, runs ``flask db upgrade`` and
   ``flask seed demo --products N --history 200000`` (a sales history of about 120,000 orders, so
   the order tables are those of a marketplace in service), then, in a child process with the
   app's production config and an app context: sets every listing's stock to 1,000,000 (one UPDATE), creates the buyers
   (one bulk insert, one shared argon2 hash) with a bearer token each (the first few issued by
   ``accounts.services.log_in``, the others written as ApiToken rows with the same SHA-256
   digest scheme, because log_in costs an argon2 verification, ~0.2 s, per buyer), a verified
   flash-sale seller who is none of the buyers, and one flash product per round with exactly
   1,000 units (``catalog.services.create_product``); for the campaign opening, one campaign per
   round (``campaigns.services.create_campaign``, by an administrator, opening in a day) with one
   listing of that seller (3 x 1,000 units of stock) added at a campaign price with a cap of 1,000
   units and a limit of 1 per buyer (``add_item``); and draws 20,000 random pairs of active demo
   listings (not the history's) of one seller;
3. starts the app exactly as in production and the baseline, a bare Flask app of one JSON view
   under the same gunicorn settings (harness.start_servers, as bench/catalog.py), and waits for
   their /readyz;
4. checks one checkout per token kind (201, one order, two lines), warms the bare app, the app's
   /healthz and the steady checkout up, then measures B H B S B F B (H B S B F B again per extra
   round; B S B F B C B with the campaign opening): B is wrk on the bare app; H is wrk on the app's own /healthz; S is wrk posting
   steady checkouts (2 lines of 1 seller, a random buyer's token, a fresh Idempotency-Key per
   request); F is the flash sale: 2,000 distinct buyers each try once to buy 1 unit of the
   flash product, 200 at a time, from a separate Python process (asyncio; wrk cannot give each
   token out exactly once and stop cleanly: its main thread always sleeps the whole -d, and its
   Lua has no wall clock to time the 1,000th success); C is the campaign opening: the round's
   campaign is moved to open 3 s later (its start, and its items' copies, by SQL), and the same
   client, waiting for that second, sends every buyer's 2 checkouts of 1 unit of the campaign
   listing (two devices: distinct Idempotency-Keys, one right after the other, so that a buyer's
   two are in flight together), 200 at a time;
5. verifies the flash sale in the database (exactly 1,000 units sold, stock 0, no buyer twice,
   0 oversold) and in the answers (1,000 x 201, 1,000 x 409 out_of_stock, nothing else); and the
   campaign opening (exactly 1,000 units sold at the campaign price, the item's units_sold and the
   buyers' allowances 1,000, no buyer with more than 1, 0 oversold, the listing's stock down by
   1,000; answers 1,000 x 201 and the rest 409 campaign_limit_reached or campaign_sold_out);
6. prints req/s (orders/s for the flash sale), p50 and p99 with their ratios to the mean of the
   bare app's runs around each scenario, requests/s over the app's /healthz as a second column,
   CPU per request (the app's workers and the bare app's counted apart), PASS/MISS against the
   bare app (steady >= 0.15x, flash >= 0.15x, campaign opening >= 0.10x, /healthz >= 0.80x, each of the app's workers' peak
   RSS < 150 MiB), and writes everything to bench/results/checkout-latest.json;
7. stops both gunicorns and drops the database unless --keep-db, also on errors and interruptions.

All traffic goes to 127.0.0.1 only, and every step has a time limit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import (
    HOST,
    PRODUCTION_WORKERS,
    PROFILES,
    ROOT,
    BenchError,
    CpuMeter,
    Database,
    Scenario,
    Server,
    Wrk,
    WrkRun,
    cpu_busy_percent,
    cpu_model,
    fetch,
    healthz_scenario,
    interrupted,
    loadavg,
    memory_verdicts,
    meter_servers,
    missed_targets,
    other_cores_mean,
    preflight,
    print_table,
    production_env,
    profile,
    say,
    seed_database,
    start_servers,
    summarise,
    utc_now_iso,
    write_results,
)

RESULTS = ROOT / "bench" / "results" / "checkout-latest.json"
DATABASE = "marketplace_bench_checkout"
BENCH_DB = Database(DATABASE)
DATABASE_URL = BENCH_DB.url

STEADY_TARGET = 0.15  # steady checkouts: requests/s over the bare app's
FLASH_TARGET = 0.15  # flash sale: orders/s over the bare app's requests/s
CAMPAIGN_TARGET = 0.10  # campaign opening: orders/s over the bare app's requests/s (issue 21)
CAMPAIGN_LIMIT = 1  # per buyer
CAMPAIGN_STOCK_TIMES = 3  # the campaign listing's own stock, in campaign caps: the cap is what runs out
CAMPAIGN_OPENS_IN_S = 3.0  # from moving the start to the opening second the client waits for
ADMIN_PHONE = "17199990001"
STEADY_STOCK = 1_000_000  # every listing's stock for the steady runs (STOCK_UNITS_MAX)
PAIRS = 20_000  # random (listing, listing) pairs of one seller the steady script draws from
LOGIN_SAMPLE = 4  # buyers whose token comes from accounts.services.log_in
BUYER_PASSWORD = "bench-pass-2026"
# A marketplace in service has orders behind it; order tables analyzed while empty make
# PostgreSQL plan each connection's foreign-key checks against them as sequential scans, kept
# while the tables grow (see bench/README.md).
HISTORY_ROWS = 200_000
BUYER_PHONE_PREFIX = "170"  # 170xxxxxxxx; the demo seed's numbers start with 13
FLASH_SELLER_PHONE = "17199990000"
FLASH_COUNTY = "652927"  # 乌什县, also the address county when a seller has none
ADDRESS = {"recipient": "张三", "phone": "13800138000", "detail": "人民路1号"}
CHECKOUTS = "/api/v1/checkouts"
# Log lines of gunicorn and the app that mean something went wrong while serving.
LOG_PROBLEMS = re.compile(r"\[(ERROR|CRITICAL)\]|\"level\": \"(ERROR|CRITICAL)\"|WORKER TIMEOUT|Traceback|unhandled error|database unavailable")


@dataclass
class FlashRun:
    """One flash sale: every buyer tries once to buy 1 unit of one product."""

    scenario: str
    product_id: int
    units: int
    buyers: int
    connections: int
    requests_per_s: float  # orders/s: units / seconds from the first request to the units-th 201
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    seconds_to_sold_out: float | None
    seconds_all_answered: float
    answered_per_s: float
    statuses: dict
    errors: dict
    started_at: str
    window_s: float
    cpu_cores: dict = field(default_factory=dict)
    database: dict = field(default_factory=dict)
    verdict_problems: list = field(default_factory=list)
    checkouts_per_buyer: int = 1  # the campaign opening: each buyer's checkouts, sent together
    campaign_item_id: int | None = None


# --- data (runs in a child process with the app's config) --------------------------------------


def prepare_data(spec: dict) -> dict:
    """Buyers with tokens, the flash seller and products, stock and pairs for the steady runs."""
    sys.path.insert(0, str(ROOT))
    import secrets
    from collections import defaultdict
    from datetime import timedelta

    from sqlalchemy import insert, select, text

    from marketplace import create_app
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import ApiToken, User, UserRole
    from marketplace.campaigns import services as campaigns
    from marketplace.catalog import services as catalog
    from marketplace.catalog.models import Product
    from marketplace.catalog.taxonomy import ProductStatus
    from marketplace.common.time import utcnow
    from marketplace.extensions import db
    from seed.history import SELLER_PHONE_PREFIX as HISTORY_SELLER_PHONE_PREFIX

    timings = {}
    app = create_app()
    with app.app_context():
        started = time.monotonic()
        db.session.execute(text("UPDATE products SET stock_units = :stock"), {"stock": STEADY_STOCK})
        db.session.commit()

        now = utcnow()
        password_hash = accounts.hash_password(BUYER_PASSWORD)  # one argon2 hash shared by all buyers
        phones = [f"{BUYER_PHONE_PREFIX}{number:08d}" for number in range(spec["buyers"])]
        user_ids = db.session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"phone": phone, "display_name": f"压测买家{number:04d}", "password_hash": password_hash,
              "locale": "zh_CN", "is_active": True, "created_at": now, "updated_at": now}
             for number, phone in enumerate(phones)],
        ).all()
        db.session.execute(insert(UserRole), [{"user_id": uid, "role": "buyer", "granted_at": now} for uid in user_ids])
        db.session.commit()
        timings["buyers_s"] = round(time.monotonic() - started, 2)

        started = time.monotonic()
        login_sample = min(LOGIN_SAMPLE, len(user_ids))
        tokens = [accounts.log_in(phone, BUYER_PASSWORD)[0] for phone in phones[:login_sample]]
        direct = [secrets.token_urlsafe(32) for _ in user_ids[login_sample:]]
        expires = utcnow() + app.config["TOKEN_TTL"]
        if direct:
            # The digest log_in stores (accounts.services._digest: SHA-256 hex of the plain token).
            db.session.execute(insert(ApiToken), [
                {"user_id": uid, "token_digest": accounts._digest(plain), "created_at": now, "expires_at": expires}
                for uid, plain in zip(user_ids[login_sample:], direct, strict=True)])
            db.session.commit()
        tokens += direct
        timings["tokens_s"] = round(time.monotonic() - started, 2)

        seller = accounts.create_account(display_name="压测闪购卖家", password=BUYER_PASSWORD, roles=["seller"],
                                         phone=FLASH_SELLER_PHONE, county_adcode=FLASH_COUNTY)
        seller.seller_verified_at = utcnow()  # verified sellers publish without review
        db.session.commit()
        flash_ids = []
        for number in range(spec["flash_products"]):
            product = catalog.create_product(
                seller, publish=True, title=f"乌什薄皮核桃 限时秒杀 第{number + 1}场", description="压测闪购商品。",
                category="nuts", unit="bag", net_weight_grams=2500, price_fen=5980, stock_units=spec["flash_units"],
                min_order_units=1, ships_within_days=2, origin_county_adcode=FLASH_COUNTY)
            if product.status != ProductStatus.ACTIVE or product.stock_units != spec["flash_units"]:
                raise RuntimeError(f"flash product {product.id} is {product.status} with {product.stock_units} units")
            flash_ids.append(product.id)
        campaign_rounds = []
        if spec["campaign_units"]:
            admin = accounts.create_account(display_name="压测活动管理员", password=BUYER_PASSWORD, roles=["admin"],
                                            phone=ADMIN_PHONE)
            for number in range(spec["flash_products"]):
                product = catalog.create_product(
                    seller, publish=True, title=f"乌什红枣 双十一开抢 第{number + 1}场", description="压测活动商品。",
                    category="dried_fruit", unit="bag", net_weight_grams=1000, price_fen=4980,
                    stock_units=CAMPAIGN_STOCK_TIMES * spec["campaign_units"], min_order_units=1, ships_within_days=2,
                    origin_county_adcode=FLASH_COUNTY)
                # Opens in a day; run_campaign moves the start to the second the client waits for.
                campaign = campaigns.create_campaign(
                    admin, name_zh=f"双十一扶贫专场 第{number + 1}场", name_en=f"Double 11 session {number + 1}",
                    starts_at=utcnow() + timedelta(days=1), ends_at=utcnow() + timedelta(days=2))
                item = campaigns.add_item(campaign.id, admin, product_id=product.id, campaign_price_fen=3990,
                                          stock_cap=spec["campaign_units"], per_buyer_limit=CAMPAIGN_LIMIT)
                campaign_rounds.append({"campaign_id": campaign.id, "item_id": item.id, "product_id": product.id,
                                        "stock_units": product.stock_units, "price_fen": 3990})

        rows = db.session.execute(
            select(Product.id, Product.seller_user_id, User.county_adcode)
            .join(User, User.id == Product.seller_user_id)
            .where(Product.status == ProductStatus.ACTIVE, Product.seller_user_id != seller.id,
                   User.phone.not_like(f"{HISTORY_SELLER_PHONE_PREFIX}%"))  # the demo listings, not the history's
            .order_by(Product.id)
        ).all()
        by_seller: dict[int, list[int]] = defaultdict(list)
        county_of: dict[int, str] = {}
        for product_id, seller_id, county in rows:
            by_seller[seller_id].append(product_id)
            county_of[seller_id] = county or FLASH_COUNTY
        candidates = [(pid, sid) for pid, sid, _ in rows if len(by_seller[sid]) >= 2]
        if not candidates:
            raise RuntimeError("no seller has two active listings")
        rng = random.Random(spec["seed"])
        pairs = []
        for _ in range(spec["pairs"]):
            first, seller_id = rng.choice(candidates)
            second = first
            while second == first:
                second = rng.choice(by_seller[seller_id])
            pairs.append([first, second, county_of[seller_id]])
        db.engine.dispose()
    return {"tokens": tokens, "login_sample": login_sample, "buyer_ids": user_ids, "flash_seller_id": seller.id,
            "flash_product_ids": flash_ids, "campaigns": campaign_rounds, "pairs": pairs, "active_listings": len(rows),
            "sellers_with_pairs": len({sid for _, sid in candidates}), "timings": timings}


def run_prepare(env: dict, workdir: Path, args) -> dict:
    spec_path, out_path = workdir / "prepare-spec.json", workdir / "prepare-out.json"
    spec_path.write_text(json.dumps({"buyers": args.buyers, "flash_units": args.flash_units, "flash_products": args.rounds,
                                     "campaign_units": args.campaign_units, "pairs": PAIRS, "seed": 2026,
                                     "out": str(out_path)}))
    say(f"setup: stock {STEADY_STOCK:,} for every listing, {args.buyers:,} buyers with tokens "
        f"({min(LOGIN_SAMPLE, args.buyers)} through accounts.services.log_in, the rest as ApiToken rows), "
        f"a flash seller and {args.rounds} flash product(s) of {args.flash_units:,} units"
        + (f", {args.rounds} campaign(s) of one listing capped at {args.campaign_units:,} units, {CAMPAIGN_LIMIT} per buyer"
           if args.campaign_units else ""))
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare-data", str(spec_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise BenchError(f"Setting up the checkout data failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    data = json.loads(out_path.read_text())
    out_path.unlink()  # holds bearer tokens; the work directory goes at the end anyway
    say(f"  done in {time.monotonic() - started:.1f} s ({data['timings']}); {data['active_listings']:,} active "
        f"listings of {data['sellers_with_pairs']} sellers; flash products {data['flash_product_ids']}")
    return data


# --- steady checkouts (wrk) ------------------------------------------------------------------

STEADY_LUA = r"""-- Steady checkouts, generated by bench/checkout.py: each request a random buyer's bearer token and
-- a random pair of active listings of one seller, 1 unit each, delivered to an address in that
-- seller's county, with a fresh Idempotency-Key. done() prints how many answers had each status.
local token_blob = "@TOKENS@"
local pair_blob = "@PAIRS@"
local tokens, pairs_ = {}, {}
local counter, nonce = 0, 0
local threads = {}
statuses = {}  -- global: done() reads it from each thread with thread:get

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local function urandom_seed()
  local f = io.open("/dev/urandom", "rb")
  if not f then return os.time() end
  local bytes = f:read(6)
  f:close()
  local n = 0
  for i = 1, #bytes do n = n * 256 + bytes:byte(i) end
  return n
end

function init(args)
  for t in string.gmatch(token_blob, "%S+") do tokens[#tokens + 1] = t end
  for a, b, c in string.gmatch(pair_blob, "(%d+),(%d+),(%d+)") do pairs_[#pairs_ + 1] = {a, b, c} end
  math.randomseed(urandom_seed() + id)
  math.random(); math.random()
  nonce = math.random(0, 2147483646)  -- keys differ between wrk runs, whose counters all start at 1
end

function request()
  counter = counter + 1
  local pair = pairs_[math.random(#pairs_)]
  local body = '{"lines":[{"product_id":' .. pair[1] .. ',"quantity":1},{"product_id":' .. pair[2] ..
    ',"quantity":1}],"delivery":{"address":{"recipient":"@RECIPIENT@","phone":"@PHONE@","county_adcode":"' ..
    pair[3] .. '","detail":"@DETAIL@"}},"payment_method":"card"}'
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("bench-%d-%x-%d-%x", id, nonce, counter, math.random(0, 2147483646))
  return wrk.format("POST", "@PATH@", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("STATUS %d %d\n", status, n)) end
end
"""


def steady_lua(tokens: list[str], pairs: list[list]) -> str:
    values = {"@TOKENS@": " ".join(tokens), "@PAIRS@": ";".join(f"{a},{b},{c}" for a, b, c in pairs),
              "@RECIPIENT@": ADDRESS["recipient"], "@PHONE@": ADDRESS["phone"], "@DETAIL@": ADDRESS["detail"],
              "@PATH@": CHECKOUTS}
    script = STEADY_LUA
    for key, value in values.items():
        script = script.replace(key, value)
    return script


def status_counts(wrk_output: str) -> dict:
    return {status: int(n) for status, n in re.findall(r"^STATUS (\d+) (\d+)$", wrk_output, re.M)}


def checkout_body(first: int, second: int | None, county: str) -> dict:
    lines = [{"product_id": first, "quantity": 1}] + ([{"product_id": second, "quantity": 1}] if second else [])
    return {"lines": lines, "delivery": {"address": {**ADDRESS, "county_adcode": county}}, "payment_method": "card"}


def post_checkout(base: str, token: str, body: dict, key: str) -> tuple[int, dict]:
    status, raw = fetch(base + CHECKOUTS, method="POST", data=json.dumps(body, ensure_ascii=False).encode(),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                 "Idempotency-Key": key})
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw[:300].decode(errors="replace")}


def check_steady(base: str, data: dict) -> dict:
    """One checkout with a token from log_in and one with a token written directly: 201, one order of
    the pair's seller, two lines."""
    facts = {}
    for kind, index, pair in (("log_in token", 0, data["pairs"][0]), ("direct token", -1, data["pairs"][1])):
        status, body = post_checkout(base, data["tokens"][index], checkout_body(*pair), f"bench-check-{kind[0]}-{index}")
        if status != 201:
            raise BenchError(f"POST {CHECKOUTS} with a {kind} answered {status}: {str(body)[:500]}")
        orders = body.get("orders", [])
        if len(orders) != 1 or len(orders[0].get("lines", [])) != 2:
            raise BenchError(f"POST {CHECKOUTS} made {len(orders)} order(s); expected one order with two lines: {body}")
        facts["bytes"] = len(json.dumps(body, ensure_ascii=False).encode())
    facts["checked"] = "201, one order with two lines, for a log_in token and a directly written token"
    return facts


def check_flash_products(base: str, data: dict, units: int) -> None:
    for product_id in data["flash_product_ids"]:
        status, raw = fetch(f"{base}/api/v1/products/{product_id}")
        body = json.loads(raw) if status == 200 else {}
        if status != 200 or body.get("stock_units") != units or body.get("status") != "active":
            raise BenchError(f"Flash product {product_id}: GET answered {status}, stock {body.get('stock_units')}, "
                             f"status {body.get('status')}; expected 200, {units}, active.")


# --- flash sale (a Python client in a child process) -------------------------------------------


async def _flash_client(spec: dict) -> dict:
    """Each token once, ``connections`` at a time, one connection per request (gunicorn's sync
    workers close every connection after its response)."""
    host, port, timeout = spec["host"], spec["port"], spec["timeout"]
    body = json.dumps(checkout_body(spec["product_id"], None, spec["county"]), ensure_ascii=False).encode()
    # (token, Idempotency-Key) in the order they are sent: each token once for the flash sale; a
    # campaign opening's several per buyer, one after the other, under keys of their own.
    pending = iter(spec.get("requests") or [(token, f"flash-{spec['product_id']}-{index}")
                                            for index, token in enumerate(spec["tokens"])])
    answers: list[tuple] = []  # (seconds sent, seconds answered, status, error code)
    clock = time.perf_counter
    if spec.get("opens_at"):  # the campaign's opening second (epoch seconds, this machine's clock)
        await asyncio.sleep(max(0.0, spec["opens_at"] - time.time()))
    t0 = clock()

    async def one(token: str, key: str) -> None:
        head = (f"POST {CHECKOUTS} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        sent = clock() - t0
        writer = None
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(head + body)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), timeout)
        except TimeoutError:
            answers.append((sent, clock() - t0, 0, "timeout"))
            return
        except OSError as error:
            answers.append((sent, clock() - t0, 0, type(error).__name__))
            return
        finally:
            if writer is not None:
                writer.close()
        answered = clock() - t0
        head_end = raw.find(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
        if head_end < 0 or not match:
            answers.append((sent, answered, 0, "bad response"))
            return
        status = int(match.group(1))
        code = None
        if status != 201:
            try:
                code = json.loads(raw[head_end + 4:])["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "unreadable body"
        answers.append((sent, answered, status, code))

    async def connection() -> None:
        for token, key in pending:
            await one(token, key)

    await asyncio.gather(*(connection() for _ in range(spec["connections"])))
    return {"answers": answers}


def flash_client_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(asyncio.wait_for(_flash_client(spec), spec["overall_timeout"]))
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _run_client(server: Server, meter: CpuMeter, workdir: Path, spec: dict, timeout: int) -> tuple:
    """The asyncio client in a child process with ``spec`` (and the server's address); returns its
    answers, the CPU the processes used meanwhile, the window's length and when it started."""
    spec_path, out_path = workdir / "flash-spec.json", workdir / "flash-out.json"
    spec_path.write_text(json.dumps({"host": HOST, "port": server.port, "county": FLASH_COUNTY, "timeout": 60,
                                     "overall_timeout": timeout, "out": str(out_path), **spec}))
    started = utc_now_iso()
    window = time.monotonic()
    before = meter.start()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--flash-client", str(spec_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
    cpu = meter.stop(before)
    window = time.monotonic() - window
    spec_path.unlink()  # holds bearer tokens
    if result.returncode != 0:
        raise BenchError(f"The flash-sale client failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")
    answers = json.loads(out_path.read_text())["answers"]
    out_path.unlink()
    return answers, cpu, window, started


def _sale_run(scenario: str, product_id: int, units: int, buyers: int, connections: int, answers: list, cpu: dict,
              window: float, started: str) -> FlashRun:
    """A sale's figures from its answers: orders/s to the units-th 201, latencies, answers by status."""
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for _, _, status, code in answers:
        key = "201" if status == 201 else f"{status} {code}" if status else "no answer"
        statuses[key] = statuses.get(key, 0) + 1
        if not status:
            errors[code] = errors.get(code, 0) + 1
    successes = sorted(answered for _, answered, status, _ in answers if status == 201)
    sold_out = successes[units - 1] if len(successes) >= units else None
    all_answered = max(answered for _, answered, _, _ in answers)
    latencies = [(answered - sent) * 1000 for sent, answered, status, _ in answers if status]
    return FlashRun(
        scenario=scenario, product_id=product_id, units=units, buyers=buyers, connections=connections,
        # With fewer successes than units (a failure, reported below) the rate is over the whole run.
        requests_per_s=round(units / sold_out if sold_out else len(successes) / all_answered, 2),
        p50_ms=round(percentile(latencies, 0.50), 3) if latencies else 0.0,
        p75_ms=round(percentile(latencies, 0.75), 3) if latencies else 0.0,
        p90_ms=round(percentile(latencies, 0.90), 3) if latencies else 0.0,
        p99_ms=round(percentile(latencies, 0.99), 3) if latencies else 0.0,
        requests=len(answers), seconds_to_sold_out=round(sold_out, 3) if sold_out else None,
        seconds_all_answered=round(all_answered, 3), answered_per_s=round(len(answers) / all_answered, 2),
        statuses=dict(sorted(statuses.items())), errors=errors, started_at=started, window_s=round(window, 3),
        cpu_cores=cpu,
    )


def _say_sale(run: FlashRun) -> None:
    cpu = run.cpu_cores
    say(f"  {run.scenario:<12} {run.requests_per_s:9.1f} orders/s  p50 {run.p50_ms:8.2f} ms   p99 {run.p99_ms:8.2f} ms"
        f"   answers {run.statuses}"
        + (f"   cores app/db/client/other {cpu['app']:.2f}/{cpu['db']:.2f}/{cpu['wrk']:.2f}/{cpu['other']:.2f}" if cpu else ""))


def run_flash(server: Server, meter: CpuMeter, workdir: Path, data: dict, product_id: int, args) -> FlashRun:
    answers, cpu, window, started = _run_client(server, meter, workdir, {
        "product_id": product_id, "tokens": data["tokens"], "connections": args.flash_connections}, args.flash_timeout)
    run = _sale_run("flash", product_id, args.flash_units, len(data["tokens"]), args.flash_connections, answers, cpu,
                    window, started)
    run.database = verify_flash(product_id)
    run.verdict_problems = flash_problems(run)
    _say_sale(run)
    return run


def run_campaign(server: Server, meter: CpuMeter, workdir: Path, data: dict, campaign: dict, args) -> FlashRun:
    """The campaign opening: the campaign is moved to open CAMPAIGN_OPENS_IN_S from now, and the
    client sends every buyer's checkouts from that second on."""
    opens_at = time.time() + CAMPAIGN_OPENS_IN_S
    BENCH_DB.query("UPDATE campaigns SET starts_at = to_timestamp(%s) WHERE id = %s", (opens_at, campaign["campaign_id"]))
    BENCH_DB.query("UPDATE campaign_items SET starts_at = to_timestamp(%s) WHERE campaign_id = %s",
                   (opens_at, campaign["campaign_id"]))
    requests = [(token, f"campaign-{campaign['item_id']}-{index}-{device}")
                for index, token in enumerate(data["tokens"]) for device in range(args.campaign_checkouts)]
    answers, cpu, window, started = _run_client(server, meter, workdir, {
        "product_id": campaign["product_id"], "tokens": [], "requests": requests,
        "connections": args.flash_connections, "opens_at": opens_at}, args.flash_timeout)
    run = _sale_run("campaign", campaign["product_id"], args.campaign_units, len(data["tokens"]),
                    args.flash_connections, answers, cpu, window, started)
    run.checkouts_per_buyer, run.campaign_item_id = args.campaign_checkouts, campaign["item_id"]
    run.database = verify_campaign(campaign)
    run.verdict_problems = campaign_problems(run, campaign)
    _say_sale(run)
    return run


def verify_flash(product_id: int) -> dict:
    """What the database says was sold of the flash product."""
    (sold, lines, orders, buyers, checkouts), = BENCH_DB.query(
        "SELECT coalesce(sum(l.quantity), 0), count(*), count(DISTINCT l.order_id), count(DISTINCT o.buyer_user_id), "
        "count(DISTINCT o.checkout_id) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.product_id = %s",
        (product_id,))
    (stock,), = BENCH_DB.query("SELECT stock_units FROM products WHERE id = %s", (product_id,))
    return {"units_sold": int(sold), "order_lines": lines, "orders": orders, "distinct_buyers": buyers,
            "checkouts": checkouts, "stock_left": stock}


def flash_problems(run: FlashRun) -> list[str]:
    """Everything that makes the flash sale wrong, however fast it was."""
    expected_sales = min(run.units, run.buyers)
    db = run.database
    problems = []
    if db["units_sold"] != expected_sales:
        problems.append(f"{db['units_sold']} units sold, expected exactly {expected_sales}")
    if db["units_sold"] > run.units:
        problems.append(f"OVERSOLD by {db['units_sold'] - run.units}")
    if db["stock_left"] != run.units - expected_sales:
        problems.append(f"stock left {db['stock_left']}, expected {run.units - expected_sales}")
    if db["units_sold"] + db["stock_left"] != run.units:
        problems.append(f"sold {db['units_sold']} + left {db['stock_left']} != {run.units} units")
    if not (db["orders"] == db["distinct_buyers"] == db["checkouts"] == db["order_lines"] == expected_sales):
        problems.append(f"orders {db['orders']}, buyers {db['distinct_buyers']}, checkouts {db['checkouts']}, "
                        f"lines {db['order_lines']}: expected {expected_sales} each")
    expected = {"201": expected_sales}
    if run.buyers > expected_sales:
        expected["409 out_of_stock"] = run.buyers - expected_sales
    if run.statuses != expected:
        problems.append(f"answers {run.statuses}, expected {expected}")
    return problems


def verify_campaign(campaign: dict) -> dict:
    """What the database says the campaign sold: its order lines, the item's count, the buyers'
    allowances, the listing's stock."""
    (sold, lines, orders, buyers, low, high), = BENCH_DB.query(
        "SELECT coalesce(sum(l.quantity), 0), count(*), count(DISTINCT l.order_id), count(DISTINCT o.buyer_user_id), "
        "min(l.unit_price_fen), max(l.unit_price_fen) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE l.campaign_item_id = %s", (campaign["item_id"],))
    (most,), = BENCH_DB.query(
        "SELECT coalesce(max(units), 0) FROM (SELECT sum(l.quantity) AS units FROM order_lines l "
        "JOIN orders o ON o.id = l.order_id WHERE l.campaign_item_id = %s GROUP BY o.buyer_user_id) AS per_buyer",
        (campaign["item_id"],))
    (units_sold, cap, limit), = BENCH_DB.query(
        "SELECT units_sold, stock_cap, per_buyer_limit FROM campaign_items WHERE id = %s", (campaign["item_id"],))
    (allowed, allowed_most), = BENCH_DB.query(
        "SELECT coalesce(sum(units), 0), coalesce(max(units), 0) FROM campaign_allowances WHERE campaign_item_id = %s",
        (campaign["item_id"],))
    (stock,), = BENCH_DB.query("SELECT stock_units FROM products WHERE id = %s", (campaign["product_id"],))
    return {"units_sold": int(sold), "order_lines": lines, "orders": orders, "distinct_buyers": buyers,
            "most_units_of_one_buyer": int(most), "unit_prices_fen": [low, high], "item_units_sold": units_sold,
            "stock_cap": cap, "per_buyer_limit": limit, "allowances_units": int(allowed),
            "most_allowance_of_one_buyer": int(allowed_most), "stock_left": stock,
            "stock_before": campaign["stock_units"]}


CAMPAIGN_REFUSALS = ("409 campaign_limit_reached", "409 campaign_sold_out")


def campaign_problems(run: FlashRun, campaign: dict) -> list[str]:
    """Everything that makes the campaign opening wrong, however fast it was."""
    db = run.database
    expected_sales = min(run.units, run.buyers * CAMPAIGN_LIMIT)
    problems = []
    if db["units_sold"] != expected_sales:
        problems.append(f"{db['units_sold']} units sold, expected exactly {expected_sales}")
    if db["units_sold"] > db["stock_cap"]:
        problems.append(f"OVERSOLD by {db['units_sold'] - db['stock_cap']}")
    if db["most_units_of_one_buyer"] > db["per_buyer_limit"]:
        problems.append(f"a buyer has {db['most_units_of_one_buyer']} units, the limit is {db['per_buyer_limit']}")
    if not (db["item_units_sold"] == db["allowances_units"] == db["units_sold"]):
        problems.append(f"item units_sold {db['item_units_sold']}, allowances {db['allowances_units']}, "
                        f"order lines {db['units_sold']}: expected equal")
    if db["most_allowance_of_one_buyer"] > db["per_buyer_limit"]:
        problems.append(f"an allowance of {db['most_allowance_of_one_buyer']} units, above the limit")
    if db["stock_left"] != db["stock_before"] - db["units_sold"]:
        problems.append(f"listing stock {db['stock_left']}, expected {db['stock_before'] - db['units_sold']}")
    if db["units_sold"] and db["unit_prices_fen"] != [campaign["price_fen"]] * 2:
        problems.append(f"unit prices {db['unit_prices_fen']}, expected the campaign price {campaign['price_fen']}")
    if run.statuses.get("201", 0) != expected_sales:
        problems.append(f"{run.statuses.get('201', 0)} answers 201, expected {expected_sales}")
    strange = {key: n for key, n in run.statuses.items() if key != "201" and key not in CAMPAIGN_REFUSALS}
    if strange:
        problems.append(f"answers other than 201, {' or '.join(CAMPAIGN_REFUSALS)}: {strange}")
    return problems


# --- the run ------------------------------------------------------------------------------


FLASH_NOTE = ("flash sale and campaign opening: req/s is orders/s, to the last unit sold; their latency is every\n"
              "answer's (201 and 409) as the client saw it; their cpu ms is per answer over the whole sale")


def flash_row(run, row: dict) -> None:
    """harness.summarise's adjustment: a flash sale's CPU per request over its whole window (the
    client's start to its last answer), not per order: the CPU meter cannot split the run at the
    last sale."""
    if run.scenario not in ("flash", "campaign"):
        return
    row.pop("cpu_ms_per_request", None)
    row.pop("cpu_cost_ratio", None)
    if run.cpu_cores and "baseline_cpu_ms_per_request" in row:
        cost = (run.cpu_cores["app"] + run.cpu_cores["db"]) * run.window_s * 1000 / run.requests
        row.update(cpu_ms_per_request=cost, cpu_cost_ratio=row["baseline_cpu_ms_per_request"] / cost)
    row.update(seconds_to_sold_out=run.seconds_to_sold_out or 0.0, answered_per_s=run.answered_per_s)


def summarise_checkout(scenario_list: list[Scenario], runs: list) -> dict:
    """harness.summarise, and the flash sales' and campaign openings' correctness: a wrong sale is
    a FAIL however fast."""
    summary = summarise(scenario_list, runs, adjust=flash_row)
    campaign_runs = [r for r in runs if r.scenario == "campaign"]
    if campaign_runs:
        wrong = [p for r in campaign_runs for p in r.verdict_problems]
        summary["campaign"].update(
            verdict="FAIL" if wrong else summary["campaign"]["verdict"], correct=not wrong,
            units=campaign_runs[0].units, buyers=campaign_runs[0].buyers,
            checkouts_per_buyer=campaign_runs[0].checkouts_per_buyer, per_buyer_limit=CAMPAIGN_LIMIT,
            connections=campaign_runs[0].connections,
            units_sold=[r.database["units_sold"] for r in campaign_runs],
            oversold=[max(0, r.database["units_sold"] - r.database["stock_cap"]) for r in campaign_runs],
            most_units_of_one_buyer=[r.database["most_units_of_one_buyer"] for r in campaign_runs],
            answers=[r.statuses for r in campaign_runs],
            orders_per_s_measured_to=f"the {campaign_runs[0].units}th 201 answer, from the opening second")
    flash_runs = [r for r in runs if r.scenario == "flash"]
    wrong = [p for r in flash_runs for p in r.verdict_problems]
    summary["flash"].update(
        verdict="FAIL" if wrong else summary["flash"]["verdict"],
        units=flash_runs[0].units, buyers=flash_runs[0].buyers, connections=flash_runs[0].connections,
        correct=not wrong, units_sold=[r.database["units_sold"] for r in flash_runs],
        oversold=[max(0, r.database["units_sold"] - r.units) for r in flash_runs],
        stock_left=[r.database["stock_left"] for r in flash_runs], answers=[r.statuses for r in flash_runs],
        orders_per_s_measured_to=f"the {flash_runs[0].units}th 201 answer, from the first request sent",
    )
    return summary


def server_log_problems(server: Server) -> list[str]:
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if LOG_PROBLEMS.search(line)]


def keep_server_log(server: Server) -> Path | None:
    PROFILES.mkdir(parents=True, exist_ok=True)
    target = PROFILES / "checkout-gunicorn.log"
    try:
        shutil.copyfile(server.log_path, target)
    except OSError:
        return None
    return target


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="listings to seed (default 10000)")
    parser.add_argument("--history", type=int, default=HISTORY_ROWS,
                        help=f"sales history seeded first, in ledger rows (flask seed demo --history; default "
                             f"{HISTORY_ROWS}, about 120,000 past orders; 0 for empty order tables)")
    parser.add_argument("--buyers", type=int, default=2_000,
                        help="buyers with tokens; all of them try the flash sale once (default 2000)")
    parser.add_argument("--flash-units", type=int, default=1_000, help="units of the flash product (default 1000)")
    parser.add_argument("--flash-connections", type=int, default=200,
                        help="flash-sale requests in flight at once (default 200)")
    parser.add_argument("--flash-timeout", type=int, default=300,
                        help="time limit of one flash sale or campaign opening, s (default 300)")
    parser.add_argument("--campaign-units", type=int, default=1_000,
                        help="the campaign opening: units the campaign listing may sell (its stock cap; the listing "
                             f"has {CAMPAIGN_STOCK_TIMES}x that in stock), {CAMPAIGN_LIMIT} per buyer; every buyer "
                             "tries (default 1000; 0 leaves the campaign opening out)")
    parser.add_argument("--campaign-checkouts", type=int, default=2,
                        help="checkouts each buyer sends at the campaign's opening, together, as from several "
                             "devices (default 2)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per URL, not measured (default 3)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat H B S B F B (and C B) this many times, a new flash product and campaign each "
                             "round (default 1)")
    parser.add_argument("--workers", type=int, default=PRODUCTION_WORKERS,
                        help=f"gunicorn workers (default {PRODUCTION_WORKERS}: two per core, as the Procfile runs)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the database {DATABASE} afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--profile", action="append", default=[], choices=["baseline", "healthz", "steady"],
                        help="after measuring, sample one worker with py-spy during an extra, unmeasured run of this "
                             "scenario (repeatable; baseline: the bare app, healthz: the app's /healthz); stacks go to "
                             f"{PROFILES.relative_to(ROOT)}/ (needs py-spy in .venv)")
    # Internal: the steps that run in child processes.
    parser.add_argument("--prepare-data", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--flash-client", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare_data:
        spec = json.loads(Path(args.prepare_data).read_text())
        Path(spec["out"]).write_text(json.dumps(prepare_data(spec), ensure_ascii=False))
        return 0
    if args.flash_client:
        return flash_client_main(args.flash_client)
    if not (1 <= args.duration <= 120 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 5):
        parser.error("--duration is 1..120 s, --warmup 0..30 s, --rounds 1..5")
    if args.products < 100:
        parser.error("--products must be at least 100")
    if not 0 <= args.history <= 10_000_000:
        parser.error("--history is 0..10000000 ledger rows")
    if not (2 <= args.buyers <= 100_000 and 1 <= args.flash_units <= args.buyers):
        parser.error("--buyers is 2..100000 and --flash-units 1..buyers")
    if not (0 <= args.campaign_units <= args.buyers * CAMPAIGN_LIMIT and 1 <= args.campaign_checkouts <= 10):
        parser.error(f"--campaign-units is 0..buyers x {CAMPAIGN_LIMIT}, --campaign-checkouts 1..10")
    if not (1 <= args.flash_connections <= 1000 and 10 <= args.flash_timeout <= 1800):
        parser.error("--flash-connections is 1..1000, --flash-timeout 10..1800 s")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")

    args.output = args.output.resolve()  # relative to where we were started, before the chdir below

    signal.signal(signal.SIGTERM, interrupted)
    os.chdir(ROOT)
    servers: list[Server] = []
    database_created = False
    workdir = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    try:
        busy_before = cpu_busy_percent()
        load_before = loadavg()
        say(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_before}, CPU busy before start {busy_before}%")
        wrk, machine = preflight()

        env = production_env(DATABASE_URL)
        BENCH_DB.create()
        database_created = True
        counts = seed_database(BENCH_DB, env, args.products, args.history)
        data = run_prepare(env, workdir, args)
        BENCH_DB.query("ANALYZE")

        app, bare = start_servers(env, args.workers, workdir, servers)
        healthz = healthz_scenario()
        steady = Scenario("steady", "steady checkout, 2 lines", CHECKOUTS, STEADY_TARGET,
                          lua=steady_lua(data["tokens"], data["pairs"]))
        steady.check = check_steady(app.base, data)
        say(f"  steady: {steady.check}")
        check_flash_products(app.base, data, args.flash_units)
        flash = Scenario("flash", "flash sale, orders/s", CHECKOUTS, FLASH_TARGET)
        campaign = Scenario("campaign", "campaign opening, orders/s", CHECKOUTS, CAMPAIGN_TARGET)

        meter = meter_servers(app, bare)
        load = Wrk(wrk, args.threads, args.connections, workdir, meter)
        if args.warmup:
            say(f"warm-up: {args.warmup} s per URL (not measured)")
            load.run(bare.base, None, args.warmup, quiet=True)
            for scenario in (healthz, steady):
                load.run(app.base, scenario, args.warmup, quiet=True)

        meter.db_pids = BENCH_DB.backend_pids()
        say(f"measuring: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency for the app's /healthz "
            f"and steady checkouts; flash sale: {len(data['tokens']):,} buyers, {args.flash_units:,} units, "
            f"{args.flash_connections} at a time"
            + (f"; campaign opening: {len(data['tokens']):,} buyers x {args.campaign_checkouts} checkouts, "
               f"{args.campaign_units:,} units, {CAMPAIGN_LIMIT} per buyer" if args.campaign_units else "")
            + f"; the bare app around each, {args.rounds} round(s)")
        runs: list = [load.run(bare.base, None, args.duration)]
        steady_statuses = []
        for round_number in range(args.rounds):
            runs.append(load.run(app.base, healthz, args.duration))
            runs.append(load.run(bare.base, None, args.duration))
            runs.append(load.run(app.base, steady, args.duration))
            steady_statuses.append(status_counts(load.last_output))
            runs.append(load.run(bare.base, None, args.duration))
            runs.append(run_flash(app, meter, workdir, data, data["flash_product_ids"][round_number], args))
            runs.append(load.run(bare.base, None, args.duration))
            if args.campaign_units:
                runs.append(run_campaign(app, meter, workdir, data, data["campaigns"][round_number], args))
                runs.append(load.run(bare.base, None, args.duration))

        memory = memory_verdicts(app.worker_memory())
        load_after = loadavg()
        scenario_list = [healthz, steady, flash] + ([campaign] if args.campaign_units else [])
        summary = summarise_checkout(scenario_list, runs)
        for name in args.profile:
            scenario = {"healthz": healthz, "steady": steady}.get(name)
            profile(app if scenario else bare, load, scenario, args.duration, name, prefix="checkout")
        names = [s.name for s in scenario_list]
        print_table(summary, names, memory, note=FLASH_NOTE)
        flash_runs = [r for r in runs if r.scenario == "flash"]
        for run in flash_runs:
            db = run.database
            say(f"flash sale, product {run.product_id}: {db['units_sold']:,} units sold (sum of order_lines.quantity), "
                f"stock left {db['stock_left']}, oversold {max(0, db['units_sold'] - run.units)}, {db['orders']:,} orders "
                f"of {db['distinct_buyers']:,} distinct buyers; answers {run.statuses}; last unit sold "
                f"{run.seconds_to_sold_out} s after the first request, all {run.requests:,} answered after "
                f"{run.seconds_all_answered} s ({run.answered_per_s} answers/s)"
                + ("" if not run.verdict_problems else "; WRONG: " + "; ".join(run.verdict_problems)))
        campaign_runs = [r for r in runs if r.scenario == "campaign"]
        for run in campaign_runs:
            db = run.database
            say(f"campaign opening, item {run.campaign_item_id}: {db['units_sold']:,} units sold of a cap of "
                f"{db['stock_cap']:,} (item units_sold {db['item_units_sold']:,}, allowances {db['allowances_units']:,}), "
                f"oversold {max(0, db['units_sold'] - db['stock_cap'])}, most units of one buyer "
                f"{db['most_units_of_one_buyer']} (limit {db['per_buyer_limit']}), {db['orders']:,} orders of "
                f"{db['distinct_buyers']:,} distinct buyers at {db['unit_prices_fen']} fen, listing stock "
                f"{db['stock_before']:,} -> {db['stock_left']:,}; answers {run.statuses}; last unit sold "
                f"{run.seconds_to_sold_out} s after the opening, all {run.requests:,} answered after "
                f"{run.seconds_all_answered} s"
                + ("" if not run.verdict_problems else "; WRONG: " + "; ".join(run.verdict_problems)))
        for number, counts_by_status in enumerate(steady_statuses, 1):
            say(f"steady checkouts, round {number}: answers by status {counts_by_status}")
        other_cores = other_cores_mean(runs)
        say(f"load average before {load_before}, after {load_after}; other processes used {other_cores} of "
            f"{os.cpu_count()} cores on average during the measured runs")

        log_problems = server_log_problems(app)
        kept_log = keep_server_log(app) if log_problems else None
        if log_problems:
            say(f"gunicorn's log has {len(log_problems)} error line(s) (whole log: "
                f"{kept_log.relative_to(ROOT) if kept_log else 'not kept'}); the first ones:")
            for line in log_problems[:10]:
                say("  " + line)

        wrk_runs = [r for r in runs if isinstance(r, WrkRun)]
        problems = [f"{r.scenario}: non-2xx {r.non_2xx_3xx}, socket errors {r.socket_errors}"
                    for r in wrk_runs if r.non_2xx_3xx or r.socket_errors["timeout"]]
        problems += [f"flash sale, product {r.product_id}: {p}" for r in flash_runs for p in r.verdict_problems]
        problems += [f"campaign opening, item {r.campaign_item_id}: {p}" for r in campaign_runs for p in r.verdict_problems]
        if log_problems:
            problems.append(f"gunicorn's log has {len(log_problems)} error line(s)")
        result = {
            "benchmark": "checkout",
            "date": utc_now_iso(),
            "machine": machine,
            "noise": {"loadavg_before": load_before, "loadavg_after": load_after, "cpu_busy_percent_before": busy_before,
                      "other_cores_mean": other_cores,
                      "note": "the load generators (wrk; the flash-sale client, a Python process), gunicorn and "
                              "PostgreSQL share the same CPUs; other work on the machine is not controlled. "
                              "other_cores_mean: CPU used by processes other than the gunicorn workers (the app's "
                              "and the bare app's), their PostgreSQL backends and the load generator, averaged over "
                              "the measured runs, in cores."},
            "settings": {
                "products": args.products, "history_ledger_rows": args.history, "product_counts_by_status": counts,
                "steady_stock_units": STEADY_STOCK,
                "buyers": len(data["tokens"]),
                "tokens": {"log_in": data["login_sample"], "direct": len(data["tokens"]) - data["login_sample"],
                           "note": "log_in verifies an argon2 hash (~0.2 s) per call; the other tokens are ApiToken "
                                   "rows with the SHA-256 digest log_in stores"},
                "steady_pairs": len(data["pairs"]), "active_listings_in_pairs": data["active_listings"],
                "flash_units": args.flash_units, "flash_connections": args.flash_connections,
                "flash_product_ids": data["flash_product_ids"], "flash_client": "Python asyncio, one connection per request",
                "campaign_units": args.campaign_units, "campaign_per_buyer_limit": CAMPAIGN_LIMIT,
                "campaign_checkouts_per_buyer": args.campaign_checkouts, "campaigns": data["campaigns"],
                "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                "wrk_threads": args.threads, "rounds": args.rounds, "gunicorn_workers": args.workers,
                "worker_class": "sync", "gunicorn_command": "gunicorn " + " ".join(app.command[1:]),
                "bare_command": "gunicorn " + " ".join(bare.command[1:]),
                "marketplace_env": "production", "address": ADDRESS, "payment_method": "card",
                "order": ("B H B S B F B C B" if args.campaign_units else "B H B S B F B")
                         + (f" (x{args.rounds} after the first B)" if args.rounds > 1 else ""),
            },
            "summary": summary,
            "workers": memory,
            "bare_workers": bare.worker_memory(),
            "steady_statuses": steady_statuses,
            "runs": [asdict(r) for r in runs],
            "server_log_problems": log_problems[:50],
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
        say(f"\nbench/checkout.py: {error}")
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
