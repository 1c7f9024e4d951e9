"""What runs in autocommit and what in a transaction, with real commits, on both databases.

On PostgreSQL the bearer token is read without BEGIN, and a checkout's statements each commit
alone (common.sql.fetch_standalone); everything else a request writes must still wait for its
commit.
"""
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, text, update

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.common.sql import fetch_standalone
from marketplace.extensions import db

pytestmark = pytest.mark.real_commits


@pytest.fixture
def committed_name(database_url):
    """A user's display name as another connection sees it: only what has been committed. Read in
    a thread of its own, outside the test's request context (whose SQLite writes lock the file)."""
    engine = create_engine(database_url)

    def read(user_id: int) -> str:
        def in_thread():
            with engine.connect() as connection:
                return connection.scalar(select(User.display_name).where(User.id == user_id))
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(in_thread).result(timeout=30)

    yield read
    engine.dispose()


def test_what_a_request_writes_after_the_token_lookup_waits_for_its_commit(app, build, committed_name):
    user = build.user("buyer", display_name="甲")
    token, user_id = build.token(user), user.id
    db.session.commit()
    db.session.close()

    with app.test_request_context("/api/v1/me", method="PATCH"):
        caller = accounts.caller_for(token)
        db.session.execute(update(User).where(User.id == caller.user_id).values(display_name="乙"))
        db.session.flush()
        assert committed_name(user_id) == "甲"  # not committed by the statement itself
        db.session.rollback()
        assert committed_name(user_id) == "甲"

        accounts.caller_for(token)
        db.session.execute(update(User).where(User.id == caller.user_id).values(display_name="丙"))
        db.session.commit()
        assert committed_name(user_id) == "丙"


RENAME = text("UPDATE users SET display_name = :name WHERE id = :id RETURNING id")


def test_a_standalone_write_commits_alone_only_with_no_transaction_open_and_only_on_postgresql(
        app, build, committed_name, database_url):
    user_id = build.user("buyer", display_name="甲").id
    db.session.commit()
    db.session.close()

    assert fetch_standalone(RENAME, {"name": "乙", "id": user_id}) == [(user_id,)]
    alone = database_url.startswith("postgresql")
    assert committed_name(user_id) == ("乙" if alone else "甲")
    db.session.rollback()
    assert committed_name(user_id) == ("乙" if alone else "甲")

    db.session.execute(update(User).where(User.id == user_id).values(locale="en"))  # a transaction is open
    fetch_standalone(RENAME, {"name": "丙", "id": user_id})
    assert committed_name(user_id) == ("乙" if alone else "甲")
    db.session.rollback()
    assert committed_name(user_id) == ("乙" if alone else "甲")
