"""Shared pieces of the HTTP benchmarks in bench/ (catalog.py, checkout.py, webhook.py, storefront.py,
reports.py).

Everything a benchmark needs besides its own scenarios: the machine's facts and noise, the
prerequisites (PostgreSQL on 127.0.0.1:5432, wrk), a throw-away database, the app under gunicorn
as in production, the baseline (a bare Flask app, one JSON view, under the same gunicorn
settings), wrk runs and their parsing, CPU accounting per run (the app's workers and the bare
app's apart), the comparison of each scenario with the bare app's runs just before and after it
and with the app's own /healthz, the verdicts (throughput ratios to the bare app, each worker's
peak RSS), optional py-spy profiles, the table and the JSON results. Not a script; the
benchmarks import it (``python bench/<name>.py`` puts bench/ on sys.path).

All traffic goes to 127.0.0.1 only, and every step has a time limit.
"""
from __future__ import annotations

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
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "artifacts" / "bench"  # git-ignored
SERVER = "postgres@127.0.0.1:5432"
ADMIN_URL = f"postgresql://{SERVER}/postgres"
HOST = "127.0.0.1"
BASELINE = "/healthz"  # the bare app's one JSON view (and the app's own /healthz, a scenario)
HEALTHZ_TARGET = 0.80  # the app's /healthz: at least this share of the bare app's requests/s
RSS_TARGET_MIB = 150  # peak RSS of each of the app's gunicorn workers, in every benchmark
# As the Procfile runs the web process: two sync workers per core, so that while one waits on
# PostgreSQL (a round trip, a commit, a row lock in a flash sale) another has the core.
PRODUCTION_WORKERS = 2 * (os.cpu_count() or 1)
# Plain requests go straight to 127.0.0.1, never through a proxy named in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """A step failed; the message says which and why."""


@dataclass
class Scenario:
    name: str
    label: str
    path: str  # the first URL; a Lua script may vary the requests
    target: float  # required throughput ratio to the bare app (0: none, reported only)
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


def interrupted(signum, frame):
    """SIGTERM handler: a SIGTERM (e.g. from make or a CI timeout) unwinds through the finally blocks."""
    raise KeyboardInterrupt


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
    """Where the CPU went during one load run, in cores: the app's gunicorn workers (``app``), our
    PostgreSQL backends (``db``), the bare app's workers (``bare``), the load generator (wrk, or any
    other child process of ours that has exited by the end of the run), and everything else on the
    machine (other work we do not control)."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self):
        self.app_pids: list[int] = []
        self.db_pids: list[int] = []
        self.bare_pids: list[int] = []

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
            "bare": sum(self._ticks(pid) for pid in self.bare_pids),
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
        cores = {key: (after[key] - before[key]) / self.HZ / wall for key in ("busy", "app", "db", "bare")}
        cores["wrk"] = (after["wrk"] - before["wrk"]) / wall
        cores["other"] = max(0.0, cores["busy"] - cores["app"] - cores["db"] - cores["bare"] - cores["wrk"])
        return {key: round(value, 2) for key, value in cores.items()}


# --- database ------------------------------------------------------------------------------


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


class Database:
    """A throw-away database of the benchmark on the local server."""

    def __init__(self, name: str):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.name = name
        self.url = f"postgresql+psycopg://{SERVER}/{name}"  # for the app (SQLAlchemy)
        self.dsn = f"postgresql://{SERVER}/{name}"  # for psycopg

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def create(self) -> None:
        say(f"database {self.name}: drop and create")
        admin_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        admin_sql(f"CREATE DATABASE {self.name}")

    def drop(self) -> None:
        try:
            admin_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            say(f"dropped database {self.name}")
        except Exception as error:  # report, but do not hide the run's own outcome
            say(f"warning: could not drop database {self.name}: {error}")

    def backend_pids(self) -> list[int]:
        """The PostgreSQL backends serving this database (the app's connections), not this query's."""
        return [row[0] for row in self.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))]


def production_env(database_url: str) -> dict:
    """The environment gunicorn and the flask commands run with: production config, a SECRET_KEY
    made for this run, the benchmark's database; nothing inherited that would change the config."""
    env = {key: value for key, value in os.environ.items() if key not in ("FLASK_ENV", "REDIS_URL", "FLASK_APP")}
    env.update(MARKETPLACE_ENV="production", SECRET_KEY=secrets.token_urlsafe(32), DATABASE_URL=database_url,
               PYTHONUNBUFFERED="1",
               # Production requires Redis for the rate limits; only a login reaches it (bench/reports.py's
               # one), so the other benchmarks run without a server answering there.
               REDIS_URL=os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14",
               # The run's photos apart from the checkout's own: the jobs worker's media sweep deletes
               # what the benchmark's database does not name.
               MEDIA_ROOT=tempfile.mkdtemp(prefix="bench-media-"))
    return env


def run_flask(env: dict, *args: str, timeout: int) -> None:
    command = [venv_tool("flask"), "--app", "wsgi", *args]
    say("$ " + " ".join(["flask", "--app", "wsgi", *args]))
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"'flask {' '.join(args)}' failed:\n{result.stdout}\n{result.stderr}")
    created = [line for line in result.stdout.splitlines() if line.startswith("Created:")]
    say(f"  done in {time.monotonic() - started:.1f} s" + (f"; {created[-1]}" if created else ""))


def seed_database(database: Database, env: dict, products: int, history_rows: int = 0) -> dict:
    """Migrate the (new) database, seed the demo data with ``products`` listings (and, with
    ``history_rows``, the sales history of ``flask seed demo --history``), ANALYZE; returns the
    listings by status."""
    run_flask(env, "db", "upgrade", timeout=300)
    # --history 0: none of the demo's sales either, so a bench measures only what it seeds.
    run_flask(env, "seed", "demo", "--products", str(products), "--history", str(history_rows), timeout=900)
    database.query("ANALYZE")
    counts = dict(database.query("SELECT status, count(*) FROM products GROUP BY status"))
    say(f"  products by status: {counts}")
    return counts


# --- gunicorn ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def gunicorn_settings(workers: int, port: int) -> list[str]:
    """The gunicorn settings the app and the bare app share, as the Procfile gives them (sync
    workers, gunicorn's default worker class, which neither the Procfile nor gunicorn.conf.py
    changes), on a port of 127.0.0.1."""
    return ["--no-control-socket", "--workers", str(workers), "--bind", f"{HOST}:{port}"]


class Server:
    """The app under gunicorn as the Procfile starts it (``-c gunicorn.conf.py``, the production
    config), in its own process group."""

    name = "app"

    def __init__(self, env: dict, workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        command = [venv_tool("gunicorn"), "-c", "gunicorn.conf.py", *gunicorn_settings(workers, self.port), "wsgi:app"]
        self._start(command, ROOT, env, log_path, shown="MARKETPLACE_ENV=production gunicorn")

    def _start(self, command: list[str], cwd: Path, env: dict, log_path: Path, shown: str) -> None:
        self.command, self.log_path = command, log_path
        self._log = open(log_path, "w")
        say(f"$ {shown} " + " ".join(command[1:]))
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
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
                raise BenchError(f"gunicorn ({self.name}) exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with _DIRECT.open(self.base + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}: {error.read()[:300]!r}"
            except OSError as error:
                last = str(error)
            time.sleep(0.25)
        raise BenchError(f"/readyz of the {self.name} did not answer 200 within {timeout:.0f} s (last: {last}):\n"
                         f"{self.log_tail()}")

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
                say(f"gunicorn ({self.name}) did not stop within 30 s; killing its process group")
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        self._log.close()
        say(f"gunicorn ({self.name}) stopped (exit {self.process.returncode})")


BARE_APP = '''"""The baseline: a bare Flask app, one view returning a small JSON object, no extension."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    return jsonify(status="ready")
'''


class BareServer(Server):
    """The baseline: BARE_APP under gunicorn with the app's settings (gunicorn_settings: the same
    workers, worker class and --no-control-socket), its module and log in ``workdir``. It starts
    there, not in the repository, so that gunicorn reads no gunicorn.conf.py: that file holds the
    app's own hooks and logger (its metrics directory, its JSON log lines), no worker setting."""

    name = "bare app"

    def __init__(self, env: dict, workers: int, workdir: Path):
        (workdir / "bare_flask.py").write_text(BARE_APP)
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        command = [venv_tool("gunicorn"), *gunicorn_settings(workers, self.port), "--chdir", str(workdir),
                   "bare_flask:app"]
        self._start(command, workdir, env, workdir / "bare.log", shown="gunicorn")


def start_servers(env: dict, workers: int, workdir: Path, servers: list[Server]) -> tuple[Server, BareServer]:
    """The app and the bare app, both answering /healthz; each is added to ``servers`` as it starts,
    so that the caller's cleanup stops it whatever happens next."""
    app = Server(env, workers, workdir / "gunicorn.log")
    servers.append(app)
    bare = BareServer(env, workers, workdir)
    servers.append(bare)
    for server in (app, bare):
        server.wait_ready()
        status, body = fetch(server.base + BASELINE)
        if status != 200:
            raise BenchError(f"GET {BASELINE} of the {server.name} answered {status}: {body[:200]!r}")
    say(f"app on {app.base} (workers {app.workers()}), bare Flask app on {bare.base} (workers {bare.workers()})")
    return app, bare


def meter_servers(app: Server, bare: BareServer) -> CpuMeter:
    """A CPU meter counting the app's workers and the bare app's apart (the database's backends are
    added once the app has opened its connections)."""
    meter = CpuMeter()
    meter.app_pids, meter.bare_pids = app.workers(), bare.workers()
    return meter


def fetch(url: str, *, method: str | None = None, data: bytes | None = None,
          headers: dict | None = None) -> tuple[int, bytes]:
    """One request to 127.0.0.1 (a GET unless told otherwise): status and body, errors included."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with _DIRECT.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- wrk -----------------------------------------------------------------------------------


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
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)) if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


class Wrk:
    def __init__(self, binary: str, threads: int, connections: int, workdir: Path, meter: CpuMeter):
        self.binary, self.threads, self.connections, self.workdir = binary, threads, connections, workdir
        self.meter = meter
        self.last_output = ""  # wrk's stdout of the last run, for what a Lua done() printed

    def script(self, scenario: Scenario | None) -> list[str]:
        """wrk's -s option for a scenario with a Lua script (written to the work directory)."""
        if not (scenario and scenario.lua):
            return []
        path = self.workdir / f"{scenario.name}.lua"
        path.write_text(scenario.lua)
        return ["-s", str(path)]

    def run(self, base: str, scenario: Scenario | None, seconds: int, *, quiet: bool = False) -> WrkRun:
        name = scenario.name if scenario else "baseline"
        path = scenario.path if scenario else BASELINE
        command = [self.binary, "--latency", "--timeout", "5s", "-t", str(self.threads), "-c", str(self.connections),
                   "-d", f"{seconds}s"]
        command += self.script(scenario)
        command.append(base + path)
        started = utc_now_iso()
        before = self.meter.start()
        result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        cpu = self.meter.stop(before)
        if result.returncode != 0:
            raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        self.last_output = result.stdout
        run = WrkRun(scenario=name, url=path, started_at=started, cpu_cores=cpu, **parse_wrk(result.stdout))
        if not quiet:
            errors = sum(run.socket_errors.values())
            say(f"  {name:<12} {run.requests_per_s:9.1f} req/s   p50 {run.p50_ms:8.2f} ms   p99 {run.p99_ms:8.2f} ms"
                + (f"   non-2xx {run.non_2xx_3xx}" if run.non_2xx_3xx else "")
                + (f"   socket errors {run.socket_errors}" if errors else "")
                + (f"   cores app/db/bare/wrk/other {cpu['app']:.2f}/{cpu['db']:.2f}/{cpu['bare']:.2f}/"
                   f"{cpu['wrk']:.2f}/{cpu['other']:.2f}" if cpu else ""))
        return run


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- profiling (optional) --------------------------------------------------------------------

# Leaf frames that mean "this worker is sending to or waiting for PostgreSQL".
_DB_IO = {"Connection.wait", "BaseCursor._execute_send", "BaseConnection._exec_command"}


_HOT_SPOTS = {
    "Schema.dump", "Schema.__init__", "SelectInLoader._load_for_path", "_PGDialect_common_psycopg.do_ping",
    "SQLAlchemy._teardown_session", "DefaultJSONProvider.response", "ORMCompileState.orm_setup_cursor_result",
    "ClauseElement._compile_w_cache", "Connection.wait", "BaseCursor._execute_send", "ScalarResult.all",
    "scoped_session.scalar", "Session.get",
}


def summarise_stacks(path: Path, top: int = 18, hot_spots: set[str] | None = None) -> list[str]:
    """Where a py-spy raw (collapsed) profile spends its samples: by library of the leaf frame,
    and the heaviest frames inclusive of what they call."""
    hot_spots = _HOT_SPOTS | (hot_spots or set())
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
             if "(marketplace/" in f or f.split(" (")[0] in hot_spots]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in sorted(heavy, key=lambda x: -x[1])[:top]]
    return lines


def profile(server: Server, load: Wrk, scenario: Scenario | None, seconds: int, name: str, *, prefix: str,
            hot_spots: set[str] | None = None) -> None:
    """One more, unmeasured wrk run of a scenario while py-spy samples one worker; the raw stacks go
    to artifacts/bench/<prefix>-<name>.collapsed.txt and a summary is printed. The baseline
    (``scenario`` None) is the bare app's /healthz: pass the BareServer; ``healthz`` is the app's."""
    py_spy = next((str(p) for p in (Path(sys.executable).parent / "py-spy",) if p.exists()), shutil.which("py-spy"))
    if not py_spy:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy (a profiling tool, not a project requirement).")
    workers = server.workers()
    if not workers:
        raise BenchError("No gunicorn worker to profile.")
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"{prefix}-{name}.collapsed.txt"
    path = scenario.path if scenario else BASELINE
    command = [load.binary, "-t", str(load.threads), "-c", str(load.connections), "-d", f"{seconds + 4}s"]
    command += load.script(scenario)
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
    for line in summarise_stacks(out, hot_spots=hot_spots):
        say("  " + line)


# --- comparing with the baseline ------------------------------------------------------------


def cpu_ms_per_request(run) -> float | None:
    """CPU time per request, in ms, of the server the run loaded: the bare app's workers for a
    baseline run, the app's workers plus their PostgreSQL backends for any other."""
    if not run.cpu_cores or not run.requests_per_s:
        return None
    if run.scenario == "baseline":
        cores = run.cpu_cores["bare"]
    else:
        cores = run.cpu_cores["app"] + run.cpu_cores["db"]
    return cores * 1000 / run.requests_per_s


def compare_with_baselines(runs: list) -> list[tuple]:
    """Each scenario run against the mean of the baseline runs (the bare app) just before and after it.

    ``runs`` alternate baseline, scenario, baseline, ...; each needs the attributes scenario,
    requests_per_s, p50_ms, p99_ms and cpu_cores. Returns (run, row) for every non-baseline run.

    Besides throughput and latency ratios, the CPU cost ratio (the bare app's CPU ms per request
    over the scenario's) estimates the throughput ratio on an idle machine: it depends much less on
    what else runs at the same time, because it counts only the CPU our processes actually got.
    """
    compared = []
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
        compared.append((run, row))
    return compared


def mean_rows(rows: list[dict]) -> dict:
    """The mean of each key all rows have (one row per round), rounded to 3 decimals."""
    keys = [key for key in rows[0] if all(key in row for row in rows)]
    return {key: round(statistics.mean(row[key] for row in rows), 3) for key in keys}


def baseline_summary(runs: list) -> dict:
    baselines = [r for r in runs if r.scenario == "baseline"]
    summary = {
        "label": "bare Flask app, one JSON view", "path": BASELINE, "runs": len(baselines),
        "requests_per_s": round(statistics.mean(r.requests_per_s for r in baselines), 1),
        "requests_per_s_min": min(r.requests_per_s for r in baselines),
        "requests_per_s_max": max(r.requests_per_s for r in baselines),
        "p50_ms": round(statistics.mean(r.p50_ms for r in baselines), 3),
        "p99_ms": round(statistics.mean(r.p99_ms for r in baselines), 3),
    }
    costs = [cpu_ms_per_request(r) for r in baselines]
    if None not in costs:
        summary["cpu_ms_per_request"] = round(statistics.mean(costs), 3)
    return summary


def healthz_scenario(**fields) -> Scenario:
    """The app's own /healthz, measured like any scenario: what every request pays before its view."""
    return Scenario("healthz", "app /healthz", "/healthz", HEALTHZ_TARGET, **fields)


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio >= target else "MISS"


def summarise(scenario_list: list[Scenario], runs: list, adjust=None) -> dict:
    """Each scenario against the bare app's runs around it (compare_with_baselines), averaged over
    the rounds, with its verdict when it has a target, and its ratio to the app's /healthz (the
    ``healthz`` scenario's mean requests/s, which must be among ``scenario_list``); and the bare
    app's own figures under ``baseline``. ``adjust(run, row)``, if given, may change each row first."""
    rows: dict[str, list[dict]] = {scenario.name: [] for scenario in scenario_list}
    for run, row in compare_with_baselines(runs):
        if adjust:
            adjust(run, row)
        rows[run.scenario].append(row)
    summary = {}
    for scenario in scenario_list:
        mean = mean_rows(rows[scenario.name])
        summary[scenario.name] = {"label": scenario.label, "path": scenario.path, **mean,
                                  "rounds": len(rows[scenario.name]), **scenario.check}
        if scenario.target:
            summary[scenario.name].update(target_throughput_ratio=scenario.target,
                                          verdict=verdict(mean["throughput_ratio"], scenario.target))
    healthz = summary["healthz"]["requests_per_s"]
    for scenario in scenario_list:
        summary[scenario.name]["ratio_to_healthz"] = round(summary[scenario.name]["requests_per_s"] / healthz, 3)
    summary["baseline"] = baseline_summary(runs)
    return summary


def memory_verdicts(memory: list[dict]) -> list[dict]:
    """Each worker's peak RSS (Server.worker_memory) against RSS_TARGET_MIB."""
    for worker in memory:
        worker.update(target_mib=RSS_TARGET_MIB, verdict="PASS" if worker["peak_rss_mib"] < RSS_TARGET_MIB else "MISS")
    return memory


def missed_targets(summary: dict, names: list[str], memory: list[dict]) -> list[str]:
    return ([name for name in names if summary[name].get("verdict") == "MISS"]
            + [f"worker {w['pid']} peak RSS" for w in memory if w["verdict"] == "MISS"])


def print_table(summary: dict, names: list[str], memory: list[dict], note: str = "") -> None:
    """The bare app's figures, each scenario's with its ratios, target and verdict, and each of the
    app's workers' peak RSS against its target; ``note`` explains what is particular to a script."""
    width = 34
    header = (f"{'scenario':<{width}} {'req/s':>8} {'x bare':>7} {'x healthz':>9} {'target':>7} {'p50 ms':>8} "
              f"{'x bare':>7} {'p99 ms':>8} {'x bare':>7} {'cpu ms':>7} {'cpu ratio':>9}  verdict")
    say("")
    say(header)
    say("-" * len(header))

    def cell(row: dict, key: str, fmt: str, size: int) -> str:
        return format(row[key], fmt).rjust(size) if key in row else "?".rjust(size)

    base = summary["baseline"]
    say(f"{pad(base['label'], width)} {base['requests_per_s']:8.1f} {'1.00':>7} {'':>9} {'':>7} {base['p50_ms']:8.2f} "
        f"{'':>7} {base['p99_ms']:8.2f} {'':>7} {cell(base, 'cpu_ms_per_request', '.2f', 7)} {'1.00':>9}  "
        f"(runs {base['requests_per_s_min']:.0f}..{base['requests_per_s_max']:.0f} req/s)")
    for name in names:
        row = summary[name]
        target = f">={row['target_throughput_ratio']:.2f}" if "target_throughput_ratio" in row else ""
        say(f"{pad(row['label'], width)} {row['requests_per_s']:8.1f} {row['throughput_ratio']:7.2f} "
            f"{row['ratio_to_healthz']:9.2f} {target:>7} {row['p50_ms']:8.2f} {row['p50_ratio']:7.1f} "
            f"{row['p99_ms']:8.2f} {row['p99_ratio']:7.1f} {cell(row, 'cpu_ms_per_request', '.2f', 7)} "
            f"{cell(row, 'cpu_cost_ratio', '.2f', 9)}  {row.get('verdict', '')}")
    for worker in memory:
        label = f"worker {worker['pid']}, peak RSS MiB"
        say(f"{pad(label, width)} {worker['peak_rss_mib']:8.1f} {'':>7} {'':>9} "
            f"{'<' + str(worker['target_mib']):>7} {'':>8} {'':>7} {'':>8} {'':>7} {'':>7} {'':>9}  "
            f"{worker['verdict']} (now {worker['rss_mib']} MiB)")
    say("x bare: over the mean of the bare Flask app's runs just before and after (requests/s: the verdict uses it;\n"
        "latency: p50 and p99 over the bare app's); x healthz: requests/s over the app's own /healthz in this run;\n"
        "cpu ms: CPU per request of the app's workers + their PostgreSQL backends (the bare app's: its workers);\n"
        "cpu ratio: the bare app's cpu ms over the scenario's, an estimate of x bare on an idle machine (informational)"
        + (f"\n{note}" if note else ""))


def other_cores_mean(runs: list) -> float | None:
    others = [r.cpu_cores["other"] for r in runs if r.cpu_cores]
    return round(statistics.mean(others), 2) if others else None


def pad(text: str, width: int) -> str:
    """Left-justify for a terminal, where CJK characters take two columns."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
    return text + " " * max(0, width - columns)


# --- facts and results --------------------------------------------------------------------


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


def preflight() -> tuple[str, dict]:
    """PostgreSQL and wrk ready; returns wrk's path and the machine's facts (code version included)."""
    ensure_postgres()
    wrk = ensure_wrk()
    machine = machine_facts(wrk)
    code = machine["code"]
    say(f"code: commit {code['commit']}" + (f" with {len(code['modified_files'])} modified file(s) in the working tree"
                                              if code["modified_files"] else ""))
    return wrk, machine


def noise_note() -> str:
    return ("wrk, gunicorn and PostgreSQL share the same CPUs; other work on the machine is not "
            "controlled. other_cores_mean: CPU used by processes other than the gunicorn workers (the "
            "app's and the bare app's), their PostgreSQL backends and wrk, averaged over the measured "
            "runs, in cores.")


def write_results(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    say(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
