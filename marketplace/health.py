"""Liveness and readiness probes for load balancers and process managers."""
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from marketplace.errors import ErrorCode, error_response
from marketplace.extensions import db

bp = Blueprint("health", __name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _head_revisions() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database answers and its schema is at the newest migration."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # any driver error means not ready
        current_app.logger.warning("readyz: database unreachable: %s", type(exc).__name__)
        return error_response(503, ErrorCode.DATABASE_UNREACHABLE, "The database does not answer.")
    heads = _head_revisions()
    if current != heads:
        return error_response(
            503, ErrorCode.MIGRATIONS_PENDING,
            "The database schema is not at the newest migration; run 'flask db upgrade'.",
            {"current": sorted(current), "head": sorted(heads)},
        )
    return jsonify(status="ready", revision=sorted(heads))
