"""Small SQL helpers shared by the packages: LIKE patterns, read-only connections, CHECK texts, upserts."""
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace.extensions import db


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped (use escape='\\\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def read_only_connection() -> Connection:
    """The request's connection, in autocommit mode if the request has not used the database yet.

    A page that only reads then costs one round trip per query, without BEGIN and ROLLBACK
    around it. Only for requests that write nothing: in autocommit every statement commits
    alone. A session already in a transaction, or bound to an outer one (the test suite), is
    used as it is.
    """
    session = db.session()
    if session.in_transaction() or isinstance(session.bind, Connection):
        return session.connection()
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def commit_keeping_loaded_state() -> None:
    """Commit without expiring the session's objects, for a response built from rows this
    transaction has just written (their values are known; reloading would only repeat them)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def one_of(column: str, values) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values`` (strings or string enums)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def upsert(model) -> PostgresInsert | SqliteInsert:
    """An INSERT into ``model``'s table that can say ``on_conflict_do_update`` / ``_do_nothing``
    (INSERT ... ON CONFLICT), on PostgreSQL and on SQLite alike."""
    return (postgres_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(model)
