"""A claim in a real browser (chromium, 360 px, JavaScript off): the buyer opens a claim with a
photo from the order's page on a phone, nothing overflows sideways; the seller accepts it from
/sell/orders; the buyer's page then shows it accepted, and refunded once Stripe confirms."""
import io

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.claims.models import Claim
from marketplace.extensions import db
from marketplace.payments import events
from marketplace.payments.models import PaymentIntent, Refund
from tests.browser.helpers import BUDGET_BYTES, VIEWPORT, low_contrast_text, small_targets


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 60, 20)).save(buffer, "JPEG")
    return buffer.getvalue()


def sideways_overflow(page: Page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def charge_refunded(refund: Refund) -> dict:
    """Stripe's charge.refunded event for the claim's refund (what its webhook delivers)."""
    stripe_id = db.session.scalar(select(PaymentIntent.stripe_id).where(PaymentIntent.id == refund.payment_intent_id))
    stripe_refund = {"id": f"re_browser_{refund.id}", "object": "refund", "status": "succeeded",
                     "amount": refund.amount_fen, "payment_intent": stripe_id, "metadata": {"refund_id": str(refund.id)}}
    return {"id": f"evt_browser_refund_{refund.id}", "type": "charge.refunded",
            "data": {"object": {"object": "charge", "payment_intent": stripe_id, "refunds": {"data": [stripe_refund]}}}}


@pytest.fixture
def delivered(build, session):
    """A buyer's parcel of 2 jin of apples at ¥12.50, paid by card and received just now."""
    buyer = build.user("buyer", display_name="李明")
    seller = build.user("seller", display_name="阿依古丽")
    order = build.delivered_order(buyer, products=[build.product(seller, title="阿克苏苹果", price_fen=1250)],
                                  quantity=2)
    session.commit()
    return {"buyer": buyer, "seller": seller, "order": order, "line": order.lines[0]}


def readable_and_tappable(page: Page) -> None:
    assert low_contrast_text(page) == [], page.url
    assert small_targets(page) == [], page.url
    assert sideways_overflow(page) <= 0, page.url


def test_the_buyer_claims_with_a_photo_on_a_phone_and_the_seller_accepts(page, chromium, live_server, log_in,
                                                                           screenshot, page_weight, delivered):
    order, line = delivered["order"], delivered["line"]
    log_in(page, delivered["buyer"])
    page.goto(f"/orders/{order.id}")
    page.click(f"#claim-line-{line.id}")
    page.check("input[name=reason][value=rotten]")
    page.fill("#description", "十个苹果里有三个烂了")
    page.fill("#amount", "7.5")
    page.set_input_files("#photos", files=[{"name": "apples.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    readable_and_tappable(page)
    screenshot(page, "claim-open-phone")
    page.click("#send-claim")
    page.wait_for_load_state()

    expect(page.locator("#claim-status")).to_have_attribute("data-status", "open")
    expect(page.locator("#claim-photos img")).to_have_count(1)
    expect(page.locator("#amount-asked")).to_contain_text("¥7.50")
    readable_and_tappable(page)
    screenshot(page, "claim-opened-phone")
    claim_path = page.url.removeprefix(live_server.url)

    seller_context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=live_server.url,
                                          java_script_enabled=False)
    seller_page = seller_context.new_page()
    try:
        log_in(seller_page, delivered["seller"])
        seller_page.goto("/sell/orders")
        seller_page.locator("#claims-to-answer a.button").first.click()
        seller_page.wait_for_load_state()
        expect(seller_page.locator("#claim-photos img")).to_have_count(1)
        readable_and_tappable(seller_page)
        screenshot(seller_page, "claim-seller-answer-phone")
        seller_page.click("#accept-claim")
        seller_page.wait_for_load_state()
        expect(seller_page.locator("#claim-status")).to_have_attribute("data-status", "accepted")
    finally:
        seller_context.close()

    page.goto(claim_path)
    expect(page.locator("#claim-status")).to_have_attribute("data-status", "accepted")
    expect(page.locator("#amount-granted")).to_contain_text("¥7.50")
    db.session.expire_all()
    claim = db.session.scalars(select(Claim).where(Claim.order_line_id == line.id)).one()
    events.apply_stripe_event(charge_refunded(db.session.get(Refund, claim.refund_id)))

    page.reload()
    expect(page.locator("#claim-status")).to_have_attribute("data-status", "refunded")
    expect(page.locator("#refund")).to_have_attribute("data-status", "succeeded")
    assert [kind for kind in page.locator("#claim-timeline li").evaluate_all("items => items.map(i => i.dataset.kind)")] \
        == ["opened", "accepted", "refunded"]
    screenshot(page, "claim-refunded-phone")
    assert page_weight(page, claim_path) <= BUDGET_BYTES
