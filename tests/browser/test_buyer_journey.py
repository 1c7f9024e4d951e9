"""An urban buyer in a real browser (chromium, 360 px, JavaScript off except on the card page):
browses, searches, filters to poverty counties, puts products of two sellers in the cart, logs in
with the cart kept, checks out to an address, is refused a declined card and pays with 4242
through localstripe (which delivers the webhook to the app), sees the checkout paid, the seller
ship, the timeline, and confirms receipt; the parcel's QR code, read back from the SVG the
seller prints, opens the trace page of the right origin. Also: a sell-out between cart and
checkout, a double send, each page's weight and accessibility."""
import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from marketplace.common.time import business_day, utcnow
from marketplace.orders import services as orders
from marketplace.orders.models import Checkout, Order
from tests.browser.helpers import (
    BUDGET_BYTES,
    VIEWPORT,
    choose_an_address_step_by_step,
    focus_ring_of_next_tab_stop,
    low_contrast_text,
    overflows_with_double_text,
    small_targets,
)
from tests.builders import PASSWORD
from tests.stripe_server import free_port
from tests.webhooks import WEBHOOK_PATH

PAID_WAIT_MS = 20_000


@pytest.fixture
def shop(build, session, app, live_server, stripe_configured):
    """Two sellers (one in a national poverty county), their listings, a buyer, and localstripe
    posting its webhooks to the served app."""
    wushi = build.county("652927", "乌什县", prefecture_name="阿克苏地区", is_national_poverty_county=True,
                         poverty_exit_year=2019)
    build.county("110105", "朝阳区", prefecture_name="北京市")
    village = build.village("652927", "英阿瓦提村")
    farmer = build.user("seller", county="652927", display_name="阿依古丽")
    grower = build.user("seller", county="110105", display_name="北京果园")
    walnuts = build.product(farmer, title="乌什薄皮核桃", price_fen=3580, stock_units=40,
                            origin_village_id=village.id, category="nuts", unit="jin",
                            harvest_date=business_day(utcnow()) - timedelta(days=20))
    dates = build.product(farmer, title="乌什骏枣", price_fen=2990, stock_units=3, category="dried_fruit")
    pears = build.product(grower, title="京白梨", price_fen=1800, stock_units=25)
    buyer = build.user("buyer", display_name="李明")
    session.commit()
    stripe_configured.register_webhook(live_server.url + WEBHOOK_PATH, app.config["STRIPE_WEBHOOK_SECRET"],
                                       name="browser-journey")
    yield {"county": wushi, "farmer": farmer, "grower": grower, "walnuts": walnuts, "dates": dates, "pears": pears,
            "buyer": buyer}
    # localstripe cannot forget a webhook: point it where nothing listens, so that the payments of
    # later tests are not delivered to the served app (whose requests would then share their session)
    stripe_configured.register_webhook(f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}",
                                       app.config["STRIPE_WEBHOOK_SECRET"], name="browser-journey")


def add_to_cart(page: Page, product, quantity: int = 1) -> None:
    page.goto(f"/products/{product.id}")
    page.fill("input[name=quantity]", str(quantity))
    page.click("#add-to-cart")
    page.wait_for_load_state()


def card_page(page: Page, chromium, live_server):
    """The same browser session in a tab with JavaScript on: only the card page gets one."""
    context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=live_server.url,
                                   storage_state=page.context.storage_state())
    context.set_default_timeout(15_000)
    return context, context.new_page()


def pay_with(tab: Page, number: str) -> None:
    card = tab.locator("#card-element")
    expect(card.locator("input")).to_have_count(5)  # localstripe's card element: number, month, year, cvc, postcode
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("100000")
    tab.click("#pay-button")
    tab.wait_for_load_state()


def fill_in_an_address(page: Page) -> None:
    """The checkout form, delivering to a new address in Wushi (chosen by province, then county)."""
    page.goto("/checkout")
    page.check("input[name=delivery][value=address]")
    page.fill("#recipient", "李明")
    page.fill("#phone", "13800138000")
    page.select_option("#province", "650000")
    page.get_by_role("button", name=re.compile("下属市|cities")).click()
    page.select_option("#county", "652927")
    page.fill("#detail", "人民路 1 号")


def read_qr(svg_element) -> str:
    """The text of the QR code drawn by an <svg> on the page, as a phone's camera would read it."""
    picture = Image.open(io.BytesIO(svg_element.screenshot())).convert("L")
    found = zxingcpp.read_barcodes(picture)
    assert found, "no QR code could be read from the label"
    return found[0].text


def test_a_buyer_finds_orders_pays_and_follows_produce_from_two_sellers(
        page, chromium, live_server, shop, session, log_in, screenshot):
    # browse, search, filter to the poverty counties
    page.goto("/")
    expect(page.locator("main")).to_contain_text("乌什薄皮核桃")
    screenshot(page, "shop-home", readme=True)
    page.fill("input[name=q]", "核桃")
    page.locator("form[role=search] button, form.search button").first.click()
    expect(page.locator("main")).to_contain_text("乌什薄皮核桃")
    expect(page.locator("main")).not_to_contain_text("京白梨")
    page.goto("/products")
    page.locator("details.more-filters summary").click()
    page.check("input[name=poverty_only]")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text("乌什骏枣")
    expect(page.locator("main")).not_to_contain_text("京白梨")
    expect(page.locator("main")).to_contain_text("脱贫县")
    screenshot(page, "shop-products-poverty-counties", readme=True)

    # two sellers' products in the cart of a visitor, kept across the login
    page.goto(f"/products/{shop['walnuts'].id}")
    expect(page.locator("main")).to_contain_text("英阿瓦提村")
    screenshot(page, "shop-product", readme=True)
    add_to_cart(page, shop["walnuts"], 2)
    add_to_cart(page, shop["pears"], 3)
    page.goto("/cart")
    expect(page.locator("li.cart-line")).to_have_count(2)
    page.click("#to-checkout")
    page.fill("#identifier", shop["buyer"].phone)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    page.goto("/cart")
    expect(page.locator("li.cart-line")).to_have_count(2)
    screenshot(page, "shop-cart", readme=True)

    # check out to an address, the county chosen province -> prefecture -> county without script
    page.click("#to-checkout")
    choose_an_address_step_by_step(page)
    screenshot(page, "shop-checkout", readme=True)
    page.locator("#checkout-form button.wide[value=place]").click()
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/checkouts/\d+/pay$"))
    checkout_id = int(re.search(r"/checkouts/(\d+)/pay", page.url).group(1))

    # a declined card says why and lets the buyer try again; 4242 pays
    context, tab = card_page(page, chromium, live_server)
    try:
        tab.goto(f"/checkouts/{checkout_id}/pay")
        screenshot(tab, "shop-pay", readme=True)
        pay_with(tab, "4000000000000341")
        expect(tab.locator("#pay-error")).to_be_visible()
        expect(tab.locator("#pay-button")).to_be_enabled()
        pay_with(tab, "4242424242424242")
        expect(tab).to_have_url(re.compile(rf"/checkouts/{checkout_id}$"))
    finally:
        context.close()

    # the checkout page shows it paid once localstripe's webhook is applied (it refreshes itself)
    page.goto(f"/checkouts/{checkout_id}")
    expect(page.locator("#paid")).to_be_visible(timeout=PAID_WAIT_MS)
    screenshot(page, "shop-paid", readme=True)
    session.rollback()
    parcels = list(session.scalars(select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id)))
    assert [order.status for order in parcels] == ["paid", "paid"]

    # the seller ships; the buyer sees it on the timeline and confirms receipt
    farmers_parcel = next(order for order in parcels if order.seller_user_id == shop["farmer"].id)
    orders.move_order(farmers_parcel.id, "ship", shop["farmer"], carrier="顺丰速运", tracking_number="SF1234567890")
    page.goto("/orders")
    expect(page.locator("main")).to_contain_text("乌什薄皮核桃")
    page.goto(f"/orders/{farmers_parcel.id}")
    expect(page.locator("main")).to_contain_text("SF1234567890")
    expect(page.locator("main")).to_contain_text("顺丰速运")
    screenshot(page, "shop-order-timeline", readme=True)
    page.locator("form[action$='/confirm-receipt'] button, form[action*=confirm] button").first.click()
    page.wait_for_load_state()
    session.rollback()
    assert session.get(Order, farmers_parcel.id).status == "delivered"

    # the seller prints the parcel's QR code; read back, it opens the trace page of the origin
    seller_context = chromium.new_context(viewport={"width": 800, "height": 1000}, base_url=live_server.url,
                                          java_script_enabled=False, locale="zh-CN")
    try:
        seller_page = seller_context.new_page()
        log_in(seller_page, shop["farmer"])
        seller_page.goto(f"/sell/orders/{farmers_parcel.id}/labels")
        trace_url = read_qr(seller_page.locator("svg").first)
    finally:
        seller_context.close()
    assert trace_url.startswith(live_server.url + "/trace/")
    page.goto(trace_url)
    trace = page.locator("main")
    expect(trace).to_contain_text("乌什县")
    expect(trace).to_contain_text("英阿瓦提村")
    expect(trace).to_contain_text("阿依古丽")
    expect(trace).not_to_contain_text("13800138000")
    expect(trace).not_to_contain_text("人民路")
    screenshot(page, "shop-trace", readme=True)


def test_a_sell_out_between_cart_and_checkout_is_named_and_the_cart_kept(page, shop, session, log_in):
    log_in(page, shop["buyer"])
    add_to_cart(page, shop["dates"], 3)
    add_to_cart(page, shop["pears"], 1)
    fill_in_an_address(page)
    # someone else buys the last dates meanwhile
    shop["dates"].stock_units = 0
    session.merge(shop["dates"])
    session.commit()
    page.locator("#checkout-form button.wide[value=place]").click()
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text("乌什骏枣")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Checkout)) == 0
    page.goto("/cart")
    expect(page.locator("li.cart-line")).to_have_count(2)
    expect(page.locator(f"#line-{shop['dates'].id}")).to_have_attribute("data-problem", "sold_out")


def test_sending_the_checkout_twice_orders_once(page, shop, session, log_in):
    log_in(page, shop["buyer"])
    add_to_cart(page, shop["pears"], 2)
    fill_in_an_address(page)
    form = page.locator("#checkout-form")
    fields = {}
    for field in form.locator("input[name], select[name]").all():
        name, kind = field.get_attribute("name"), (field.get_attribute("type") or "").lower()
        if kind in ("radio", "checkbox") and not field.is_checked():
            continue
        fields[name] = field.input_value()
    fields["action"] = "place"
    first = page.request.post(page.url, form=fields, max_redirects=0)
    second = page.request.post(page.url, form=fields, max_redirects=0)
    assert (first.status, second.status) == (302, 302)
    assert first.headers["location"] == second.headers["location"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Checkout)) == 1


def _storefront_paths(shop, session) -> tuple[list[str], list[str]]:
    """The buyers' pages for a visitor, and those of a signed-in buyer with a placed checkout."""
    from marketplace.orders import cart
    from marketplace.orders.checkout import place_checkout

    checkout, _ = place_checkout(shop["buyer"].id, lines=[{"product_id": shop["pears"].id, "quantity": 1}],
                                 delivery={"address": {"recipient": "李明", "phone": "13800138000",
                                                       "county_adcode": "652927", "detail": "人民路 1 号"}},
                                 payment_method="card", idempotency_key="weights-0001")
    cart.add_to_cart(shop["buyer"].id, shop["walnuts"].id, 1)
    session.commit()
    session.rollback()
    token = session.get(type(shop["walnuts"]), shop["walnuts"].id).trace_token
    visitor = ["/", "/products", "/products?q=核桃&poverty_only=1", f"/products/{shop['walnuts'].id}",
               f"/trace/{token}", "/cart", "/signup", "/login"]
    buyer = ["/cart", "/checkout", "/orders", f"/orders/{checkout.orders[0].id}", f"/checkouts/{checkout.id}"]
    return visitor, buyer


def test_every_storefront_page_weighs_at_most_60_kb_and_fetches_nothing_from_elsewhere(
        page, shop, session, log_in, page_weight):
    visitor, buyer = _storefront_paths(shop, session)
    weights = {path: page_weight(page, path) for path in visitor}
    log_in(page, shop["buyer"])
    weights.update({f"{path} (signed in)": page_weight(page, path) for path in buyer})
    assert {path: size for path, size in weights.items() if size > BUDGET_BYTES} == {}, weights


def test_the_card_page_weighs_at_most_60_kb_besides_stripe_js(page, chromium, live_server, shop, session, log_in):
    _, buyer = _storefront_paths(shop, session)
    log_in(page, shop["buyer"])
    checkout_id = int(buyer[-1].rsplit("/", 1)[1])
    context, tab = card_page(page, chromium, live_server)
    try:
        received = []
        tab.on("requestfinished", lambda request: received.append(request))
        tab.goto(f"/checkouts/{checkout_id}/pay", wait_until="load")
        expect(tab.locator("#card-element input")).to_have_count(5)
        own = [request for request in received if request.url.startswith(live_server.url)]
        elsewhere = [request.url for request in received if not request.url.startswith(live_server.url)]
        total = sum(request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"] for request in own)
    finally:
        context.close()
    assert total <= BUDGET_BYTES
    assert elsewhere and all("/js.stripe.com/v3/" in url for url in elsewhere), elsewhere


def test_storefront_pages_have_readable_text_big_targets_and_fit_360_px(page, shop, session, log_in):
    visitor, buyer = _storefront_paths(shop, session)
    problems = {}
    for path in visitor:
        page.goto(path)
        problems[path] = (low_contrast_text(page), small_targets(page), focus_ring_of_next_tab_stop(page),
                          overflows_with_double_text(page))
    log_in(page, shop["buyer"])
    for path in buyer:
        page.goto(path)
        problems[f"{path} (signed in)"] = (low_contrast_text(page), small_targets(page),
                                           focus_ring_of_next_tab_stop(page), overflows_with_double_text(page))
    for path, (contrast, targets, (outline, width), overflow) in problems.items():
        assert contrast == [], path
        assert targets == [], path
        assert outline != "none" and width >= 2, path
        assert overflow <= 0, path
