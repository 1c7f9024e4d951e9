"""Use cases of the pages themselves: one-time form tokens against double submission."""
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.web.models import FormSubmission

# Long enough for a farmer to finish a form; used tokens are forgotten after it.
FORM_TOKEN_TTL = timedelta(days=2)


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def claim_form_token(token: str, user_id: int) -> tuple[bool, str | None]:
    """Claim a form's one-time token for its first send.

    Returns (True, None) for the first send; (False, where the first send led, if it finished)
    for any later one. The primary key decides between two sends racing each other."""
    db.session.add(FormSubmission(token=token, user_id=user_id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = db.session.scalar(select(FormSubmission).where(FormSubmission.token == token))
        return False, earlier.result_path if earlier is not None and earlier.user_id == user_id else None
    return True, None


def record_form_result(token: str, result_path: str) -> None:
    submission = db.session.get(FormSubmission, token)
    if submission is not None:
        submission.result_path = result_path
        db.session.commit()


def release_form_token(token: str) -> None:
    """The send failed (bad input): the same form may be sent again."""
    db.session.rollback()  # whatever the failed send left unfinished is not ours to keep
    db.session.execute(delete(FormSubmission).where(FormSubmission.token == token))
    db.session.commit()


def forget_form_tokens(now=None) -> int:
    """Delete tokens older than FORM_TOKEN_TTL (a periodic job)."""
    removed = db.session.execute(
        delete(FormSubmission).where(FormSubmission.created_at < (now or utcnow()) - FORM_TOKEN_TTL)
    ).rowcount
    db.session.commit()
    return removed
