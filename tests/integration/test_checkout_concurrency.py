"""Stock under contention, on PostgreSQL with real commits: never oversold, never lost, never twice.

Each simulated buyer runs the checkout service in its own thread, application context, session
and database connection, released together by a barrier.
"""
import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order, OrderEvent, OrderLine
from tests.together import run_together

pytestmark = pytest.mark.real_commits


def _buyers(build, count):
    return [build.user("buyer") for _ in range(count)]


ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}


def _stock(product_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Product, product_id).stock_units


def _sold_units(product_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(OrderLine.product_id == product_id))


def _place(user_id: int, lines: list[dict], key: str):
    def task():
        checkout, _ = checkout_service.place_checkout(
            user_id, lines=lines, delivery={"address": ADDRESS}, payment_method="card", idempotency_key=key
        )
        return checkout.id

    return task


def test_checkout_never_oversells_under_contention(app, build):
    product = build.product(stock_units=100)
    buyers = _buyers(build, 200)
    db.session.commit()

    results = run_together(app, [_place(b.id, [{"product_id": product.id, "quantity": 1}], f"flash-{b.id}")
                                  for b in buyers])

    sold = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, AppError)]
    assert len(sold) == 100
    assert len(refused) == 100 and {r.code for r in refused} == {"out_of_stock"}
    assert _stock(product.id) == 0
    assert _sold_units(product.id) == 100
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 100


def test_overlapping_multi_line_carts_neither_deadlock_nor_oversell(app, build):
    products = [build.product(stock_units=40) for _ in range(5)]
    buyers = _buyers(build, 120)
    db.session.commit()
    rng = random.Random(7)
    carts = []
    for buyer in buyers:
        chosen = rng.sample(products, rng.randint(2, 4))
        rng.shuffle(chosen)  # lines arrive in any order; stock is still taken in id order
        carts.append((buyer.id, [{"product_id": p.id, "quantity": rng.randint(1, 3)} for p in chosen]))

    results = run_together(app, [_place(user_id, lines, f"cart-{user_id}") for user_id, lines in carts])

    errors = Counter(r.code for r in results if isinstance(r, AppError))
    assert set(errors) <= {"out_of_stock"}, errors  # a deadlock would surface as a 500-class error
    placed = [cart for cart, result in zip(carts, results, strict=True) if isinstance(result, int)]
    assert placed, "some carts must succeed"
    for product in products:
        wanted = sum(line["quantity"] for _, lines in placed for line in lines if line["product_id"] == product.id)
        assert _sold_units(product.id) == wanted
        assert _stock(product.id) == 40 - wanted >= 0
    # all or nothing: every placed checkout has every line of its cart
    assert db.session.scalar(select(func.count()).select_from(OrderLine)) == sum(len(lines) for _, lines in placed)


def test_checkout_killed_after_taking_stock_leaves_no_order_and_no_lost_stock(app, build):
    """The worker dies while its checkout holds the stock it took. Another transaction holds the
    buyer's account locked, so the checkout's statement, having taken every product's stock,
    waits at its last step (checking the rows it wrote against the account); its database
    session is then terminated, as when the worker's process is killed."""
    products = [build.product(stock_units=10), build.product(stock_units=10)]
    buyer = build.user("buyer")
    db.session.commit()
    product_ids, buyer_id = [p.id for p in products], buyer.id
    outcome = {}

    def checkout():
        with app.app_context():
            try:
                _place(buyer_id, [{"product_id": pid, "quantity": 4} for pid in product_ids], "doomed-key")()
            except Exception as error:  # the killed session's error, whatever its kind
                outcome["error"] = error
            finally:
                db.session.remove()

    with db.engine.connect() as holder, db.engine.connect() as observer:
        holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": buyer_id})
        worker = threading.Thread(target=checkout)
        worker.start()
        pid = _backend_waiting_on_a_lock(observer, "WITH new_checkout AS")
        # Both products' rows are locked by the checkout: their stock has been taken.
        for product_id in product_ids:
            with pytest.raises(OperationalError, match="could not obtain lock"):
                with observer.begin():
                    observer.execute(text("SELECT id FROM products WHERE id = :id FOR UPDATE NOWAIT"), {"id": product_id})
        with observer.begin():
            assert observer.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
        worker.join(timeout=30)
        holder.rollback()

    assert not worker.is_alive() and isinstance(outcome.get("error"), DBAPIError)
    assert [_stock(pid) for pid in product_ids] == [10, 10]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 0


def _backend_waiting_on_a_lock(connection, fragment: str) -> int:
    """The pid of the backend whose statement contains ``fragment``, once it waits on a lock."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.begin():
            pid = connection.scalar(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND pid <> pg_backend_pid()"
                " AND strpos(query, :fragment) > 0"), {"fragment": fragment})
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no statement with {fragment!r} came to wait on a lock within 30 s")


def test_one_key_sent_eight_times_at_once_places_one_checkout(app, build):
    product = build.product(stock_units=10)
    buyer = build.user("buyer")
    db.session.commit()
    lines = [{"product_id": product.id, "quantity": 3}]

    results = run_together(app, [_place(buyer.id, lines, "retried-key") for _ in range(8)])

    assert all(isinstance(result, int) for result in results), results
    assert len(set(results)) == 1
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 1
    assert _sold_units(product.id) == 3
    assert _stock(product.id) == 7


def _expired_checkout(app, build, units: int):
    product = build.product(stock_units=50)
    buyer = build.user("buyer")
    db.session.commit()
    checkout_id = _place(buyer.id, [{"product_id": product.id, "quantity": units}], "expiring")()
    checkout = db.session.get(Checkout, checkout_id)
    checkout.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return product, buyer, checkout_id


def test_expiry_run_by_two_workers_at_once_returns_stock_exactly_once(app, build):
    product, _, checkout_id = _expired_checkout(app, build, units=7)
    assert _stock(product.id) == 43

    results = run_together(app, [orders.expire_due_checkouts, orders.expire_due_checkouts, orders.expire_due_checkouts])

    assert sorted(results) == [0, 0, 1]
    assert _stock(product.id) == 50
    assert db.session.get(Checkout, checkout_id).status == "expired"
    assert db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "expire")) == 1


def test_cancel_racing_expiry_returns_stock_exactly_once(app, build):
    product, buyer, checkout_id = _expired_checkout(app, build, units=5)
    order_id = db.session.scalar(select(Order.id).where(Order.checkout_id == checkout_id))

    def cancel():
        from marketplace.accounts.models import User

        return orders.move_order(order_id, "cancel", db.session.get(User, buyer.id)).status

    results = run_together(app, [cancel, orders.expire_due_checkouts, cancel, orders.expire_due_checkouts])

    assert _stock(product.id) == 50
    terminal = db.session.scalars(
        select(OrderEvent.action).where(OrderEvent.order_id == order_id, OrderEvent.action.in_(["cancel", "expire"]))
    ).all()
    assert len(terminal) == 1, results
    losers = [r for r in results if isinstance(r, AppError)]
    assert all(r.code == "illegal_transition" for r in losers)
