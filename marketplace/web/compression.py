"""gzip for pages and their style sheets: the 60 KB budget of a farmer's slow connection counts
compressed bytes, and no proxy in front of the app can be relied on to compress."""
import gzip

from flask import request

COMPRESSIBLE = {"text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"}
MIN_BYTES = 500  # below this, the gzip header costs more than it saves


def gzip_pages(response):
    if response.status_code != 200 or response.mimetype not in COMPRESSIBLE or "Content-Encoding" in response.headers:
        return response
    response.vary.add("Accept-Encoding")  # caches must keep the plain and the gzip'd copy apart
    if "gzip" not in request.headers.get("Accept-Encoding", "").lower():
        return response
    if response.is_streamed and not response.direct_passthrough:
        return response  # a generator: compressing it would mean holding it all in memory
    response.direct_passthrough = False  # static files are sent as passthrough; read them here
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)  # the same validator now names another byte sequence
    return response
