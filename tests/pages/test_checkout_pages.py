"""The checkout page: delivery to an address (county chosen province -> prefecture -> county
without script, the last address offered again) or a service station, sending twice orders once,
a sell-out between cart and checkout named with the cart kept, refusals beside their field."""
import re

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.orders import cart
from marketplace.orders.models import Checkout, DeliveryAddress
from tests.metrics import scrape, value

COUNTY = "652927"  # 乌什县, Xinjiang (650000)
NEW_ADDRESS = {"delivery": "address", "saved_address": "", "recipient": "张三", "phone": "13800138000",
               "province": "650000", "county": COUNTY, "detail": "人民路1号", "payment_method": "card",
               "action": "place"}


@pytest.fixture
def buyer(build, session):
    build.county(COUNTY, "乌什县", prefecture_name="阿克苏地区")
    build.county("652901", "阿克苏市", prefecture_name="阿克苏地区")
    build.county("650102", "天山区", prefecture_name="乌鲁木齐市")
    user = build.user("buyer")
    session.commit()
    return user


@pytest.fixture
def products(build, buyer, session):
    """Two products of two sellers in the buyer's saved cart."""
    listed = [build.product(), build.product()]
    session.commit()
    for product in listed:
        cart.add_to_cart(buyer.id, product.id, 2)
    return listed


def place(browser, **changes):
    return browser.send("/checkout", {**NEW_ADDRESS, **changes})


def checkouts_of(user) -> int:
    return db.session.scalar(select(func.count()).select_from(Checkout).where(Checkout.buyer_user_id == user.id))


def test_checkout_to_a_new_address_places_one_checkout_and_goes_to_its_payment(buyer_browser, buyer, products):
    response = place(buyer_browser)

    assert response.status_code == 302
    checkout = db.session.scalars(select(Checkout).where(Checkout.buyer_user_id == buyer.id)).one()
    assert response.headers["Location"] == f"/checkouts/{checkout.id}/pay"
    assert (checkout.address_county_adcode, checkout.recipient_name, len(checkout.orders)) == (COUNTY, "张三", 2)
    assert cart.saved_cart(buyer.id) == {}


def test_the_county_is_chosen_province_then_prefecture_then_county_without_script(buyer_browser, products):
    by_province = buyer_browser.send("/checkout", {"province": "650000", "action": "show"})
    assert by_province.status_code == 200
    page = by_province.get_data(as_text=True)
    assert '<option value="阿克苏地区">' in page and '<option value="乌鲁木齐市">' in page

    by_prefecture = buyer_browser.send("/checkout", {"province": "650000", "prefecture": "阿克苏地区",
                                                     "action": "show"})
    page = by_prefecture.get_data(as_text=True)
    assert f'<option value="{COUNTY}">' in page and '<option value="650102">' not in page


def test_the_last_address_is_offered_again_and_used(buyer_browser, buyer, build, products):
    assert place(buyer_browser).status_code == 302
    for product in products:
        cart.add_to_cart(buyer.id, product.id, 1)
    [address] = db.session.scalars(select(DeliveryAddress).where(DeliveryAddress.user_id == buyer.id))

    page = buyer_browser.get("/checkout").get_data(as_text=True)
    assert re.search(rf'<input checked[^>]*value="{address.id}"', page)
    again = buyer_browser.send("/checkout", {"delivery": "address", "saved_address": str(address.id),
                                             "payment_method": "card", "action": "place"})

    assert again.status_code == 302
    assert checkouts_of(buyer) == 2


@pytest.mark.parametrize("county", ["999999", "abc", "65292", "110101"])
def test_a_county_not_in_the_registry_is_refused_beside_the_field(buyer_browser, buyer, products, county):
    response = place(buyer_browser, county=county)

    assert response.status_code == 422
    assert 'id="county-error"' in response.get_data(as_text=True)
    assert checkouts_of(buyer) == 0
    assert len(cart.saved_cart(buyer.id)) == 2


@pytest.mark.parametrize("changes, field", [({"phone": "123"}, "phone"), ({"recipient": "  "}, "recipient"),
                                            ({"detail": ""}, "detail"), ({"payment_method": "bitcoin"}, "payment_method"),
                                            ({"delivery": "drone"}, "delivery")])
def test_bad_address_fields_are_refused_beside_them(buyer_browser, buyer, products, changes, field):
    response = place(buyer_browser, **changes)

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert checkouts_of(buyer) == 0


def test_pick_up_at_an_open_station_of_the_county(buyer_browser, buyer, build, products):
    station = build.station(village=build.village(COUNTY))
    db.session.commit()
    listed = buyer_browser.send("/checkout", {"delivery": "station", "province": "650000", "county": COUNTY,
                                              "action": "show"})
    assert f'value="{station.id}"' in listed.get_data(as_text=True)

    response = place(buyer_browser, delivery="station", station_id=str(station.id))

    assert response.status_code == 302
    assert db.session.scalars(select(Checkout.station_id).where(Checkout.buyer_user_id == buyer.id)).one() == station.id


def test_a_station_closed_meanwhile_is_refused_beside_the_field(buyer_browser, buyer, build, products):
    station = build.station(village=build.village(COUNTY))
    db.session.commit()
    station.is_active = False
    db.session.commit()

    response = place(buyer_browser, delivery="station", station_id=str(station.id))

    assert response.status_code == 422
    assert 'id="station_id-error"' in response.get_data(as_text=True)
    assert checkouts_of(buyer) == 0


def test_sending_the_checkout_form_twice_orders_once(buyer_browser, buyer, products):
    form = {**buyer_browser.hidden_fields("/checkout"), **NEW_ADDRESS}

    first = buyer_browser.client.post("/checkout", data=form)
    second = buyer_browser.client.post("/checkout", data=form)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert checkouts_of(buyer) == 1


def test_a_product_sold_out_between_cart_and_checkout_is_named_and_the_cart_kept(buyer_browser, buyer, products):
    form = {**buyer_browser.hidden_fields("/checkout"), **NEW_ADDRESS}
    products[0].stock_units = 0
    db.session.commit()

    response = buyer_browser.client.post("/checkout", data=form)

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert 'id="sold-out"' in page and products[0].title in page
    assert checkouts_of(buyer) == 0
    assert cart.saved_cart(buyer.id) == {products[0].id: 2, products[1].id: 2}


def test_an_empty_cart_goes_back_to_the_cart_page(buyer_browser):
    response = buyer_browser.get("/checkout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/cart"


def test_a_visitor_is_sent_to_log_in_first(browser):
    response = browser.get("/checkout")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/checkout")


def test_a_checkout_placed_on_the_page_is_counted_once(buyer_browser, buyer, products):
    before = scrape(buyer_browser.client)
    form = {**buyer_browser.hidden_fields("/checkout"), **NEW_ADDRESS}

    assert buyer_browser.client.post("/checkout", data=form).status_code == 302
    assert buyer_browser.client.post("/checkout", data=form).status_code == 302  # sent twice, placed once

    after = scrape(buyer_browser.client)
    assert value(after, "marketplace_checkouts_placed_total", channel="storefront") - value(
        before, "marketplace_checkouts_placed_total", channel="storefront") == 1
