"""Seller pages (/sell) without a browser's script: listing with a photo through the image
pipeline, prices typed in yuan, errors beside the field keeping what was typed, drafts finished
later, pause/resume, price edits, shipping, and the bad input of a cheap phone on a slow line."""
import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.catalog.models import Product
from marketplace.common.time import utcnow
from marketplace.web.models import FormSubmission
from marketplace.web.services import FORM_TOKEN_TTL, forget_form_tokens
from tests import image_files
from tests.pages.conftest import expire_sign_in
from tests.stripe_server import free_port

NEW = "/sell/products/new"
APPLES = {"title": "阿克苏冰糖心苹果", "category": "fruit", "unit": "box", "net_weight_grams": "5000",
          "price": "69.8", "stock_units": "50", "harvest_date": "2026-10-20", "action": "publish"}


def photo(content: bytes | None = None, name: str = "IMG_2041.jpg"):
    return (io.BytesIO(content if content is not None else image_files.jpeg()), name)


def products_of(session, seller) -> list[Product]:
    session.expire_all()
    return list(session.scalars(select(Product).where(Product.seller_user_id == seller.id).order_by(Product.id)))


def field_error(page: str, field: str) -> str | None:
    """The message shown beside a field (the element the field points to with aria-describedby)."""
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    return html.unescape(match.group(1)) if match else None


def value_of(page: str, field: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{field}"[^>]*>', page)
    value = match and re.search(r'value="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


def checked(page: str, field: str) -> str | None:
    match = re.search(rf'<input checked[^>]*name="{field}"[^>]*value="([^"]+)"', page)
    return match.group(1) if match else None


def test_a_seller_who_is_not_signed_in_is_sent_to_log_in_and_brought_back(browser, seller):
    response = browser.get(NEW)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sell/products/new"

    response = browser.send("/login?next=/sell/products/new",
                            {"identifier": seller.phone, "password": "correct-horse-9"}, to="/login")
    assert response.headers["Location"] == "/sell/products/new"


def test_a_seller_lands_on_their_products_after_login(browser, seller):
    assert browser.log_in(seller).headers["Location"] == "/sell/"


def test_a_buyer_is_refused_the_seller_pages(browser, build, session):
    buyer = build.user("buyer")
    session.commit()
    browser.log_in(buyer)
    response = browser.get("/sell/")
    assert response.status_code == 403
    assert "您的账号不能打开此页面" in response.get_data(as_text=True)


def test_the_listing_form_offers_the_camera_categories_and_units(seller_browser):
    page = seller_browser.get(NEW).get_data(as_text=True)
    photos = re.search(r'<input[^>]*name="photos"[^>]*>', page).group(0)
    assert 'accept="image/*"' in photos and 'capture="environment"' in photos and "multiple" in photos
    assert re.findall(r'name="unit"[^>]*value="([a-z]+)"', page) == ["jin", "kg", "box", "bag", "piece"]
    assert {"水果", "坚果", "蜂蜜", "斤", "公斤", "箱", "袋", "件"} <= set(re.findall(r"<span>([^<]+)</span>", page))
    every_input = [re.search(r'\bid="([^"]+)"', tag).group(1)
                   for tag in re.findall(r'<(?:input|select|textarea)\b[^>]*>', page) if 'type="hidden"' not in tag]
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    in_tiles = set(re.findall(r'<label class="tile"><input[^>]*id="([^"]+)"', page))
    assert len(every_input) > 20
    assert set(every_input) <= labelled | in_tiles


def test_a_listing_with_a_photo_goes_to_review_through_the_image_pipeline(seller_browser, seller, session):
    response = seller_browser.send(NEW, {**APPLES, "origin_village_id": ""},
                                   files={"photos": photo(image_files.jpeg_with_gps(2400, 1800))})
    assert response.status_code == 302

    [product] = products_of(session, seller)
    assert (product.title, product.price_fen, product.unit, product.net_weight_grams, product.stock_units) == (
        "阿克苏冰糖心苹果", 6980, "box", 5000, 50)
    assert product.status == "pending_review"
    assert str(product.harvest_date) == "2026-10-20"
    [image] = product.images
    assert image.width == 1600  # re-encoded by the pipeline, GPS gone with the rest of the EXIF
    listing = seller_browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "等待审核" in listing and "¥69.80 / 箱" in listing and "已提交，审核通过后就会上架" in listing


@pytest.mark.parametrize("typed", ["12.5", "12.50", "１２.５", "12。5"])
def test_a_price_in_yuan_is_stored_in_exact_fen(seller_browser, seller, session, typed):
    seller_browser.send(NEW, {**APPLES, "unit": "jin", "net_weight_grams": "", "price": typed})
    assert [p.price_fen for p in products_of(session, seller)] == [1250]


def test_a_price_with_letters_is_refused_beside_the_field_and_keeps_what_was_typed(seller_browser, seller, session):
    village = seller_browser.get(NEW).get_data(as_text=True)
    village_id = re.search(r'<option value="(\d+)">英阿瓦提村</option>', village).group(1)
    response = seller_browser.send(NEW, {**APPLES, "price": "12块5", "origin_village_id": village_id,
                                         "description": "甜，脆，水分足"})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "price") == "请用数字填写价格（元），最多两位小数，例如 12.5"
    assert 'aria-describedby="price-hint price-error"' in page
    assert value_of(page, "price") == "12块5"
    assert value_of(page, "title") == "阿克苏冰糖心苹果"
    assert value_of(page, "net_weight_grams") == "5000"
    assert value_of(page, "harvest_date") == "2026-10-20"
    assert (checked(page, "category"), checked(page, "unit")) == ("fruit", "box")
    assert re.search(rf'<option selected value="{village_id}">英阿瓦提村</option>', page)
    assert "甜，脆，水分足</textarea>" in page
    assert products_of(session, seller) == []


def test_missing_fields_are_each_named_in_chinese(seller_browser, seller, session):
    response = seller_browser.send(NEW, {"action": "publish"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "title") == "请填写商品名称。"
    assert field_error(page, "category") == "请选择商品种类。"
    assert field_error(page, "unit") == "请选择按什么单位卖。"
    assert field_error(page, "price") == "请填写价格（元）。"
    assert "请改正下面标出的 4 处" in page
    assert products_of(session, seller) == []


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"stock_units": "-5"}, "stock_units", "库存不能是负数。"),
    ({"stock_units": "五十"}, "stock_units", "请填写整数，例如 20"),
    ({"price": "-3"}, "price", "请用数字填写价格（元），最多两位小数，例如 12.5"),
    ({"price": "12.505"}, "price", "请用数字填写价格（元），最多两位小数，例如 12.5"),
    ({"price": "0"}, "price", "请用数字填写价格（元），最多两位小数，例如 12.5"),
    ({"net_weight_grams": ""}, "net_weight_grams", "请填写每箱或每袋有多少克。"),
    ({"unit": "jin", "net_weight_grams": "600"}, "net_weight_grams", "1 斤 固定是 500 克，这一栏请留空。"),
    ({"unit": "ton"}, "unit", "请从选项中选择。"),
    ({"origin_village_id": "999999"}, "origin_village_id", "请从选项中选择。"),
    ({"harvest_date": "1999-01-01"}, "harvest_date", "请选 2000 年到明年今天之间的日期。"),
    ({"harvest_date": "tomorrow"}, "harvest_date", "请选择日期，例如 2026-09-20。"),
    ({"title": "苹"}, "title", "名称要 2 到 120 个字。"),
    ({"title": "红\x00枣"}, "title", "这里有无法保存的字符，请重新输入。"),
    ({"description": "甜\x00"}, "description", "这里有无法保存的字符，请重新输入。"),
])
def test_bad_values_are_refused_beside_their_field(seller_browser, seller, session, changes, field, message):
    response = seller_browser.send(NEW, {**APPLES, **changes})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), field) == message
    assert products_of(session, seller) == []


def test_a_30_mb_photo_is_refused_beside_the_field_not_with_a_413(seller_browser, seller, session):
    huge = image_files.padded(image_files.jpeg(), 30 * 1024 * 1024)
    response = seller_browser.send(NEW, APPLES, files={"photos": photo(huge)})

    assert response.status_code == 422
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert field_error(page, "photos") == "这张照片有 30.0 MB，太大了：每张最多 10 MB。"
    assert value_of(page, "title") == "阿克苏冰糖心苹果"
    assert products_of(session, seller) == []


def test_a_body_beyond_the_page_limit_gets_a_chinese_page(seller_browser, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAGES_MAX_UPLOAD_BYTES", 1024 * 1024)
    response = seller_browser.send(NEW, APPLES, files={"photos": photo(b"\0" * (2 * 1024 * 1024))},
                                   headers={"Accept": "text/html"})
    assert response.status_code == 413
    assert "提交的内容太大了" in response.get_data(as_text=True)


@pytest.mark.parametrize(("content", "name", "message"), [
    (image_files.pdf(), "price-list.pdf", "这个文件不是照片，请选择 JPEG、PNG、WebP 或 HEIC 图片。"),
    (b"", "empty.jpg", "这个文件不是照片，请选择 JPEG、PNG、WebP 或 HEIC 图片。"),
    (image_files.encoded(image_files.photo(), "GIF"), "anim.gif", "不支持这种图片，请选择 JPEG、PNG、WebP 或 HEIC 照片。"),
])
def test_a_file_that_is_not_a_photo_is_refused_and_lists_nothing(seller_browser, seller, session, content, name, message):
    response = seller_browser.send(NEW, APPLES, files={"photos": photo(content, name)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "photos") == message
    assert value_of(page, "price") == "69.8"
    assert products_of(session, seller) == []
    # the form may be sent again once corrected: its one-time token was given back
    assert session.scalar(select(func.count()).select_from(FormSubmission)) == 0


def test_photos_the_store_cannot_take_are_refused_beside_the_field_and_list_nothing(seller_browser, seller, session,
                                                                                    app, monkeypatch):
    for name, value in {"MEDIA_STORAGE": "s3", "S3_BUCKET": "media", "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                        "S3_ACCESS_KEY_ID": "key", "S3_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setitem(app.config, name, value)  # an S3 store nothing answers for

    response = seller_browser.send(NEW, APPLES, files={"photos": photo()})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "photos") == "照片暂时无法保存，这次什么都没有保存。请过一分钟再提交。"
    assert value_of(page, "price") == "69.8"
    assert products_of(session, seller) == []
    assert session.scalar(select(func.count()).select_from(FormSubmission)) == 0  # may be sent again


def test_sending_the_same_form_twice_lists_one_product(seller_browser, seller, session):
    form = seller_browser.hidden_fields(NEW)
    first = seller_browser.client.post(NEW, data={**form, **APPLES}, content_type="multipart/form-data")
    second = seller_browser.client.post(NEW, data={**form, **APPLES}, content_type="multipart/form-data")

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert len(products_of(session, seller)) == 1
    assert "这个表单已经提交过了" in seller_browser.get(second.headers["Location"]).get_data(as_text=True)


def test_a_new_form_is_a_new_listing(seller_browser, seller, session):
    seller_browser.send(NEW, APPLES)
    seller_browser.send(NEW, APPLES)
    assert len(products_of(session, seller)) == 2


def test_a_form_sent_after_the_sign_in_ran_out_comes_back_filled_after_login(seller_browser, seller, session, app):
    form = seller_browser.hidden_fields(NEW)
    expire_sign_in(seller_browser.client, app.config["SIGN_IN_HOURS"] + 1)
    response = seller_browser.client.post(NEW, data={**form, **APPLES, "price": "12.5"},
                                          content_type="multipart/form-data")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sell/products/new"
    assert products_of(session, seller) == []
    login = seller_browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "登录已过期。请重新登录，您填写的内容已保留。" in login

    back = seller_browser.send("/login?next=/sell/products/new",
                               {"identifier": seller.phone, "password": "correct-horse-9"}, to="/login")
    page = seller_browser.get(back.headers["Location"]).get_data(as_text=True)
    assert value_of(page, "title") == "阿克苏冰糖心苹果"
    assert value_of(page, "price") == "12.5"
    assert checked(page, "unit") == "box"
    assert "请重新选择照片" in page
    # shown once: the next visit is a blank form
    assert value_of(seller_browser.get(NEW).get_data(as_text=True), "title") == ""


def test_a_draft_is_saved_and_finished_later(seller_browser, seller, session):
    response = seller_browser.send(NEW, {**APPLES, "stock_units": "", "action": "draft"})
    [draft] = products_of(session, seller)
    assert (draft.status, draft.stock_units) == ("draft", 0)
    listing = seller_browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "已存为草稿" in listing and "补全并提交" in listing

    edit = f"/sell/products/{draft.id}/edit"
    page = seller_browser.get(edit).get_data(as_text=True)
    assert value_of(page, "price") == "69.80" and value_of(page, "title") == "阿克苏冰糖心苹果"
    response = seller_browser.send(edit, {**APPLES, "stock_units": "80", "price": "65"}, files={"photos": photo()})
    assert response.status_code == 302
    [product] = products_of(session, seller)
    assert (product.status, product.stock_units, product.price_fen, len(product.images)) == (
        "pending_review", 80, 6500, 1)


def test_the_listing_forms_photos_draw_on_one_allowance_with_the_api_uploads(seller_browser, seller, build, session,
                                                                             app, monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_UPLOAD_RATE_LIMIT", "2 per minute")
    draft = build.product(seller, status="draft")
    session.commit()
    api_upload = seller_browser.client.post(f"/api/v1/products/{draft.id}/images",
                                            data={"file": photo()}, content_type="multipart/form-data",
                                            headers={"Authorization": f"Bearer {build.token(seller)}"})
    assert api_upload.status_code == 201

    response = seller_browser.send(NEW, APPLES, files={"photos": [photo(), photo()]}, headers={"Accept": "text/html"})

    assert response.status_code == 429
    assert "尝试次数太多，请等一分钟再试。" in response.get_data(as_text=True)
    assert [product.id for product in products_of(session, seller)] == [draft.id]
    # a form without photos decodes nothing and is not counted
    assert seller_browser.send(NEW, {**APPLES, "action": "draft"}).status_code == 302


def test_pause_and_resume_in_one_tap(seller_browser, seller, build, session):
    product = build.product(seller)
    session.commit()
    listing = seller_browser.get("/sell/").get_data(as_text=True)
    assert f'action="/sell/products/{product.id}/pause"' in listing

    seller_browser.send("/sell/", {}, to=f"/sell/products/{product.id}/pause")
    assert products_of(session, seller)[0].status == "paused"
    assert "恢复销售" in seller_browser.get("/sell/").get_data(as_text=True)
    seller_browser.send("/sell/", {}, to=f"/sell/products/{product.id}/resume")
    assert products_of(session, seller)[0].status == "active"


def test_editing_the_price_keeps_the_listing_on_sale(seller_browser, seller, build, session):
    product = build.product(seller, price_fen=1250)
    session.commit()
    path = f"/sell/products/{product.id}/price"
    assert value_of(seller_browser.get(path).get_data(as_text=True), "price") == "12.50"

    bad = seller_browser.send(path, {"price": "十元"})
    assert bad.status_code == 422
    assert field_error(bad.get_data(as_text=True), "price") == "请用数字填写价格（元），最多两位小数，例如 12.5"

    assert seller_browser.send(path, {"price": "13.9"}).status_code == 302
    [product] = products_of(session, seller)
    assert (product.price_fen, product.status) == (1390, "active")


def test_a_price_at_or_below_the_listings_campaign_price_is_refused_beside_the_field(seller_browser, seller, build,
                                                                                     session):
    product = build.product(seller, price_fen=1250)
    starts_at = utcnow().replace(microsecond=0) + timedelta(hours=1)
    build.campaign_item(build.campaign(starts_at, starts_at + timedelta(hours=2)), product, campaign_price_fen=990)
    session.commit()
    path = f"/sell/products/{product.id}/price"

    refused = seller_browser.send(path, {"price": "9.9"})

    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "price") == "这件商品正在参加活动：活动结束前，它的价格必须高于活动价。"
    assert products_of(session, seller)[0].price_fen == 1250
    assert seller_browser.send(path, {"price": "9.91"}).status_code == 302
    assert products_of(session, seller)[0].price_fen == 991


def test_a_price_edit_on_a_stale_page_is_refused_and_shows_the_current_listing(seller_browser, seller, build, session):
    product = build.product(seller, price_fen=1250)
    session.commit()
    path = f"/sell/products/{product.id}/price"
    stale = seller_browser.hidden_fields(path)
    seller_browser.send(path, {"price": "13"})
    response = seller_browser.client.post(path, data={**stale, "price": "14"})
    assert response.status_code == 422
    assert "刚在别处被改过" in response.get_data(as_text=True)
    assert products_of(session, seller)[0].price_fen == 1300


def test_another_sellers_listing_cannot_be_touched(seller_browser, build, session):
    other = build.product(build.user("seller"), price_fen=1250)
    session.commit()
    assert seller_browser.get(f"/sell/products/{other.id}/price").status_code == 403
    assert seller_browser.get(f"/sell/products/{other.id}/edit").status_code == 403
    seller_browser.send("/sell/", {}, to=f"/sell/products/{other.id}/pause")
    session.expire_all()
    assert session.get(Product, other.id).status == "active"


def test_orders_to_ship_are_listed_and_shipped_with_carrier_and_tracking(seller_browser, seller, build, session):
    product = build.product(seller, title="乌什核桃")
    order = build.pay(build.checkout(products=[product], quantity=3)).orders[0]
    session.commit()
    page = seller_browser.get("/sell/orders").get_data(as_text=True)
    assert "乌什核桃 × 3 斤" in page and "张三 13800138000" in page

    bad = seller_browser.send("/sell/orders", {"carrier": "", "tracking_number": "单号"}, to=f"/sell/orders/{order.id}/ship")
    assert bad.status_code == 422
    assert field_error(bad.get_data(as_text=True), "carrier") == "请填写快递公司。"
    assert field_error(bad.get_data(as_text=True), "tracking_number") == "4 到 40 位字母、数字或短横线，照面单上的填写。"

    done = seller_browser.send("/sell/orders", {"carrier": "中国邮政", "tracking_number": "YT1234567890"},
                               to=f"/sell/orders/{order.id}/ship")
    assert done.status_code == 302
    session.expire_all()
    shipped = session.get(type(order), order.id)
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == ("shipped", "中国邮政", "YT1234567890")
    assert "现在没有要发的货" in seller_browser.get("/sell/orders").get_data(as_text=True)


@pytest.mark.parametrize("form", ["new", "price", "pause", "ship", "logout"])
def test_every_seller_form_without_its_csrf_token_is_refused(seller_browser, seller, build, session, form):
    product = build.product(seller)
    order = build.pay(build.checkout(products=[product])).orders[0]
    session.commit()
    target, data = {
        "new": (NEW, APPLES), "price": (f"/sell/products/{product.id}/price", {"price": "9"}),
        "pause": (f"/sell/products/{product.id}/pause", {}),
        "ship": (f"/sell/orders/{order.id}/ship", {"carrier": "顺丰", "tracking_number": "SF1234567"}),
        "logout": ("/logout", {}),
    }[form]
    response = seller_browser.client.post(target, data=data, headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "这个表单已过期" in response.get_data(as_text=True)
    session.expire_all()
    assert (session.get(Product, product.id).price_fen, session.get(Product, product.id).status) == (1250, "active")
    assert len(products_of(session, seller)) == 1
    assert seller_browser.get("/sell/").status_code == 200  # still signed in


def test_the_pages_switch_to_english_and_back(seller_browser):
    chinese = seller_browser.get(NEW).get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "卖什么？" in chinese

    switch = seller_browser.get("/language/en?next=/sell/products/new")
    assert switch.headers["Location"] == "/sell/products/new"
    english = seller_browser.get(NEW).get_data(as_text=True)
    assert '<html lang="en">' in english and "What are you selling?" in english and ">Fruit<" in english

    assert "卖什么？" in seller_browser.get(NEW + "?lang=zh").get_data(as_text=True)
    seller_browser.get("/language/zh?next=/")
    assert "卖什么？" in seller_browser.get(NEW).get_data(as_text=True)


def test_the_language_switch_never_sends_the_browser_off_the_site(browser):
    assert browser.get("/language/en?next=//evil.example/").headers["Location"] == "/"


def test_used_form_tokens_are_forgotten_after_two_days(seller_browser, seller, session):
    seller_browser.send(NEW, APPLES)
    assert session.scalar(select(func.count()).select_from(FormSubmission)) == 1

    assert forget_form_tokens(now=utcnow() + FORM_TOKEN_TTL - timedelta(minutes=1)) == 0
    assert forget_form_tokens(now=utcnow() + FORM_TOKEN_TTL + timedelta(minutes=1)) == 1
    assert session.scalar(select(func.count()).select_from(FormSubmission)) == 0


def test_finishing_a_draft_from_a_stale_page_is_refused_then_applies_once_sent_again(seller_browser, seller, session):
    seller_browser.send(NEW, {**APPLES, "action": "draft"})
    [draft] = products_of(session, seller)
    edit = f"/sell/products/{draft.id}/edit"
    stale = seller_browser.hidden_fields(edit)
    seller_browser.send(edit, {**APPLES, "price": "60", "action": "draft"})

    response = seller_browser.client.post(edit, data={**stale, **APPLES, "price": "55", "action": "draft"},
                                          content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "这个商品刚在别处被改过" in page and value_of(page, "price") == "55"
    assert products_of(session, seller)[0].price_fen == 6000

    fresh = {**seller_browser.hidden_fields(edit), "version": re.search(
        r'name="version" type="hidden" value="(\d+)"', page).group(1), "form_token": stale["form_token"]}
    again = seller_browser.client.post(edit, data={**fresh, **APPLES, "price": "55", "action": "draft"},
                                       content_type="multipart/form-data")
    assert again.status_code == 302
    assert products_of(session, seller)[0].price_fen == 5500


def test_a_ship_form_sent_after_the_sign_in_ran_out_returns_to_the_orders_page(seller_browser, seller, build, session,
                                                                               app):
    order = build.pay(build.checkout(products=[build.product(seller)])).orders[0]
    session.commit()
    form = seller_browser.hidden_fields("/sell/orders")
    expire_sign_in(seller_browser.client, app.config["SIGN_IN_HOURS"] + 1)
    response = seller_browser.client.post(f"/sell/orders/{order.id}/ship", data={**form, "carrier": "顺丰"},
                                          headers={"Referer": "http://localhost/sell/orders"})
    assert response.headers["Location"] == "/login?next=/sell/orders"


@pytest.mark.parametrize(("number", "shown"), [("0", 1), ("-3", 1), ("x", 1), ("1.5", 1), ("", 1), ("2", 2),
                                               ("3", 2), ("99999999", 2)])
def test_any_page_number_of_my_products_shows_a_page(seller_browser, seller, build, session, number, shown):
    """Not a number or below 1: the first page; past the last: the last."""
    ids = sorted((build.product(seller).id for _ in range(21)), reverse=True)
    session.commit()

    response = seller_browser.get("/sell/", query_string={"page": number})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert shown_products(page) == (ids[:20] if shown == 1 else ids[20:])
    assert f"第 {shown} 页，共 2 页" in page


@pytest.mark.parametrize("path", ["/sell/products/99999999999/price", "/sell/products/99999999999/edit",
                                  "/sell/products/0/price"])
def test_an_id_beyond_any_listing_is_not_found(seller_browser, path):
    assert seller_browser.get(path, headers={"Accept": "text/html"}).status_code == 404


@pytest.mark.parametrize("token", ["", "x" * 500, "短", "a b c d e f g h i j k l"])
def test_a_form_token_the_site_did_not_draw_makes_that_send_act_alone(seller_browser, seller, session, token):
    for _ in range(2):
        response = seller_browser.send(NEW, {**APPLES, "form_token": token})
        assert response.status_code == 302
    assert len(products_of(session, seller)) == 2


def shown_products(page: str) -> list[int]:
    return [int(ident) for ident in re.findall(r'<li class="card" id="product-(\d+)"', page)]


def test_my_products_page_by_20_newest_first_with_older_and_newer_links(seller_browser, seller, build, session):
    ids = [build.product(seller).id for _ in range(45)]
    session.commit()
    newest_first = sorted(ids, reverse=True)

    first = seller_browser.get("/sell/").get_data(as_text=True)
    middle = seller_browser.get("/sell/?page=2").get_data(as_text=True)
    last = seller_browser.get("/sell/?page=3").get_data(as_text=True)

    assert [shown_products(first), shown_products(middle), shown_products(last)] == [
        newest_first[:20], newest_first[20:40], newest_first[40:]]
    assert "第 1 页，共 3 页" in first and 'rel="next" href="/sell/?page=2"' in first and 'rel="prev"' not in first
    assert 'rel="prev" href="/sell/?page=1"' in middle and 'rel="next" href="/sell/?page=3"' in middle
    assert "第 3 页，共 3 页" in last and 'rel="prev" href="/sell/?page=2"' in last and 'rel="next"' not in last


def test_one_page_of_products_has_no_page_links(seller_browser, seller, build, session):
    ids = [build.product(seller).id for _ in range(20)]
    session.commit()

    alone = seller_browser.get("/sell/").get_data(as_text=True)

    assert shown_products(alone) == sorted(ids, reverse=True)
    assert "共 1 页" not in alone and 'rel="next"' not in alone and 'rel="prev"' not in alone
