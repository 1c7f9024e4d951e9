"""The one rule of common.sql, with real commits: writes wait for the service's commit, and a read
that skips the ORM runs alone, the same whatever the session has done."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import DBAPIError

from marketplace.accounts import services as accounts
from marketplace.accounts.models import User
from marketplace.common.sql import read_alone, write_in_session
from marketplace.extensions import db

pytestmark = pytest.mark.real_commits

NAME = text("SELECT display_name FROM users WHERE id = :id")
RENAME = text("UPDATE users SET display_name = :name WHERE id = :id RETURNING id")
BACKEND = text("SELECT pg_backend_pid() AS pid, now() = statement_timestamp() AS alone")


@pytest.fixture
def committed_name(database_url):
    """A user's display name as another connection sees it: only what has been committed."""
    engine = create_engine(database_url)

    def read(user_id: int) -> str:
        def in_thread():
            with engine.connect() as connection:
                return connection.scalar(select(User.display_name).where(User.id == user_id))
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(in_thread).result(timeout=30)

    yield read
    engine.dispose()


@pytest.fixture
def user_id(build) -> int:
    """A committed buyer named 甲, with nothing left open in the session."""
    user = build.user("buyer", display_name="甲")
    db.session.commit()
    committed_id = user.id
    db.session.close()
    return committed_id


def test_what_a_request_writes_after_the_token_lookup_waits_for_its_commit(app, build, committed_name):
    user = build.user("buyer", display_name="甲")
    token, user_id = build.token(user), user.id
    db.session.commit()
    db.session.close()

    with app.test_request_context("/api/v1/me", method="PATCH"):
        caller = accounts.caller_for(token)
        db.session.execute(update(User).where(User.id == caller.user_id).values(display_name="乙"))
        db.session.flush()
        assert committed_name(user_id) == "甲"
        db.session.rollback()
        assert committed_name(user_id) == "甲"

        accounts.caller_for(token)
        db.session.execute(update(User).where(User.id == caller.user_id).values(display_name="丙"))
        db.session.commit()
        assert committed_name(user_id) == "丙"


def test_a_write_in_session_is_seen_by_no_one_until_the_service_commits(user_id, committed_name):
    assert write_in_session(RENAME, {"name": "乙", "id": user_id}) == [(user_id,)]
    assert committed_name(user_id) == "甲"
    db.session.rollback()
    assert committed_name(user_id) == "甲"

    write_in_session(RENAME, {"name": "丙", "id": user_id})
    db.session.commit()
    assert committed_name(user_id) == "丙"


def test_a_read_alone_sees_what_is_committed_whether_or_not_the_session_has_begun(user_id):
    assert not db.session().in_transaction()
    assert [row.display_name for row in read_alone(NAME, {"id": user_id})] == ["甲"]

    db.session.execute(update(User).where(User.id == user_id).values(display_name="乙"))
    assert db.session().in_transaction()
    assert [row.display_name for row in read_alone(NAME, {"id": user_id})] == ["甲"]  # not the session's write

    db.session.commit()
    assert [row.display_name for row in read_alone(NAME, {"id": user_id})] == ["乙"]


def test_a_read_alone_is_a_transaction_of_its_own_on_another_connection(user_id):
    """now() is the transaction's start: equal to the statement's only when the statement is the
    whole transaction (autocommit)."""
    alone_before = read_alone(BACKEND, {})[0]
    session_pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    db.session.execute(text("SELECT pg_sleep(0.01)"))  # the session's transaction has been open a while
    alone_during = read_alone(BACKEND, {})[0]

    assert alone_before.alone and alone_during.alone
    assert alone_during.pid != session_pid
    db.session.rollback()


def test_a_failed_read_alone_leaves_the_session_and_the_pool_usable(user_id):
    db.session.execute(update(User).where(User.id == user_id).values(display_name="乙"))
    with pytest.raises(DBAPIError, match="division by zero"):
        read_alone(text("SELECT 1 / 0"), {})

    db.session.commit()  # the session's transaction was not touched by the failure
    assert [row.display_name for row in read_alone(NAME, {"id": user_id})] == ["乙"]
