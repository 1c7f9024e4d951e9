"""A station partner in a real browser (chromium, 360 px, no JavaScript): lists a product for a
villager without a phone, places an assisted cash order for a villager, records the cash, marks
the parcel arrived and hands it over; each station page within 60 KB; every station form refused
without its CSRF token."""
import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from marketplace.stations import cash
from marketplace.stations.models import ServiceStation
from tests.browser.helpers import (
    BUDGET_BYTES,
    focus_ring_of_next_tab_stop,
    low_contrast_text,
    overflows_with_double_text,
    small_targets,
)

WUSHI, LEISHAN = "652927", "522634"


@dataclass
class Station:
    station: ServiceStation
    partner: User
    tea: Product  # on sale in the catalog, from another county

    def path(self, page: str = "") -> str:
        return f"/station/{self.station.id}/{page}"


@pytest.fixture
def desk(build, session) -> Station:
    """A partner running a station in a Wushi village, and a seller's tea on sale, committed for the server."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True)
    build.county(LEISHAN, "雷山县", is_national_poverty_county=True)
    partner = build.user("partner", county=WUSHI, display_name="吾斯曼·艾力")
    station = build.station(partner=partner, village=build.village(WUSHI, "英阿瓦提村"), name="英阿瓦提村服务站")
    tea = build.product(build.user("seller", county=LEISHAN, display_name="杨秀英"), title="雷山银球茶 250克",
                        category="tea", unit="piece", price_fen=4800, stock_units=20)
    session.commit()
    return Station(station, partner, tea)


def fresh(session, model, ident):
    session.rollback()  # a new transaction: see what the server committed since
    return session.get(model, ident)


def activate(locator) -> None:
    """Follow a link or press a button from the keyboard: after a full-page screenshot, headless
    chromium's mouse clicks at 360 px miss their target (the form is not sent)."""
    locator.press("Enter")
    locator.page.wait_for_load_state()


def list_apples_for_a_villager(page: Page) -> None:
    page.fill("#villager_name", "买买提·吐尔逊")
    page.fill("#villager_phone", "0997-5551234")
    page.check("#consent")
    page.fill("#title", "乌什县冰糖心苹果")
    page.get_by_role("radio", name="水果", exact=True).check()
    page.get_by_role("radio", name="斤", exact=True).check()
    page.fill("#price", "8.5")
    page.fill("#stock_units", "100")


def test_a_partner_lists_for_a_villager_orders_for_one_in_cash_records_the_cash_and_hands_the_parcel_over(
        page, desk, session, log_in, screenshot):
    log_in(page, desk.partner)
    expect(page).to_have_url(re.compile(rf"/station/{desk.station.id}/$"))
    expect(page.locator("h1")).to_have_text("英阿瓦提村服务站")
    screenshot(page, "station-desk-empty")

    # A villager without a phone lists apples through the partner.
    activate(page.get_by_role("link", name="代村民上架"))
    list_apples_for_a_villager(page)
    screenshot(page, "station-listing-form")
    activate(page.get_by_role("button", name="为村民上架"))
    expect(page.locator(".notice")).to_contain_text("已为买买提·吐尔逊上架")
    card = page.locator("li.card", has_text="乌什县冰糖心苹果")
    expect(card.locator(".status")).to_have_text("等待审核")
    expect(card).to_contain_text("卖家：买买提·吐尔逊")
    screenshot(page, "station-listings")

    # The same villager buys two packets of tea, paid in cash at the station.
    activate(page.get_by_role("link", name="代下单"))
    page.select_option("#villager_id", index=1)
    page.fill(f"#qty-{desk.tea.id}", "2")
    screenshot(page, "station-order-form")
    activate(page.get_by_role("button", name="下单（在站付现金）"))
    expect(page).to_have_url(re.compile(r"/cash"))
    session.rollback()
    [checkout] = session.scalars(select(Checkout)).all()
    expect(page.locator(".notice")).to_contain_text(f"请收取现金 ¥{checkout.grand_total_fen / 100:.2f}")
    screenshot(page, "station-cash-waiting")

    waiting = page.locator(f"#checkout-{checkout.id}")
    expect(waiting).to_contain_text("买买提·吐尔逊")
    waiting.locator("input[name=amount]").fill(f"{checkout.grand_total_fen / 100:.2f}")
    activate(waiting.get_by_role("button", name="已收现金"))
    expect(page.locator(".notice")).to_contain_text("已记录收款")
    expect(page.locator("main")).to_contain_text("没有等待收款的订单")
    screenshot(page, "station-cash-collected")

    # The seller ships; the parcel arrives at the station and is handed over.
    [order] = fresh(session, Checkout, checkout.id).orders
    orders.move_order(order.id, "ship", session.get(User, order.seller_user_id), carrier="邮政",
                      tracking_number="9876543210")
    activate(page.get_by_role("link", name="包裹", exact=True))
    parcel = page.locator(f"#parcel-{order.id}")
    expect(parcel).to_contain_text("邮政 9876543210")
    screenshot(page, "station-parcels-expected")
    activate(parcel.get_by_role("button", name="已到站"))
    expect(page.locator(".notice")).to_contain_text(f"包裹 {order.id} 已到站")
    screenshot(page, "station-parcels-arrived")
    activate(page.locator(f"#parcel-{order.id}").get_by_role("button", name="已交给村民"))
    expect(page.locator(".notice")).to_contain_text(f"包裹 {order.id} 已交给收货人")
    screenshot(page, "station-parcels-handed-over")

    activate(page.get_by_role("link", name="工作台"))
    expect(page.locator("main")).to_contain_text(f"¥{checkout.grand_total_fen / 100:.2f}")
    screenshot(page, "station-desk", readme=True)

    listed = session.scalar(select(Product).where(Product.title == "乌什县冰糖心苹果"))
    villager = listed.seller
    assert (villager.display_name, villager.password_hash, listed.listed_by_user_id, listed.price_fen) == (
        "买买提·吐尔逊", None, desk.partner.id, 850)
    checkout = fresh(session, Checkout, checkout.id)
    assert (checkout.buyer_user_id, checkout.placed_by_user_id, checkout.payment_method) == (
        villager.id, desk.partner.id, "cash_at_station")
    assert session.get(Order, order.id).status == "delivered"
    assert cash.balance_fen(desk.station.id) == checkout.grand_total_fen


@pytest.fixture
def busy_desk(desk, build, session) -> dict:
    """Something on every station page: a villager's listing on sale, an order waiting for cash,
    a shipped parcel. Returns the ids the forms act on."""
    from marketplace.flows import station_desk as desk_service
    villager_listing = desk_service.list_for_villager(
        desk.station.id, desk.partner, desk_service.VillagerChoice(name="阿依古丽"), consent=True,
        title="乌什县核桃", category="nuts", unit="jin", price_fen=3000, stock_units=30)
    villager_listing.status = "active"
    waiting = build.checkout(build.user("buyer"), [desk.tea], station=desk.station, payment_method="cash_at_station")
    shipped = build.checkout(build.user("buyer"), [desk.tea], station=desk.station, status="shipped")
    session.commit()
    return {"listing": villager_listing.id, "checkout": waiting.id, "parcel": shipped.orders[0].id}


STATION_PAGES = ["", "listings", "listings/new", "orders/new", "cash", "parcels"]
PRICE_PAGE = "listings/{listing}/price"


def test_each_station_page_is_within_the_budget(page, desk, busy_desk, log_in, page_weight):
    log_in(page, desk.partner)

    paths = [*STATION_PAGES, PRICE_PAGE.format(**busy_desk)]
    weights = {path or "desk": page_weight(page, desk.path(path)) for path in paths}

    assert all(weight <= BUDGET_BYTES for weight in weights.values()), weights
    assert all(weight > 1000 for weight in weights.values()), weights  # the pages were really weighed


def test_station_pages_have_readable_text_big_targets_and_a_visible_focus(page, desk, busy_desk, log_in):
    log_in(page, desk.partner)
    problems = {}
    for path in [*STATION_PAGES, PRICE_PAGE.format(**busy_desk)]:
        page.goto(desk.path(path))
        problems[path] = (low_contrast_text(page), small_targets(page), focus_ring_of_next_tab_stop(page))

    for path, (contrast, targets, (outline, width)) in problems.items():
        assert contrast == [], path
        assert targets == [], path
        assert outline != "none" and width >= 2, path


def test_station_pages_fit_360_px_with_text_twice_as_large(page, desk, busy_desk, log_in):
    log_in(page, desk.partner)
    for path in [*STATION_PAGES, PRICE_PAGE.format(**busy_desk)]:
        page.goto(desk.path(path))
        assert overflows_with_double_text(page) <= 0, path


def test_the_logout_sits_on_the_header_line_at_360_px_in_both_languages(page, desk, log_in):
    """The menu's five links fill their line at 360 px; the logout is up in the header bar, beside
    the brand, not alone on a line of its own."""
    log_in(page, desk.partner)
    for language, logout in (("中文", "退出登录"), ("English", "Log out")):
        if language == "English":
            activate(page.get_by_role("link", name="English"))
        page.goto(desk.path())
        brand = page.locator("header .brand").bounding_box()
        button = page.get_by_role("button", name=logout, exact=True).bounding_box()
        header = page.locator("header").bounding_box()

        assert abs((button["y"] + button["height"] / 2) - (brand["y"] + brand["height"] / 2)) < 4, (language, button, brand)
        assert button["x"] + button["width"] <= header["x"] + header["width"] <= 360, (language, button, header)
        assert header["height"] < 2 * brand["height"], f"the header wraps in {language}: {header}"


def test_the_desk_speaks_english_after_the_switch(page, desk, log_in):
    log_in(page, desk.partner)
    activate(page.get_by_role("link", name="English"))

    expect(page.locator("main")).to_contain_text("Cash the station owes the platform")
    expect(page.get_by_role("link", name="Order for a villager, paid in cash")).to_be_visible()


def test_each_station_form_without_its_csrf_token_is_refused(page, desk, busy_desk, session, log_in,
                                                             submit_without_csrf):
    log_in(page, desk.partner)
    forms = [("listings/new", "main form"), ("orders/new", "main form[method=post]"),
             ("cash", f"#checkout-{busy_desk['checkout']} form"), ("parcels", f"#parcel-{busy_desk['parcel']} form"),
             ("listings", "main li.card form"), (PRICE_PAGE.format(**busy_desk), "main form")]

    statuses = {}
    for path, selector in forms:
        page.goto(desk.path(path))
        if path == "listings/new":
            list_apples_for_a_villager(page)
        statuses[path] = submit_without_csrf(page, selector)

    assert statuses == {path: 400 for path, _ in forms}
    assert fresh(session, Checkout, busy_desk["checkout"]).status == "pending_payment"
    assert session.get(Order, busy_desk["parcel"]).status == "shipped"
    assert (session.get(Product, busy_desk["listing"]).status, session.get(Product, busy_desk["listing"]).price_fen) == (
        "active", 3000)
    assert session.scalar(select(Product).where(Product.title == "乌什县冰糖心苹果")) is None
