"""A local S3-compatible server (moto's server mode) shared by the whole run, as localstripe is for Stripe.

Registered in conftest.py through ``pytest_plugins``; tests ask for the ``s3_server`` fixture and
point an app at it with ``s3_server.media_config()``.
"""
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.stripe_server import free_port, stop

BUCKET = "marketplace-media"
ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key"
REGION = "us-east-1"
STARTUP_SECONDS = 30


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 server: where it listens, and a bucket made for this run."""

    endpoint_url: str
    bucket: str = BUCKET

    def media_config(self, bucket: str | None = None) -> dict:
        """The settings that make an app keep its media in ``bucket`` (this run's bucket by default)."""
        return {"MEDIA_STORAGE": "s3", "S3_BUCKET": bucket or self.bucket, "S3_ENDPOINT_URL": self.endpoint_url,
                "S3_REGION": REGION, "S3_ACCESS_KEY_ID": ACCESS_KEY_ID, "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}

    def client(self):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)

    def new_bucket(self) -> str:
        """A new, empty bucket (for a test that counts what is in it)."""
        name = f"media-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str | None = None) -> set[str]:
        listing = self.client().list_objects_v2(Bucket=bucket or self.bucket)
        return {stored["Key"] for stored in listing.get("Contents", ())}

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=1):  # ListBuckets; raises unless 2xx
                pass
        except OSError:
            return False
        return True


def start_moto(port: int, log_path: Path) -> subprocess.Popen:
    """Start moto's server (every AWS API, in memory) on ``port``, its output going to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)


def wait_until_answering(server: S3Server, process: subprocess.Popen, log_path: Path) -> None:
    """Return once ``server`` answers; fail the test (never skip) with its log if it dies or stays silent."""
    hint = "moto's server mode comes with requirements-dev.txt (moto[server]): scripts/bootstrap requirements-dev.txt"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the S3 server (moto) exited with status {process.returncode}; {hint}\n"
                        f"{log_path.read_text()}", pytrace=False)
        if server.answers():
            return
        time.sleep(0.1)
    pytest.fail(f"the S3 server (moto) did not answer within {STARTUP_SECONDS} s; {hint}\n{log_path.read_text()}",
                pytrace=False)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """An S3-compatible server for this run with an empty bucket; stopped when the run ends."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("s3") / "moto.log"
    process = start_moto(port, log_path)
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        wait_until_answering(server, process, log_path)
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        stop(process)
