"""How statements that skip the ORM are run, and small SQL helpers (LIKE patterns, CHECK texts).

The rule, for every use case:

1. **Writes belong to the session's transaction, and the service commits once.** A write that
   skips the ORM (the checkout's one statement, take_stock) runs through ``write_in_session``:
   on the session's connection, inside its transaction, seen by no one until the service calls
   ``db.session.commit()``, undone by ``db.session.rollback()``, like any ORM write.
2. **Reads that skip the ORM run alone.** ``read_alone`` runs a read as a transaction of its own:
   in autocommit, on a pooled connection of its own, never in the session's transaction, whatever
   the session has done. It sees what is committed (not the session's own unflushed or
   uncommitted writes), takes no lock that outlives it, and costs one round trip: no BEGIN, no
   COMMIT or ROLLBACK. A plain read never waits on row locks, so it cannot wait on the session's;
   but while the session holds a connection, it takes a second one from the pool: a request may
   hold two connections at once, and a process's pool must have two for each of its threads.

Both run constant SQL on psycopg's own cursor: SQLAlchemy's execution layer costs about as much
client CPU as psycopg's round trip does on the busiest statements (a checkout's, the catalog's
pages, the caller lookup). Each statement is compiled once; rows are psycopg named tuples, read
like SQLAlchemy rows (``row.id``); driver errors surface as SQLAlchemy's, and a lost connection
is invalidated, as by any execute.

The test suite binds every session to one connection inside a transaction it rolls back; there
``read_alone`` runs on that connection, in a savepoint of its own, so that it sees the test's
rows. That is the only case in which it touches a connection the session uses.

3. **Reads that may lag go to the read replica, inside ``read_replica()``.** With
   ``REPLICA_DATABASE_URL`` set (the bind ``replica``), every read the block runs, ``read_alone``
   and the session's SELECTs alike, goes to the replica; the session's writes never do (they
   are not SELECTs, and flushes bypass the routing), and a session that has written in its
   transaction keeps reading the primary, so that it sees its own writes. Unset, the block
   changes nothing: everything reads the primary. Only code that tolerates a few seconds of
   replication lag, and reads nothing its own request wrote, enters the block; each caller
   says what lag it tolerates (README, "Deployment and scale").
"""
import re
from contextlib import contextmanager
from contextvars import ContextVar

from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, TextClause, event, exc
from sqlalchemy.orm import ORMExecuteState, Session

from marketplace.extensions import db

REPLICA_BIND = "replica"  # the SQLALCHEMY_BINDS key of REPLICA_DATABASE_URL
_ON_REPLICA: ContextVar[bool] = ContextVar("reads_on_replica", default=False)
_WROTE = "wrote_in_transaction"  # Session.info key: this transaction has written


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards escaped (use escape='\\\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def write_in_session(statement: TextClause, params: dict) -> list:
    """The rows of a write (or a read that must see the session's writes) run in the session's
    transaction; the calling service commits or rolls back."""
    db.session.info[_WROTE] = True
    return _fetch_on(db.session.connection(), statement, params)


@contextmanager
def read_replica(enabled: bool = True):
    """Within the block, reads go to the read replica when one is configured (the module's rule 3);
    ``enabled=False`` keeps them on the primary (a reader who must see their own writes)."""
    token = _ON_REPLICA.set(enabled)
    try:
        yield
    finally:
        _ON_REPLICA.reset(token)


def _replica_for(session: Session) -> Engine | None:
    """The replica engine if this read may go there: inside read_replica(), a replica configured,
    and nothing written yet in the session's transaction."""
    if not _ON_REPLICA.get():
        return None
    replica = db.engines.get(REPLICA_BIND)
    if replica is None or session.info.get(_WROTE) or session.new or session.dirty or session.deleted:
        return None
    return replica


@event.listens_for(Session, "do_orm_execute")
def _send_reads_to_replica(state: ORMExecuteState):
    # Outside a read_replica() block (every write path) this costs one context-variable read.
    # Only SELECTs: an INSERT ... ON CONFLICT or a locking read inside the block stays on the primary.
    if not _ON_REPLICA.get() or not state.is_select \
            or getattr(state.statement, "_for_update_arg", None) is not None or "bind" in state.bind_arguments:
        return None
    replica = _replica_for(state.session)
    return state.invoke_statement(bind_arguments={"bind": replica}) if replica is not None else None


@event.listens_for(Session, "after_flush")
def _remember_writes(session: Session, flush_context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: what it wrote is committed or gone
        session.info.pop(_WROTE, None)


def read_alone(statement: TextClause, params: dict) -> list:
    """The rows of a read run as a transaction of its own (see the module's rule 2), on the
    replica inside read_replica() (rule 3)."""
    bind = _read_bind()
    if isinstance(bind, Connection):  # the test suite's one connection
        return _fetch_in_savepoint(bind, statement, params)
    with bind.connect() as connection:
        driver = connection.connection.driver_connection
        # A pooled connection is idle; psycopg sends BEGIN only before a statement outside
        # autocommit, so this one statement goes without it.
        driver.autocommit = True
        try:
            return _fetch_on(connection, statement, params)
        finally:
            if not driver.closed:  # a lost connection has been invalidated already
                driver.autocommit = False


def _read_bind() -> Engine | Connection:
    """Where read_alone runs, found without making the request's session when it has none (an
    anonymous catalog page or product needs no session at all: making one and closing it at the
    request's end cost about a tenth of such a request's CPU). The bind the session factory was
    given (the test suite's connection), else the primary engine, as ``Session.get_bind`` answers
    for a text statement; the replica as rule 3 says."""
    if _ON_REPLICA.get() and db.engines.get(REPLICA_BIND) is not None:
        session = db.session.registry() if db.session.registry.has() else None
        replica = _replica_for(session) if session is not None else db.engines[REPLICA_BIND]
        if replica is not None:
            return replica
    bind = db.session.session_factory.kw.get("bind")
    return bind if bind is not None else db.engine


def _fetch_in_savepoint(connection: Connection, statement: TextClause, params: dict) -> list:
    with connection.begin_nested():
        return _fetch_on(connection, statement, params)


# Compiled SQL by statement object (the statements are module constants, or cached per shape).
_COMPILED: dict[int, tuple[TextClause, str]] = {}


def _driver_sql(statement: TextClause, connection: Connection) -> str:
    known = _COMPILED.get(id(statement))
    if known is None or known[0] is not statement:
        compiled = compact_sql(statement.compile(dialect=connection.dialect).string)
        known = _COMPILED[id(statement)] = (statement, compiled)
    return known[1]


# A quoted literal or identifier (kept as written), or a run of white space and comments (one
# space): what compact_sql reads a statement as.
_SQL_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|(?:\s|--[^\n]*|/\*.*?\*/)+""", re.S)


def compact_sql(sql: str) -> str:
    """The statement with its layout and comments taken out. psycopg parses a statement's
    placeholders once and caches the result only for texts up to 4 KB
    (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); the checkout's, indented for people to read,
    is longer, and was parsed again on every call."""
    return _SQL_TOKENS.sub(lambda match: match.group(1) or " ", sql).strip()


def _fetch_on(connection: Connection, statement: TextClause, params: dict) -> list:
    sql = _driver_sql(statement, connection)
    with _driver_cursor(connection, sql, params) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def _driver_cursor(connection: Connection, sql: str, params):
    """A psycopg cursor on ``connection``; its errors are raised as SQLAlchemy's, and a lost
    connection is invalidated, as by any execute."""
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


def one_of(column: str, values) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values`` (strings or string enums)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"

