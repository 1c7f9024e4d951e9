"""The app's JSON bodies, written by orjson.

Every response body of the API goes through ``app.json`` (``jsonify``, flask-smorest's dumped
schemas, the error handler). Flask's provider writes them with the standard library's encoder in
Python, a twentieth of the CPU of a catalog page of 20 listings (about 50 us of 800 in process:
bench/README.md); orjson writes the same JSON in a few microseconds.

The output is what the app sent before, byte for byte where it matters: UTF-8 rather than \\uXXXX
escapes (Chinese text is half the bytes on a farmer's slow connection), keys in the order the
schemas declare them, a newline after the body, non-string keys written as strings. The types the
views hand over that orjson does not know are turned as Flask turns them: a Decimal into its
string, an object with ``__html__`` (markupsafe's Markup) into its text. Dates and times are not
expected here: the schemas dump them as ISO strings first; orjson writes a bare one as ISO 8601
too (Flask wrote an HTTP date), so they read the same as the schemas' if one slips through.
"""
import decimal
import json
from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import JSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(JSONProvider):
    """``app.json``: dumps and response with orjson; loads stays the standard library's (request
    bodies: it accepts what it always has, and a body is parsed once, a response body built once)."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(body, default=_default, option=_OPTIONS), mimetype=self.mimetype)


def init_app(app: Flask) -> None:
    app.json = OrjsonProvider(app)
