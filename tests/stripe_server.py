"""A localstripe server (a fake Stripe API) shared by the whole run, and the helpers that drive it.

Registered in conftest.py through ``pytest_plugins``; tests ask for the ``localstripe`` fixture.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET_KEY = "sk_test_marketplace"
STARTUP_SECONDS = 20
STOP_SECONDS = 5


@dataclass(frozen=True)
class LocalStripe:
    """A running localstripe: where it listens, the secret key to use, and its ``/_config`` endpoints."""

    base_url: str
    secret_key: str = SECRET_KEY

    def register_webhook(self, url: str, secret: str, name: str = "marketplace") -> None:
        """Have every event POSTed to ``url``, signed with ``secret``.

        localstripe cannot forget a webhook; registering the same ``name`` again replaces it.
        """
        form = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
        self._call("POST", f"/_config/webhooks/{name}", form)

    def flush(self) -> None:
        """Forget every object (intents, charges, refunds, events); registered webhooks stay."""
        self._call("DELETE", "/_config/data")

    def answers(self) -> bool:
        """Whether the API answers an authenticated request."""
        try:
            # Not /v1/balance: its first read creates a balance.available event that webhooks would get.
            self._call("GET", "/v1/payment_intents?limit=1", timeout=1)
        except OSError:  # refused, reset, timed out, or an HTTP error status
            return False
        return True

    def _call(self, method: str, path: str, body: bytes | None = None, timeout: float = 10) -> None:
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers={"Authorization": f"Bearer {self.secret_key}"}
        )
        with urllib.request.urlopen(request, timeout=timeout):  # raises HTTPError unless 2xx
            pass


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_localstripe(port: int, log_path: Path) -> subprocess.Popen:
    """Start an empty localstripe on ``port``, its output going to ``log_path``.

    It still writes /tmp/localstripe.pickle on every change (it always does), but --from-scratch
    means it never reads it back.
    """
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # so the log is complete when we show it
        )


def wait_until_answering(server: LocalStripe, process: subprocess.Popen, log_path: Path) -> None:
    """Return once ``server`` answers; fail the test (never skip) with its log if it dies or stays silent."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"localstripe exited with status {process.returncode}:\n{log_path.read_text()}", pytrace=False)
        if server.answers():
            return
        time.sleep(0.1)
    pytest.fail(f"localstripe did not answer within {STARTUP_SECONDS} s:\n{log_path.read_text()}", pytrace=False)


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process``, killing it if it is still running after a few seconds."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory) -> Iterator[LocalStripe]:
    """A localstripe server for this run, empty when it starts; stopped when the run ends."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    process = start_localstripe(port, log_path)
    try:
        server = LocalStripe(f"http://127.0.0.1:{port}")
        wait_until_answering(server, process, log_path)
        yield server
    finally:
        stop(process)
