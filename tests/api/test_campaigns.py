"""Campaigns through the API: administrators and sellers running them, bad input refused without a
trace, prices that follow the clock in the catalog, cart and checkout (before, at the start second,
inside, at the end second), and the per-buyer limit and cap in sequential checkouts."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from marketplace.campaigns.models import Campaign, CampaignAllowance, CampaignItem
from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders import checkout as checkout_service
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, OrderLine
from tests.api.test_checkout import auth, cart_body, error_code, place

START = "2027-11-11T20:00:00+08:00"  # Double 11, 20:00 in Beijing
END = "2027-11-11T22:00:00+08:00"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


def second_before(moment: str) -> str:
    return (at(moment) - timedelta(seconds=1)).isoformat()


@pytest.fixture
def admin(build):
    return build.user("admin")


@pytest.fixture
def admin_headers(build, admin):
    return auth(build, admin)


@pytest.fixture
def seller(build):
    return build.user("seller", county="652927")


@pytest.fixture
def apples(build, seller):
    return build.product(seller, price_fen=2000, stock_units=50)


@pytest.fixture
def double11(build, admin, apples):
    """Apples at 9.90 from 20:00 to 22:00 on 11 November, 10 units, 2 per buyer."""
    campaign = build.make_campaign(at(START), at(END), admin=admin)
    item = build.make_campaign_item(campaign, apples, campaign_price_fen=990, stock_cap=10, per_buyer_limit=2)
    db.session.commit()
    return item


@pytest.fixture
def buyer(build):
    return build.user("buyer")


@pytest.fixture
def buyer_headers(build, buyer):
    return auth(build, buyer)


def footprint() -> dict:
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Campaign, CampaignItem, CampaignAllowance, Checkout, OrderLine)}


def listed(client, product) -> dict:
    return next(item for item in client.get("/api/v1/products?limit=100").json["items"] if item["id"] == product.id)


# ---------------------------------------------------------------- administrators and sellers


def test_admin_creates_a_campaign_in_beijing_time_stored_in_utc(client, admin_headers):
    response = client.post("/api/v1/campaigns", headers=admin_headers, json={
        "name_zh": "双十一专场", "name_en": "Double 11", "starts_at": "2026-11-11T20:00:00",
        "ends_at": "2026-11-12T00:00:00", "poverty_counties_only": True})

    assert response.status_code == 201, response.json
    assert response.json["starts_at"] == "2026-11-11T20:00:00+08:00"
    campaign = db.session.get(Campaign, response.json["id"])
    assert campaign.starts_at == datetime(2026, 11, 11, 12, tzinfo=UTC)
    assert campaign.ends_at == datetime(2026, 11, 11, 16, tzinfo=UTC)
    assert campaign.poverty_counties_only


def test_seller_proposes_admin_approves_and_the_listing_joins(client, build, admin_headers, seller, apples):
    campaign = build.make_campaign(at(START), at(END))
    db.session.commit()
    seller_headers = auth(build, seller)
    proposed = client.post(f"/api/v1/campaigns/{campaign.id}/proposals", headers=seller_headers, json={
        "product_id": apples.id, "campaign_price_fen": 1500, "stock_cap": 20, "per_buyer_limit": 1})
    assert proposed.status_code == 201, proposed.json
    assert proposed.json["state"] == "pending"
    assert client.get("/api/v1/seller/campaign-items", headers=seller_headers).json["items"][0]["id"] == proposed.json["id"]

    approved = client.post(f"/api/v1/campaign-items/{proposed.json['id']}/approve", headers=admin_headers)

    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    items = client.get(f"/api/v1/campaigns/{campaign.id}/items", headers=admin_headers).json
    assert [(item["product_id"], item["units_left"]) for item in items] == [(apples.id, 20)]


def test_admin_rejects_with_a_reason_and_seller_withdraws_a_pending_one(client, build, admin_headers, seller, apples):
    campaign = build.make_campaign(at(START), at(END))
    other = build.make_campaign(at(END), at(END) + timedelta(hours=2))
    rejected = build.make_campaign_item(campaign, apples, state="pending")
    pending = build.make_campaign_item(other, apples, state="pending")
    db.session.commit()

    refused = client.post(f"/api/v1/campaign-items/{rejected.id}/reject", headers=admin_headers,
                          json={"reason": "价格不够优惠"})
    withdrawn = client.post(f"/api/v1/campaign-items/{pending.id}/withdraw", headers=auth(build, seller))

    assert (refused.status_code, refused.json["state"], refused.json["reject_reason"]) == (200, "rejected", "价格不够优惠")
    assert (withdrawn.status_code, withdrawn.json["state"]) == (200, "withdrawn")
    again = client.post(f"/api/v1/campaign-items/{pending.id}/approve", headers=admin_headers)
    assert (again.status_code, error_code(again)) == (409, "item_not_pending")


def test_cancelling_a_campaign_gives_the_listing_its_own_price_at_once(client, admin_headers, clock, double11, apples):
    clock.at(START)
    assert listed(client, apples)["price_fen"] == 990

    response = client.post(f"/api/v1/campaigns/{double11.campaign_id}/cancel", headers=admin_headers)

    assert response.json["status"] == "cancelled"
    assert db.session.get(CampaignItem, double11.id).state == "removed"
    assert (listed(client, apples)["price_fen"], listed(client, apples)["campaign"]) == (2000, None)


def test_public_campaigns_show_live_and_upcoming_ones_with_their_listings(client, build, clock, double11, apples):
    later = build.make_campaign(at(END) + timedelta(days=1), at(END) + timedelta(days=2))
    build.make_campaign_item(later, build.product(price_fen=500), campaign_price_fen=300)
    db.session.commit()
    clock.at(START)

    campaigns = client.get("/api/v1/campaigns").json

    assert [(c["campaign"]["id"], c["live"]) for c in campaigns] == [(double11.campaign_id, True), (later.id, False)]
    assert [(listing["id"], listing["price_fen"]) for listing in campaigns[0]["listings"]] == [(apples.id, 990)]


# ---------------------------------------------------------------- bad input, nothing changed


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"campaign_price_fen": 2000}, 422, "campaign_price_not_below_listing"),
    ({"campaign_price_fen": 2500}, 422, "campaign_price_not_below_listing"),
    ({"campaign_price_fen": 12.5}, 422, "validation_error"),
    ({"campaign_price_fen": "12"}, 422, "validation_error"),
    ({"campaign_price_fen": 0}, 422, "validation_error"),
    ({"stock_cap": 51}, 422, "stock_cap_above_stock"),
    ({"per_buyer_limit": 0}, 422, "validation_error"),
    ({"product_id": 2_000_000}, 404, "product_not_found"),
])
def test_bad_items_are_refused_with_a_stable_code_and_nothing_changes(client, build, admin_headers, apples,
                                                                       change, status, code):
    campaign = build.make_campaign(at(START), at(END))
    db.session.commit()
    before = footprint()

    response = client.post(f"/api/v1/campaigns/{campaign.id}/items", headers=admin_headers, json={
        "product_id": apples.id, "campaign_price_fen": 990, "stock_cap": 10, "per_buyer_limit": 1, **change})

    assert (response.status_code, error_code(response)) == (status, code), response.json
    assert footprint() == before


@pytest.mark.parametrize("ends_at", ["2026-11-11T20:00:00", "2026-11-11T19:00:00"])
def test_a_campaign_ending_at_or_before_its_start_is_refused(client, admin_headers, ends_at):
    before = footprint()
    response = client.post("/api/v1/campaigns", headers=admin_headers, json={
        "name_zh": "专场", "name_en": "Session", "starts_at": "2026-11-11T20:00:00", "ends_at": ends_at})
    assert (response.status_code, error_code(response)) == (422, "campaign_window_invalid")
    assert footprint() == before


def test_a_listing_in_an_overlapping_campaign_is_refused(client, build, admin_headers, double11, apples):
    overlapping = build.make_campaign(at(START) + timedelta(hours=1), at(END) + timedelta(hours=1))
    db.session.commit()
    before = footprint()

    response = client.post(f"/api/v1/campaigns/{overlapping.id}/items", headers=admin_headers, json={
        "product_id": apples.id, "campaign_price_fen": 900, "stock_cap": 5, "per_buyer_limit": 1})

    assert (response.status_code, error_code(response)) == (409, "listing_in_other_campaign")
    assert response.json["error"]["details"]["campaign_id"] == double11.campaign_id
    assert footprint() == before


def test_the_database_refuses_a_listing_in_two_overlapping_campaigns(build, double11, apples):
    overlapping = build.make_campaign(at(START), at(END))
    with pytest.raises(Exception, match="ex_campaign_items_one_campaign_at_a_time"):
        build.make_campaign_item(overlapping, apples)


def test_a_seller_cannot_propose_another_sellers_listing(client, build, apples):
    campaign = build.make_campaign(at(START), at(END))
    db.session.commit()
    before = footprint()

    response = client.post(f"/api/v1/campaigns/{campaign.id}/proposals", headers=build.headers("seller"), json={
        "product_id": apples.id, "campaign_price_fen": 990, "stock_cap": 10, "per_buyer_limit": 1})

    assert (response.status_code, error_code(response)) == (403, "not_listing_owner")
    assert footprint() == before


def test_a_poverty_counties_campaign_refuses_other_listings(client, build, admin_headers):
    build.county("110105", is_national_poverty_county=False)
    build.county("653022", is_national_poverty_county=True)
    city = build.product(build.user("seller", county="110105"))
    poor = build.product(build.user("seller", county="653022"))
    campaign = build.make_campaign(at(START), at(END), poverty_counties_only=True)
    db.session.commit()

    def add(product):
        return client.post(f"/api/v1/campaigns/{campaign.id}/items", headers=admin_headers, json={
            "product_id": product.id, "campaign_price_fen": 100, "stock_cap": 1, "per_buyer_limit": 1})

    refused = add(city)
    assert (refused.status_code, error_code(refused)) == (422, "not_poverty_county")
    assert add(poor).status_code == 201


def _reprice(client, headers, product, price_fen):
    etag = client.get(f"/api/v1/products/{product.id}", headers=headers).headers["ETag"]
    return client.patch(f"/api/v1/products/{product.id}", json={"price_fen": price_fen},
                        headers={**headers, "If-Match": etag})


@pytest.mark.parametrize("moment", [second_before(START), START])
@pytest.mark.parametrize("price_fen", [990, 500])
def test_a_listing_in_a_campaign_keeps_its_price_above_the_campaign_price(client, build, clock, double11, apples,
                                                                         seller, moment, price_fen):
    clock.at(moment)
    headers = auth(build, seller)

    response = _reprice(client, headers, apples, price_fen)

    assert response.status_code == 409 and error_code(response) == "price_not_above_campaign"
    assert response.json["error"]["details"]["campaign_price_fen"] == 990
    db.session.expire_all()
    assert db.session.get(Product, apples.id).price_fen == 2000
    assert _reprice(client, headers, apples, 991).status_code == 200


def test_after_the_campaign_the_listing_may_go_below_its_campaign_price(client, build, clock, double11, apples,
                                                                       seller):
    clock.at(END)

    assert _reprice(client, auth(build, seller), apples, 500).status_code == 200
    db.session.expire_all()
    assert db.session.get(Product, apples.id).price_fen == 500


def test_an_administrator_raises_the_cap_and_lowers_the_limit_of_a_live_item(client, clock, double11, apples,
                                                                            admin_headers, buyer_headers):
    clock.at(START)
    assert place(client, buyer_headers, cart_body((apples, 1))).status_code == 201

    response = client.patch(f"/api/v1/campaign-items/{double11.id}", json={"stock_cap": 30, "per_buyer_limit": 1},
                            headers=admin_headers)

    assert response.status_code == 200, response.json
    assert (response.json["stock_cap"], response.json["per_buyer_limit"]) == (30, 1)
    assert listed(client, apples)["campaign"]["units_left"] == 29
    refused = place(client, buyer_headers, cart_body((apples, 1)))
    assert refused.status_code == 409 and error_code(refused) == "campaign_limit_reached"


@pytest.mark.parametrize("moment, body, status, code", [
    (START, {"stock_cap": 0}, 422, "validation_error"),
    (START, {"per_buyer_limit": 0}, 422, "validation_error"),
    (START, {"stock_cap": 1}, 422, "stock_cap_below_sold"),  # 2 sold
    (START, {"stock_cap": 51}, 422, "stock_cap_above_stock"),  # 2 sold + 48 in stock
    (START, {"campaign_price_fen": 890}, 409, "campaign_already_started"),
    (second_before(START), {"campaign_price_fen": 2000}, 422, "campaign_price_not_below_listing"),
    (second_before(START), {"campaign_price_fen": 9.5}, 422, "validation_error"),
    (END, {"stock_cap": 20}, 409, "campaign_closed"),
])
def test_bad_item_changes_are_refused_and_change_nothing(client, clock, double11, apples, admin_headers,
                                                         buyer_headers, moment, body, status, code):
    clock.at(START)
    assert place(client, buyer_headers, cart_body((apples, 2))).status_code == 201
    clock.at(moment)
    db.session.expire_all()
    before = {column: getattr(db.session.get(CampaignItem, double11.id), column)
              for column in ("campaign_price_fen", "stock_cap", "per_buyer_limit", "units_sold")}

    response = client.patch(f"/api/v1/campaign-items/{double11.id}", json=body, headers=admin_headers)

    assert (response.status_code, error_code(response)) == (status, code)
    db.session.expire_all()
    assert {column: getattr(db.session.get(CampaignItem, double11.id), column) for column in before} == before


def test_a_removed_item_cannot_change(client, double11, admin_headers):
    assert client.post(f"/api/v1/campaign-items/{double11.id}/remove", headers=admin_headers).status_code == 200

    response = client.patch(f"/api/v1/campaign-items/{double11.id}", json={"stock_cap": 5}, headers=admin_headers)

    assert (response.status_code, error_code(response)) == (409, "item_not_pending")
    assert db.session.get(CampaignItem, double11.id).stock_cap == 10


def test_before_the_start_the_campaign_price_may_change(client, clock, double11, apples, admin_headers):
    clock.at(second_before(START))

    response = client.patch(f"/api/v1/campaign-items/{double11.id}", json={"campaign_price_fen": 890},
                            headers=admin_headers)

    assert response.status_code == 200 and response.json["campaign_price_fen"] == 890
    clock.at(START)
    assert listed(client, apples)["price_fen"] == 890


def test_a_changed_item_changes_the_listings_etag(client, clock, double11, apples, admin_headers):
    clock.at(START)
    before = client.get(f"/api/v1/products/{apples.id}")

    client.patch(f"/api/v1/campaign-items/{double11.id}", json={"per_buyer_limit": 1}, headers=admin_headers)

    again = client.get(f"/api/v1/products/{apples.id}", headers={"If-None-Match": before.headers["ETag"]})
    assert again.status_code == 200 and again.json["campaign"]["per_buyer_limit"] == 1


def test_a_started_campaigns_start_cannot_move(client, admin_headers, clock, double11):
    clock.at(START)
    before = footprint()
    response = client.patch(f"/api/v1/campaigns/{double11.campaign_id}", headers=admin_headers,
                            json={"starts_at": "2027-11-11T21:00:00"})
    assert (response.status_code, error_code(response)) == (409, "campaign_already_started")
    assert footprint() == before
    assert db.session.get(Campaign, double11.campaign_id).starts_at == at(START)


def test_moving_a_window_moves_its_items_and_refuses_an_overlap(client, build, admin_headers, double11, apples):
    later = build.make_campaign(at(END) + timedelta(hours=1), at(END) + timedelta(hours=3))
    build.make_campaign_item(later, apples)
    db.session.commit()

    moved = client.patch(f"/api/v1/campaigns/{double11.campaign_id}", headers=admin_headers,
                         json={"ends_at": "2027-11-11T22:30:00"})
    overlapping = client.patch(f"/api/v1/campaigns/{double11.campaign_id}", headers=admin_headers,
                               json={"ends_at": "2027-11-11T23:30:00"})

    assert moved.status_code == 200, moved.json
    assert db.session.get(CampaignItem, double11.id).ends_at == at("2027-11-11T22:30:00+08:00")
    assert (overlapping.status_code, error_code(overlapping)) == (409, "listing_in_other_campaign")
    assert overlapping.json["error"]["details"]["campaign_id"] == later.id
    db.session.expire_all()
    assert db.session.get(Campaign, double11.campaign_id).ends_at == at("2027-11-11T22:30:00+08:00")


def test_a_listing_not_on_sale_cannot_join(client, build, admin_headers, seller):
    paused = build.product(seller, status="paused")
    campaign = build.make_campaign(at(START), at(END))
    db.session.commit()
    response = client.post(f"/api/v1/campaigns/{campaign.id}/items", headers=admin_headers, json={
        "product_id": paused.id, "campaign_price_fen": 100, "stock_cap": 1, "per_buyer_limit": 1})
    assert (response.status_code, error_code(response)) == (409, "listing_not_for_sale")


# ---------------------------------------------------------------- prices follow the clock


def test_before_the_start_the_listing_says_when_it_opens_and_cannot_be_bought(client, build, clock, double11, apples,
                                                                             buyer, buyer_headers):
    clock.at(second_before(START))
    detail = client.get(f"/api/v1/products/{apples.id}").json
    assert detail["price_fen"] == 2000
    assert detail["campaign"]["live"] is False
    assert (detail["campaign"]["opens_at"], detail["campaign"]["campaign_price_fen"]) == (START, 990)
    assert listed(client, apples)["campaign"]["opens_at"] == START

    client.put(f"/api/v1/me/cart/lines/{apples.id}", json={"quantity": 1}, headers=buyer_headers)
    cart = client.get("/api/v1/me/cart", headers=buyer_headers).json
    assert cart["unbuyable"][0]["problem"] == "campaign_not_open_yet"

    before = footprint()
    response = place(client, buyer_headers, cart_body((apples, 1)))
    assert (response.status_code, error_code(response)) == (409, "campaign_not_started")
    assert response.json["error"]["details"]["opens_at"] == START
    assert footprint() == before


@pytest.mark.parametrize("moment", [START, second_before(END)])
def test_from_the_start_second_the_campaign_price_applies_everywhere(client, clock, double11, apples,
                                                                     buyer_headers, moment):
    clock.at(moment)
    assert listed(client, apples)["price_fen"] == 990
    detail = client.get(f"/api/v1/products/{apples.id}").json
    assert (detail["price_fen"], detail["campaign"]["live"], detail["campaign"]["ends_at"]) == (990, True, END)
    assert (detail["campaign"]["units_left"], detail["campaign"]["per_buyer_limit"]) == (10, 2)

    cart = client.put(f"/api/v1/me/cart/lines/{apples.id}", json={"quantity": 2}, headers=buyer_headers).json
    assert cart["groups"][0]["lines"][0]["price_fen"] == 990
    assert cart["items_total_fen"] == 1980

    response = place(client, buyer_headers, cart_body((apples, 2)))
    assert response.status_code == 201, response.json
    line = response.json["orders"][0]["lines"][0]
    assert (line["unit_price_fen"], line["line_total_fen"], line["campaign_item_id"]) == (990, 1980, double11.id)


def test_at_the_end_second_the_listing_price_is_back_and_past_orders_keep_theirs(client, clock, double11, apples,
                                                                                buyer_headers):
    clock.at(START)
    sold = place(client, buyer_headers, cart_body((apples, 1))).json["orders"][0]["lines"][0]

    clock.at(END)
    assert (listed(client, apples)["price_fen"], listed(client, apples)["campaign"]) == (2000, None)
    assert client.get(f"/api/v1/products/{apples.id}").json["campaign"] is None
    later = place(client, buyer_headers, cart_body((apples, 1)))
    assert later.status_code == 201
    assert (later.json["orders"][0]["lines"][0]["unit_price_fen"],
            later.json["orders"][0]["lines"][0]["campaign_item_id"]) == (2000, None)
    kept = db.session.get(OrderLine, sold["id"])
    assert (kept.unit_price_fen, kept.campaign_item_id) == (990, double11.id)


def test_the_listing_etag_changes_at_the_start_second(client, clock, double11, apples):
    clock.at(second_before(START))
    etag = client.get(f"/api/v1/products/{apples.id}").headers["ETag"]
    assert client.get(f"/api/v1/products/{apples.id}", headers={"If-None-Match": etag}).status_code == 304

    clock.at(START)
    response = client.get(f"/api/v1/products/{apples.id}", headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert response.json["price_fen"] == 990


def test_the_storefront_cache_never_serves_the_old_price_after_the_start(app, client, monkeypatch, clock, double11,
                                                                         apples):
    from marketplace.web.storefront_cache import forget_pages

    monkeypatch.setitem(app.config, "STOREFRONT_CACHE_SECONDS", 60)
    forget_pages()
    clock.at(second_before(START))
    before = client.get(f"/products/{apples.id}")
    assert "¥20.00" in before.text

    clock.at(START)
    after = client.get(f"/products/{apples.id}")

    assert "¥9.90" in after.text and after.text.count("¥20.00") == after.text.count("¥20.00</del>") == 1  # struck through
    forget_pages()


# ---------------------------------------------------------------- limits, one checkout after another


def test_the_per_buyer_limit_counts_every_checkout_of_the_buyer(client, clock, double11, apples, buyer_headers):
    clock.at(START)
    assert place(client, buyer_headers, cart_body((apples, 2))).status_code == 201
    before = footprint()

    response = place(client, buyer_headers, cart_body((apples, 1)))

    assert (response.status_code, error_code(response)) == (409, "campaign_limit_reached")
    assert response.json["error"]["details"] | {"product_id": None} == {
        "product_id": None, "limit": 2, "already_bought": 2, "requested_units": 1}
    assert footprint() == before
    assert db.session.get(Product, apples.id).stock_units == 48


def test_more_than_the_limit_in_one_line_is_refused(client, clock, double11, apples, buyer_headers):
    clock.at(START)
    response = place(client, buyer_headers, cart_body((apples, 3)))
    assert (response.status_code, error_code(response)) == (409, "campaign_limit_reached")


def test_the_cap_is_never_sold_past(client, build, clock, apples):
    item = build.make_campaign_item(build.make_campaign(at(START), at(END)), apples, stock_cap=3, per_buyer_limit=2)
    db.session.commit()
    clock.at(START)
    first = place(client, auth(build, build.user("buyer")), cart_body((apples, 2)))
    assert first.status_code == 201

    response = place(client, auth(build, build.user("buyer")), cart_body((apples, 2)))

    assert (response.status_code, error_code(response)) == (409, "campaign_sold_out")
    assert response.json["error"]["details"]["units_left"] == 1
    assert db.session.get(CampaignItem, item.id).units_sold == 2


def test_a_retried_checkout_is_replayed_not_refused_by_the_limit(client, clock, double11, apples, buyer_headers):
    clock.at(START)
    body = cart_body((apples, 2))
    first = place(client, buyer_headers, body, key="double11-retry")
    again = place(client, buyer_headers, body, key="double11-retry")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]


def test_expiry_and_cancellation_give_back_units_and_allowance(client, build, clock, double11, apples, buyer,
                                                               buyer_headers):
    clock.at(START)
    assert place(client, buyer_headers, cart_body((apples, 1))).status_code == 201  # left unpaid: expires
    cancelled = place(client, buyer_headers, cart_body((apples, 1))).json
    assert db.session.get(CampaignItem, double11.id).units_sold == 2

    client.post(f"/api/v1/orders/{cancelled['orders'][0]['id']}/cancel", headers=buyer_headers, json={"note": "不要了"})
    orders.expire_due_checkouts(now=at(START) + timedelta(hours=1))

    db.session.expire_all()
    assert db.session.get(CampaignItem, double11.id).units_sold == 0
    assert db.session.get(CampaignAllowance, (double11.id, buyer.id)).units == 0
    assert db.session.get(Product, apples.id).stock_units == 50
    assert place(client, buyer_headers, cart_body((apples, 2))).status_code == 201


def test_a_late_payment_past_the_limit_is_refunded_not_oversold(client, build, clock, double11, apples, buyer,
                                                               buyer_headers):
    clock.at(START)
    late = place(client, buyer_headers, cart_body((apples, 2))).json
    orders.expire_due_checkouts(now=at(START) + timedelta(hours=1))
    assert place(client, buyer_headers, cart_body((apples, 2))).status_code == 201

    checkout = orders.lock_checkout(late["id"])
    settlement = orders.settle_checkout_payment(checkout, covers_orders_since=at(START), note="late")

    assert settlement.paid == []
    assert [order.id for order, _ in settlement.refund] == [late["orders"][0]["id"]]
    assert db.session.get(CampaignAllowance, (double11.id, buyer.id)).units == 2


def test_a_late_payment_within_the_limit_takes_the_units_again(client, clock, double11, apples, buyer, buyer_headers):
    clock.at(START)
    late = place(client, buyer_headers, cart_body((apples, 2))).json
    orders.expire_due_checkouts(now=at(START) + timedelta(hours=1))

    checkout = orders.lock_checkout(late["id"])
    settlement = orders.settle_checkout_payment(checkout, covers_orders_since=at(START), note="late")

    assert [order.id for order in settlement.paid] == [late["orders"][0]["id"]]
    assert db.session.get(CampaignItem, double11.id).units_sold == 2
    assert db.session.get(CampaignAllowance, (double11.id, buyer.id)).units == 2


def test_a_partner_ordering_for_villagers_counts_the_limit_per_villager(build, clock, double11, apples):
    clock.at(START)
    partner = build.user("partner")
    station = build.station(partner)
    villagers = [build.user("buyer"), build.user("buyer")]
    db.session.commit()

    def order_for(villager, key):
        return checkout_service.place_checkout(
            villager.id, lines=[{"product_id": apples.id, "quantity": 2}], delivery={"station_id": station.id},
            payment_method="cash_at_station", idempotency_key=key, placed_by_user_id=partner.id)

    order_for(villagers[0], "v0")
    order_for(villagers[1], "v1")
    with pytest.raises(Exception) as refused:
        order_for(villagers[0], "v0-again")
    assert refused.value.code == "campaign_limit_reached"
    assert {(a.buyer_user_id, a.units) for a in db.session.scalars(select(CampaignAllowance))} == {
        (villagers[0].id, 2), (villagers[1].id, 2)}
