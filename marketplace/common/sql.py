"""Small SQL helpers shared by the packages: LIKE patterns, connections, driver-run statements, CHECK texts, upserts."""
from contextlib import contextmanager

from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, TextClause, exc
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace.extensions import db


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped (use escape='\\\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# The busiest statements (a checkout's, the catalog's pages) are constant SQL run by the driver
# itself on PostgreSQL: SQLAlchemy's execution layer costs about as much client CPU as psycopg's
# round trip does. Compiled once per statement; results are psycopg named tuples,
# read like SQLAlchemy rows (row.id). Elsewhere, and on SQLite, plain session.execute.
_COMPILED: dict[int, tuple[TextClause, str]] = {}


def _driver_sql(statement: TextClause, connection: Connection) -> str:
    known = _COMPILED.get(id(statement))
    if known is None or known[0] is not statement:
        known = _COMPILED[id(statement)] = (statement, statement.compile(dialect=connection.dialect).string)
    return known[1]


@contextmanager
def _driver_cursor(connection: Connection, sql: str, params):
    """A psycopg cursor on the session's connection; its errors are raised as SQLAlchemy's, and
    a lost connection is invalidated, as by any execute."""
    dbapi_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.driver_connection.cursor(row_factory=namedtuple_row)
    try:
        yield cursor
    except dbapi_error as error:
        lost = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(sql, params, error, dbapi_error, connection_invalidated=lost,
                                      dialect=connection.dialect) from error
    finally:
        cursor.close()


def fetch_all(statement: TextClause, params: dict) -> list:
    """The rows of one run of a constant statement (its bind names all given), in the session's
    transaction."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return connection.execute(statement, params).all()
    return _fetch_on(connection, statement, params)


def _fetch_on(connection: Connection, statement: TextClause, params: dict) -> list:
    sql = _driver_sql(statement, connection)
    with _driver_cursor(connection, sql, params) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_standalone(statement: TextClause, params: dict) -> list:
    """fetch_all for a statement that stands alone: a read, or a write complete in one statement.

    On PostgreSQL, when no transaction is open, it runs by itself in autocommit, on a pooled
    connection of its own if the session has not begun one: no BEGIN and no COMMIT round trip, no
    session bookkeeping, and its row locks end with it. The session's later statements still
    begin a transaction, as usual. Inside an open transaction (the request has written already,
    the test suite's outer transaction) it is part of it, like any statement, so the caller's
    code must be right both ways.
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return session.connection().execute(statement, params).all()
    if session.in_transaction() or isinstance(session.bind, Connection):
        return _run_alone(session.connection(), statement, params)
    with session.get_bind().connect() as connection:
        return _run_alone(connection, statement, params)


def _run_alone(connection: Connection, statement: TextClause, params: dict) -> list:
    """The statement in autocommit if the connection has no transaction open, else inside it."""
    driver = connection.connection.driver_connection
    if driver.info.transaction_status != TransactionStatus.IDLE:
        return _fetch_on(connection, statement, params)
    # SQLAlchemy may have begun its transaction, but psycopg sends BEGIN only with a first
    # statement outside autocommit: switching autocommit on for this one statement skips it.
    driver.autocommit = True
    try:
        return _fetch_on(connection, statement, params)
    finally:
        if driver.info.transaction_status == TransactionStatus.IDLE:  # not on a lost connection
            driver.autocommit = False


def one_of(column: str, values) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values`` (strings or string enums)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def upsert(model) -> PostgresInsert | SqliteInsert:
    """An INSERT into ``model``'s table that can say ``on_conflict_do_update`` / ``_do_nothing``
    (INSERT ... ON CONFLICT), on PostgreSQL and on SQLite alike."""
    return (postgres_insert if db.engine.dialect.name == "postgresql" else sqlite_insert)(model)
