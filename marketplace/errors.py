"""Domain errors and the one JSON error shape every failure is turned into.

Every error leaves the service as
``{"error": {"code": "<stable snake_case>", "message": "<human text>", "details": {...}}}``.
Services raise ``AppError`` subclasses; marshmallow/webargs validation failures and werkzeug
HTTP exceptions are mapped here; anything else is logged with the request id and becomes a
500 that reveals nothing about the code.
"""
import logging
import uuid

import marshmallow as ma
from flask import Flask, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """A failure the caller can understand and act on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(AppError):
    status = 422
    code = "validation_error"


class NotAuthenticated(AppError):
    status = 401
    code = "not_authenticated"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable machine-readable code"})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable message"})
    details = ma.fields.Dict(required=True, metadata={"description": "Field messages or context"})


class ErrorOut(ma.Schema):
    """The single error shape of the API."""

    error = ma.fields.Nested(ErrorBody, required=True)


# Codes for werkzeug HTTP exceptions, by status.
HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, details: dict | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    if _wants_html():
        html = render_template("error.html", status=status, code=code, message=message)
        return html, status, headers or {}
    return jsonify(body), status, headers or {}


def _wants_html() -> bool:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _handle_app_error(error: AppError):
    return error_response(error.status, error.code, error.message, error.details)


def _handle_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return _handle_unexpected(error)
    code = HTTP_CODES.get(status, "http_error")
    message = error.description or error.name
    details: dict = {}
    messages = getattr(error, "data", {}).get("messages") if getattr(error, "data", None) else None
    if messages:
        if status == 400 and messages.get("json") == ["Invalid JSON body."]:
            code, message = "malformed_json", "The request body is not valid JSON."
        else:
            code = "validation_error"
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
    return error_response(400, "csrf_failed", "The form's security token is missing or expired; reload the page and try again.")


def _handle_rate_limit(error: RateLimitExceeded):
    return error_response(429, "rate_limited", f"Too many attempts; limit is {error.description}. Try again later.")


def _handle_database_unavailable(error: DBAPIError):
    if not error.connection_invalidated and not isinstance(error, OperationalError):
        return _handle_unexpected(error)
    log.warning("database unavailable request_id=%s: %s", g.get("request_id", "-"), type(error.orig).__name__)
    return error_response(503, "database_unavailable", "The database is briefly unavailable; retry in a moment.",
                          headers={"Retry-After": "2"})


def _handle_unexpected(error: Exception):
    request_id = g.get("request_id", "-")
    log.exception("unhandled error request_id=%s path=%s", request_id, request.path)
    return error_response(
        500,
        "internal_error",
        "Something went wrong on our side. Quote the request id if you contact support.",
        {"request_id": request_id},
    )


def _assign_request_id():
    incoming = request.headers.get("X-Request-ID", "")
    valid = 0 < len(incoming) <= 64 and all(c.isalnum() or c in "-_." for c in incoming)
    g.request_id = incoming if valid else uuid.uuid4().hex


def _echo_request_id(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def register_error_handlers(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(AppError, _handle_app_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(RateLimitExceeded, _handle_rate_limit)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)
