"""A write request that has already read is not failed by another writer committing meanwhile.

On SQLite a deferred transaction reads a snapshot and may not write once someone else has
committed since; requests that may write therefore take the write lock when they begin. Runs on
both databases, with real commits: the other writer is a thread with its own connection.
"""
import threading

import pytest
from sqlalchemy import update

from marketplace.catalog import services as catalog
from marketplace.catalog.models import Product
from marketplace.extensions import db

pytestmark = pytest.mark.real_commits

ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}


def test_a_checkout_that_has_read_survives_another_writer_committing(app, build, client, monkeypatch):
    buyer = build.user("buyer")
    product, other = build.product(), build.product()
    token = build.token(buyer)
    db.session.commit()
    other_committed = threading.Event()

    def other_writer():
        with app.app_context():
            db.session.execute(update(Product).where(Product.id == other.id).values(title="别的商品"))
            db.session.commit()
            other_committed.set()

    offers_by_id = catalog.offers_by_id
    writer = threading.Thread(target=other_writer)

    def offers_then_another_commit(product_ids):
        offers = offers_by_id(product_ids)  # the checkout has read: on SQLite its snapshot is taken
        writer.start()
        other_committed.wait(timeout=1)  # commits now, or waits for the checkout's write lock
        return offers

    monkeypatch.setattr(catalog, "offers_by_id", offers_then_another_commit)
    response = client.post("/api/v1/checkouts", headers={"Authorization": f"Bearer {token}",
                                                         "Idempotency-Key": "concurrent-writer-1"},
                           json={"lines": [{"product_id": product.id, "quantity": 1}],
                                 "delivery": {"address": ADDRESS}, "payment_method": "card"})
    writer.join(timeout=15)

    assert response.status_code == 201, response.get_json()
    assert other_committed.is_set()
    db.session.rollback()  # a fresh read, after both commits
    assert db.session.get(Product, other.id).title == "别的商品"
    assert db.session.get(Product, product.id).stock_units == 99
