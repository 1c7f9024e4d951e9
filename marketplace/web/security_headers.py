"""Security headers on every response, set by one after-request hook from constants built once.

- Every response (API, /media, pages): ``X-Content-Type-Options: nosniff`` (a browser never reads
  a photo or a JSON body as something else), ``Referrer-Policy: strict-origin-when-cross-origin``
  (a trace page's token never leaves the site in a Referer), ``X-Frame-Options: DENY`` (nothing
  of this site is framed); in production, HSTS.
- HTML pages: a Content-Security-Policy fitting pages without scripts: everything from this site
  only, no inline script or style, no framing, forms posted here only. Photos are served by the
  app under /media (common/storage.py), so ``img-src 'self'`` covers them; ``data:`` is for the
  WeChat Pay code Stripe hands over as a data URL.

A page that needs more (the card page loads Stripe.js; the dashboard's inline SVG charts carry a
style element; the API's docs page is Swagger UI) sets its own policy, built by ``page_policy``
with what it adds, and the hook leaves it alone.
"""
import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from functools import wraps

from flask import Flask, Response, make_response

PAGE_POLICY = {
    "default-src": ["'self'"], "img-src": ["'self'", "data:"], "style-src": ["'self'"], "script-src": ["'self'"],
    "frame-ancestors": ["'none'"], "form-action": ["'self'"], "base-uri": ["'none'"], "object-src": ["'none'"],
}
HSTS = "max-age=31536000; includeSubDomains"
SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def page_policy(**added: list[str]) -> str:
    """The pages' Content-Security-Policy with sources added to some directives (``script_src=[...]``
    adds to script-src; a directive the pages do not name, e.g. ``connect_src``, starts from 'self')."""
    directives = {name: list(sources) for name, sources in PAGE_POLICY.items()}
    for name, sources in added.items():
        directive = name.replace("_", "-")
        directives.setdefault(directive, ["'self'"]).extend(source for source in sources
                                                            if source not in directives[directive])
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def style_nonce() -> str:
    """A fresh nonce for a page's own inline style elements (its policy names it)."""
    return secrets.token_urlsafe(16)


def init_app(app: Flask) -> None:
    """Register the hook; the headers are fixed here, from the app's config, once."""
    every = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin",
             "X-Frame-Options": "DENY"}
    if app.config["ENV_NAME"] == "production":
        every["Strict-Transport-Security"] = HSTS
    every_items, pages_policy = tuple(every.items()), page_policy()  # built once

    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in every_items:  # add, not set: no view sends these (a few µs a response)
            headers.add(name, value)
        if (response.content_type or "").startswith("text/html") and "Content-Security-Policy" not in headers:
            headers.add("Content-Security-Policy", pages_policy)  # unless the page set its own
        return response

    app.after_request(add_security_headers)
    if SWAGGER_UI_ENDPOINT in app.view_functions:
        app.view_functions[SWAGGER_UI_ENDPOINT] = _allowing_its_inline_scripts(app.view_functions[SWAGGER_UI_ENDPOINT])


def _allowing_its_inline_scripts(view: Callable) -> Callable:
    """Swagger UI's page (flask-smorest's template) starts itself with an inline script and styles
    its widgets inline: its policy allows that script by its hash, inline styles, and data: icons."""

    @wraps(view)
    def docs_page(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                  for script in INLINE_SCRIPT.findall(response.get_data(as_text=True))]
        response.headers["Content-Security-Policy"] = page_policy(script_src=hashes, style_src=["'unsafe-inline'"])
        return response

    return docs_page
