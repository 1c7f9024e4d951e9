"""The administration in a real browser (chromium, no JavaScript): an administrator goes from the
home page to every administration page by clicking links only, and an official to the pages they
may see, on a laptop (1280 px) and on a phone (360 px), where nothing overflows sideways."""
import pytest
from playwright.sync_api import Page, expect

from marketplace.payments import events
from marketplace.reports import review
from tests.browser.helpers import VIEWPORT

WUSHI = "652927"
WIDTHS = {"laptop": 1280, "phone": VIEWPORT["width"]}
# The menu's links, in order, and each page's heading.
ADMIN_PAGES = [("报表", "扶贫销售报表"), ("待审核商品", "待审核商品"), ("异常销售", "异常销售"), ("待裁决售后", "待裁决售后"),
               ("剔除记录", "从官方统计中剔除的销售"), ("服务站与现金", "服务站与现金"),
               ("支付事件", "需要处理的支付事件"), ("用户与角色", "用户与角色"), ("活动", "活动")]


@pytest.fixture
def platform(build, session):
    """Something on every page: a listing to review, a station owing cash, a self-dealt sale of a
    poverty county (flagged) and an excluded one, a payment event from elsewhere; an administrator
    and the official of Wushi."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True, is_demonstration_county=True)
    seller = build.user("seller", county=WUSHI, display_name="阿依古丽")
    build.product(seller, status="pending_review", title="阿克苏冰糖心苹果 5 公斤装",
                  description="今年新摘的苹果，" * 8)
    partner = build.user("partner", "buyer", county=WUSHI, display_name="吾斯曼·艾力")
    station = build.station(partner, build.village(WUSHI, "英阿瓦提村"), name="英阿瓦提村服务站")
    build.pay(build.checkout(partner, [build.product(seller, title="乌什核桃")]))
    excluded = build.pay(build.checkout(partner, [build.product(seller, title="乌什红枣")]))
    build.collect_cash(build.checkout(products=[build.product(seller, title="乌什杏干")], station=station,
                                      payment_method="cash_at_station"))
    admin = build.user("admin", display_name="平台管理员王芳")
    review.exclude_sale(excluded.orders[0].id, admin, reason="合伙人自买自卖，已核实")
    events.apply_stripe_event({"id": "evt_1QxYzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "type": "payment_intent.succeeded",
                               "data": {"object": {"id": "pi_3QxYzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
                                                   "object": "payment_intent"}}})
    official = build.official(WUSHI, display_name="乌什县商务局李明")
    session.commit()
    return {"admin": admin, "official": official}


def follow(page: Page, name: str) -> None:
    """Click a link by its text (from the keyboard: see test_station_desk.activate) and wait for the page."""
    link = page.get_by_role("link", name=name, exact=True).first
    link.press("Enter")
    page.wait_for_load_state()


def fits_the_width(page: Page) -> None:
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide in a {width} px window"


def in_the_menu(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("nav.menu a").all_inner_texts()]


@pytest.mark.parametrize("device", WIDTHS)
def test_an_administrator_reaches_every_administration_page_by_links(page, log_in, screenshot, platform, device):
    page.set_viewport_size({"width": WIDTHS[device], "height": VIEWPORT["height"]})
    log_in(page, platform["admin"])
    page.goto("/")

    follow(page, "管理后台")
    assert in_the_menu(page) == [label for label, _ in ADMIN_PAGES]
    for label, heading in ADMIN_PAGES:
        follow(page, label)
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator('nav.menu a[aria-current="page"]')).to_have_text(label)
        fits_the_width(page)
        screenshot(page, f"admin-{device}-{page.url.split('/admin/')[1].split('?')[0]}")
        if label == "服务站与现金":
            follow(page, "英阿瓦提村服务站")
            expect(page.locator("h1")).to_have_text("英阿瓦提村服务站")
            expect(page.locator("#amount")).to_be_visible()
            fits_the_width(page)
            screenshot(page, f"admin-{device}-station")
        if label == "用户与角色":
            follow(page, "乌什县商务局李明")
            expect(page.locator("h1")).to_have_text("乌什县商务局李明")
            expect(page.locator("#report_scope")).to_have_value(WUSHI)
            fits_the_width(page)
            screenshot(page, f"admin-{device}-user")

    follow(page, "English")
    expect(page.locator("h1")).to_have_text("Campaigns")
    assert in_the_menu(page) == ["Reports", "Listings to review", "Flagged sales", "Claims to decide", "Exclusions",
                                 "Stations and cash", "Payment events", "Users and roles", "Campaigns"]
    fits_the_width(page)
    page.get_by_role("button", name="Log out").press("Enter")
    page.wait_for_load_state()
    assert page.url.endswith("/login")


@pytest.mark.parametrize("device", WIDTHS)
def test_an_official_reaches_the_reports_of_their_county_by_links(page, log_in, screenshot, platform, device):
    page.set_viewport_size({"width": WIDTHS[device], "height": VIEWPORT["height"]})
    log_in(page, platform["official"])
    page.goto("/")

    follow(page, "管理后台")
    expect(page.locator("h1")).to_have_text("扶贫销售报表")
    assert in_the_menu(page) == ["报表"]
    expect(page.locator(".scope")).to_contain_text("乌什县")
    fits_the_width(page)
    screenshot(page, f"admin-official-{device}-reports")

    page.select_option("#preset", "double11")
    page.get_by_role("button", name="查看").press("Enter")
    page.wait_for_load_state()
    expect(page.locator(".period")).to_contain_text("11-01")
    fits_the_width(page)
