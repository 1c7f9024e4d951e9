"""Speed lives here: the storefront's short in-process caches and its HTTP caching headers.

Why: the home page and the product pages are what a Double 11 crowd opens, mostly people who
have not logged in. Rendered from the database on every request (three to four statements and a
Jinja page) a product page took about 7 ms (timed in process, one request at a time), some thirty
times the app's /healthz; served from this cache, with the CSRF token put in per request, bench/storefront.py
measured the home page at 0.52x and a product page (50 rotating, first visits) at 0.32x of the
bare app (2 vCPUs, 2026-12-04; bench/README.md, "Storefront"). Without rule 4 the product page
was at 0.28x.

The rules that keep it correct:

1. **Rendered pages are cached only for visitors who are not signed in and whose session holds
   nothing but a CSRF token** (no flashed notice, no cart kept in the session): for them a page
   differs from anyone else's only by the CSRF token. Pages are rendered with a placeholder for
   the token, which each response replaces with the visitor's own. A page that shows anything of
   its reader (the signed-in menu, a notice) is rendered for that request and not kept.
2. **The key is the path with its query string and the language**; entries live
   ``STOREFRONT_CACHE_SECONDS`` (3 s by default, none under tests unless set), so a price change or
   a sell-out shows within seconds (the checkout checks stock itself), and each worker keeps at
   most MAX_ENTRIES of them.
3. **HTTP caching.** Every page carries an ETag (the digest of the page as rendered, before the
   token goes in) and Last-Modified (when this worker first rendered that page), and answers a
   matching If-None-Match with 304. A page with a form, or for someone signed in, is
   ``private, no-cache``: its ETag also names the user, the session's CSRF token and the hour,
   so a revalidated copy never carries another session's token or one older than an hour (the
   token lives 8 hours). A page without a form for a visitor not signed in is
   ``public, max-age=30``. Both vary by Cookie (the language and the sign-in live in cookies).
4. **An expired page is drawn again only if what it shows changed**: storefront_page reads the
   page's facts again (one query) and keeps the page for another few seconds when they are equal.
5. **Prices follow the clock**: a campaign's price applies from its start second to its end
   second. Every cached page and datum is keyed by the next moment a price changes
   (catalog.stock.next_price_change, itself remembered for a few seconds but never past that
   moment), so from that second on the old entries are never found again; a public page's
   max-age never reaches past it either.
"""
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Response, current_app, render_template, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from werkzeug.http import http_date, parse_date

from marketplace.catalog import stock
from marketplace.web.session import signed_in_user

SLOW_DATA_TIMES = 10
MAX_ENTRIES = 4096
PUBLIC_MAX_AGE = 30
# Drawn per process, so that no one can type it into a search box and have it replaced.
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(12)}"
SESSION_KEYS_OF_ANYONE = {"csrf_token"}


class ShortCache:
    """A dict of values that expire after a few seconds, bounded (the oldest entry goes first).
    One per worker process; gunicorn's sync workers serve one request at a time."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: dict = {}

    def get(self, key):
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def get_even_stale(self, key) -> tuple:
        """(value, still fresh?), or (None, False)."""
        found = self._entries.get(key)
        return (None, False) if found is None else (found[1], found[0] >= time.monotonic())

    def put(self, key, value, seconds: float):
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + seconds, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


def cache_seconds() -> float:
    return current_app.config["STOREFRONT_CACHE_SECONDS"]


_data = ShortCache()
_price_change: list = [None, 0.0]  # [the next moment a price changes, or None; monotonic time to read it again]


def next_price_change() -> datetime | None:
    """The next moment a campaign opens or closes (rule 5): read again after a few seconds, or once
    the price clock has reached it."""
    at, read_again = _price_change
    if read_again <= time.monotonic() or (at is not None and stock.price_moment() >= at):
        at = stock.next_price_change()
        _price_change[:] = [at, time.monotonic() + max(cache_seconds(), 1)]
    return at


def _max_age() -> int:
    """PUBLIC_MAX_AGE, or less when a price changes sooner (rule 5)."""
    at = next_price_change()
    if at is None:
        return PUBLIC_MAX_AGE
    return max(0, min(PUBLIC_MAX_AGE, int((at - stock.price_moment()).total_seconds())))


def remember(key, compute: Callable, *, slow: bool = False):
    """``compute()``, or its value from the last few seconds (data shared by every reader);
    ``slow`` data (a seller's verification, the seller's other listings) for SLOW_DATA_TIMES as long."""
    seconds = cache_seconds() * (SLOW_DATA_TIMES if slow else 1)
    if not seconds:
        return compute()
    key = (key, next_price_change())
    found = _data.get(key)
    if found is None:
        found = _data.put(key, compute(), seconds)
    return found


@dataclass(frozen=True)
class RenderedPage:
    body: str  # with CSRF_PLACEHOLDER where the token goes
    status: int
    digest: str
    modified: datetime
    facts: object = None  # what it was drawn from (storefront_page's ``facts``)


_pages = ShortCache()
_first_seen: dict[str, datetime] = {}  # digest -> when this worker first rendered it (Last-Modified)


def _rendered(body: str, status: int, facts=None) -> RenderedPage:
    # The placeholder is drawn per process: the digest, like the page every worker sends, is of the
    # page without it.
    digest = hashlib.blake2b(body.replace(CSRF_PLACEHOLDER, "").encode(), digest_size=12).hexdigest()
    modified = _first_seen.get(digest)
    if modified is None:
        if len(_first_seen) >= MAX_ENTRIES:
            _first_seen.pop(next(iter(_first_seen)))
        modified = _first_seen[digest] = datetime.now(UTC).replace(microsecond=0)
    return RenderedPage(body, status, digest, modified, facts)


def _placeholder_token() -> str:
    return CSRF_PLACEHOLDER


def render_page(template: str, status_code: int = 200, **context) -> tuple[str, int]:
    """A storefront template rendered for storefront_page: CSRF_PLACEHOLDER where the token goes."""
    return render_template(template, csrf_token=_placeholder_token, **context), status_code


def _anyones_page() -> bool:
    """Whether this reader sees what any visitor who is not signed in sees (rule 1)."""
    return signed_in_user() is None and set(session.keys()) <= SESSION_KEYS_OF_ANYONE


def storefront_page(render: Callable, facts: Callable | None = None) -> Response:
    """The response for a storefront page: ``render()`` returns (HTML with CSRF_PLACEHOLDER for the
    token, status), called only when no fresh copy is cached for this reader; 200 pages get the
    caching headers and a 304 when the reader's copy is current.

    With ``facts`` (a function reading what the page shows), ``render`` takes what it returned,
    and a cached page that expired is checked against the facts read again: unchanged, it is kept
    for another few seconds without being drawn again (reading is a query; drawing a product page
    costs about three times as much CPU)."""
    shared = _anyones_page()
    seconds = cache_seconds() if shared else 0
    key = (request.full_path, str(get_locale()), next_price_change() if seconds else None)
    page, fresh = _pages.get_even_stale(key) if seconds else (None, False)
    if not fresh:
        current = facts() if facts else None
        if page is None or facts is None or page.facts != current:
            page = _rendered(*(render(current) if facts else render()), facts=current)
        if seconds and page.status == 200:
            _pages.put(key, page, seconds)
    if page.status != 200:
        return _response(page.body, page.status)
    has_form = CSRF_PLACEHOLDER in page.body
    if has_form or not shared:
        user = signed_in_user()
        if "csrf_token" not in session:
            generate_csrf()  # a first visit: its session's token is drawn now
        validator = f"{page.digest}|{user.id if user else 0}|{session['csrf_token']}|{int(time.time()) // 3600}"
        etag = hashlib.blake2b(validator.encode(), digest_size=12).hexdigest()
        cache_control = "private, no-cache"
    else:
        etag, cache_control = page.digest, f"public, max-age={_max_age()}"
    headers = {"ETag": f'"{etag}"', "Last-Modified": http_date(page.modified), "Cache-Control": cache_control,
               "Vary": "Cookie"}
    if _not_modified(etag, page.modified, public=cache_control.startswith("public")):
        return Response(status=304, headers=headers)
    body = page.body.replace(CSRF_PLACEHOLDER, generate_csrf()) if has_form else page.body
    return _response(body, 200, headers)


def _response(body: str, status: int, headers: dict | None = None) -> Response:
    return Response(body, status=status, headers=headers, mimetype="text/html")


def _not_modified(etag: str, modified: datetime, *, public: bool) -> bool:
    """If-None-Match decides when sent (weak comparison: gzip weakens our ETags); If-Modified-Since
    only for public pages, whose content is the same for every reader."""
    none_match = request.headers.get("If-None-Match")
    if none_match is not None:
        tags = {tag.strip().removeprefix("W/").strip('"') for tag in none_match.split(",")}
        return etag in tags or "*" in tags
    since = parse_date(request.headers.get("If-Modified-Since")) if public else None
    return since is not None and modified <= since


def forget_pages() -> None:
    """Empty this worker's caches (tests)."""
    _pages.clear()
    _data.clear()
    _first_seen.clear()
    _price_change[:] = [None, 0.0]
