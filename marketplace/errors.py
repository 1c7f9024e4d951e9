"""Domain errors and the one JSON error shape every failure is turned into.

Every error leaves the service as
``{"error": {"code": "<stable snake_case>", "message": "<human text>", "details": {...}}}``.
Services raise ``AppError`` subclasses; marshmallow/webargs validation failures and werkzeug
HTTP exceptions are mapped here; anything else is logged with the request id and becomes a
500 that reveals nothing about the code.
"""
import enum
import json
import logging
import os
from time import perf_counter

import marshmallow as ma
from flask import Flask, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ErrorCode(enum.StrEnum):
    """The codes any part of the service may answer with; each domain package declares its own
    beside it (``CatalogErrorCode`` in ``marketplace/catalog/errors.py``, ...)."""

    BAD_REQUEST = "bad_request"
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    CSRF_FAILED = "csrf_failed"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    CONFLICT_RETRY = "conflict_retry"
    PRECONDITION_FAILED = "precondition_failed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PRECONDITION_REQUIRED = "precondition_required"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DATABASE_UNREACHABLE = "database_unreachable"
    MIGRATIONS_PENDING = "migrations_pending"
    STORAGE_UNAVAILABLE = "storage_unavailable"


class AppError(Exception):
    """A failure the caller can understand and act on."""

    status = 400
    code: enum.StrEnum = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, *, code: enum.StrEnum | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(AppError):
    status = 422
    code = ErrorCode.VALIDATION_ERROR


class NotAuthenticated(AppError):
    status = 401
    code = ErrorCode.NOT_AUTHENTICATED


class Forbidden(AppError):
    status = 403
    code = ErrorCode.FORBIDDEN


class NotFound(AppError):
    status = 404
    code = ErrorCode.NOT_FOUND


class Conflict(AppError):
    status = 409
    code = ErrorCode.CONFLICT


class UnsupportedMediaType(AppError):
    status = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": (
        "Stable machine-readable code. 409 conflict_retry: another change to the same order happened at the same "
        "moment and this request's transaction was undone; read the order again and retry. 503 "
        "database_unavailable: the database was briefly unreachable; retry after Retry-After seconds.")})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable message"})
    details = ma.fields.Dict(required=True, metadata={"description": "Field messages or context"})


class ErrorOut(ma.Schema):
    """The single error shape of the API."""

    error = ma.fields.Nested(ErrorBody, required=True)


# Codes for werkzeug HTTP exceptions, by status.
HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    428: ErrorCode.PRECONDITION_REQUIRED,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(status: int, code: enum.StrEnum, message: str, details: dict | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    if _wants_html():
        html = render_template("error.html", status=status, code=code, message=message)
        return html, status, headers or {}
    return jsonify(body), status, headers or {}


def _wants_html() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz", "/metrics"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _handle_app_error(error: AppError):
    return error_response(error.status, error.code, error.message, error.details)


def _handle_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return _handle_unexpected(error)
    code = HTTP_CODES.get(status, ErrorCode.HTTP_ERROR)
    message = error.description or error.name
    details: dict = {}
    messages = getattr(error, "data", {}).get("messages") if getattr(error, "data", None) else None
    if messages:
        if status == 400 and messages.get("json") == ["Invalid JSON body."]:
            code, message = ErrorCode.MALFORMED_JSON, "The request body is not valid JSON."
        else:
            code = ErrorCode.VALIDATION_ERROR
            message = "The request has invalid or missing fields; see details."
            details = messages
    if status == 405:
        message = f"{request.method} is not allowed on {request.path}."
    elif status == 404:
        message = f"No resource at {request.path}."
    elif status == 413:
        message = "The request body is larger than the service accepts."
    elif status == 415 and not error.description:
        message = "Unsupported content type."
    headers = getattr(error, "data", {}).get("headers") if getattr(error, "data", None) else None
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers = {**(headers or {}), "Allow": ", ".join(error.valid_methods)}
    return error_response(status, code, message, details, headers)


def _handle_csrf_error(error: CSRFError):
    return error_response(400, ErrorCode.CSRF_FAILED,
                          "The form's security token is missing or expired; reload the page and try again.")


def _handle_rate_limit(error: RateLimitExceeded):
    return error_response(429, ErrorCode.RATE_LIMITED,
                          f"Too many attempts; limit is {error.description}. Try again later.")


# PostgreSQL gave up this transaction for another one's sake (deadlock_detected,
# serialization_failure): nothing is wrong with the request, and sent again it may well go through.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def _handle_database_unavailable(error: DBAPIError):
    if getattr(error.orig, "sqlstate", None) in RETRY_SQLSTATES:
        log.warning("transaction conflict request_id=%s: %s", g.get("request_id", "-"), type(error.orig).__name__)
        return error_response(409, ErrorCode.CONFLICT_RETRY,
                              "Another change to this order (or to what it refers to) happened at the same moment; read it again and retry.",
                              {"retryable": True})
    if not error.connection_invalidated and not isinstance(error, OperationalError):
        return _handle_unexpected(error)
    log.warning("database unavailable request_id=%s: %s", g.get("request_id", "-"), type(error.orig).__name__)
    return error_response(503, ErrorCode.DATABASE_UNAVAILABLE, "The database is briefly unavailable; retry in a moment.",
                          headers={"Retry-After": "2"})


def _handle_recursion(error: RecursionError):
    """A JSON body nested deeper than the parser's stack (``[[[[...]]]]``) is the client's error;
    any other runaway recursion is a bug. Only the body read again, on its own, tells which."""
    if _json_body_too_deep():
        return error_response(400, ErrorCode.MALFORMED_JSON, "The request body is not valid JSON: it is nested too deeply.")
    return _handle_unexpected(error)


def _json_body_too_deep() -> bool:
    if not request.is_json:
        return False
    try:
        json.loads(request.get_data(cache=True))
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


def _handle_unexpected(error: Exception):
    request_id = g.get("request_id", "-")
    log.exception("unhandled error request_id=%s path=%s", request_id, request.path)
    return error_response(
        500,
        ErrorCode.INTERNAL_ERROR,
        "Something went wrong on our side. Quote the request id if you contact support.",
        {"request_id": request_id},
    )


def _assign_request_id():
    """The request's id (the caller's X-Request-ID if it is a sane one) and the time it started
    (monitoring's latency)."""
    g.request_started = perf_counter()
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    valid = 0 < len(incoming) <= 64 and all(c.isalnum() or c in "-_." for c in incoming)
    g.request_id = incoming if valid else os.urandom(16).hex()  # as random as a uuid4, without the object


def _echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def register_error_handlers(app: Flask) -> None:
    # First of all before-request hooks, so that what the others log or refuse (the limiter's 429,
    # CSRF) carries the request's id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(AppError, _handle_app_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(RateLimitExceeded, _handle_rate_limit)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_unavailable)
    app.register_error_handler(RecursionError, _handle_recursion)
    app.register_error_handler(Exception, _handle_unexpected)
