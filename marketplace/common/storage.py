"""File storage for uploads: the only module that touches the media directory.

Files are content-addressed (SHA-256), so a key never changes meaning and can be cached forever.
"""
import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app, url_for


def _root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"])


def save(content: bytes, suffix: str) -> str:
    """Store bytes and return their key (``ab/cd/<digest><suffix>``); saving twice is harmless."""
    digest = hashlib.sha256(content).hexdigest()
    key = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
    path = _root() / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(content)
        os.replace(handle.name, path)
    return key


def url(key: str) -> str:
    return url_for("media", key=key)


def directory() -> Path:
    return _root()
