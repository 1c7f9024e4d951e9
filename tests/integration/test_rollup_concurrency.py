"""The rollup job under contention, on PostgreSQL with real commits: several workers draining the
queue at once count every ledger row exactly once, and a payment committing while a roll-up runs
(even one whose ledger rows got lower ids than rows already rolled up) is never lost.

Each worker runs in its own thread, application context, session and database connection.
"""
import random
import threading

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.orders.models import Order
from marketplace.payments.events import apply_stripe_event
from marketplace.reports import ledger, rollup
from marketplace.reports.models import RollupState, SalesLedgerEntry, SalesLedgerQueue
from tests.clock import Clock
from tests.together import run_together
from tests.unit.test_rollups import snapshot
from tests.unit.test_sales_ledger import (
    GUIZHOU_LEISHAN,
    HUNAN_MAYANG,
    XINJIANG_WUSHI,
)

pytestmark = pytest.mark.real_commits


DAYS = ("2026-11-10T23:00:00+08:00", "2026-11-11T00:05:00+08:00", "2026-11-11T20:00:00+08:00")


def waiting() -> int:
    return db.session.scalar(select(func.count()).select_from(SalesLedgerQueue))


def ledger_size() -> int:
    return db.session.scalar(select(func.count()).select_from(SalesLedgerEntry))


def ledger_ids_of(checkout_id: int) -> list[int]:
    return list(db.session.scalars(select(SalesLedgerEntry.id).join(Order, Order.id == SalesLedgerEntry.order_id)
                                   .where(Order.checkout_id == checkout_id).order_by(SalesLedgerEntry.id)))


class Shop:
    """Two sellers in each of three counties, two products each, and a few buyers who come back."""

    def __init__(self, build, seed: int):
        self.build = build
        self.rng = random.Random(seed)
        self.products = [build.product(seller, price_fen=self.rng.randint(500, 9000), stock_units=100_000,
                                       category=self.rng.choice(["fruit", "nuts", "tea", "honey"]))
                         for county in (XINJIANG_WUSHI, GUIZHOU_LEISHAN, HUNAN_MAYANG)
                         for seller in (build.user("seller", county=county), build.user("seller", county=county))
                         for _ in range(2)]
        self.buyers = [build.user("buyer") for _ in range(6)]

    def unpaid_checkout(self):
        """An unpaid card checkout of three products and the success event that will pay it."""
        products = self.rng.sample(self.products, 3)
        checkout = self.build.checkout(self.rng.choice(self.buyers), products,
                                       quantities=[self.rng.randint(1, 3) for _ in products])
        return checkout, self.build.stripe_event(self.build.intent(checkout))


def paid_checkouts(shop: Shop, clock: Clock, count: int) -> None:
    for number in range(count):
        _, event = shop.unpaid_checkout()
        clock.at(DAYS[number % len(DAYS)])
        assert apply_stripe_event(event).outcome == "applied"
    clock.now = None
    db.session.commit()


def drain(batch: int):
    """A worker taking batches until it finds nothing left to take."""
    def task():
        taken = 0
        while took := rollup.roll_up(batch=batch):
            taken += took
        return taken

    return task


def test_four_workers_draining_the_queue_at_once_count_every_ledger_row_exactly_once(app, build, clock):
    paid_checkouts(Shop(build, seed=3), clock, 100)
    rows = ledger_size()
    assert waiting() == rows == 300

    taken = run_together(app, [drain(batch=25) for _ in range(4)])

    assert all(isinstance(count, int) for count in taken), taken
    assert sum(taken) == rows
    assert waiting() == 0
    assert db.session.get(RollupState, rollup.ROLLUP).rows_rolled_up == rows
    incremental = snapshot()
    assert rollup.rebuild() == rows
    assert snapshot() == incremental


def test_a_payment_committing_after_a_roll_up_took_later_rows_is_rolled_up_by_the_next_run(
        app, build, clock, monkeypatch):
    shop = Shop(build, seed=5)
    paid_checkouts(shop, clock, 5)
    slow, slow_event = shop.unpaid_checkout()
    fast, fast_event = shop.unpaid_checkout()
    slow_id, fast_id = slow.id, fast.id
    slow_orders = {order.id for order in slow.orders}
    db.session.commit()
    written, release = threading.Event(), threading.Event()
    record_sale_lines = ledger.record_sale_lines

    def record_then_wait(lines, paid_at):
        """The slow payment has all its ledger rows (and their ids) but has not committed yet
        (a checkout whose orders all await payment is settled in one go: settle_unpaid_checkout)."""
        record_sale_lines(lines, paid_at)
        if {line.order_id for line in lines} == slow_orders:
            written.set()
            assert release.wait(30)

    monkeypatch.setattr(ledger, "record_sale_lines", record_then_wait)

    def pay_slowly():
        return apply_stripe_event(slow_event).outcome

    def pay_and_roll_up_meanwhile():
        try:
            assert written.wait(30)
            outcome = apply_stripe_event(fast_event).outcome
            return outcome, rollup.roll_up_all(batch=25)
        finally:
            release.set()

    slow_outcome, (fast_outcome, taken_meanwhile) = run_together(app, [pay_slowly, pay_and_roll_up_meanwhile])

    assert (slow_outcome, fast_outcome) == ("applied", "applied")
    db.session.expire_all()
    slow_rows, fast_rows = ledger_ids_of(slow_id), ledger_ids_of(fast_id)
    assert max(slow_rows) < min(fast_rows)  # an id watermark past the fast rows would skip the slow ones
    assert taken_meanwhile == 5 * 3 + len(fast_rows)
    assert waiting() == len(slow_rows) == 3
    assert rollup.roll_up_all(batch=25) == 3
    incremental = snapshot()
    assert rollup.rebuild() == ledger_size()
    assert snapshot() == incremental


def test_payments_committing_while_workers_roll_up_are_never_lost(app, build, clock):
    shop = Shop(build, seed=9)
    paid_checkouts(shop, clock, 10)
    pending = [shop.unpaid_checkout()[1] for _ in range(45)]
    db.session.commit()
    payers_left, lock, payers_done = [3], threading.Lock(), threading.Event()

    def payer(events):
        def task():
            try:
                return [apply_stripe_event(event).outcome for event in events]
            finally:
                with lock:
                    payers_left[0] -= 1
                    if not payers_left[0]:
                        payers_done.set()
        return task

    def roller():
        taken = 0
        while not payers_done.is_set():
            taken += rollup.roll_up(batch=7)
        return taken

    results = run_together(app, [payer(pending[0::3]), payer(pending[1::3]), payer(pending[2::3]), roller, roller])

    assert [outcome for outcomes in results[:3] for outcome in outcomes] == ["applied"] * 45
    rolled_meanwhile = sum(results[3:])
    rows = ledger_size()
    assert rows == 55 * 3
    assert rolled_meanwhile + rollup.roll_up_all(batch=7) == rows
    assert waiting() == 0
    incremental = snapshot()
    assert rollup.rebuild() == rows
    assert snapshot() == incremental


def test_a_rebuild_while_workers_drain_the_queue_still_counts_every_row_once(app, build, clock):
    paid_checkouts(Shop(build, seed=13), clock, 60)
    rows = ledger_size()

    results = run_together(app, [drain(batch=10), drain(batch=10), rollup.rebuild, drain(batch=10)])

    assert all(isinstance(result, int) for result in results), results
    rollup.roll_up_all(batch=10)
    assert waiting() == 0
    concurrent = snapshot()
    assert rollup.rebuild() == rows
    assert snapshot() == concurrent
