"""Trace pages (溯源) and the QR labels that lead to them: a listing's and a sold order line's page
show the right origin, poverty status, village, harvest date, seller, station and day of sale, and
nothing personal; unknown codes are 404; only the order's seller or its station's partner may
print its labels, whose SVG QR codes encode the absolute address of each line's trace page."""
import re
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import date

import pytest
import segno

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders.models import OrderLine

HTML = {"Accept": "text/html"}


@pytest.fixture
def origin(build, session):
    """A verified seller in 乌什县 (a national poverty county that exited in 2020) with walnuts from
    英阿瓦提村 harvested on 2026-09-20, and a station in another county."""
    build.county("652927", "乌什县", is_national_poverty_county=True, poverty_exit_year=2020)
    village = build.village("652927", "英阿瓦提村")
    seller = build.user("seller", county="652927", display_name="阿依古丽")
    seller.seller_verified_at = utcnow()
    walnuts = build.product(seller, title="乌什薄皮核桃", origin_village_id=village.id, harvest_date=date(2026, 9, 20))
    build.county("652901", "阿克苏市")
    station = build.station(village=build.village("652901", "依干其村"), name="依干其村服务站",
                            partner=build.user("partner", county="652901", display_name="站长老李"))
    session.commit()
    return {"seller": seller, "walnuts": walnuts, "station": station, "village": village}


@pytest.fixture
def sold(build, origin, session):
    """A paid order of the walnuts, delivered to the station, by a buyer with a name and phone."""
    buyer = build.user("buyer", display_name="城里的张女士", phone="13912345678")
    checkout = build.checkout(buyer, [origin["walnuts"]], station=origin["station"], status="paid")
    session.commit()
    order = checkout.orders[0]
    return {"order": order, "line": order.lines[0], "buyer": buyer, "checkout": checkout}


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_a_listings_trace_page_shows_its_origin_seller_and_poverty_status(client, origin):
    response = client.get(f"/trace/{origin['walnuts'].trace_token}", headers=HTML)
    page = text_of(response)

    assert response.status_code == 200
    assert 'data-trace-kind="listing"' in page
    assert "乌什薄皮核桃" in page and "新疆维吾尔自治区" in page
    assert re.search(r'id="county" data-adcode="652927">乌什县 <span class="badge poverty" data-poverty-exit-year="2020">',
                     page)
    assert '<dd id="village">英阿瓦提村</dd>' in page and '<dd id="harvest-date">2026-09-20</dd>' in page
    assert "阿依古丽" in page and 'data-verified="true"' in page
    assert f'href="/products/{origin["walnuts"].id}" id="listing-link"' in page
    assert 'id="sold-on"' not in page and 'id="station"' not in page


def test_an_order_lines_trace_page_shows_what_was_sold_the_station_and_the_day_but_no_buyer(client, origin, sold):
    response = client.get(f"/trace/{sold['line'].trace_token}", headers=HTML)
    page = text_of(response)

    assert response.status_code == 200
    assert 'data-trace-kind="sale"' in page
    assert "乌什薄皮核桃" in page and "英阿瓦提村" in page and "2026-09-20" in page and "阿依古丽" in page
    assert "依干其村服务站" in page and "阿克苏市" in page
    assert re.search(r'<dd id="sold-on">\d{4}-\d{2}-\d{2}</dd>', page)
    for personal in ("城里的张女士", "13912345678", "张三", "13800138000", "人民路", "站长老李",
                     origin["station"].phone, origin["station"].address):
        assert personal not in page


def test_an_order_lines_page_keeps_what_was_sold_after_the_listing_is_edited(client, origin, sold, session):
    walnuts = origin["walnuts"]
    walnuts.title, walnuts.harvest_date, walnuts.origin_village_id = "新标题", date(2026, 10, 1), None
    session.commit()

    page = text_of(client.get(f"/trace/{sold['line'].trace_token}", headers=HTML))

    assert "乌什薄皮核桃" in page and "新标题" not in page
    assert "2026-09-20" in page and "英阿瓦提村" in page


def test_an_unpaid_order_line_says_it_is_not_sold_yet(client, build, origin, session):
    checkout = build.checkout(products=[origin["walnuts"]])
    session.commit()
    page = text_of(client.get(f"/trace/{checkout.orders[0].lines[0].trace_token}", headers=HTML))
    assert re.search(r'<dd id="sold-on">[^<\d]+</dd>', page)


@pytest.mark.parametrize("token", ["not-a-token", "12345", uuid.UUID(int=7), "%00", "' OR 1=1 --", "x" * 300])
def test_an_unknown_or_malformed_code_is_a_404_page(client, origin, token):
    response = client.get(f"/trace/{token}", headers=HTML)

    assert response.status_code == 404
    assert response.mimetype == "text/html" and "trace_not_found" in text_of(response)


@pytest.mark.parametrize("status", ["draft", "pending_review", "rejected"])
def test_a_listing_never_on_sale_has_no_trace_page(client, build, origin, session, status):
    product = build.product(origin["seller"], status=status)
    session.commit()
    assert client.get(f"/trace/{product.trace_token}", headers=HTML).status_code == 404


def test_a_paused_listings_trace_page_stays_without_a_shop_link(client, origin, session):
    origin["walnuts"].status = "paused"
    session.commit()

    response = client.get(f"/trace/{origin['walnuts'].trace_token}", headers=HTML)

    assert response.status_code == 200 and 'id="listing-link"' not in text_of(response)


def test_the_trace_page_is_public_and_cacheable(client, origin):
    response = client.get(f"/trace/{origin['walnuts'].trace_token}", headers=HTML)

    assert response.headers["Cache-Control"] == "public, max-age=30"
    again = client.get(f"/trace/{origin['walnuts'].trace_token}",
                       headers={**HTML, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


# ---------------------------------------------------------------- QR labels


def qr_codes(page: str) -> dict[int, str]:
    """{order line id: its label's inline SVG}."""
    return {int(line_id): svg for line_id, svg in
            re.findall(r'<li class="label" id="label-(\d+)">\s*(<svg.*?</svg>)', page, re.S)}


def assert_encodes(svg: str, url: str) -> None:
    """The SVG is well-formed, and is the QR code segno draws for ``url`` (segno cannot decode;
    the browser test decodes the printed code)."""
    root = ElementTree.fromstring(svg)
    assert root.tag == "svg" and root.find("title").text == url
    assert root.find("path").get("d")
    assert svg == str(segno.make(url, error="m").svg_inline(scale=4, title=url))


def test_the_seller_prints_a_qr_label_per_line_with_its_trace_address(browser, build, origin, sold, session):
    apples = build.product(origin["seller"], title="乌什苹果")
    two_lines = build.checkout(products=[origin["walnuts"], apples], status="paid").orders[0]
    session.commit()
    browser.log_in(origin["seller"])

    orders_page = text_of(browser.get("/sell/orders"))
    response = browser.get(f"/sell/orders/{two_lines.id}/labels")
    page = text_of(response)
    codes = qr_codes(page)

    assert f'href="/sell/orders/{two_lines.id}/labels"' in orders_page
    assert f'href="/sell/orders/{sold["order"].id}/labels"' in orders_page
    assert response.status_code == 200
    assert set(codes) == {line.id for line in two_lines.lines}
    for line in two_lines.lines:
        assert_encodes(codes[line.id], f"http://localhost/trace/{line.trace_token}")
        assert f'href="/trace/{line.trace_token}"' in page
    assert "乌什苹果" in page and "乌什薄皮核桃" in page


def test_the_stations_partner_prints_the_labels_of_a_parcel_for_the_station(browser, origin, sold):
    station = origin["station"]
    browser.log_in(station.partner)

    parcels = text_of(browser.get(f"/station/{station.id}/parcels"))
    response = browser.get(f"/station/{station.id}/parcels/{sold['order'].id}/labels")

    assert f'href="/station/{station.id}/parcels/{sold["order"].id}/labels"' in parcels
    assert response.status_code == 200
    codes = qr_codes(text_of(response))
    assert_encodes(codes[sold["line"].id], f"http://localhost/trace/{sold['line'].trace_token}")


def test_nobody_else_may_open_the_labels(browser, build, origin, sold, session):
    other_seller = build.user("seller", county="652927")
    other_partner = build.user("partner", county="652901")
    other_station = build.station(partner=other_partner)
    buyer = sold["buyer"]
    session.commit()
    order_id, station_id = sold["order"].id, origin["station"].id

    assert browser.get(f"/sell/orders/{order_id}/labels").status_code == 302  # to log in
    browser.log_in(other_seller)
    assert browser.get(f"/sell/orders/{order_id}/labels").status_code == 404
    assert browser.get("/sell/orders/2147483647/labels").status_code == 404
    browser.client.post("/logout", data=browser.hidden_fields("/sell/"))

    browser.log_in(other_partner)
    assert browser.get(f"/station/{station_id}/parcels/{order_id}/labels").status_code == 403
    assert browser.get(f"/station/{other_station.id}/parcels/{order_id}/labels").status_code == 404
    browser.client.post("/logout", data=browser.hidden_fields(f"/station/{other_station.id}/parcels"))

    browser.log_in(buyer)
    assert browser.get(f"/sell/orders/{order_id}/labels").status_code == 403
    assert browser.get(f"/station/{station_id}/parcels/{order_id}/labels").status_code == 403


def test_labels_are_the_same_codes_the_order_lines_hold(browser, origin, sold):
    browser.log_in(origin["seller"])
    page = text_of(browser.get(f"/sell/orders/{sold['order'].id}/labels"))
    tokens = set(re.findall(r'href="/trace/([0-9a-f-]{36})"', page))
    assert tokens == {str(token) for token in db.session.scalars(
        db.select(OrderLine.trace_token).where(OrderLine.order_id == sold["order"].id))}
