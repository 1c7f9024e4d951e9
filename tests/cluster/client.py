"""The cluster test's HTTP client: checkouts from many threads at once, logins by API and by page.

Plain ``http.client`` on one new connection per request (gunicorn's sync workers close every
connection anyway), optionally from another loopback address, so that a client behind the
balancer can have an address of its own (127.0.0.2...). Every request has a time limit, and
every answer is kept with when it was sent and answered, and which node served it (HAProxy's
``X-Served-By``).
"""
from __future__ import annotations

import http.client
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

TIMEOUT_SECONDS = 30
ADDRESS = {"recipient": "张三", "phone": "13800138000", "detail": "人民路1号"}


@dataclass
class Answer:
    """One request as the client saw it; status 0 means no HTTP answer (``error`` says what happened)."""

    sent: float  # time.monotonic()
    answered: float
    status: int
    body: bytes
    headers: dict
    error: str | None = None

    @property
    def served_by(self) -> str | None:
        return self.headers.get("x-served-by")

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    @property
    def error_code(self) -> str | None:
        return (self.json().get("error") or {}).get("code")


def request(base: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
            source: str | None = None) -> Answer:
    """One request; connection errors and time-outs become an Answer with status 0."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT_SECONDS,
                                            source_address=(source, 0) if source else None)
    sent = time.monotonic()
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        content = response.read()
        headers: dict[str, str] = {}
        for key, value in response.getheaders():  # several Set-Cookie headers: one per line
            headers[key.lower()] = f"{headers[key.lower()]}\n{value}" if key.lower() in headers else value
        return Answer(sent, time.monotonic(), response.status, content, headers)
    except (OSError, http.client.HTTPException) as error:
        return Answer(sent, time.monotonic(), 0, b"", {}, error=type(error).__name__)
    finally:
        connection.close()


@dataclass(frozen=True)
class Checkout:
    """One checkout to send: the buyer's token, 1 unit of a product, the request's Idempotency-Key."""

    token: str
    product_id: int
    county: str
    key: str

    def body(self) -> bytes:
        return json.dumps({"lines": [{"product_id": self.product_id, "quantity": 1}],
                           "delivery": {"address": {**ADDRESS, "county_adcode": self.county}},
                           "payment_method": "card"}, ensure_ascii=False).encode()

    def send(self, base: str) -> Answer:
        return request(base, "POST", "/api/v1/checkouts", body=self.body(),
                       headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                                "Idempotency-Key": self.key})


def send_all(base: str, checkouts: Iterable[Checkout], *, threads: int,
             until: float | None = None) -> list[tuple[Checkout, Answer]]:
    """Send the checkouts from ``threads`` threads at once, each as soon as the thread is free; stop
    early at ``until`` (time.monotonic()) if given. Returns every (checkout, answer)."""
    pending = iter(checkouts)
    lock = threading.Lock()
    results: list[tuple[Checkout, Answer]] = []

    def work() -> None:
        while until is None or time.monotonic() < until:
            with lock:
                checkout = next(pending, None)
            if checkout is None:
                return
            answer = checkout.send(base)
            with lock:
                results.append((checkout, answer))

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def endless(checkouts: list[Checkout]) -> Iterable[Checkout]:
    """The same buyers over and over, each time with a new Idempotency-Key."""
    for number in itertools.count():
        for checkout in checkouts:
            yield Checkout(checkout.token, checkout.product_id, checkout.county, f"{checkout.key}-{number}")


def api_login(base: str, identifier: str, password: str, *, source: str | None = None,
              headers: dict | None = None) -> Answer:
    return request(base, "POST", "/api/v1/auth/login", source=source,
                   body=json.dumps({"identifier": identifier, "password": password}).encode(),
                   headers={"Content-Type": "application/json", **(headers or {})})


def page_login(base: str, identifier: str, password: str, *, source: str | None = None,
               headers: dict | None = None) -> Answer:
    """The sign-in form as a browser sends it: the page first (session cookie and CSRF token), then the form.

    The cookie is Secure in production, so it is carried by hand over this plain-HTTP test link."""
    page = request(base, "GET", "/login", source=source, headers=headers)
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
    cookie = "; ".join(line.split(";")[0] for line in page.headers.get("set-cookie", "").splitlines())
    if page.status != 200 or not match or not cookie:
        raise AssertionError(f"GET /login answered {page.status} without a CSRF token or cookie: {page.body[:300]!r}")
    form = urllib.parse.urlencode({"csrf_token": match.group(1).decode(), "identifier": identifier,
                                   "password": password}).encode()
    return request(base, "POST", "/login", body=form, source=source,
                   headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, **(headers or {})})
