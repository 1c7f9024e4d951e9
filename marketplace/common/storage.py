"""File storage for uploads: the only module that touches where media live.

Files are content-addressed (SHA-256), so a key never changes meaning and can be cached forever.
``MEDIA_STORAGE`` picks the backend: ``local``, a directory (``MEDIA_ROOT``) for one machine, or
``s3``, a bucket in any S3-compatible object store (``S3_BUCKET`` at ``S3_ENDPOINT_URL``) that every
app node shares, so a photo uploaded through one node is served by all. A store that cannot be
reached, or refuses, raises ``StorageUnavailable`` (503 ``storage_unavailable``).
"""
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, current_app, url_for

from marketplace.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

BACKENDS = ("local", "s3")
# ab/cd/abcd<60 more hex digits>.jpg: the two directories are the digest's first bytes. Anything
# else (../, capitals, a foreign object in a shared bucket) is not a key and is never looked up.
KEY = re.compile(r"(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<digest>(?P=a)(?P=b)[0-9a-f]{60})(?P<suffix>\.[a-z0-9]{1,8})")
SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
IMMUTABLE = "public, max-age=31536000, immutable"
# Per call to the store: connecting gets 3 s, a read 10 s; three attempts in all with botocore's
# standard backoff, so a store that is down fails a request in seconds, not minutes.
S3_CONNECT_TIMEOUT_SECONDS = 3
S3_READ_TIMEOUT_SECONDS = 10
S3_MAX_ATTEMPTS = 3


class StorageUnavailable(AppError):
    """The media store could not be reached or refused the request; nothing was stored."""

    status = 503
    code = ErrorCode.STORAGE_UNAVAILABLE


@dataclass(frozen=True)
class StoredFile:
    """A key in the store and when it was last written."""

    key: str
    modified_at: datetime


@dataclass(frozen=True)
class MediaFile:
    """A stored file opened for serving: read ``stream`` in chunks, then close it."""

    stream: BinaryIO
    length: int
    content_type: str


class Backend(Protocol):
    def put(self, key: str, content: bytes, content_type: str) -> None: ...
    def open(self, key: str) -> tuple[BinaryIO, int] | None: ...
    def modified_at(self, key: str) -> datetime | None: ...
    def delete(self, key: str) -> None: ...
    def files(self) -> Iterator[StoredFile]: ...


# ---------------------------------------------------------------- the module's operations

def save(content: bytes, suffix: str) -> str:
    """Store bytes and return their key (``ab/cd/<digest><suffix>``); saving twice is harmless.

    Saving content that is already stored marks it as written now, so the sweep waits a whole
    grace period for the row that names it, however old the file was.
    """
    if not SUFFIX.fullmatch(suffix):
        raise ValueError(f"A media suffix is a dot and 1 to 8 lowercase letters or digits, not {suffix!r}.")
    digest = hashlib.sha256(content).hexdigest()
    key = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
    with _failures_as_unavailable("save"):
        _backend().put(key, content, content_type(key))
    return key


def open_file(key: str) -> MediaFile | None:
    """The stored file under ``key``, open for reading (streamed, never read whole), or None."""
    if not is_key(key):
        return None
    with _failures_as_unavailable("open"):
        opened = _backend().open(key)
    if opened is None:
        return None
    stream, length = opened
    return MediaFile(stream, length, content_type(key))


def exists(key: str) -> bool:
    return modified_at(key) is not None


def modified_at(key: str) -> datetime | None:
    """When the file under ``key`` was last written, or None if there is none."""
    if not is_key(key):
        return None
    with _failures_as_unavailable("stat"):
        return _backend().modified_at(key)


def delete(key: str) -> None:
    """Remove the file under ``key``; a missing file is no error."""
    if not is_key(key):
        raise ValueError(f"Not a media key: {key!r}")
    with _failures_as_unavailable("delete"):
        _backend().delete(key)


def stored_files() -> Iterator[StoredFile]:
    """Every media key in the store with its last write (other files in a shared bucket are not listed)."""
    files = _backend().files()
    while True:
        with _failures_as_unavailable("list"):
            stored = next(files, None)
        if stored is None:
            return
        yield stored


def url(key: str) -> str:
    """Where the app serves ``key`` (``/media/<key>``), whichever backend holds it."""
    return url_for("media", key=key)


def is_key(key: str) -> bool:
    return KEY.fullmatch(key) is not None


def digest(key: str) -> str:
    """The SHA-256 of the content under a (well-formed) key: its ETag."""
    return KEY.fullmatch(key)["digest"]


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def init_app(app: Flask) -> None:
    """Refuse to start with a media configuration that cannot work (a clear message, not a 500 later)."""
    config = app.config
    backend = config.get("MEDIA_STORAGE")
    if backend not in BACKENDS:
        raise RuntimeError(f"MEDIA_STORAGE={backend!r} is not a media storage: use 'local' (files under "
                           "MEDIA_ROOT) or 's3' (an S3-compatible bucket: S3_BUCKET, S3_ENDPOINT_URL, ...).")
    if int(config.get("MEDIA_SWEEP_GRACE_HOURS", 24)) < 1:
        raise RuntimeError("MEDIA_SWEEP_GRACE_HOURS must be at least 1: a younger file may belong to an "
                           "upload whose transaction has not committed yet.")
    if backend == "local":
        if not config.get("MEDIA_ROOT"):
            raise RuntimeError("MEDIA_STORAGE=local needs MEDIA_ROOT, the directory photos are stored in.")
        return
    if not config.get("S3_BUCKET"):
        raise RuntimeError("MEDIA_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL for a store other than "
                           "AWS S3 itself).")
    try:
        _s3_client_for(config)  # made now, so a malformed endpoint is refused at start
    except ValueError as error:
        raise RuntimeError(f"S3_ENDPOINT_URL={config.get('S3_ENDPOINT_URL')!r} is not usable: {error}") from error


# ---------------------------------------------------------------- backends

def _backend() -> Backend:
    config = current_app.config
    if config["MEDIA_STORAGE"] == "s3":
        return S3Backend(_s3_client_for(config), config["S3_BUCKET"])
    return LocalBackend(Path(config["MEDIA_ROOT"]))


@contextlib.contextmanager
def _failures_as_unavailable(operation: str):
    """The store's own failures (network, refusals, a full disk) become one domain error."""
    try:
        yield
    except (BotoCoreError, ClientError, OSError) as error:
        log.warning("media store failed to %s: %s: %s", operation, type(error).__name__, error)
        raise StorageUnavailable("Photo storage is briefly unavailable; retry in a moment.",
                                 details={"operation": operation}) from error


class LocalBackend:
    """A directory on this machine (MEDIA_ROOT): enough for one app server."""

    def __init__(self, root: Path):
        self.root = root

    def put(self, key: str, content: bytes, content_type: str) -> None:
        path = self.root / key
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # already stored: it is fresh again (see save)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".upload-", delete=False) as handle:
            handle.write(content)
        os.replace(handle.name, path)

    def open(self, key: str) -> tuple[BinaryIO, int] | None:
        try:
            handle = (self.root / key).open("rb")
        except FileNotFoundError:
            return None
        return handle, os.fstat(handle.fileno()).st_size

    def modified_at(self, key: str) -> datetime | None:
        try:
            return datetime.fromtimestamp((self.root / key).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def files(self) -> Iterator[StoredFile]:
        for path in self.root.glob("??/??/*"):
            key = path.relative_to(self.root).as_posix()
            if is_key(key):
                with contextlib.suppress(FileNotFoundError):  # deleted since it was listed
                    yield StoredFile(key, datetime.fromtimestamp(path.stat().st_mtime, UTC))


class S3Backend:
    """A bucket in an S3-compatible store, shared by every app node."""

    def __init__(self, client, bucket: str):
        self.client = client
        self.bucket = bucket

    def put(self, key: str, content: bytes, content_type: str) -> None:
        # Putting the same bytes again is harmless and renews LastModified (see save).
        self.client.put_object(Bucket=self.bucket, Key=key, Body=content, ContentType=content_type,
                               CacheControl=IMMUTABLE)

    def open(self, key: str) -> tuple[BinaryIO, int] | None:
        try:
            stored = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        return stored["Body"], stored["ContentLength"]  # the body streams from the open connection

    def modified_at(self, key: str) -> datetime | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["LastModified"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def files(self) -> Iterator[StoredFile]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for stored in page.get("Contents", ()):
                if is_key(stored["Key"]):
                    yield StoredFile(stored["Key"], stored["LastModified"])


def _s3_client_for(config):
    return _s3_client(config.get("S3_ENDPOINT_URL"), config.get("S3_REGION") or "us-east-1",
                      config.get("S3_ACCESS_KEY_ID"), config.get("S3_SECRET_ACCESS_KEY"))


@lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, region: str, access_key_id: str | None, secret_access_key: str | None):
    """One client per process and settings: making one costs tens of milliseconds, and a client
    is safe to share between threads (its connection pool is its own)."""
    # Path-style addressing (endpoint/bucket/key) for S3-compatible stores such as MinIO or Ceph,
    # which rarely answer for bucket subdomains; AWS itself picks its own.
    addressing = "path" if endpoint_url else "auto"
    return boto3.session.Session().client(  # its own session: the default one is not thread-safe
        "s3", endpoint_url=endpoint_url, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
        config=BotoConfig(connect_timeout=S3_CONNECT_TIMEOUT_SECONDS, read_timeout=S3_READ_TIMEOUT_SECONDS,
                      retries={"mode": "standard", "total_max_attempts": S3_MAX_ATTEMPTS},
                      s3={"addressing_style": addressing}),
    )
