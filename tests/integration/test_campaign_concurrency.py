"""A campaign's per-buyer limit and stock cap under contention, on PostgreSQL with real commits.

Each checkout runs the service in its own thread, application context, session and database
connection, released together by a barrier (tests/together.py), as a buyer on several devices or
a crowd at the second a campaign opens would send them.
"""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from marketplace.accounts.models import User
from marketplace.campaigns import services as campaigns
from marketplace.campaigns.models import CampaignAllowance, CampaignItem
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, OrderLine
from tests.together import run_together

pytestmark = pytest.mark.real_commits

ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}


def _place(buyer_id: int, product_id: int, quantity: int, key: str):
    def task():
        checkout, _ = checkout_service.place_checkout(
            buyer_id, lines=[{"product_id": product_id, "quantity": quantity}], delivery={"address": ADDRESS},
            payment_method="card", idempotency_key=key)
        return checkout.id

    return task


def _item(item_id: int) -> CampaignItem:
    db.session.expire_all()
    return db.session.get(CampaignItem, item_id)




def test_one_buyer_on_many_devices_never_passes_the_limit(app, build):
    product = build.product(stock_units=100, price_fen=2000)
    item = build.make_campaign_item(build.make_campaign(), product, stock_cap=50, per_buyer_limit=2)
    buyer = build.user("buyer")
    db.session.commit()

    results = run_together(app, [_place(buyer.id, product.id, 1, f"device-{n}") for n in range(16)])

    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, AppError)]
    assert len(placed) == 2
    assert {r.code for r in refused} == {"campaign_limit_reached"} and len(refused) == 14
    assert _item(item.id).units_sold == 2
    assert db.session.get(CampaignAllowance, (item.id, buyer.id)).units == 2
    assert db.session.get(Product, product.id).stock_units == 98
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 2


def test_many_buyers_never_oversell_the_cap(app, build):
    product = build.product(stock_units=100, price_fen=2000)
    item = build.make_campaign_item(build.make_campaign(), product, stock_cap=20, per_buyer_limit=1)
    buyers = [build.user("buyer") for _ in range(48)]
    db.session.commit()

    results = run_together(app, [_place(b.id, product.id, 1, f"crowd-{b.id}") for b in buyers])

    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, AppError)]
    assert len(placed) == 20
    assert {r.code for r in refused} == {"campaign_sold_out"}
    assert _item(item.id).units_sold == 20
    assert db.session.get(Product, product.id).stock_units == 80
    assert db.session.scalar(select(func.sum(OrderLine.quantity)).where(OrderLine.campaign_item_id == item.id)) == 20
    assert db.session.scalar(select(func.max(CampaignAllowance.units))) == 1


def test_expiry_gives_back_units_and_allowance_and_the_buyer_can_buy_again(app, build):
    product = build.product(stock_units=10, price_fen=2000)
    item = build.make_campaign_item(build.make_campaign(), product, stock_cap=2, per_buyer_limit=2)
    buyer, other = build.user("buyer"), build.user("buyer")
    db.session.commit()
    first = run_together(app, [_place(buyer.id, product.id, 2, "unpaid")])[0]
    assert isinstance(first, int)
    assert isinstance(run_together(app, [_place(other.id, product.id, 1, "too-late")])[0], AppError)

    assert orders.expire_due_checkouts(now=utcnow() + timedelta(hours=2)) == 1

    assert (_item(item.id).units_sold, db.session.get(CampaignAllowance, (item.id, buyer.id)).units) == (0, 0)
    assert db.session.get(Product, product.id).stock_units == 10
    again = run_together(app, [_place(buyer.id, product.id, 1, f"again-{n}") for n in range(6)])
    assert sum(isinstance(r, int) for r in again) == 2
    assert _item(item.id).units_sold == 2


def test_a_buyer_who_has_had_the_limit_is_refused_without_queueing_behind_the_listings_sales(app, build):
    """The allowance is taken before the stock: while a sale holds the listing's row, a buyer's
    checkout past the limit is refused at once, not after that sale (at a campaign's opening,
    every sale of the listing queues on its row)."""
    product = build.product(stock_units=10, price_fen=2000)
    item = build.make_campaign_item(build.make_campaign(), product, stock_cap=5, per_buyer_limit=1)
    buyer = build.user("buyer")
    db.session.commit()
    assert isinstance(run_together(app, [_place(buyer.id, product.id, 1, "first")])[0], int)

    outcome = []
    with db.engine.connect() as other_sale:
        other_sale.execute(select(Product.id).where(Product.id == product.id).with_for_update())
        second = threading.Thread(target=lambda: outcome.extend(
            run_together(app, [_place(buyer.id, product.id, 1, "second")])))
        second.start()
        second.join(timeout=10)
        answered_while_the_row_was_held = not second.is_alive()
        other_sale.rollback()
    second.join()

    assert answered_while_the_row_was_held
    assert [error.code for error in outcome] == ["campaign_limit_reached"]
    assert (_item(item.id).units_sold, db.session.get(CampaignAllowance, (item.id, buyer.id)).units) == (1, 1)
    assert db.session.get(Product, product.id).stock_units == 9


def test_an_item_added_while_its_listings_price_changes_is_checked_against_the_new_price(app, build):
    """Adding a listing to a campaign locks the listing's row: a price change in flight finishes
    first, and the campaign price is checked against the price it leaves."""
    product = build.product(stock_units=10, price_fen=2000)
    campaign = build.make_campaign()
    admin = build.user("admin")
    db.session.commit()

    def add_item():
        return campaigns.add_item(campaign.id, db.session.get(User, admin.id), product_id=product.id,
                                  campaign_price_fen=1500, stock_cap=5, per_buyer_limit=1)

    outcome = []
    with db.engine.connect() as price_change:
        price_change.execute(select(Product.id).where(Product.id == product.id).with_for_update())
        adding = threading.Thread(target=lambda: outcome.extend(run_together(app, [add_item])))
        adding.start()
        adding.join(timeout=2)
        waited_for_the_price_change = adding.is_alive()
        price_change.execute(update(Product).where(Product.id == product.id).values(price_fen=1400))
        price_change.commit()
    adding.join()

    assert waited_for_the_price_change
    assert [error.code for error in outcome] == ["campaign_price_not_below_listing"]
    assert db.session.scalar(select(func.count()).select_from(CampaignItem)) == 0


def test_a_price_change_while_its_listing_joins_a_campaign_is_checked_against_that_campaign(app, build):
    """A seller's price change waits for a campaign item being added to its listing, then sees it."""
    seller = build.user("seller")
    product = build.product(seller, stock_units=10, price_fen=2000)
    campaign = build.make_campaign()
    db.session.commit()
    version = product.version

    def change_price():
        return catalog.update_product(product.id, db.session.get(User, seller.id), version, price_fen=1400)

    outcome = []
    with db.engine.connect() as adding:
        adding.execute(select(Product.id).where(Product.id == product.id).with_for_update())
        changing = threading.Thread(target=lambda: outcome.extend(run_together(app, [change_price])))
        changing.start()
        changing.join(timeout=2)
        waited_for_the_item = changing.is_alive()
        adding.execute(insert(CampaignItem).values(
            campaign_id=campaign.id, product_id=product.id, campaign_price_fen=1500, stock_cap=5, per_buyer_limit=1,
            units_sold=0, state="approved", starts_at=campaign.starts_at, ends_at=campaign.ends_at,
            proposed_by_user_id=campaign.created_by_user_id))
        adding.commit()
    changing.join()

    assert waited_for_the_item
    assert [error.code for error in outcome] == ["price_not_above_campaign"]
    db.session.expire_all()
    assert db.session.get(Product, product.id).price_fen == 2000
