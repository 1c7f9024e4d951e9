"""The web process as the Procfile runs it (gunicorn -c gunicorn.conf.py, two workers): JSON access
lines with each request's id, and /metrics adding up what every worker counted."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, **headers) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def test_gunicorn_logs_json_access_lines_with_request_ids_and_adds_up_its_workers_metrics(app, database_url,
                                                                                            tmp_path):
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    (metrics_dir).mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: emptied at start
    environment = {**os.environ, "DATABASE_URL": database_url, "MARKETPLACE_ENV": "development", "LOG_FORMAT": "json",
                   "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_TOKEN": ""}
    access_log = tmp_path / "access.log"
    with open(access_log, "w") as out, open(tmp_path / "error.log", "w") as err:
        server = subprocess.Popen([str(GUNICORN), "--no-control-socket", "-c", "gunicorn.conf.py", "--workers", "2",
                                   "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "wsgi:app"],
                                  cwd=ROOT, env=environment, stdout=out, stderr=err, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "error.log").read_text()[-2000:]
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        for number in range(12):
            assert _get(base + "/login", **{"X-Request-ID": f"gunicorn-test-{number}"})[0] == 200
        status, scraped = _get(base + "/metrics")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped) for s in family.samples}
    login = (("method", "GET"), ("status", "200"), ("url_rule", "/login"))
    assert samples[("flask_http_request_duration_seconds_count", login)] == 12  # whichever worker answered
    assert not (metrics_dir / "counter_999999.db").exists()

    lines = [json.loads(line) for line in access_log.read_text().splitlines() if line.strip()]
    seen = {line["request_id"]: line for line in lines if line.get("path") == "/login"}
    assert set(seen) == {f"gunicorn-test-{number}" for number in range(12)}
    assert seen["gunicorn-test-3"]["status"] == "200" and seen["gunicorn-test-3"]["method"] == "GET"
    errors = [json.loads(line) for line in (tmp_path / "error.log").read_text().splitlines() if line.strip()]
    assert errors and all(record["level"] in ("INFO", "WARNING") for record in errors), errors
