"""With REDIS_URL set, login limits live in Redis, so every app server counts the same attempts."""
import os
import subprocess
import sys
from pathlib import Path

import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]

# Two separate app instances (two "servers") sharing one Redis: their attempts add up.
SCRIPT = """
import json, os, sys
from flask_migrate import upgrade
from marketplace import create_app

def server():
    app = create_app({"LOGIN_RATE_LIMIT": "3 per minute"})
    with app.app_context():
        upgrade()
    return app.test_client()

body = {"identifier": "13900000009", "password": "wrong-password"}
first, second = server(), server()
statuses = [first.post("/api/v1/auth/login", json=body).status_code for _ in range(2)]
statuses += [second.post("/api/v1/auth/login", json=body).status_code for _ in range(2)]
print(json.dumps(statuses))
"""


def test_login_attempts_are_counted_in_redis_across_app_servers(database_url):
    store = redis.Redis.from_url(REDIS_URL)
    store.ping()  # fails (does not skip) when Redis is not running
    store.flushdb()
    environment = {**os.environ, "REDIS_URL": REDIS_URL, "DATABASE_URL": database_url,
                   "PASSWORD_HASH_PROFILE": "CHEAPEST", "MARKETPLACE_ENV": "development"}
    try:
        run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        statuses = [int(s) for s in run.stdout.strip().splitlines()[-1].strip("[]").split(",")]
        assert statuses == [401, 401, 401, 429]
        assert any(b"LIMITS" in key or b"limiter" in key.lower() for key in store.keys("*")), store.keys("*")
    finally:
        store.flushdb()
