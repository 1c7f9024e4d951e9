"""The embedded PostgreSQL of a first run: with DATABASE_URL unset, the app's default database is a
cluster under the instance directory that `python -m marketplace.local_postgres start` makes and
starts; migrated, it answers /readyz; started again, it has kept its data. As root the server runs
as a system user of its own, and the same steps work for a normal user."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from marketplace.local_postgres import SYSTEM_USER

ROOT = Path(__file__).resolve().parents[2]
READYZ = ("from marketplace import create_app\n"
          "response = create_app().test_client().get('/readyz')\n"
          "print(response.status_code, response.get_json())\n")
# Run as root, the same steps are also taken as a normal user ("nobody"), with the system's own
# Python 3.11 and this environment's packages (root's interpreter may sit where nobody can reach);
# -S keeps the system's own site-packages (Debian's dist-packages, whose old pyOpenSSL warns under
# this environment's cryptography) out of that mix.
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
RUNNERS = ["current user"] + (["a normal user"] if os.geteuid() == 0 and SYSTEM_PYTHON.exists() else [])


@pytest.fixture(params=RUNNERS)
def instance(request):
    """An empty instance directory, and the environment of a first run that uses it (no DATABASE_URL)."""
    directory = Path(tempfile.mkdtemp(prefix="marketplace-instance-"))
    user = pwd.getpwnam("nobody") if request.param == "a normal user" else None
    python = (str(SYSTEM_PYTHON), "-S") if user else (sys.executable,)
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("DATABASE_URL", "TEST_DATABASE_URL", "MARKETPLACE_ENV", "FLASK_ENV")}
    environment.update(MARKETPLACE_INSTANCE_DIR=str(directory), FLASK_APP="wsgi", HOME=str(directory))
    if user:
        os.chown(directory, user.pw_uid, user.pw_gid)
        environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), *sys.path[1:]])

    def run(*command: str) -> subprocess.CompletedProcess:
        if command[0] == "python":
            command = (*python, *command[1:])
        elif command[0] == "flask":
            command = (*python, "-m", "flask", *command[1:])
        return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
                              **({"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}))

    run.root, run.user = directory, user
    yield run
    run("python", "-m", "marketplace.local_postgres", "stop")
    shutil.rmtree(directory, ignore_errors=True)


def test_a_first_run_starts_migrates_and_serves_the_embedded_postgresql_and_a_second_keeps_its_data(instance):
    started = instance("python", "-m", "marketplace.local_postgres", "start")
    assert started.returncode == 0, started.stderr
    assert "running" in started.stdout
    assert "Warning" not in started.stderr, started.stderr  # what a newcomer reads first is clean
    data_owner = (instance.root / "postgres" / "data").stat().st_uid
    assert data_owner == (pwd.getpwnam(SYSTEM_USER).pw_uid if instance.user is None and os.geteuid() == 0
                          else os.geteuid() if instance.user is None else instance.user.pw_uid)

    migrated = instance("flask", "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    ready = instance("python", "-c", READYZ)
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.startswith("200 {'status': 'ready'"), ready.stdout

    search = instance("python", "-c", "from marketplace import create_app\n"
                      "from marketplace.extensions import db\nfrom sqlalchemy import text\n"
                      "with create_app().app_context():\n"
                      "    print(db.session.scalar(text(\"SELECT similarity('核桃仁', '核桃')\")) > 0)\n")
    assert search.stdout.strip() == "True", search.stderr  # pg_trgm is there, as in production

    assert instance("python", "-m", "marketplace.local_postgres", "stop").returncode == 0
    stopped = instance("python", "-m", "marketplace.local_postgres", "status")
    assert stopped.returncode == 3 and "stopped" in stopped.stdout
    assert instance("python", "-c", READYZ).stdout.startswith("503")

    again = instance("python", "-m", "marketplace.local_postgres", "start")
    assert again.returncode == 0, again.stderr
    ready_again = instance("python", "-c", READYZ)  # no upgrade this time: the data was kept
    assert ready_again.stdout.startswith("200 {'status': 'ready'"), ready_again.stdout
