"""The station desk pages: a partner signed in through the login form lists for a villager, orders
for a villager, records the cash and moves parcels, with errors beside the fields in Chinese and
what was typed kept; a second send of a form acts once; another partner, a buyer and anyone not
signed in are refused; a form without its CSRF token is refused."""
import re

import pytest
from sqlalchemy import func, select

from marketplace.catalog.models import Product
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from marketplace.stations import cash
from marketplace.stations.models import Villager
from tests.builders import PASSWORD
from tests.pages.conftest import expire_sign_in


def sign_in(client, user) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"identifier": user.phone, "password": PASSWORD,
                                           "csrf_token": value_of(page, "csrf_token")})
    assert response.status_code == 302, response.get_data(as_text=True)


def value_of(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    assert match, f"no {name} field"
    return match.group(1)


def tokens(client, path: str) -> dict:
    """The CSRF and one-time tokens of the (first) form on a page."""
    page = client.get(path).get_data(as_text=True)
    found = {"csrf_token": value_of(page, "csrf_token")}
    if 'name="form_token"' in page:
        found["form_token"] = value_of(page, "form_token")
    return found


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def partner(build):
    return build.user("partner")


@pytest.fixture
def station(build, partner):
    station = build.station(partner=partner)
    db.session.commit()
    return station


@pytest.fixture
def desk(client, station, partner):
    """The partner signed in; the desk's paths."""
    sign_in(client, partner)
    base = f"/station/{station.id}"
    return {"front": f"{base}/", "listing": f"{base}/listings/new", "listings": f"{base}/listings",
            "order": f"{base}/orders/new", "cash": f"{base}/cash", "parcels": f"{base}/parcels"}


LISTING = {"villager_id": "", "villager_name": "买买提·吐尔逊", "villager_phone": "", "consent": "y",
           "title": "乌什县冰糖心苹果", "category": "fruit", "unit": "jin", "price": "12.5", "stock_units": "40"}


def test_a_partner_lands_on_the_desk_of_their_station(client, station, partner):
    sign_in(client, partner)

    landing = client.get("/station/")
    front = client.get(landing.headers["Location"])

    assert landing.status_code == 302 and landing.headers["Location"].endswith(f"/station/{station.id}/")
    assert front.status_code == 200
    assert station.name in text_of(front) and "应交平台现金" in text_of(front)


def test_listing_for_a_new_villager_makes_them_the_seller_and_shows_the_listing_pending_review(client, desk, partner):
    response = client.post(desk["listing"], data={**LISTING, **tokens(client, desk["listing"])})

    assert response.status_code == 302 and response.headers["Location"].endswith(desk["listings"])
    product = db.session.scalar(select(Product))
    assert (product.seller.display_name, product.listed_by_user_id, product.price_fen, product.status) == (
        "买买提·吐尔逊", partner.id, 1250, "pending_review")
    listed = text_of(client.get(desk["listings"]))
    assert "乌什县冰糖心苹果" in listed and "买买提·吐尔逊" in listed and "待审核" in listed


def test_sending_the_listing_form_twice_lists_once(client, desk):
    form = {**LISTING, **tokens(client, desk["listing"])}

    first = client.post(desk["listing"], data=form)
    second = client.post(desk["listing"], data=form)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1
    assert db.session.scalar(select(func.count()).select_from(Villager)) == 1


@pytest.mark.parametrize("change, field, message", [
    ({"consent": None}, "consent", "村民同意后再勾选"),
    ({"villager_name": ""}, "villager_name", "请填写村民姓名"),
    ({"price": "12.5a"}, "price", "请用数字填写价格"),
    ({"stock_units": "-3"}, "stock_units", "库存不能是负数"),
    ({"title": ""}, "title", "请填写商品名称"),
    ({"villager_phone": "abc"}, "villager_phone", "5 到 20 位数字"),
    ({"villager_id": "999999"}, "villager_id", "此村民未在本站登记"),
])
def test_a_bad_listing_is_shown_again_in_chinese_beside_its_field_keeping_what_was_typed(
        client, desk, change, field, message):
    form = {**LISTING, **tokens(client, desk["listing"]), **change}
    form = {name: value for name, value in form.items() if value is not None}

    response = client.post(desk["listing"], data=form)

    page = text_of(response)
    assert response.status_code == 422
    error = re.search(rf'id="{field}-error">([^<]*)<', page)
    assert error and message in error.group(1), page
    assert 'value="乌什县冰糖心苹果"' in page or field == "title"
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    assert db.session.scalar(select(func.count()).select_from(Villager)) == 0


def test_a_send_that_fails_on_our_side_can_be_sent_again(client, desk, monkeypatch):
    from marketplace.flows import station_desk as desk_service
    form = {**LISTING, **tokens(client, desk["listing"])}
    real = desk_service.list_for_villager
    monkeypatch.setattr(desk_service, "list_for_villager", lambda *args, **kwargs: 1 / 0)
    assert client.post(desk["listing"], data=form).status_code == 500
    monkeypatch.setattr(desk_service, "list_for_villager", real)

    assert client.post(desk["listing"], data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


@pytest.mark.parametrize("token", ["", "x" * 300])
def test_a_form_token_this_site_did_not_draw_is_not_an_error(client, desk, token):
    response = client.post(desk["listing"], data={**LISTING, **tokens(client, desk["listing"]), "form_token": token})

    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


@pytest.mark.parametrize("number", ["-3", "0", "abc", "99999999999"])
def test_any_page_number_of_the_listings_is_a_page(client, desk, number):
    assert client.get(desk["listings"], query_string={"page": number}).status_code == 200


def test_a_refused_listing_can_be_corrected_and_sent_with_the_same_form(client, desk):
    form = {**LISTING, **tokens(client, desk["listing"]), "price": "abc"}
    assert client.post(desk["listing"], data=form).status_code == 422

    response = client.post(desk["listing"], data={**form, "price": "12.50"})

    assert response.status_code == 302
    assert db.session.scalar(select(Product.price_fen)) == 1250


def test_the_partner_pauses_and_resumes_a_villagers_listing_from_the_desk(client, desk, station):
    client.post(desk["listing"], data={**LISTING, **tokens(client, desk["listing"])})
    product = db.session.scalar(select(Product))
    product.status = "active"  # approved by an administrator
    db.session.commit()
    csrf = tokens(client, desk["listings"])["csrf_token"]

    paused = client.post(f"{desk['listings']}/{product.id}/pause", data={"csrf_token": csrf})
    shown = text_of(client.get(desk["listings"]))
    resumed = client.post(f"{desk['listings']}/{product.id}/resume", data={"csrf_token": csrf})

    assert paused.status_code == resumed.status_code == 302
    assert "已暂停" in shown and f"{product.id}/resume" in shown
    assert db.session.get(Product, product.id).status == "active"


def test_the_partner_changes_the_price_of_a_villagers_listing_and_a_bad_price_is_explained(client, desk, station):
    client.post(desk["listing"], data={**LISTING, **tokens(client, desk["listing"])})
    product = db.session.scalar(select(Product))
    path = f"{desk['listings']}/{product.id}/price"

    bad = client.post(path, data={**tokens(client, path), "version": str(product.version), "price": "九块"})
    good = client.post(path, data={**tokens(client, path), "version": str(product.version), "price": "11.8"})

    assert bad.status_code == 422 and 'id="price-error"' in text_of(bad) and 'value="九块"' in text_of(bad)
    assert good.status_code == 302
    assert db.session.get(Product, product.id).price_fen == 1180


def test_another_partners_villager_listing_cannot_be_repriced(client, build, desk):
    other = build.user("partner")
    station = build.station(partner=other)
    db.session.commit()
    from marketplace.flows import station_desk as desk_service
    elsewhere = desk_service.list_for_villager(station.id, other, desk_service.VillagerChoice(name="王芳"), consent=True,
                                               title="核桃", category="nuts", unit="jin", price_fen=3000, stock_units=5)

    response = client.get(f"{desk['listings']}/{elsewhere.id}/price")

    assert response.status_code == 403


@pytest.fixture
def goods(build):
    products = [build.product(build.user("seller", county="522634"), price_fen=1250 + 500 * i, stock_units=10,
                              title=f"雷山银球茶{i}") for i in range(2)]
    db.session.commit()
    return products


def order_form(client, desk, goods, quantities=(2, 1), **fields):
    form = {"villager_id": "", "villager_name": "阿依古丽", "consent": "y", **tokens(client, desk["order"]),
            **{f"qty-{p.id}": str(q) for p, q in zip(goods, quantities, strict=True)}, **fields}
    return {name: value for name, value in form.items() if value is not None}


def test_an_assisted_order_is_placed_for_the_villager_and_waits_for_cash(client, desk, station, partner, goods):
    response = client.post(desk["order"], data=order_form(client, desk, goods))

    assert response.status_code == 302, text_of(response)
    checkout = db.session.scalar(select(Checkout))
    assert (checkout.placed_by_user_id, checkout.payment_method, checkout.station_id, len(checkout.orders)) == (
        partner.id, "cash_at_station", station.id, 2)
    page = text_of(client.get(desk["cash"]))
    assert f'id="checkout-{checkout.id}"' in page and "阿依古丽" in page
    assert f"¥{checkout.grand_total_fen // 100}.{checkout.grand_total_fen % 100:02d}" in page


def test_sending_the_order_form_twice_orders_once(client, desk, goods):
    form = order_form(client, desk, goods)

    client.post(desk["order"], data=form)
    second = client.post(desk["order"], data=form)

    assert second.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 1
    assert sorted(db.session.scalars(select(Product.stock_units))) == [8, 9]


@pytest.mark.parametrize("quantities, message", [((0, 0), "请至少填写一种产品的数量"), (("x", 1), "0 到 9999 的整数"),
                                                 ((11, 1), "只剩 10 件")])
def test_a_bad_order_is_shown_again_in_chinese_and_orders_nothing(client, desk, goods, quantities, message):
    response = client.post(desk["order"], data=order_form(client, desk, goods, quantities))

    page = text_of(response)
    assert response.status_code == 422
    assert message in page
    assert f'value="{quantities[0]}"' in page  # what was typed stays
    assert db.session.scalar(select(func.count()).select_from(Checkout)) == 0
    assert db.session.scalar(select(func.count()).select_from(Villager)) == 0


def test_an_order_for_a_new_villager_needs_their_consent(client, desk, goods):
    response = client.post(desk["order"], data=order_form(client, desk, goods, consent=None))

    assert response.status_code == 422
    assert re.search(r'id="consent-error">[^<]*同意', text_of(response))


def test_cash_recorded_on_the_cash_page_pays_the_order_and_raises_the_balance(client, desk, station, goods):
    client.post(desk["order"], data=order_form(client, desk, goods))
    checkout = db.session.scalar(select(Checkout))
    path = f"/station/{station.id}/cash/{checkout.id}"
    amount = f"{checkout.grand_total_fen // 100}.{checkout.grand_total_fen % 100:02d}"
    form = {**tokens(client, desk["cash"]), "amount": amount}

    first = client.post(path, data=form)
    second = client.post(path, data=form)

    assert first.status_code == second.status_code == 302
    assert {o.status for o in db.session.get(Checkout, checkout.id).orders} == {"paid"}
    assert cash.balance_fen(station.id) == checkout.grand_total_fen
    page = text_of(client.get(desk["cash"]))
    assert "没有等待收款的订单" in page and "收取现金 · 订单" in page


def test_cash_of_the_wrong_amount_is_refused_beside_the_field_keeping_what_was_typed(client, desk, station, goods):
    client.post(desk["order"], data=order_form(client, desk, goods))
    checkout = db.session.scalar(select(Checkout))

    response = client.post(f"/station/{station.id}/cash/{checkout.id}",
                           data={**tokens(client, desk["cash"]), "amount": "1.00"})

    page = text_of(response)
    assert response.status_code == 422
    assert "应收" in page and 'value="1.00"' in page
    assert cash.balance_fen(station.id) == 0


def test_a_parcel_is_marked_arrived_then_handed_over(client, desk, station, build, goods):
    checkout = build.checkout(build.user("buyer"), [goods[0]], station=station, payment_method="cash_at_station")
    build.collect_cash(checkout)
    order = checkout.orders[0]
    orders.move_order(order.id, "ship", goods[0].seller, carrier="邮政", tracking_number="9876543210")
    csrf = tokens(client, desk["parcels"])["csrf_token"]

    arrived = client.post(f"/station/{station.id}/parcels/{order.id}/arrive", data={"csrf_token": csrf})
    waiting = text_of(client.get(desk["parcels"]))
    handed = client.post(f"/station/{station.id}/parcels/{order.id}/hand-over", data={"csrf_token": csrf})
    again = client.post(f"/station/{station.id}/parcels/{order.id}/hand-over", data={"csrf_token": csrf})

    assert arrived.status_code == handed.status_code == again.status_code == 302
    assert f'action="/station/{station.id}/parcels/{order.id}/hand-over"' in waiting
    assert db.session.get(Order, order.id).status == "delivered"
    assert "此包裹已处理过" in text_of(client.get(desk["parcels"]))  # the second send changed nothing


# ---------------------------------------------------------------- who may use the desk


@pytest.mark.parametrize("who", ["other_partner", "buyer"])
@pytest.mark.parametrize("page", ["front", "listing", "listings", "order", "cash", "parcels"])
def test_another_partner_or_a_buyer_is_refused_every_desk_page(client, build, station, who, page):
    intruder = build.user("partner" if who == "other_partner" else "buyer")
    if who == "other_partner":
        build.station(partner=intruder)
    db.session.commit()
    sign_in(client, intruder)
    path = {"front": "/", "listing": "/listings/new", "listings": "/listings", "order": "/orders/new",
            "cash": "/cash", "parcels": "/parcels"}[page]

    response = client.get(f"/station/{station.id}{path}")

    assert response.status_code == 403
    assert station.name not in text_of(response)


def test_another_partner_cannot_post_to_the_desk_of_a_station_they_do_not_run(client, build, station, goods):
    checkout = build.checkout(build.user("buyer"), [goods[0]], station=station, payment_method="cash_at_station")
    intruder = build.user("partner")
    build.station(partner=intruder)
    db.session.commit()
    sign_in(client, intruder)
    csrf = value_of(text_of(client.get("/login")), "csrf_token")  # the intruder's own, valid token

    listing = client.post(f"/station/{station.id}/listings/new", data={**LISTING, "csrf_token": csrf, "form_token": "t" * 40})
    collected = client.post(f"/station/{station.id}/cash/{checkout.id}",
                            data={"csrf_token": csrf, "form_token": "u" * 40, "amount": "20.50"})
    moved = client.post(f"/station/{station.id}/parcels/{checkout.orders[0].id}/arrive", data={"csrf_token": csrf})

    assert listing.status_code == collected.status_code == moved.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Product)) == 2  # the goods only
    assert cash.balance_fen(station.id) == 0


def test_a_listing_sent_after_the_sign_in_ran_out_comes_back_filled_after_logging_in_again(client, desk, partner):
    form = {**LISTING, **tokens(client, desk["listing"])}
    expire_sign_in(client, hours=8 * 24)

    sent = client.post(desk["listing"], data=form)
    sign_in(client, partner)
    back = client.get(sent.headers["Location"].split("next=")[1])

    assert sent.status_code == 302 and "/login" in sent.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    page = text_of(back)
    assert 'value="买买提·吐尔逊"' in page and 'value="乌什县冰糖心苹果"' in page and 'value="12.5"' in page
    resent = {**form, "csrf_token": value_of(page, "csrf_token"), "form_token": value_of(page, "form_token")}
    assert client.post(desk["listing"], data=resent).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


def test_a_desk_button_pressed_after_the_sign_in_ran_out_leads_back_to_its_page(client, desk, station, partner):
    csrf = tokens(client, desk["parcels"])["csrf_token"]
    expire_sign_in(client, hours=8 * 24)

    pressed = client.post(f"/station/{station.id}/cash/5", data={"csrf_token": csrf, "amount": "1"})
    sign_in(client, partner)
    back = client.get(pressed.headers["Location"].split("next=")[1])

    assert back.status_code == 302 and back.headers["Location"].startswith(desk["cash"])


def test_not_signed_in_is_sent_to_log_in_and_back(client, station):
    response = client.get(f"/station/{station.id}/cash")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=") and "cash" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/listings/new", "/orders/new", "/cash/1", "/parcels/1/arrive"])
def test_a_desk_form_without_its_csrf_token_is_refused(client, desk, station, path):
    response = client.post(f"/station/{station.id}{path}", data={**LISTING, "form_token": "v" * 40})

    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
