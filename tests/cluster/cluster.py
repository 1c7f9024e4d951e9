"""Many machines on one: HAProxy in front of two app nodes, two job workers, localstripe and a local S3.

``scripts/cluster start|stop|status`` runs this module; ``tests/cluster/test_cluster.py`` starts
the same cluster in a temporary directory. What runs, each in its own process group so that a node
can be killed whole (its gunicorn master and workers):

- ``haproxy``: Debian's HAProxy on one port (``CLUSTER_PORT``, default 8100), round robin over
  the two nodes, health checks on /healthz, ``option forwardfor``; a node that refuses a
  connection is marked down at once and the request goes to the other node;
- ``node1``, ``node2``: two gunicorn masters (``--no-control-socket``) on ports of their own,
  each with its own empty instance directory and MEDIA_ROOT, so they share no local file: what
  they share is PostgreSQL, Redis and the S3 bucket, as on separate machines;
- ``worker1``, ``worker2``: two ``flask --app wsgi jobs run``;
- ``localstripe`` (Stripe, its webhook registered to the balancer) and ``moto`` (S3, one bucket).

All of them run with ``MARKETPLACE_ENV=production`` on a database created for the cluster
(``CLUSTER_DATABASE``, migrated and seeded with the demo data) and a Redis database number of its
own (``CLUSTER_REDIS_DB``). The run directory (``CLUSTER_DIR``, default ``instance/cluster``) holds
the pid files, the logs, the nodes' directories, HAProxy's config and ``cluster.json`` (where each
part listens, for ``status`` and the test). ``stop`` stops every process it started (checked by
pid and start time), drops the database and empties the Redis database; it does nothing when
nothing runs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
NODES = ("node1", "node2")
WORKERS = ("worker1", "worker2")
# The order things start in; they stop in the reverse order (the balancer first, Stripe last).
START_ORDER = ("localstripe", "moto", *NODES, *WORKERS, "haproxy")
STARTUP_SECONDS = 90  # CI machines are slow and shared; every wait has this limit
STOP_SECONDS = 15
S3_BUCKET = "marketplace-cluster"
STRIPE_SECRET_KEY = "sk_test_marketplace_cluster"
STRIPE_WEBHOOK_SECRET = "whsec_marketplace_cluster"
# What to do when a part dies at start, beyond what its log says.
HINTS = {
    "localstripe": " (localstripe comes with requirements.txt: scripts/bootstrap requirements-dev.txt)",
    "moto": " (moto's server comes with requirements-dev.txt, moto[server]: scripts/bootstrap requirements-dev.txt)",
}
# Inherited variables that would change what the cluster runs; everything it needs is set below.
NOT_INHERITED = re.compile(
    r"(FLASK_.*|MARKETPLACE_.*|DATABASE_URL|REPLICA_DATABASE_URL|REDIS_URL|SECRET_KEY|MEDIA_.*|S3_.*|STRIPE_.*"
    r"|TRUSTED_PROXIES|METRICS_TOKEN|LOG_FORMAT|JOBS_.*|AWS_.*|PROMETHEUS_MULTIPROC_DIR)")
# Requests from the tools below go straight to 127.0.0.1, never through a proxy named in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

HAPROXY_CONFIG = """\
# Written by tests/cluster/cluster.py for this run; not a file to edit.
global
    maxconn 4096
    stats socket {run_dir}/haproxy.sock mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option forwardfor            # X-Forwarded-For: the app trusts one hop (TRUSTED_PROXIES=1)
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    # A connection refused by a dead node is tried again on the other node at once (redispatch
    # on every retry). Only connection failures are retried: a request a node received and then
    # died on may have been committed, and only the client knows if it is safe to send again
    # (checkouts are: they carry an Idempotency-Key).
    retries 2
    option redispatch 1

frontend marketplace
    bind {host}:{port}
    default_backend app_nodes

backend app_nodes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    # Which node answered, for the cluster test (drop it if node names are not for clients).
    http-response set-header X-Served-By %[srv_name]
    # Checked twice a second; down after two failed checks, or at once on a refused connection.
    default-server check inter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
{servers}
"""


class ClusterError(Exception):
    """The cluster could not be started (or checked); the message says why and what to do."""


@dataclass(frozen=True)
class Settings:
    """Where the cluster lives and what it uses, from the environment."""

    run_dir: Path
    port: int  # of the balancer; 0: any free port
    database: str
    redis_db: int
    web_workers: int
    pg_server: str  # user@host:port
    # Settings of the apps themselves (e.g. short job periods): CLUSTER_APP_<NAME>=value sets NAME.
    app_settings: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ=os.environ) -> Settings:
        database = environ.get("CLUSTER_DATABASE", "marketplace_cluster")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise ClusterError(f"CLUSTER_DATABASE must be a plain lower-case name, not {database!r}")
        try:
            port, redis_db, web_workers = (int(environ.get(name, default)) for name, default in (
                ("CLUSTER_PORT", "8100"), ("CLUSTER_REDIS_DB", "13"), ("CLUSTER_WEB_WORKERS", "2")))
        except ValueError:
            raise ClusterError("CLUSTER_PORT, CLUSTER_REDIS_DB and CLUSTER_WEB_WORKERS are whole numbers") from None
        return cls(
            run_dir=Path(environ.get("CLUSTER_DIR") or ROOT / "instance" / "cluster").resolve(),
            port=port,
            database=database,
            redis_db=redis_db,
            web_workers=web_workers,
            pg_server=f"{environ.get('PGUSER', 'postgres')}@{environ.get('PGHOST', HOST)}:{environ.get('PGPORT', '5432')}",
            app_settings={key.removeprefix("CLUSTER_APP_"): value for key, value in environ.items()
                          if key.startswith("CLUSTER_APP_")},
        )


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def venv_tool(name: str) -> str:
    for directory in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (directory / name).exists():
            return str(directory / name)
    raise ClusterError(f"{name} is not in the virtualenv; run scripts/bootstrap requirements-dev.txt first.")


def http_status(url: str, *, method: str = "GET", headers: dict | None = None, timeout: float = 2) -> int | None:
    """The status of one request to 127.0.0.1, or None when nothing answered."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


# --- processes -----------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str | None:
    """When a live process started (clock ticks since boot): a pid with another start time is not ours.
    None when there is no such process, or only its zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] == "Z" else fields[19]


@dataclass(frozen=True)
class Started:
    """A process the cluster started: its pid (also its process group) and when it started."""

    name: str
    pid: int
    ticks: str

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.ticks

    def signal_group(self, signum: int) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass


class Cluster:
    """The processes of one cluster under ``settings.run_dir``; ``start``, ``stop``, ``status``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_dir = settings.run_dir
        self.pid_dir = self.run_dir / "pids"
        self.log_dir = self.run_dir / "logs"
        self._children: dict[str, subprocess.Popen] = {}  # started by this process: reaped when stopped

    # -- state --

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def state(self) -> dict:
        """What ``start`` wrote: addresses, database, Redis, the app's environment."""
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(state, indent=2))
        self.state_path.chmod(0o600)  # holds the SECRET_KEY

    def processes(self) -> list[Started]:
        """The processes started and not yet stopped, in the order they were started."""
        found = []
        for name in START_ORDER:
            try:
                pid, ticks = (self.pid_dir / f"{name}.pid").read_text().split()
            except (OSError, ValueError):
                continue
            found.append(Started(name, int(pid), ticks))
        return found

    def process(self, name: str) -> Started:
        for started in self.processes():
            if started.name == name:
                return started
        raise ClusterError(f"{name} was not started (no {self.pid_dir / name}.pid)")

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _spawn(self, name: str, command: list[str], env: dict) -> Started:
        with self.log_path(name).open("ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self._children[name] = process
        started = Started(name, process.pid, _start_ticks(process.pid) or "gone")
        (self.pid_dir / f"{name}.pid").write_text(f"{started.pid} {started.ticks}\n")
        return started

    def _wait(self, what: str, ready, names: list[str]) -> None:
        """Poll ``ready()`` until it is true; fail with the logs of ``names`` if one dies or time runs out."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for name in names:
                if not self.process(name).alive() or (name in self._children and self._children[name].poll() is not None):
                    raise ClusterError(f"{name} exited while waiting for {what}{HINTS.get(name, '')}:\n"
                                       f"{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        logs = "\n".join(f"--- {name}:\n{self.log_tail(name)}" for name in names)
        raise ClusterError(f"{what} did not happen within {STARTUP_SECONDS} s:\n{logs}")

    # -- start --

    def start(self) -> dict:
        """Start everything, or stop what was started and raise ClusterError."""
        if any(p.alive() for p in self.processes()):
            raise ClusterError(f"a cluster already runs from {self.run_dir}; run 'scripts/cluster stop' first")
        for script in ("ensure-postgres", "ensure-redis", "ensure-haproxy"):
            result = subprocess.run([str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise ClusterError(f"scripts/{script} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
        # What an earlier run left (never the whole directory: CLUSTER_DIR may hold other things).
        for name in ("pids", "logs", "release", "shop", *NODES, *WORKERS):
            shutil.rmtree(self.run_dir / name, ignore_errors=True)
        for directory in (self.pid_dir, self.log_dir):
            directory.mkdir(parents=True)
        try:
            return self._start()
        except BaseException:
            self.stop(quiet=True)
            raise

    def _start(self) -> dict:
        settings = self.settings
        port = settings.port or free_port()
        ports = {name: free_port() for name in (*NODES, "localstripe", "moto")}
        database_url = f"postgresql+psycopg://{settings.pg_server}/{settings.database}"
        state = {
            "run_dir": str(self.run_dir),
            "balancer": f"http://{HOST}:{port}",
            "nodes": {name: f"http://{HOST}:{ports[name]}" for name in NODES},
            "stripe": f"http://{HOST}:{ports['localstripe']}",
            "s3": f"http://{HOST}:{ports['moto']}",
            "database": settings.database,
            "database_url": database_url,
            "redis_url": f"redis://{HOST}:6379/{settings.redis_db}",
            "haproxy_socket": str(self.run_dir / "haproxy.sock"),
        }
        self._write_state(state)  # first, so that stop finds the database even if start fails
        self._reset_database(state)
        self._flush_redis(state["redis_url"])

        say(f"localstripe on {state['stripe']}, moto (S3) on {state['s3']}")
        self._spawn("localstripe", [sys.executable, "-m", "localstripe", "--port", str(ports["localstripe"]),
                                    "--from-scratch"], {**os.environ, "PYTHONUNBUFFERED": "1"})
        self._spawn("moto", [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(ports["moto"])],
                    {**os.environ, "PYTHONUNBUFFERED": "1"})
        stripe_auth = {"Authorization": f"Bearer {STRIPE_SECRET_KEY}"}
        self._wait("localstripe to answer",
                   lambda: http_status(state["stripe"] + "/v1/payment_intents?limit=1", headers=stripe_auth) == 200,
                   ["localstripe"])
        self._wait("moto to answer", lambda: http_status(state["s3"] + "/") == 200, ["moto"])
        # A bucket is made by whoever runs the store, not by the app; moto takes unsigned requests.
        if http_status(f"{state['s3']}/{S3_BUCKET}", method="PUT") != 200:
            raise ClusterError(f"moto did not create the bucket {S3_BUCKET}:\n{self.log_tail('moto')}")

        env = self.app_env(state)
        state["env"] = env
        self._write_state(state)
        self._flask(env, "db", "upgrade")
        self._flask(env, "seed", "demo", "--if-empty")

        for name in NODES:
            say(f"{name}: gunicorn on {state['nodes'][name]}")
            self._spawn(name, [venv_tool("gunicorn"), "--no-control-socket", "--workers", str(settings.web_workers),
                               "--bind", f"{HOST}:{ports[name]}", "--access-logfile", "-", "wsgi:app"],
                        {**self._own_directories(env, name),
                         # The node's workers add up their metrics in files of the node's own.
                         "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / name / "metrics")})
        for name in WORKERS:
            say(f"{name}: flask --app wsgi jobs run")
            self._spawn(name, [venv_tool("flask"), "--app", "wsgi", "jobs", "run"], self._own_directories(env, name))
        config = self.run_dir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(
            run_dir=self.run_dir, host=HOST, port=port,
            servers="\n".join(f"    server {name} {HOST}:{ports[name]}" for name in NODES)))
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise ClusterError(f"haproxy refuses {config}:\n{check.stdout}{check.stderr}")
        say(f"haproxy: {state['balancer']} -> {', '.join(state['nodes'].values())}")
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(config)], dict(os.environ))

        for name in NODES:
            self._wait(f"{name} to answer /readyz", lambda n=name: http_status(state["nodes"][n] + "/readyz") == 200,
                       [name])
        self._wait("haproxy to see both nodes up", lambda: self.node_states() == {n: "UP" for n in NODES},
                   ["haproxy", *NODES])
        self._wait("the job workers to keep running", lambda: True, list(WORKERS))
        # localstripe sends its events to the balancer, as Stripe would to the public address.
        form = urllib.parse.urlencode({"url": state["balancer"] + "/api/v1/payments/stripe/webhook",
                                       "secret": STRIPE_WEBHOOK_SECRET}).encode()
        request = urllib.request.Request(state["stripe"] + "/_config/webhooks/marketplace", data=form,
                                         headers=stripe_auth, method="POST")
        with _DIRECT.open(request, timeout=10):
            pass
        state["started_at"] = time.time()
        self._write_state(state)
        return state

    def app_env(self, state: dict) -> dict:
        """The environment of the nodes and the workers: production, the shared services, nothing local."""
        env = {key: value for key, value in os.environ.items() if not NOT_INHERITED.fullmatch(key)}
        env.update(
            PYTHONUNBUFFERED="1",
            MARKETPLACE_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(32),
            DATABASE_URL=state["database_url"],
            REDIS_URL=state["redis_url"],
            TRUSTED_PROXIES="1",  # HAProxy adds the client's address to X-Forwarded-For
            MEDIA_STORAGE="s3",
            S3_BUCKET=S3_BUCKET,
            S3_ENDPOINT_URL=state["s3"],
            S3_REGION="us-east-1",
            S3_ACCESS_KEY_ID="cluster",
            S3_SECRET_ACCESS_KEY="cluster",
            STRIPE_API_BASE=state["stripe"],
            STRIPE_SECRET_KEY=STRIPE_SECRET_KEY,
            STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET,
        )
        env.update(self.settings.app_settings)
        return env

    def env_for(self, name: str) -> dict:
        """The environment a process called ``name`` runs with (a test's own tool, say), in a directory of its own."""
        return self._own_directories(self.state()["env"], name)

    def database_dsn(self) -> str:
        """The cluster's database, for psycopg."""
        return f"postgresql://{self.settings.pg_server}/{self.state()['database']}"

    def _own_directories(self, env: dict, name: str) -> dict:
        """Each node and worker has its own instance directory and MEDIA_ROOT, empty, as on its own machine."""
        instance = self.run_dir / name
        (instance / "media").mkdir(parents=True, exist_ok=True)
        return {**env, "MARKETPLACE_INSTANCE_DIR": str(instance), "MEDIA_ROOT": str(instance / "media")}

    def _flask(self, env: dict, *args: str) -> None:
        say("$ flask --app wsgi " + " ".join(args))
        result = subprocess.run([venv_tool("flask"), "--app", "wsgi", *args], cwd=ROOT, capture_output=True, text=True,
                                env=self._own_directories(env, "release"), timeout=600)
        if result.returncode != 0:
            raise ClusterError(f"'flask {' '.join(args)}' failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")

    # -- PostgreSQL and Redis --

    def _admin_sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://{self.settings.pg_server}/postgres", autocommit=True,
                             connect_timeout=10) as connection:
            connection.execute(statement)

    def _reset_database(self, state: dict) -> None:
        say(f"database {state['database']} on {self.settings.pg_server}: drop and create")
        self._admin_sql(f"DROP DATABASE IF EXISTS {state['database']} WITH (FORCE)")
        self._admin_sql(f"CREATE DATABASE {state['database']}")

    @staticmethod
    def _flush_redis(url: str) -> None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    # -- HAProxy --

    def haproxy(self, command: str) -> str:
        """One command on HAProxy's stats socket (``show stat``, ``show servers state``...)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(5)
            connection.connect(str(self.run_dir / "haproxy.sock"))
            connection.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def node_stats(self) -> dict[str, dict]:
        """HAProxy's figures of each node (``show stat``: status, wretr, wredis...); empty when it does not answer."""
        try:
            table = self.haproxy("show stat")
        except OSError:
            return {}
        lines = table.lstrip("# ").splitlines()
        if not lines:
            return {}
        columns = lines[0].split(",")
        rows = [dict(zip(columns, line.split(","), strict=False)) for line in lines[1:] if line]
        return {row["svname"]: row for row in rows if row.get("pxname") == "app_nodes" and row.get("svname") in NODES}

    def node_states(self) -> dict[str, str]:
        """Each node's state as HAProxy sees it (UP, DOWN, ...); empty when HAProxy does not answer."""
        return {name: row["status"].split()[0] for name, row in self.node_stats().items()}

    # -- stop, kill, status --

    def kill(self, name: str) -> float:
        """SIGKILL a process and its children (a node: the gunicorn master and its workers); when, as time.monotonic()."""
        started = self.process(name)
        if not started.alive():
            raise ClusterError(f"{name} is not running")
        os.killpg(started.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        if name in self._children:
            self._children[name].wait(timeout=10)
        return killed_at

    def stop(self, *, quiet: bool = False) -> list[str]:
        """Stop what runs (balancer first), drop the database, empty the Redis database. Idempotent."""
        stopped = []
        for started in reversed(self.processes()):
            if started.alive():
                started.signal_group(signal.SIGTERM)
                stopped.append(started.name)
        deadline = time.monotonic() + STOP_SECONDS
        for started in self.processes():
            while started.alive() and time.monotonic() < deadline:
                self._reap(started.name)
                time.sleep(0.1)
            if started.alive():
                say(f"{started.name} did not stop within {STOP_SECONDS} s: killing its process group")
                started.signal_group(signal.SIGKILL)
            self._reap(started.name, wait=True)
            (self.pid_dir / f"{started.name}.pid").unlink(missing_ok=True)
        state = self.state()
        if state.get("database"):
            try:
                self._admin_sql(f"DROP DATABASE IF EXISTS {state['database']} WITH (FORCE)")
            except Exception as error:  # report, but go on stopping
                say(f"warning: could not drop the database {state['database']}: {error}")
        if state.get("redis_url"):
            try:
                self._flush_redis(state["redis_url"])
            except Exception as error:
                say(f"warning: could not empty {state['redis_url']}: {error}")
        self.state_path.unlink(missing_ok=True)
        if not quiet:
            say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
            if state:
                say(f"dropped the database {state.get('database')}; logs stay in {self.log_dir}")
        return stopped

    def _reap(self, name: str, wait: bool = False) -> None:
        process = self._children.get(name)
        if process is not None:
            try:
                process.wait(timeout=5 if wait else 0.01)
            except subprocess.TimeoutExpired:
                pass

    def status(self) -> str:
        state = self.state()
        processes = self.processes()
        if not state and not processes:
            return f"no cluster in {self.run_dir}"
        where = {"haproxy": state.get("balancer"), "localstripe": state.get("stripe"), "moto": state.get("s3"),
                 **state.get("nodes", {})}
        lines = [f"cluster in {self.run_dir}", f"balancer {state.get('balancer')}; database {state.get('database_url')}; "
                 f"Redis {state.get('redis_url')}"]
        for started in processes:
            lines.append(f"  {started.name:<12} pid {started.pid:<8} {'running' if started.alive() else 'NOT RUNNING':<12} "
                         f"{where.get(started.name) or '':<24} log {self.log_path(started.name)}")
        states = self.node_states()
        lines.append("haproxy sees: " + (", ".join(f"{n} {s}" for n, s in states.items()) if states else "no answer"))
        return "\n".join(lines)


def interrupted(signum, frame):
    """SIGTERM (from make, CI or a timeout) unwinds like Ctrl-C, so a half-started cluster is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        cluster = Cluster(Settings.from_env())
        if args.command == "start":
            state = cluster.start()
            say(cluster.status())
            say(f"\nServing on {state['balancer']} (demo logins as in README; stop with scripts/cluster stop)")
        elif args.command == "stop":
            cluster.stop()
        else:
            say(cluster.status())
    except ClusterError as error:
        say(f"scripts/cluster {args.command}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
