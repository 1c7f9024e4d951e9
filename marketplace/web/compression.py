"""gzip for pages and their style sheets: the 60 KB budget of a farmer's slow connection counts
compressed bytes, and no proxy in front of the app can be relied on to compress."""
import gzip

from flask import request

COMPRESSIBLE = {"text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"}
MIN_BYTES = 500  # below this, the gzip header costs more than it saves


def gzip_pages(response):
    if (response.status_code != 200 or response.mimetype not in COMPRESSIBLE
            or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
            or "Content-Encoding" in response.headers or response.is_streamed and not response.direct_passthrough):
        return response
    response.direct_passthrough = False  # static files are sent as passthrough; read them here
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)  # the same validator now names another byte sequence
    return response
