"""A claim's refund racing an administrator's refund of the same order line, on PostgreSQL with
real commits: whichever comes first, the two never add up to more than was paid.

Each racer runs in its own thread, application context, session and database connection,
released together by a barrier. Both take the order's lock (orders.lock_order) before they read
what is left to refund, so the second sees the first's pending refund. Stripe is not configured:
refunds stay pending, which is enough (a pending refund already counts against what is left).
"""
import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.claims import services as claims
from marketplace.claims.models import Claim
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.payments import refunds
from marketplace.payments.models import Refund, RefundLine
from tests.together import run_together

pytestmark = pytest.mark.real_commits

ROUNDS = 8
PRICE = 5000  # two of them ship free (SHIPPING_FREE_OVER_FEN): the order's total is its one line
ASKED = 7000
ADMIN_REFUND = 5000


def _after(seconds: float, task):
    def delayed():
        time.sleep(seconds)
        return task()

    return delayed


def _claimed_sale(build) -> tuple[int, int, int]:
    """A delivered order of one line (2 x 5000 fen, paid 10000) with a claim of 7000 on it: (order
    id, claim id, seller id)."""
    order = build.delivered_order(products=[build.product(price_fen=PRICE)], quantity=2)
    assert order.total_fen == order.lines[0].line_total_fen == 2 * PRICE
    claim = build.claim(order, amount_fen=ASKED)
    ids = order.id, claim.id, order.seller_user_id
    db.session.commit()
    return ids


def _code(result) -> str:
    return result.code if isinstance(result, AppError) else "ok"


def _refunded_on(order_id: int) -> tuple[int, int]:
    """What the order's refunds ask back in all, and what its refund lines put on its lines."""
    db.session.expire_all()
    total = db.session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(Refund.order_id == order_id))
    on_lines = db.session.scalar(select(func.coalesce(func.sum(RefundLine.amount_fen), 0))
                                 .join(Refund, Refund.id == RefundLine.refund_id).where(Refund.order_id == order_id))
    return total, on_lines


def test_a_claim_accepted_while_an_administrator_refunds_the_same_line_never_refunds_more_than_paid(app, build):
    admin_id = build.user("admin").id
    sales = [_claimed_sale(build) for _ in range(ROUNDS)]
    rng, outcomes = random.Random(20), []

    for order_id, claim_id, seller_id in sales:
        def accept(claim_id=claim_id, seller_id=seller_id):
            return claims.accept_claim(claim_id, db.session.get(User, seller_id))

        def refund(order_id=order_id):
            return refunds.request_refund(order_id, db.session.get(User, admin_id), reason="管理员退款",
                                          amount_fen=ADMIN_REFUND)

        delay = rng.uniform(0, 0.005)
        accepted, refunded = run_together(app, [_after(delay, accept), _after(0.005 - delay, refund)])
        outcomes.append((_code(accepted), _code(refunded)))
        total, on_lines = _refunded_on(order_id)
        assert total <= 2 * PRICE and on_lines <= 2 * PRICE
        claim = db.session.get(Claim, claim_id)
        if _code(accepted) == "ok":
            assert (_code(refunded), total, claim.status) == ("refund_exceeds_paid", ASKED, "accepted")
        else:
            assert (_code(accepted), _code(refunded), total) == ("not_enough_left_to_refund", "ok", ADMIN_REFUND)
            assert (claim.status, claim.refund_id) == ("open", None)

    assert set(Counter(outcomes)) <= {("ok", "refund_exceeds_paid"), ("not_enough_left_to_refund", "ok")}


def test_the_deadlines_job_racing_an_administrators_refund_grants_at_most_what_is_left(app, build):
    admin_id = build.user("admin").id
    rng = random.Random(21)

    for _ in range(ROUNDS):  # each round's claim is the only one due when its job runs
        order_id, claim_id, _seller_id = _claimed_sale(build)
        due = db.session.get(Claim, claim_id).respond_by
        db.session.commit()

        def refund(order_id=order_id):
            return refunds.request_refund(order_id, db.session.get(User, admin_id), reason="管理员退款",
                                          amount_fen=ADMIN_REFUND)

        delay = rng.uniform(0, 0.005)
        job, refunded = run_together(app, [_after(delay, lambda due=due: claims.accept_overdue_claims(now=due)),
                                           _after(0.005 - delay, refund)])
        total, on_lines = _refunded_on(order_id)
        claim = db.session.get(Claim, claim_id)
        assert total <= 2 * PRICE and on_lines <= 2 * PRICE
        assert claim.status == "accepted"
        if _code(refunded) == "ok":  # the administrator came first: the claim got what was left
            assert (claim.granted_fen, total) == (2 * PRICE - ADMIN_REFUND, 2 * PRICE)
        else:
            assert (_code(refunded), claim.granted_fen, total) == ("refund_exceeds_paid", ASKED, ASKED)
