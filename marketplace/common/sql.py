"""Small SQL helpers shared by the read sides."""
from sqlalchemy import Connection

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
