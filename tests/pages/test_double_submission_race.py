"""Pressing send twice at once on PostgreSQL: both sends race through the app, one listing is made."""
import threading

import pytest
from sqlalchemy import select

from marketplace.catalog.models import Product
from tests.pages.conftest import Browser
from tests.pages.test_seller_pages import APPLES, NEW

pytestmark = pytest.mark.real_commits


def test_two_sends_of_one_form_at_the_same_moment_list_one_product(app, build, session):
    build.county("652927", "乌什县")
    seller = build.user("seller", county="652927")
    session.commit()
    first = Browser(app.test_client())
    assert first.log_in(seller).status_code == 302
    form = first.hidden_fields(NEW)
    second = app.test_client()
    second.set_cookie("session", first.client.get_cookie("session").value)

    start, statuses = threading.Barrier(2), []

    def send(client):
        with app.app_context():
            start.wait()
            statuses.append(client.post(NEW, data={**form, **APPLES}, content_type="multipart/form-data").status_code)

    threads = [threading.Thread(target=send, args=(client,)) for client in (first.client, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [302, 302]
    session.rollback()
    assert len(session.scalars(select(Product).where(Product.seller_user_id == seller.id)).all()) == 1
