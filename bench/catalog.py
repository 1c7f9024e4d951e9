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
   this run, ``--no-control-socket --workers 2``, sync workers) on a free port of 127.0.0.1 and
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
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "catalog-latest.json"
PROFILES = ROOT / "artifacts" / "bench"  # git-ignored
DATABASE = "marketplace_bench_catalog"
SERVER = "postgres@127.0.0.1:5432"
DATABASE_URL = f"postgresql+psycopg://{SERVER}/{DATABASE}"
ADMIN_URL = f"postgresql://{SERVER}/postgres"
HOST = "127.0.0.1"
# Plain GETs go straight to 127.0.0.1, never through a proxy named in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# A reference county of the demo seed (阿克苏市: 3 of the 21 demo specialties, ~14% of listings)
# and a word in the titles of 3 of them (阿克苏薄皮核桃, 乌什薄皮核桃, 华阴山核桃).
COUNTY = "652901"
WORD = "核桃"
DETAIL_IDS = 50  # active listings the detail scenario rotates over
BASELINE = "/healthz"


class BenchError(Exception):
    """A step failed; the message says which and why."""


@dataclass
class Scenario:
    name: str
    label: str
    path: str  # the first URL; the detail scenario rotates through ids with a Lua script
    target: float  # required throughput ratio to the baseline
    lua: str | None = None
    check: dict = field(default_factory=dict)


@dataclass
class WrkRun:
    scenario: str
    url: str
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    seconds: float
    non_2xx_3xx: int
    socket_errors: dict
    started_at: str
    cpu_cores: dict = field(default_factory=dict)


def say(message: str) -> None:
    print(message, flush=True)


def venv_tool(name: str) -> str:
    for directory in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (directory / name).exists():
            return str(directory / name)
    raise BenchError(f"{name} is not in the virtualenv; run 'make install' (or scripts/bootstrap) first.")


# --- machine and prerequisites ------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def cpu_busy_percent(seconds: float = 2.0) -> float | None:
    """How busy all CPUs were over a short interval (before our own processes start)."""

    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    total = total1 - total0
    return round(100.0 * (1 - (idle1 - idle0) / total), 1) if total else None


def ensure_postgres() -> None:
    script = ROOT / "scripts" / "ensure-postgres"
    result = subprocess.run([str(script)], cwd=ROOT, timeout=60)
    if result.returncode != 0:
        raise BenchError("PostgreSQL does not answer on 127.0.0.1:5432 (see scripts/ensure-postgres).")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise BenchError("wrk is not installed and there is no apt-get here; install wrk (https://github.com/wg/wrk).")
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; run 'sudo apt-get install -y wrk' (this script installs it only as root).")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say("wrk is missing: apt-get install -y wrk")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, timeout=600).returncode != 0:
        say("apt-get install failed; running apt-get update first")
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=600)
        if subprocess.run(install, env=env, timeout=600).returncode != 0:
            raise BenchError("Could not install wrk with apt-get; install it by hand and run again.")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get reported success but wrk is still not on PATH.")
    return found


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "unknown"


class CpuMeter:
    """Where the CPU went during one wrk run, in cores: gunicorn workers, our PostgreSQL backends,
    wrk, and everything else on the machine (other work we do not control)."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self):
        self.app_pids: list[int] = []
        self.db_pids: list[int] = []

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0
        fields = stat[stat.rfind(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def _snapshot(self) -> dict:
        cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        return {
            "wall": time.monotonic(), "busy": sum(cpu) - cpu[3] - (cpu[4] if len(cpu) > 4 else 0),
            "app": sum(self._ticks(pid) for pid in self.app_pids),
            "db": sum(self._ticks(pid) for pid in self.db_pids),
            "wrk": children.ru_utime + children.ru_stime,
        }

    def start(self) -> dict | None:
        try:
            return self._snapshot()
        except OSError:
            return None

    def stop(self, before: dict | None) -> dict:
        if before is None:
            return {}
        try:
            after = self._snapshot()
        except OSError:
            return {}
        wall = after["wall"] - before["wall"]
        cores = {key: (after[key] - before[key]) / self.HZ / wall for key in ("busy", "app", "db")}
        cores["wrk"] = (after["wrk"] - before["wrk"]) / wall
        cores["other"] = max(0.0, cores["busy"] - cores["app"] - cores["db"] - cores["wrk"])
        return {key: round(value, 2) for key, value in cores.items()}


# --- database ------------------------------------------------------------------------------


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


def app_query(sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"postgresql://{SERVER}/{DATABASE}", autocommit=True, connect_timeout=10) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def create_database() -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin_sql(f"CREATE DATABASE {DATABASE}")


def drop_database() -> None:
    try:
        admin_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        say(f"dropped database {DATABASE}")
    except Exception as error:  # report, but do not hide the run's own outcome
        say(f"warning: could not drop database {DATABASE}: {error}")


def run_flask(env: dict, *args: str, timeout: int) -> None:
    command = [venv_tool("flask"), "--app", "wsgi", *args]
    say("$ " + " ".join(["flask", "--app", "wsgi", *args]))
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"'flask {' '.join(args)}' failed:\n{result.stdout}\n{result.stderr}")
    created = [line for line in result.stdout.splitlines() if line.startswith("Created:")]
    say(f"  done in {time.monotonic() - started:.1f} s" + (f"; {created[-1]}" if created else ""))


# --- gunicorn ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn with the production settings, in its own process group."""

    def __init__(self, env: dict, workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.command = [
            venv_tool("gunicorn"), "--no-control-socket", "--workers", str(workers),
            "--bind", f"{HOST}:{self.port}", "wsgi:app",
        ]
        self._log = open(log_path, "w")
        say("$ MARKETPLACE_ENV=production gunicorn " + " ".join(self.command[1:]))
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with _DIRECT.open(self.base + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}: {error.read()[:300]!r}"
            except OSError as error:
                last = str(error)
            time.sleep(0.25)
        raise BenchError(f"/readyz did not answer 200 within {timeout:.0f} s (last: {last}):\n{self.log_tail()}")

    def workers(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def worker_memory(self) -> list[dict]:
        found = []
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            values = dict(re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M))
            found.append({"pid": pid, "peak_rss_mib": round(int(values.get("VmHWM", 0)) / 1024, 1),
                          "rss_mib": round(int(values.get("VmRSS", 0)) / 1024, 1)})
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn: graceful shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                say("gunicorn did not stop within 30 s; killing its process group")
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        self._log.close()
        say(f"gunicorn stopped (exit {self.process.returncode})")


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with _DIRECT.open(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


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


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> dict:
    def need(pattern: str) -> re.Match:
        match = re.search(pattern, output, re.M)
        if not match:
            raise BenchError(f"Could not read {pattern!r} in wrk's output:\n{output}")
        return match

    percentiles = {int(p): float(v) * _UNITS_MS[u]
                   for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)}
    if set(percentiles) != {50, 75, 90, 99}:
        raise BenchError(f"wrk printed no latency distribution (is --latency supported?):\n{output}")
    done = need(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(need(r"^Requests/sec:\s+([\d.]+)").group(1)),
        "p50_ms": round(percentiles[50], 3), "p75_ms": round(percentiles[75], 3),
        "p90_ms": round(percentiles[90], 3), "p99_ms": round(percentiles[99], 3),
        "requests": int(done.group(1)),
        "seconds": round(float(done.group(2)) * _UNITS_MS[done.group(3)] / 1000, 2),
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()))) if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


class Wrk:
    def __init__(self, binary: str, threads: int, connections: int, workdir: Path, meter: CpuMeter):
        self.binary, self.threads, self.connections, self.workdir = binary, threads, connections, workdir
        self.meter = meter

    def run(self, base: str, scenario: Scenario | None, seconds: int, *, quiet: bool = False) -> WrkRun:
        name = scenario.name if scenario else "baseline"
        path = scenario.path if scenario else BASELINE
        command = [self.binary, "--latency", "--timeout", "5s", "-t", str(self.threads), "-c", str(self.connections),
                   "-d", f"{seconds}s"]
        if scenario and scenario.lua:
            script = self.workdir / f"{scenario.name}.lua"
            script.write_text(scenario.lua)
            command += ["-s", str(script)]
        command.append(base + path)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        before = self.meter.start()
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        cpu = self.meter.stop(before)
        if result.returncode != 0:
            raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        run = WrkRun(scenario=name, url=path, started_at=started, cpu_cores=cpu, **parse_wrk(result.stdout))
        if not quiet:
            errors = sum(run.socket_errors.values())
            say(f"  {name:<12} {run.requests_per_s:9.1f} req/s   p50 {run.p50_ms:8.2f} ms   p99 {run.p99_ms:8.2f} ms"
                + (f"   non-2xx {run.non_2xx_3xx}" if run.non_2xx_3xx else "")
                + (f"   socket errors {run.socket_errors}" if errors else "")
                + (f"   cores app/db/wrk/other {cpu['app']:.2f}/{cpu['db']:.2f}/{cpu['wrk']:.2f}/{cpu['other']:.2f}"
                   if cpu else ""))
        return run


# --- profiling (optional) --------------------------------------------------------------------

# Leaf frames that mean "this worker is sending to or waiting for PostgreSQL".
_DB_IO = {"Connection.wait", "BaseCursor._execute_send", "BaseConnection._exec_command"}


_HOT_SPOTS = {
    "Schema.dump", "Schema.__init__", "SelectInLoader._load_for_path", "_PGDialect_common_psycopg.do_ping",
    "SQLAlchemy._teardown_session", "DefaultJSONProvider.response", "ORMCompileState.orm_setup_cursor_result",
    "ClauseElement._compile_w_cache", "Connection.wait", "BaseCursor._execute_send", "ScalarResult.all",
    "scoped_session.scalar", "Session.get",
}


def summarise_stacks(path: Path, top: int = 18) -> list[str]:
    """Where a py-spy raw (collapsed) profile spends its samples: by library of the leaf frame,
    and the heaviest frames inclusive of what they call."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append((stack.split(";"), int(count)))
    total = sum(count for _, count in stacks) or 1

    def where(frame: str) -> str:
        match = re.search(r"\(([^():]+)", frame)
        file = match.group(1) if match else frame
        file = re.sub(r"^.*?site-packages/", "", file).replace(str(ROOT) + "/", "")
        return "stdlib" if "python3." in file else file.split("/")[0]

    def name(frame: str) -> str:
        return re.sub(r":\d+\)", ")", re.sub(r"\(.*?site-packages/", "(", frame)).replace(str(ROOT) + "/", "")

    by_library: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for frames, count in stacks:
        leaf = frames[-1]
        library = "PostgreSQL round trips (psycopg send/wait)" if leaf.split(" (")[0] in _DB_IO else where(leaf)
        by_library[library] = by_library.get(library, 0) + count
        for frame in {name(f) for f in frames}:
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"{total} samples; time by library of the innermost frame:"]
    lines += [f"  {100 * n / total:5.1f}%  {lib}" for lib, n in sorted(by_library.items(), key=lambda x: -x[1])[:10]]
    lines.append("inclusive time of the app's own frames and of known hot spots:")
    heavy = [(f, n) for f, n in inclusive.items()
             if "(marketplace/" in f or f.split(" (")[0] in _HOT_SPOTS]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in sorted(heavy, key=lambda x: -x[1])[:top]]
    return lines


def profile(server: Server, load: Wrk, scenario: Scenario | None, seconds: int, name: str) -> None:
    py_spy = next((str(p) for p in (Path(sys.executable).parent / "py-spy",) if p.exists()), shutil.which("py-spy"))
    if not py_spy:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy (a profiling tool, not a project requirement).")
    workers = server.workers()
    if not workers:
        raise BenchError("No gunicorn worker to profile.")
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"catalog-{name}.collapsed.txt"
    path = scenario.path if scenario else BASELINE
    command = [load.binary, "-t", str(load.threads), "-c", str(load.connections), "-d", f"{seconds + 4}s"]
    if scenario and scenario.lua:
        script = load.workdir / f"{scenario.name}.lua"
        script.write_text(scenario.lua)
        command += ["-s", str(script)]
    say(f"profiling worker {workers[0]} with py-spy during {seconds} s of {name} (not measured)")
    traffic = subprocess.Popen(command + [server.base + path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        result = subprocess.run([py_spy, "record", "-p", str(workers[0]), "-d", str(seconds), "-r", "200", "-f", "raw",
                                 "-o", str(out)], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        try:
            traffic.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            traffic.kill()
            traffic.wait()
    if result.returncode != 0 or not out.exists():
        raise BenchError(f"py-spy failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    say(f"  stacks: {out.relative_to(ROOT)}")
    for line in summarise_stacks(out):
        say("  " + line)


# --- the run ------------------------------------------------------------------------------


def cpu_ms_per_request(run: WrkRun) -> float | None:
    """CPU time of the gunicorn workers plus their PostgreSQL backends per request, in ms."""
    if not run.cpu_cores or not run.requests_per_s:
        return None
    return (run.cpu_cores["app"] + run.cpu_cores["db"]) * 1000 / run.requests_per_s


def summarise(scenario_list: list[Scenario], runs: list[WrkRun]) -> dict:
    """Each scenario run against the mean of the baseline runs just before and after it.

    Besides throughput and latency ratios, the CPU cost ratio (baseline CPU ms per request over the
    scenario's) estimates the throughput ratio on an idle machine: it depends much less on what
    else runs at the same time, because it counts only the CPU our processes actually got.
    """
    by_scenario: dict[str, list[dict]] = {s.name: [] for s in scenario_list}
    for index, run in enumerate(runs):
        if run.scenario == "baseline":
            continue
        before, after = runs[index - 1], runs[index + 1]
        assert before.scenario == after.scenario == "baseline"
        base = {key: (getattr(before, key) + getattr(after, key)) / 2 for key in ("requests_per_s", "p50_ms", "p99_ms")}
        row = {
            "requests_per_s": run.requests_per_s, "p50_ms": run.p50_ms, "p99_ms": run.p99_ms,
            "baseline_requests_per_s": base["requests_per_s"], "baseline_p50_ms": base["p50_ms"],
            "baseline_p99_ms": base["p99_ms"],
            "throughput_ratio": run.requests_per_s / base["requests_per_s"],
            "p50_ratio": run.p50_ms / base["p50_ms"], "p99_ratio": run.p99_ms / base["p99_ms"],
        }
        costs = [cpu_ms_per_request(r) for r in (run, before, after)]
        if None not in costs:
            row.update(cpu_ms_per_request=costs[0], baseline_cpu_ms_per_request=(costs[1] + costs[2]) / 2,
                       cpu_cost_ratio=(costs[1] + costs[2]) / 2 / costs[0])
        by_scenario[run.scenario].append(row)
    summary = {}
    for scenario in scenario_list:
        rows = by_scenario[scenario.name]
        keys = [key for key in rows[0] if all(key in row for row in rows)]
        mean = {key: round(statistics.mean(row[key] for row in rows), 3) for key in keys}
        ratio = mean["throughput_ratio"]
        summary[scenario.name] = {
            "label": scenario.label, "path": scenario.path, **mean, "target_throughput_ratio": scenario.target,
            "verdict": "PASS" if ratio >= scenario.target else "MISS", "rounds": len(rows), **scenario.check,
        }
    baselines = [r for r in runs if r.scenario == "baseline"]
    summary["baseline"] = {
        "label": "trivial JSON (/healthz)", "path": BASELINE, "runs": len(baselines),
        "requests_per_s": round(statistics.mean(r.requests_per_s for r in baselines), 1),
        "requests_per_s_min": min(r.requests_per_s for r in baselines),
        "requests_per_s_max": max(r.requests_per_s for r in baselines),
        "p50_ms": round(statistics.mean(r.p50_ms for r in baselines), 3),
        "p99_ms": round(statistics.mean(r.p99_ms for r in baselines), 3),
    }
    costs = [cpu_ms_per_request(r) for r in baselines]
    if None not in costs:
        summary["baseline"]["cpu_ms_per_request"] = round(statistics.mean(costs), 3)
    return summary


def _pad(text: str, width: int) -> str:
    """Left-justify for a terminal, where CJK characters take two columns."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
    return text + " " * max(0, width - columns)


def print_table(scenario_list: list[Scenario], summary: dict) -> None:
    base = summary["baseline"]
    header = (f"{'endpoint':<28} {'req/s':>8} {'ratio':>6} {'target':>7} {'p50 ms':>8} {'x base':>7} {'p99 ms':>8} "
              f"{'x base':>7} {'cpu ms':>7} {'cpu ratio':>9}  verdict")
    say("")
    say(header)
    say("-" * len(header))

    def cpu(row: dict, key: str, fmt: str, width: int) -> str:
        return format(row[key], fmt).rjust(width) if key in row else "?".rjust(width)

    say(f"{_pad(base['label'], 28)} {base['requests_per_s']:8.1f} {'1.00':>6} {'':>7} {base['p50_ms']:8.2f} {'':>7} "
        f"{base['p99_ms']:8.2f} {'':>7} {cpu(base, 'cpu_ms_per_request', '.2f', 7)} {'1.00':>9}  "
        f"(runs {base['requests_per_s_min']:.0f}..{base['requests_per_s_max']:.0f} req/s)")
    for scenario in scenario_list:
        row = summary[scenario.name]
        say(f"{_pad(row['label'], 28)} {row['requests_per_s']:8.1f} {row['throughput_ratio']:6.2f} "
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


def code_version() -> dict:
    """The commit measured, and whether the working tree differed from it (it often does)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    # Porcelain lines are "XY path": the two status columns may be blanks, so do not strip them.
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if len(line) > 3]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown (not a git checkout)",
            "modified_files": changed}


def machine_facts(wrk: str) -> dict:
    import psycopg

    with psycopg.connect(ADMIN_URL, connect_timeout=10) as connection:
        pg_version = connection.execute("SHOW server_version").fetchone()[0]
    gunicorn = subprocess.run([venv_tool("gunicorn"), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return {
        "code": code_version(),
        "nproc": os.cpu_count(), "cpu_model": cpu_model(), "memory_gib": mem_total_gib(),
        "kernel": platform.release(), "postgresql": pg_version,
        "python": platform.python_version(), "gunicorn": gunicorn, "wrk": wrk_version(wrk),
    }


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="listings to seed (default 10000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per URL, not measured (default 3)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat B S1 B S2 B S3 B this many times (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, as in production)")
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
    signal.signal(signal.SIGTERM, _interrupted)
    os.chdir(ROOT)
    server: Server | None = None
    database_created = False
    workdir = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    try:
        busy_before = cpu_busy_percent()
        load_before = loadavg()
        say(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_before}, CPU busy before start {busy_before}%")
        ensure_postgres()
        wrk = ensure_wrk()
        machine = machine_facts(wrk)
        code = machine["code"]
        say(f"code: commit {code['commit']}" + (f" with {len(code['modified_files'])} modified file(s) in the working tree"
                                                  if code["modified_files"] else ""))

        env = {key: value for key, value in os.environ.items() if key not in ("FLASK_ENV", "REDIS_URL", "FLASK_APP")}
        env.update(MARKETPLACE_ENV="production", SECRET_KEY=secrets.token_urlsafe(32), DATABASE_URL=DATABASE_URL,
                   PYTHONUNBUFFERED="1")
        say(f"database {DATABASE}: drop and create")
        create_database()
        database_created = True
        run_flask(env, "db", "upgrade", timeout=300)
        run_flask(env, "seed", "demo", "--products", str(args.products), timeout=900)
        app_query("ANALYZE")
        counts = dict(app_query("SELECT status, count(*) FROM products GROUP BY status"))
        say(f"  products by status: {counts}")

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
        meter.db_pids = [row[0] for row in app_query(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DATABASE,))]
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
        others = [r.cpu_cores["other"] for r in runs if r.cpu_cores]
        other_cores = round(statistics.mean(others), 2) if others else None
        say(f"load average before {load_before}, after {load_after}; other processes used {other_cores} of "
            f"{os.cpu_count()} cores on average during the measured runs")

        bad = [r for r in runs if r.non_2xx_3xx or r.socket_errors["timeout"]]
        result = {
            "benchmark": "catalog",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "noise": {"loadavg_before": load_before, "loadavg_after": load_after, "cpu_busy_percent_before": busy_before,
                      "other_cores_mean": other_cores,
                      "note": "wrk, gunicorn and PostgreSQL share the same CPUs; other work on the machine is not "
                              "controlled. other_cores_mean: CPU used by processes other than the gunicorn workers, "
                              "their PostgreSQL backends and wrk, averaged over the measured runs, in cores."},
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
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        say(f"results written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
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
            drop_database()
        elif database_created:
            say(f"kept database {DATABASE} ({DATABASE_URL})")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
