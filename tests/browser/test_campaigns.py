"""A buyer on a 360 px phone (chromium, JavaScript off) sees a live campaign's price on the product
page, the normal price struck through, and orders it at that price: the cart, the checkout and the
order line all carry the campaign price."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.common.time import utcnow
from marketplace.orders.models import Checkout, Order
from tests.browser.helpers import (
    BUDGET_BYTES,
    VIEWPORT,
    choose_an_address_step_by_step,
    low_contrast_text,
    overflows_with_double_text,
)


@pytest.fixture
def campaign_shop(build, session):
    """Wushi walnuts at ¥35.80 in a Double 11 session live since an hour, at ¥28.80, 2 per buyer."""
    build.county("652927", "乌什县", prefecture_name="阿克苏地区", is_national_poverty_county=True)
    farmer = build.user("seller", county="652927", display_name="阿依古丽")
    walnuts = build.product(farmer, title="乌什薄皮核桃", price_fen=3580, stock_units=40, category="nuts", unit="jin")
    starts_at = utcnow() - timedelta(hours=1)
    campaign = build.campaign(starts_at, starts_at + timedelta(hours=5), name_zh="双十一扶贫专场")
    item = build.campaign_item(campaign, walnuts, campaign_price_fen=2880, stock_cap=30, per_buyer_limit=2)
    buyer = build.user("buyer", display_name="李明")
    session.commit()
    return {"walnuts": walnuts, "item": item, "buyer": buyer}


def test_a_buyer_on_a_phone_sees_the_campaign_price_and_buys_at_it(page: Page, campaign_shop, session, log_in,
                                                                    page_weight):
    walnuts = campaign_shop["walnuts"]
    assert page.viewport_size == VIEWPORT and VIEWPORT["width"] == 360
    log_in(page, campaign_shop["buyer"])

    page.goto(f"/products/{walnuts.id}")
    price = page.locator("main .price.campaign-price")
    expect(price).to_contain_text("¥28.80")
    expect(price.locator("del")).to_have_text("¥35.80")
    expect(page.locator("main p.campaign")).to_contain_text("双十一扶贫专场")
    expect(page.locator("main p.campaign")).to_contain_text("每人限购 2 件")
    assert low_contrast_text(page) == []
    assert page_weight(page, f"/products/{walnuts.id}") <= BUDGET_BYTES
    assert not overflows_with_double_text(page)
    page.goto(f"/products/{walnuts.id}")

    page.fill("input[name=quantity]", "2")
    page.click("#add-to-cart")
    page.wait_for_load_state()
    expect(page.locator("li.cart-line")).to_contain_text("¥28.80")

    page.goto("/checkout")
    expect(page.locator("#grand-total")).to_have_attribute("data-fen", re.compile(r"^\d+$"))
    expect(page.locator("#order-summary")).to_contain_text("¥57.60")
    choose_an_address_step_by_step(page)
    page.locator("#checkout-form button.wide[value=place]").click()
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/checkouts/\d+/pay$"))

    checkout_id = int(re.search(r"/checkouts/(\d+)/pay", page.url).group(1))
    session.rollback()
    checkout = session.get(Checkout, checkout_id)
    [order] = session.scalars(select(Order).where(Order.checkout_id == checkout.id)).all()
    [line] = order.lines
    assert (line.unit_price_fen, line.quantity, line.campaign_item_id) == (2880, 2, campaign_shop["item"].id)
    assert order.items_total_fen == 5760
