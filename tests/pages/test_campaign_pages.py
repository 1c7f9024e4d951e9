"""Campaign pages without a browser's script: the storefront's cards and the product page show a
live campaign's price with the normal one struck through, its name, end, units left and limit per
buyer; before it opens the product page says when (Beijing time) and at what price; after it ends
the normal price is back. The cart and the checkout use the campaign price and say in the page's
language why a campaign line cannot be bought. Administrators run campaigns and decide sellers'
proposals; sellers propose from /sell; the dashboard lists the period's campaigns."""
import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from marketplace.campaigns.models import Campaign, CampaignItem
from marketplace.common.time import BUSINESS_TZ, utcnow
from marketplace.extensions import db
from marketplace.orders import cart
from marketplace.orders.models import Checkout
from marketplace.web import storefront_cache

WUSHI = "652927"
ADDRESS = {"delivery": "address", "saved_address": "", "recipient": "张三", "phone": "13800138000",
           "province": "650000", "county": WUSHI, "detail": "人民路1号", "payment_method": "card", "action": "place"}
PAGE_BUDGET = 60 * 1024


@pytest.fixture(autouse=True)
def _no_cached_pages():
    storefront_cache.forget_pages()
    yield
    storefront_cache.forget_pages()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def beijing(moment) -> str:
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def walnut(build, session):
    """Wushi walnuts at ¥66.00 (100 in stock), sold by a Wushi seller."""
    build.county(WUSHI, "乌什县", is_national_poverty_county=True, prefecture_name="阿克苏地区")
    seller = build.user("seller", county=WUSHI, display_name="阿依古丽")
    product = build.product(seller, title="乌什薄皮核桃", price_fen=6600, stock_units=100)
    session.commit()
    return product


def in_campaign(build, session, product, *, starts_in: timedelta = -timedelta(hours=1),
                lasts: timedelta = timedelta(hours=4), **terms) -> CampaignItem:
    starts_at = utcnow().replace(microsecond=0) + starts_in
    campaign = build.campaign(starts_at, starts_at + lasts, name_zh="双十一扶贫专场")
    item = build.campaign_item(campaign, product, **{"campaign_price_fen": 4990, "stock_cap": 30,
                                                     "per_buyer_limit": 2, **terms})
    session.commit()
    return item


# ---------------------------------------------------------------- storefront


def test_the_product_page_shows_the_live_campaign_price_its_end_units_left_and_limit(client, build, session, walnut):
    item = in_campaign(build, session, walnut, units_sold=4)
    response = client.get(f"/products/{walnut.id}")
    page = text_of(response)
    assert response.status_code == 200 and len(response.data) <= PAGE_BUDGET
    assert re.search(r'class="price big campaign-price"[^>]*><strong class="money">¥49\.90</strong>\s*'
                     r'<del class="listing-price money"[^>]*>¥66\.00</del>', page)
    assert "双十一扶贫专场" in page
    assert f"截至 {beijing(item.ends_at)}" in page
    assert "剩 26 件" in page and "每人限购 2 件" in page
    assert 'id="add-to-cart"' in page


def test_cards_on_the_list_and_home_show_the_campaign_price_and_the_normal_one_struck(client, build, session, walnut):
    in_campaign(build, session, walnut)
    for path in ("/products", "/"):
        page = text_of(client.get(path))
        card = re.search(rf'<li class="product" id="product-{walnut.id}".*?</li>', page, flags=re.DOTALL).group(0)
        assert "¥49.90" in card and "<del" in card and "¥66.00" in card and "双十一扶贫专场" in card


def test_before_the_start_the_product_page_says_when_it_opens_in_beijing_time_and_the_coming_price(
        client, build, session, walnut):
    item = in_campaign(build, session, walnut, starts_in=timedelta(hours=3))
    page = text_of(client.get(f"/products/{walnut.id}"))
    assert re.search(r'class="price money big">¥66\.00', page) and "<del" not in page
    opens = beijing(item.starts_at)
    assert f"{opens}（北京时间）开抢，活动价 ¥49.90" in page
    assert f"{opens}（北京时间）起以活动价出售" in page


def test_after_the_end_the_normal_price_is_back(client, build, session, walnut):
    in_campaign(build, session, walnut, starts_in=-timedelta(hours=5), lasts=timedelta(hours=4))
    page = text_of(client.get(f"/products/{walnut.id}"))
    assert re.search(r'class="price money big">¥66\.00', page) and "双十一扶贫专场" not in page


def test_the_english_page_names_the_campaign_in_english(client, build, session, walnut):
    in_campaign(build, session, walnut)
    client.set_cookie("lang", "en")
    page = text_of(client.get(f"/products/{walnut.id}"))
    assert "Double 11 poverty-county session" in page and "At most 2 per buyer" in page


# ---------------------------------------------------------------- cart and checkout


def test_the_cart_uses_the_campaign_price_and_names_a_quantity_over_the_limit(buyer_browser, buyer, build, session,
                                                                              walnut):
    in_campaign(build, session, walnut)
    cart.add_to_cart(buyer.id, walnut.id, 2)
    page = text_of(buyer_browser.get("/cart"))
    assert "¥49.90" in page and "¥99.80" in page and "<del" in page
    cart.set_cart_quantity(buyer.id, walnut.id, 3)
    page = text_of(buyer_browser.get("/cart"))
    assert 'data-problem="over_campaign_limit"' in page and "超过了活动每人限购的数量" in page


def test_the_cart_says_a_campaign_has_not_opened_or_has_too_few_left(buyer_browser, buyer, build, session, walnut):
    item = in_campaign(build, session, walnut, starts_in=timedelta(hours=3))
    cart.add_to_cart(buyer.id, walnut.id, 1)
    page = text_of(buyer_browser.get("/cart"))
    assert 'data-problem="campaign_not_open_yet"' in page and "活动还没开始" in page
    item.starts_at = item.campaign.starts_at = utcnow() - timedelta(hours=1)
    item.units_sold = item.stock_cap
    session.commit()
    page = text_of(buyer_browser.get("/cart"))
    assert 'data-problem="campaign_units_sold_out"' in page and "活动名额已抢完" in page


def test_the_checkout_page_orders_at_the_campaign_price(buyer_browser, buyer, build, session, walnut):
    in_campaign(build, session, walnut)
    cart.add_to_cart(buyer.id, walnut.id, 2)
    assert "¥99.80" in text_of(buyer_browser.get("/checkout"))
    response = buyer_browser.send("/checkout", ADDRESS)
    assert response.status_code == 302
    checkout = db.session.scalars(select(Checkout).where(Checkout.buyer_user_id == buyer.id)).one()
    [line] = checkout.orders[0].lines
    assert (line.unit_price_fen, line.quantity, line.campaign_item_id is not None) == (4990, 2, True)


def test_the_checkout_page_refuses_more_than_the_limit_across_orders_in_chinese(buyer_browser, buyer, build,
                                                                                 session, walnut):
    in_campaign(build, session, walnut)
    build.checkout(buyer, [walnut], quantity=2)  # an earlier order holds the buyer's two
    cart.add_to_cart(buyer.id, walnut.id, 1)
    response = buyer_browser.send("/checkout", ADDRESS)
    page = text_of(response)
    assert response.status_code == 409
    assert "乌什薄皮核桃：本次活动每人限购 2 件，您已买了 2 件。什么都没有下单。" in page
    assert db.session.scalar(select(CampaignItem.units_sold).where(CampaignItem.product_id == walnut.id)) == 2


# ---------------------------------------------------------------- administrators


@pytest.fixture
def admin_browser(browser, build, session):
    admin = build.user("admin")
    session.commit()
    assert browser.log_in(admin).status_code == 302
    return browser


def test_an_administrator_creates_a_campaign_and_adds_a_listing(admin_browser, walnut):
    created = admin_browser.send("/admin/campaigns", {"name_zh": "双十一晚场", "name_en": "Double 11 evening",
                                                      "starts_at": "2027-11-11T20:00", "ends_at": "2027-11-12T00:00"})
    assert created.status_code == 302
    campaign = db.session.scalars(select(Campaign).where(Campaign.name_zh == "双十一晚场")).one()
    assert beijing(campaign.starts_at) == "2027-11-11 20:00" and beijing(campaign.ends_at) == "2027-11-12 00:00"
    page_path = f"/admin/campaigns/{campaign.id}"
    assert created.headers["Location"] == page_path

    added = admin_browser.send(page_path, {"product_id": str(walnut.id), "campaign_price": "49.9", "stock_cap": "30",
                                           "per_buyer_limit": "1"}, to=f"{page_path}/items")
    assert added.status_code == 302
    item = db.session.scalars(select(CampaignItem).where(CampaignItem.campaign_id == campaign.id)).one()
    assert (item.campaign_price_fen, item.stock_cap, item.per_buyer_limit, item.state) == (4990, 30, 1, "approved")
    assert "乌什薄皮核桃" in text_of(admin_browser.get(page_path))
    assert "双十一晚场" in text_of(admin_browser.get("/admin/campaigns"))


@pytest.mark.parametrize(("terms", "message"), [
    ({"campaign_price": "66", "stock_cap": "30"}, "活动价必须低于商品原价。"),
    ({"campaign_price": "49.9", "stock_cap": "101"}, "超过了商品的库存。"),
    ({"campaign_price": "49.999", "stock_cap": "30"}, None),
    ({"campaign_price": "49.9", "stock_cap": "30", "per_buyer_limit": "0"}, None),
])
def test_bad_terms_for_a_listing_are_refused_beside_the_field_and_change_nothing(admin_browser, build, session,
                                                                                 walnut, terms, message):
    campaign = build.campaign(utcnow() + timedelta(days=1))
    session.commit()
    page_path = f"/admin/campaigns/{campaign.id}"
    response = admin_browser.send(page_path, {"product_id": str(walnut.id), "per_buyer_limit": "1", **terms},
                                  to=f"{page_path}/items")
    assert response.status_code in (409, 422)
    assert 'class="field-error"' in text_of(response)
    if message:
        assert message in text_of(response)
    assert db.session.scalars(select(CampaignItem).where(CampaignItem.campaign_id == campaign.id)).all() == []


def test_an_administrator_changes_a_live_listings_units_and_limit(admin_browser, build, session, walnut):
    item = in_campaign(build, session, walnut, units_sold=4)
    page_path = f"/admin/campaigns/{item.campaign_id}"
    page = text_of(admin_browser.get(page_path))
    assert f"id=\"stock-cap-{item.id}\"" in page

    saved = admin_browser.send(page_path, {"campaign_price": "49.9", "stock_cap": "50", "per_buyer_limit": "1"},
                               to=f"/admin/campaigns/items/{item.id}/terms")
    assert saved.status_code == 302 and saved.headers["Location"] == page_path
    session.expire_all()
    assert (item.campaign_price_fen, item.stock_cap, item.per_buyer_limit) == (4990, 50, 1)

    refused = admin_browser.send(page_path, {"campaign_price": "49.9", "stock_cap": "3", "per_buyer_limit": "1"},
                                 to=f"/admin/campaigns/items/{item.id}/terms")
    assert refused.status_code == 422
    assert "少于活动已经卖出的件数。" in text_of(refused) and " open>" in text_of(refused)
    session.expire_all()
    assert item.stock_cap == 50


def test_a_campaign_that_ends_before_it_starts_is_refused_beside_its_end(admin_browser):
    response = admin_browser.send("/admin/campaigns", {"name_zh": "错场", "name_en": "Wrong",
                                                       "starts_at": "2026-11-11T20:00", "ends_at": "2026-11-11T19:00"})
    assert response.status_code == 422 and "活动的结束时间必须晚于开始时间。" in text_of(response)
    assert db.session.scalars(select(Campaign).where(Campaign.name_zh == "错场")).all() == []


def test_a_seller_proposes_a_listing_and_an_administrator_approves_it(browser, build, session, walnut):
    campaign = build.campaign(utcnow() + timedelta(days=1), name_zh="双十二专场")
    admin = build.user("admin")
    session.commit()
    assert browser.log_in(walnut.seller).status_code == 302
    page = text_of(browser.get("/sell/campaigns"))
    assert "双十二专场" in page and "乌什薄皮核桃" in page
    proposed = browser.send("/sell/campaigns", {"campaign_id": str(campaign.id), "product_id": str(walnut.id),
                                                "campaign_price": "50", "stock_cap": "20", "per_buyer_limit": "1"})
    assert proposed.status_code == 302
    item = db.session.scalars(select(CampaignItem).where(CampaignItem.campaign_id == campaign.id)).one()
    assert item.state == "pending"
    assert "等待审核" in text_of(browser.get("/sell/campaigns"))

    browser.client.post("/logout", data=browser.hidden_fields("/sell/campaigns"))
    assert browser.log_in(admin).status_code == 302
    approved = browser.send(f"/admin/campaigns/{campaign.id}", {}, to=f"/admin/campaigns/items/{item.id}/approve")
    assert approved.status_code == 302
    db.session.expire_all()
    assert db.session.get(CampaignItem, item.id).state == "approved"


def test_the_dashboard_lists_the_campaigns_of_the_period(admin_browser, build, session, walnut):
    in_campaign(build, session, walnut)
    page = text_of(admin_browser.get("/admin/reports?preset=today"))
    assert 'id="campaigns-heading"' in page and "双十一扶贫专场" in page
    assert "/admin/reports/campaigns.csv" in page
