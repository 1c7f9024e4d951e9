"""A seller in a real browser (chromium, 360 px, no JavaScript): logs in, lists a product with a
photo, sees it waiting for review, edits the price; a wrong price is explained in Chinese beside
the field and nothing else typed is lost; the language switch; each page within 60 KB; every
form refused without its CSRF token."""
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.catalog.models import Product
from tests import image_files
from tests.browser.helpers import BUDGET_BYTES


@pytest.fixture
def seller(build, session):
    """An unverified seller in Wushi (listings go to review), with a village, committed for the server."""
    build.county("652927", "乌什县", is_national_poverty_county=True)
    user = build.user("seller", county="652927", display_name="阿依古丽")
    build.village("652927", "英阿瓦提村")
    session.commit()
    return user


def fill_apples(page: Page, price: str = "69.8") -> None:
    page.fill("#title", "阿克苏冰糖心苹果")
    page.get_by_role("radio", name="水果", exact=True).check()
    page.get_by_role("radio", name="箱", exact=True).check()
    page.fill("#net_weight_grams", "5000")
    page.fill("#price", price)
    page.fill("#stock_units", "50")
    page.select_option("#origin_village_id", label="英阿瓦提村")
    page.fill("#harvest_date", "2026-10-20")
    page.fill("#description", "甜，脆，水分足")


def my_products(session, seller) -> list[Product]:
    session.rollback()  # a new transaction: see what the server committed since
    return list(session.scalars(select(Product).where(Product.seller_user_id == seller.id)))


def test_a_seller_lists_a_product_with_a_photo_sees_it_waiting_for_review_and_edits_the_price(
        page, seller, session, log_in, screenshot):
    page.goto("/login")
    screenshot(page, "login")
    log_in(page, seller)
    expect(page).to_have_url(re.compile(r"/sell/$"))
    expect(page.locator("h1")).to_have_text("我的商品")
    screenshot(page, "sell-products-empty")

    page.get_by_role("link", name="发布新商品").click()
    fill_apples(page)
    page.set_input_files("#photos", files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg",
                                            "buffer": image_files.jpeg_with_gps(2400, 1800)}])
    screenshot(page, "sell-listing-form", readme=True)
    page.get_by_role("button", name="提交上架").click()

    card = page.locator("li.card", has_text="阿克苏冰糖心苹果")
    expect(card.locator(".status")).to_have_text("等待审核")
    expect(card).to_contain_text("¥69.80 / 箱")
    expect(card.locator("img")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("审核通过后就会上架")
    screenshot(page, "sell-products-pending-review")

    card.get_by_role("link", name="改价格").click()
    expect(page.locator("#price")).to_have_value("69.80")
    page.fill("#price", "65")
    screenshot(page, "sell-price-form")
    page.get_by_role("button", name="保存价格").click()
    expect(page.locator("li.card", has_text="阿克苏冰糖心苹果")).to_contain_text("¥65.00 / 箱")

    [product] = my_products(session, seller)
    assert (product.price_fen, product.status, product.stock_units, len(product.images)) == (6500, "pending_review", 50, 1)
    assert product.origin_village.name == "英阿瓦提村"


def test_a_wrong_price_is_explained_in_chinese_beside_the_field_and_keeps_the_rest(page, seller, session, log_in,
                                                                                    screenshot):
    log_in(page, seller)
    page.goto("/sell/products/new")
    fill_apples(page, price="12块5")
    page.get_by_role("button", name="提交上架").click()

    expect(page.locator("#price-error")).to_have_text("请用数字填写价格（元），最多两位小数，例如 12.5")
    expect(page.locator("#price")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#price")).to_have_value("12块5")
    expect(page.locator("#title")).to_have_value("阿克苏冰糖心苹果")
    expect(page.locator("#net_weight_grams")).to_have_value("5000")
    expect(page.locator("#stock_units")).to_have_value("50")
    expect(page.locator("#harvest_date")).to_have_value("2026-10-20")
    expect(page.locator("#description")).to_have_value("甜，脆，水分足")
    expect(page.locator("input[name=category][value=fruit]")).to_be_checked()
    expect(page.locator("input[name=unit][value=box]")).to_be_checked()
    expect(page.locator("#origin_village_id option:checked")).to_have_text("英阿瓦提村")
    screenshot(page, "sell-listing-form-wrong-price")
    assert my_products(session, seller) == []

    page.fill("#price", "12.50")
    page.get_by_role("button", name="提交上架").click()
    expect(page.locator("li.card .status")).to_have_text("等待审核")
    assert [p.price_fen for p in my_products(session, seller)] == [1250]


def test_the_language_switch_turns_the_pages_english_and_back(page, seller, log_in, screenshot):
    log_in(page, seller)
    page.goto("/sell/products/new")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("New listing")
    expect(page.get_by_text("What are you selling?")).to_be_visible()
    expect(page.get_by_text("Fruit", exact=True)).to_be_visible()
    screenshot(page, "sell-listing-form-english")

    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("发布商品")


def test_a_paid_order_is_shipped_from_my_orders(page, seller, build, session, log_in, screenshot):
    walnuts = build.product(seller, title="乌什核桃")
    order = build.pay(build.checkout(products=[walnuts], quantity=2)).orders[0]
    session.commit()
    log_in(page, seller)
    page.get_by_role("link", name="我的订单").click()
    card = page.locator(f"#order-{order.id}")
    expect(card).to_contain_text("乌什核桃 × 2 斤")
    screenshot(page, "sell-orders")
    card.get_by_label("快递公司").fill("中国邮政")
    card.get_by_label("快递单号").fill("YT1234567890")
    card.get_by_role("button", name="确认发货").click()
    expect(page.get_by_text("现在没有要发的货")).to_be_visible()
    expect(page.locator("li.card", has_text="乌什核桃")).to_contain_text("中国邮政 YT1234567890")


@pytest.fixture
def listed(seller, build, session):
    """A listing on sale and a paid order of it, so every seller page has something on it."""
    product = build.product(seller, title="乌什核桃", price_fen=3580)
    build.pay(build.checkout(products=[product]))
    session.commit()
    return product


def test_every_seller_page_is_within_the_60_kb_budget_and_sent_compressed(page, listed, log_in, page_weight):
    log_in(page, listed.seller)
    weights = {path: page_weight(page, path) for path in (
        "/sell/", "/sell/products/new", f"/sell/products/{listed.id}/price", "/sell/orders")}
    page.context.clear_cookies()
    weights["/login"] = page_weight(page, "/login")
    print("transferred bytes:", weights)
    assert all(weight <= BUDGET_BYTES for weight in weights.values()), weights
    assert all(weight > 1000 for weight in weights.values()), weights  # something was measured

    document = page.goto("/login")
    assert document.headers.get("content-encoding") == "gzip"
    stylesheet = page.request.get("/assets/pages.css", headers={"Accept-Encoding": "gzip"})
    assert stylesheet.ok


@pytest.mark.parametrize("form", ["login", "new listing", "price", "pause", "ship", "logout"])
def test_every_seller_form_sent_without_its_csrf_token_is_refused(page, listed, session, log_in,
                                                                   submit_without_csrf, form):
    order_id = listed.seller and session.scalar(select(Product.id).where(Product.id == listed.id))
    if form != "login":
        log_in(page, listed.seller)
    path, selector = {
        "login": ("/login", "main form"),
        "new listing": ("/sell/products/new", "main form"),
        "price": (f"/sell/products/{listed.id}/price", "main form"),
        "pause": ("/sell/", f"form[action='/sell/products/{listed.id}/pause']"),
        "ship": ("/sell/orders", "form[action*='/ship']"),
        "logout": ("/sell/", "form.logout"),
    }[form]
    page.goto(path)
    assert submit_without_csrf(page, selector) == 400
    session.rollback()
    product = session.get(Product, order_id)
    assert (product.status, product.price_fen) == ("active", 3580)


def test_a_form_sent_after_the_sign_in_ran_out_is_filled_again_after_logging_in(page, seller, app, log_in,
                                                                               monkeypatch, screenshot):
    log_in(page, seller)
    page.goto("/sell/products/new")
    fill_apples(page)
    hours = app.config["SIGN_IN_HOURS"]
    monkeypatch.setitem(app.config, "SIGN_IN_HOURS", 0)  # the farmer left the form open too long
    page.get_by_role("button", name="提交上架").click()

    expect(page).to_have_url(re.compile(r"/login\?next=/sell/products/new$"))
    expect(page.locator(".notice")).to_have_text("登录已过期。请重新登录，您填写的内容已保留。")
    screenshot(page, "sell-login-after-expiry")
    monkeypatch.setitem(app.config, "SIGN_IN_HOURS", hours)
    page.fill("#identifier", seller.phone)
    page.fill("#password", "correct-horse-9")
    page.click("main button[type=submit]")

    expect(page).to_have_url(re.compile(r"/sell/products/new$"))
    expect(page.locator("#title")).to_have_value("阿克苏冰糖心苹果")
    expect(page.locator("#price")).to_have_value("69.8")
    expect(page.locator("#description")).to_have_value("甜，脆，水分足")
    expect(page.locator("input[name=unit][value=box]")).to_be_checked()
    expect(page.locator(".notice")).to_contain_text("请重新选择照片")


def test_a_draft_is_saved_without_a_photo_and_finished_later(page, seller, session, log_in, screenshot):
    log_in(page, seller)
    page.goto("/sell/products/new")
    fill_apples(page)
    page.get_by_role("button", name="存为草稿").click()
    card = page.locator("li.card", has_text="阿克苏冰糖心苹果")
    expect(card.locator(".status")).to_have_text("草稿")

    card.get_by_role("link", name="补全并提交").click()
    expect(page.locator("h1")).to_have_text("补全商品信息")
    expect(page.locator("#price")).to_have_value("69.80")
    page.set_input_files("#photos", files=[{"name": "walnuts.png", "mimeType": "image/png",
                                            "buffer": image_files.png_with_transparency()}])
    screenshot(page, "sell-finish-draft")
    page.get_by_role("button", name="提交上架").click()
    expect(page.locator("li.card", has_text="阿克苏冰糖心苹果").locator(".status")).to_have_text("等待审核")
    [product] = my_products(session, seller)
    assert (product.status, len(product.images)) == ("pending_review", 1)
