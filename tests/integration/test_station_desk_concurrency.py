"""The station desk under two sends at once, on PostgreSQL with real commits: an assisted order
sent twice at the same moment is placed once, its stock taken once, and no second villager is
left behind; two sends of the desk's cash form record the cash once."""

import pytest
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.flows import station_desk as desk
from marketplace.orders.models import Checkout
from marketplace.stations import cash
from marketplace.stations.models import StationCashEntry, Villager
from marketplace.stations.villagers import VillagerChoice
from tests.together import run_together

pytestmark = pytest.mark.real_commits


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def counter(build):
    """A partner's station and a product on sale (10 units), committed."""
    partner = build.user("partner")
    station = build.station(partner=partner)
    product = build.product(stock_units=10)
    db.session.commit()
    return partner.id, station.id, product.id


def _order(partner_id, station_id, product_id, villager: VillagerChoice, key: str):
    def task():
        checkout = desk.place_assisted_order(station_id, db.session.get(User, partner_id), villager,
                                             lines=[{"product_id": product_id, "quantity": 3}],
                                             idempotency_key=key, consent=True)
        return checkout.id

    return task


def test_an_assisted_order_for_a_registered_villager_sent_twice_at_once_is_placed_once(app, counter):
    partner_id, station_id, product_id = counter
    first = desk.place_assisted_order(station_id, db.session.get(User, partner_id), VillagerChoice(name="阿依古丽"),
                                      lines=[{"product_id": product_id, "quantity": 1}], idempotency_key="earlier",
                                      consent=True)
    villager = VillagerChoice(villager_id=first.buyer_user_id)

    results = run_together(app, [_order(*counter, villager, "same-form")] * 2)

    assert results[0] == results[1] and isinstance(results[0], int), results
    assert count(Checkout) == 2  # the earlier one and this one
    assert db.session.get(Product, product_id).stock_units == 10 - 1 - 3


def test_an_assisted_order_for_a_new_villager_sent_twice_at_once_leaves_one_villager_and_one_order(app, counter):
    _, _, product_id = counter

    results = run_together(app, [_order(*counter, VillagerChoice(name="买买提"), "same-form")] * 2)

    placed = [result for result in results if isinstance(result, int)]
    refused = [result for result in results if isinstance(result, AppError)]
    # The second send names a villager the first just registered, so it is not the same request:
    # refused, and what it had begun (its own villager) is gone with it.
    assert (len(placed), [error.code for error in refused]) in ((2, []), (1, ["idempotency_key_reused"])), results
    assert len(set(placed)) == 1
    assert (count(Checkout), count(Villager)) == (1, 1)
    assert db.session.get(Product, product_id).stock_units == 10 - 3


def test_cash_for_one_order_recorded_twice_at_once_is_recorded_once(app, counter):
    partner_id, station_id, product_id = counter
    checkout = desk.place_assisted_order(station_id, db.session.get(User, partner_id), VillagerChoice(name="阿依古丽"),
                                         lines=[{"product_id": product_id, "quantity": 1}], idempotency_key="k",
                                         consent=True)
    checkout_id, due = checkout.id, checkout.grand_total_fen

    def collect():
        return desk.collect_cash(station_id, db.session.get(User, partner_id), checkout_id, amount_fen=due).id

    results = run_together(app, [collect, collect])

    assert sorted(type(result).__name__ for result in results) == ["CheckoutNotPayable", "int"], results
    assert count(StationCashEntry) == 1
    assert cash.balance_fen(station_id) == due
