"""ETags for versioned resources: conditional GET (If-None-Match) and guarded writes (If-Match).

A resource's ETag is ``"v<version>-..."``; the version part is what a write must match.
"""
import re

from flask import Response, jsonify, request

_VERSION = re.compile(r'^(?:W/)?"v(\d{1,12})(?:-[^"]*)?"$')


def expected_version() -> int | None:
    """The version named by If-Match: None when absent, -1 when it names no version of ours."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    match = _VERSION.match(header.strip())
    return int(match.group(1)) if match else -1


def _none_match_has(etag: str) -> bool:
    """Weak comparison, as RFC 9110 requires for If-None-Match: proxies that compress weaken ETags."""
    tags = {tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def respond_with_etag(resource, status: int = 200, etag: str | None = None):
    """Return the resource with its ETag, or 304 when a GET's If-None-Match already has it.

    A model object is returned for the view's schema to dump; a dict (from a read side, already
    in the schema's shape) is sent as JSON directly.
    """
    etag = etag or resource.etag
    if request.method in ("GET", "HEAD") and _none_match_has(etag):
        return Response(status=304, headers={"ETag": etag})
    if isinstance(resource, dict):
        response = jsonify(resource)
        response.status_code = status
        response.headers["ETag"] = etag
        return response
    return resource, status, {"ETag": etag}
