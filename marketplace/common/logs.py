"""Log records as JSON lines (LOG_FORMAT=json) or text, each stamped with its request's id."""
import logging
import sys

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

HANDLER_NAME = "marketplace"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("levelname", "name", "message", "request_id")
JSON_NAMES = {"levelname": "level", "name": "logger"}
# Fields that must never reach a log, whoever passes them in `extra=`: they are replaced, not dropped,
# so that a reader sees something was there.
SECRET_FIELDS = frozenset({"authorization", "cookie", "set_cookie", "password", "token", "secret", "csrf_token"})
REDACTED = "[redacted]"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was written in (None outside requests);
    errors.py gives every request its id before any other hook runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonLines(JsonFormatter):
    """One JSON object per line: level, logger, message, request_id, any `extra` fields (secrets
    among them redacted) and the time."""

    def __init__(self) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=JSON_NAMES, timestamp="time")  # ISO 8601, UTC

    def process_log_record(self, log_data: dict) -> dict:
        for key in log_data:
            if key.lower().replace("-", "_") in SECRET_FIELDS:
                log_data[key] = REDACTED
        return log_data


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when the record comes (gunicorn and test runners swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler's: the stream is looked up at each record

    @property
    def stream(self):
        return sys.stderr


def configure_logging(log_format: str) -> None:
    """Send the process's log records (the app's, its libraries') to stderr in the chosen format.
    Idempotent: a second app in the same process replaces the handler rather than adding one."""
    if log_format not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be 'json' or 'text', not {log_format!r}.")
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


class AccessLogFields(logging.Filter):
    """gunicorn's access records as fields (its atoms arrive as the record's args): the request id
    the app echoed in X-Request-ID, the client, request, status, size and time. Headers other than
    the request id are left out, so no Authorization or Cookie can reach the log."""

    ATOMS = {"request_id": "{x-request-id}o", "remote": "h", "method": "m", "path": "U", "status": "s",
             "bytes": "b", "duration_ms": "M"}

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            for field, atom in self.ATOMS.items():
                setattr(record, field, record.args.get(atom))
        return True
