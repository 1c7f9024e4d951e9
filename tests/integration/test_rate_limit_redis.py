"""With REDIS_URL set, login limits live in Redis, so every app server counts the same attempts, and
the API's login and the login page draw on one allowance."""
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 5

# One app server: reads "api" or "page" a line, tries a wrong password that way, prints the status.
SERVER = """
import re, sys
from marketplace import create_app

app = create_app({"LOGIN_RATE_LIMIT": sys.argv[1], "RATELIMIT_KEY_PREFIX": sys.argv[2]})
client = app.test_client()
wrong = {"identifier": "13900000009", "password": "wrong-password"}
print("ready", flush=True)
for command in sys.stdin:
    if command.strip() == "api":
        status = client.post("/api/v1/auth/login", json=wrong).status_code
    else:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status = client.post("/login", data={**wrong, "csrf_token": token}).status_code
    print(status, flush=True)
"""


@pytest.fixture
def store():
    """The test Redis; the keys a test writes carry its own prefix and only they are deleted after it."""
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis does not answer at {REDIS_URL}: run scripts/ensure-redis (or set TEST_REDIS_URL).")
    prefix = f"test-{uuid.uuid4().hex}"
    yield connection, prefix
    for key in connection.scan_iter(f"*{prefix}*"):
        connection.delete(key)


class AppServer:
    """An app in its own Python process (its own limiter, its own memory), as on another machine."""

    def __init__(self, database_url: str, prefix: str):
        environment = {**os.environ, "REDIS_URL": REDIS_URL, "DATABASE_URL": database_url,
                       "PASSWORD_HASH_PROFILE": "CHEAPEST", "MARKETPLACE_ENV": "development"}
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, f"{LIMIT} per minute", prefix], cwd=ROOT,
                                        env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        line = self.process.stdout.readline()
        assert line.strip() == "ready", line + self.process.stderr.read()[-2000:]

    def log_in(self, how: str) -> int:
        self.process.stdin.write(how + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert re.fullmatch(r"\d{3}", line.strip()), line + self.process.stderr.read()[-2000:]
        return int(line)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        assert self.process.returncode == 0, self.process.stderr.read()[-2000:]


def test_api_and_page_logins_on_two_app_servers_share_one_allowance_in_redis(app, database_url, store):
    connection, prefix = store
    first, second = AppServer(database_url, prefix), AppServer(database_url, prefix)
    try:
        first.wait_ready()
        second.wait_ready()
        # Alternate servers and ways in: api on 1, page on 2, page on 1, api on 2, ...
        plan = [(first, "api"), (second, "page"), (first, "page"), (second, "api")] * 2
        statuses = [(how, server.log_in(how)) for server, how in plan]
    finally:
        first.stop()
        second.stop()

    assert [status for _, status in statuses] == [401] * LIMIT + [429] * (len(plan) - LIMIT)
    assert {how for how, status in statuses if status == 429} == {"api", "page"}  # refused both ways in
    keys = [key.decode() for key in connection.scan_iter(f"*{prefix}*")]
    assert keys and all("login" in key for key in keys), keys  # one shared "login" scope, nothing per route
