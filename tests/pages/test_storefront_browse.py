"""The storefront (/, /products, /products/<id>) without a browser's script: the home page's
sections, search, filters and sort with paging that keeps them, cards with their photo, price,
origin and poverty badge, the product page's stock state and add-to-cart form, 404s, bad filter
values answered with a 400 beside the filter, and the HTTP caching of public pages."""
import html
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.catalog.models import ProductImage
from marketplace.common.time import business_day, utcnow
from marketplace.extensions import db
from marketplace.web import storefront_cache

HTML = {"Accept": "text/html"}


@pytest.fixture(autouse=True)
def _no_cached_pages():
    storefront_cache.forget_pages()
    yield
    storefront_cache.forget_pages()


@pytest.fixture
def market(build, session):
    """A poverty county that exited in 2020 (乌什县) and an ordinary one (阿克苏市) in Xinjiang, one
    in Shaanxi, and a seller in each."""
    build.county("652927", "乌什县", is_national_poverty_county=True, poverty_exit_year=2020)
    build.county("652901", "阿克苏市")
    build.county("610582", "华阴市")
    sellers = {"wushi": build.user("seller", county="652927", display_name="阿依古丽"),
               "aksu": build.user("seller", county="652901", display_name="买买提"),
               "huayin": build.user("seller", county="610582", display_name="王小明")}
    session.commit()
    return sellers


@pytest.fixture
def english(client):
    """The test client of a reader who chose English (the language cookie)."""
    client.set_cookie("lang", "en")
    return client


def ids_on(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<li class="product" id="product-(\d+)"', page)]


def text_of(response) -> str:
    return response.get_data(as_text=True)


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>([^<]*)', page)
    return html.unescape(match.group(1)).strip() if match else None


def with_photo(product):
    db.session.add(ProductImage(product=product, position=1, image_key="aa/bb/apple.jpg",
                                thumbnail_key="aa/bb/apple-400.jpg", width=1600, height=1200))
    db.session.flush()
    return product


# ---------------------------------------------------------------- home


def test_home_shows_kinds_search_poverty_listings_first_and_this_seasons_produce(client, build, market):
    today = business_day(utcnow())
    poverty = build.product(market["wushi"], title="乌什核桃", harvest_date=today - timedelta(days=400))
    fresh = build.product(market["aksu"], title="阿克苏苹果", harvest_date=today - timedelta(days=10))
    older = build.product(market["huayin"], title="华阴山核桃", harvest_date=today - timedelta(days=50))
    stale = build.product(market["aksu"], title="去年的红枣", harvest_date=today - timedelta(days=200))
    build.product(market["wushi"], title="卖完的核桃", stock_units=0)

    response = client.get("/", headers=HTML)
    page = text_of(response)

    assert response.status_code == 200
    assert re.search(r'<form method="get" action="/products"[^>]*role="search"', page)
    assert re.findall(r'data-category="([a-z_]+)"', page)[:3] == ["fruit", "nuts", "dried_fruit"]
    poverty_section = page.split('id="poverty-listings"')[1].split("</section>")[0]
    season_section = page.split('id="season-listings"')[1].split("</section>")[0]
    assert page.index('id="poverty-listings"') < page.index('id="season-listings"')
    assert ids_on(poverty_section) == [poverty.id]
    assert ids_on(season_section) == [fresh.id, older.id]  # newest harvest first, last 90 days only
    assert stale.id not in ids_on(page)


def test_home_for_english_readers_names_the_kinds_in_english(english, market):
    page = text_of(english.get("/", headers=HTML))
    assert ">Fruit</a>" in page and ">Nuts</a>" in page and 'lang="en"' in page


# ---------------------------------------------------------------- search, filters, sort


def test_search_by_a_word_of_the_title_finds_it_in_chinese(client, build, market):
    walnuts = build.product(market["wushi"], title="乌什薄皮核桃")
    build.product(market["aksu"], title="冰糖心苹果")

    page = text_of(client.get("/products?q=核桃", headers=HTML))

    assert ids_on(page) == [walnuts.id]
    assert 'value="核桃"' in page  # what was typed stays in the box


def test_search_wildcards_are_taken_literally(client, build, market):
    build.product(market["wushi"], title="乌什薄皮核桃")
    assert ids_on(text_of(client.get("/products?q=%25", headers=HTML))) == []


def test_filters_by_category_province_poverty_and_price_in_yuan(client, build, market):
    walnuts = build.product(market["wushi"], title="乌什核桃", category="nuts", price_fen=3000)
    apples = build.product(market["aksu"], title="阿克苏苹果", category="fruit", price_fen=1250)
    dear_apples = build.product(market["aksu"], title="礼盒苹果", category="fruit", price_fen=9900)
    huayin = build.product(market["huayin"], title="华阴山核桃", category="nuts", price_fen=4000)

    def shown(query: str) -> set[int]:
        response = client.get(f"/products?{query}", headers=HTML)
        assert response.status_code == 200, query
        return set(ids_on(text_of(response)))

    assert shown("category=nuts") == {walnuts.id, huayin.id}
    assert shown("province=650000") == {walnuts.id, apples.id, dear_apples.id}
    assert shown("poverty_only=y") == {walnuts.id}
    assert shown("min_price=12.5&max_price=40") == {walnuts.id, apples.id, huayin.id}
    assert shown("category=fruit&max_price=99") == {apples.id, dear_apples.id}
    assert shown("province=650000&category=nuts&poverty_only=y&min_price=") == {walnuts.id}


def test_sort_by_price_either_way_and_best_selling(client, build, market):
    cheap = build.product(market["aksu"], price_fen=500)
    middle = build.product(market["aksu"], price_fen=1500, units_sold=9)
    dear = build.product(market["aksu"], price_fen=9000, units_sold=2)

    assert ids_on(text_of(client.get("/products?sort=price_asc", headers=HTML))) == [cheap.id, middle.id, dear.id]
    assert ids_on(text_of(client.get("/products?sort=price_desc", headers=HTML))) == [dear.id, middle.id, cheap.id]
    assert ids_on(text_of(client.get("/products?sort=best_selling", headers=HTML)))[:2] == [middle.id, dear.id]
    assert ids_on(text_of(client.get("/products", headers=HTML))) == [dear.id, middle.id, cheap.id]  # newest first


def test_the_next_page_link_keeps_the_search_filters_and_sort(client, build, market):
    nuts = [build.product(market["wushi"], title=f"乌什核桃 {n}", category="nuts", price_fen=1000 + n)
            for n in range(23)]
    build.product(market["wushi"], title="乌什核桃 贵", category="nuts", price_fen=90000)
    build.product(market["wushi"], title="乌什苹果", category="fruit", price_fen=1001)

    first = text_of(client.get("/products?q=核桃&category=nuts&max_price=100&sort=price_asc&poverty_only=y",
                               headers=HTML))
    link = html.unescape(re.search(r'<a class="button secondary" href="([^"]+)" id="next-page"', first).group(1))
    kept = parse_qs(urlsplit(link).query)
    second = text_of(client.get(link, headers=HTML))

    assert ids_on(first) == [product.id for product in nuts[:20]]
    assert {key: values[0] for key, values in kept.items() if key != "cursor"} == {
        "q": "核桃", "category": "nuts", "max_price": "100", "sort": "price_asc", "poverty_only": "y"}
    assert ids_on(second) == [product.id for product in nuts[20:]]
    assert 'id="next-page"' not in second and 'id="first-page"' in second


# ---------------------------------------------------------------- bad filter values


@pytest.mark.parametrize(("query", "field"), [
    ("min_price=abc", "min_price"), ("max_price=1.234", "max_price"), ("min_price=-5", "min_price"),
    ("min_price=50&max_price=10", "max_price"), ("category=shoes", "category"), ("province=999999", "province"),
    ("sort=cheapest", "sort"), (f"q={'长' * 51}", "q"), ("q=a%00b", "q"),
])
def test_a_bad_filter_value_is_a_400_with_the_message_beside_that_filter(english, build, market, query, field):
    build.product(market["aksu"])

    response = english.get(f"/products?{query}", headers=HTML)
    page = text_of(response)

    assert response.status_code == 400
    assert field_error(page, field)
    assert ids_on(page) == []
    assert "Cache-Control" not in response.headers or "public" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("cursor", ["bm90LWEtY3Vyc29y", "!!!", "WyJwcmljZV9hc2MiLDEsMV0", "x" * 201])
def test_a_tampered_cursor_is_a_400_that_offers_the_first_page(english, build, market, cursor):
    build.product(market["aksu"])

    response = english.get(f"/products?cursor={cursor}", headers=HTML)
    page = text_of(response)

    assert response.status_code == 400
    assert 'id="cursor-error"' in page and 'href="/products"' in page


# ---------------------------------------------------------------- cards


def test_a_card_has_a_lazy_thumbnail_with_the_display_photo_in_srcset_price_origin_badge_and_harvest(
        client, build, market):
    today = business_day(utcnow())
    walnuts = with_photo(build.product(market["wushi"], title="乌什核桃", price_fen=6850, unit="bag",
                                       net_weight_grams=2500, harvest_date=today))
    apples = build.product(market["aksu"], title="阿克苏苹果")

    page = text_of(client.get("/products", headers=HTML))
    walnut_card = page.split(f'id="product-{walnuts.id}"')[1].split("</li>")[0]
    apple_card = page.split(f'id="product-{apples.id}"')[1].split("</li>")[0]

    image = re.search(r"<img[^>]*>", walnut_card).group(0)
    assert 'src="/media/aa/bb/apple-400.jpg"' in image and 'loading="lazy"' in image
    assert re.search(r'srcset="/media/aa/bb/apple-400.jpg 400w, /media/aa/bb/apple.jpg 1600w"', image)
    assert "¥68.50" in walnut_card and f'href="/products/{walnuts.id}"' in walnut_card
    assert "乌什县" in walnut_card and 'data-poverty-exit-year="2020"' in walnut_card
    assert today.isoformat() in walnut_card
    assert "<img" not in apple_card and "阿克苏市" in apple_card and "badge poverty" not in apple_card


def test_the_poverty_badge_says_exited_with_the_year(english, build, market):
    build.product(market["wushi"])
    page = text_of(english.get("/products", headers=HTML))
    assert "Exited poverty in 2020" in page


def test_a_sold_out_listing_is_marked_on_its_card(client, build, market):
    gone = build.product(market["aksu"], stock_units=0)
    card = text_of(client.get("/products", headers=HTML)).split(f'id="product-{gone.id}"')[1].split("</li>")[0]
    assert "status-sold_out" in card


# ---------------------------------------------------------------- product page


def test_the_product_page_shows_what_a_buyer_needs_and_the_add_to_cart_form(client, build, market, session):
    village = build.village("652927", "英阿瓦提村")
    walnuts = with_photo(build.product(market["wushi"], title="乌什核桃", unit="bag", net_weight_grams=2500,
                                       price_fen=6800, stock_units=40, min_order_units=2, description="薄皮，好剥",
                                       origin_village_id=village.id, harvest_date=business_day(utcnow())))
    more = build.product(market["wushi"], title="乌什红枣")
    build.product(market["aksu"], title="别人的苹果")
    market["wushi"].seller_verified_at = utcnow()
    session.commit()

    response = client.get(f"/products/{walnuts.id}", headers=HTML)
    page = text_of(response)

    assert response.status_code == 200
    assert 'data-stock-state="in_stock"' in page
    assert "¥68.00" in page and "2,500" in page and 'id="min-order">2 ' in page
    assert "薄皮，好剥" in page and "英阿瓦提村" in page and "乌什县" in page and 'data-poverty-exit-year="2020"' in page
    assert "阿依古丽" in page and 'data-verified="true"' in page
    assert re.search(r'srcset="/media/aa/bb/apple-400.jpg 400w, /media/aa/bb/apple.jpg 1600w"', page)
    trace = re.search(r'href="/trace/([0-9a-f-]{36})" id="trace-link"', page).group(1)
    assert trace == str(walnuts.trace_token)
    assert ids_on(page.split('id="seller-listings"')[1]) == [more.id]

    form = re.search(r'<form method="post" action="/cart/add"[^>]*>(.*?)</form>', page, re.S).group(1)
    assert re.search(rf'<input type="hidden" name="product_id" value="{walnuts.id}">', form)
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]{20,}">', form)
    assert re.search(r'<input type="number" id="quantity" name="quantity" value="2" min="2" max="40"', form)
    assert 'id="add-to-cart"' in form


def test_an_unverified_seller_is_named_as_not_verified(client, build, market):
    product = build.product(market["aksu"])
    assert 'data-verified="false"' in text_of(client.get(f"/products/{product.id}", headers=HTML))


@pytest.mark.parametrize(("stock_units", "state", "can_add"), [
    (11, "in_stock", True), (10, "few_left", True), (1, "few_left", True), (0, "sold_out", False)])
def test_the_stock_state_is_in_stock_few_left_or_sold_out(client, build, market, stock_units, state, can_add):
    product = build.product(market["aksu"], stock_units=stock_units)

    page = text_of(client.get(f"/products/{product.id}", headers=HTML))

    assert f'data-stock-state="{state}"' in page
    assert ('id="add-to-cart"' in page) is can_add


@pytest.mark.parametrize("path", ["/products/{missing}", "/products/99999999999", "/products/2147483648",
                                  "/products/0", "/products/-1", "/products/abc", "/products/１２",
                                  "/products/{paused}", "/products/{draft}"])
def test_a_product_that_is_not_on_sale_or_not_a_product_is_a_404_page(client, build, market, path):
    paused = build.product(market["aksu"], status="paused")
    draft = build.product(market["aksu"], status="draft")
    path = path.format(missing=draft.id + 1000, paused=paused.id, draft=draft.id)

    response = client.get(path, headers=HTML)

    assert response.status_code == 404
    assert response.mimetype == "text/html" and "<h1>" in text_of(response)


# ---------------------------------------------------------------- HTTP caching


def test_anonymous_home_and_list_are_public_for_30_s_and_revalidate_with_304(client, build, market):
    build.product(market["aksu"])
    for path in ("/", "/products?category=fruit"):
        response = client.get(path, headers=HTML)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=30"
        assert "Cookie" in response.headers["Vary"]
        assert response.headers["ETag"] and response.headers["Last-Modified"]
        assert "Set-Cookie" not in response.headers  # no session is made for a page without a form

        again = client.get(path, headers={**HTML, "If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b""
        assert again.headers["ETag"] == response.headers["ETag"]

        since = client.get(path, headers={**HTML, "If-Modified-Since": response.headers["Last-Modified"]})
        assert since.status_code == 304


def test_the_etag_changes_with_the_listing_and_the_language(client, build, market, session):
    product = build.product(market["aksu"], price_fen=1000)
    first = client.get("/products", headers=HTML).headers["ETag"]
    client.set_cookie("lang", "en")
    english = client.get("/products", headers=HTML).headers["ETag"]
    client.delete_cookie("lang")
    product.price_fen = 1100
    session.commit()

    response = client.get("/products", headers={**HTML, "If-None-Match": first})

    assert english != first
    assert response.status_code == 200 and "¥11.00" in text_of(response)


def test_a_product_page_is_private_and_revalidates_only_for_the_same_session(app, build, market):
    product = build.product(market["aksu"])
    visitor, other = app.test_client(), app.test_client()

    response = visitor.get(f"/products/{product.id}", headers=HTML)
    etag = response.headers["ETag"]

    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Cookie" in response.headers["Vary"] and response.headers["Last-Modified"]
    assert visitor.get(f"/products/{product.id}", headers={**HTML, "If-None-Match": etag}).status_code == 304
    assert other.get(f"/products/{product.id}", headers={**HTML, "If-None-Match": etag}).status_code == 200


def test_signed_in_readers_get_private_pages_with_their_menu(browser, build, market):
    buyer = build.user("buyer", display_name="赵六")
    db.session.commit()
    browser.log_in(buyer)

    response = browser.get("/", headers=HTML)

    assert response.headers["Cache-Control"] == "private, no-cache"
    assert 'action="/logout"' in text_of(response) and 'id="signed-in"' in text_of(response)


def test_cached_pages_give_each_visitor_their_own_csrf_token_and_never_a_signed_in_menu(
        app, build, market, browser, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_CACHE_SECONDS", 60)
    product = build.product(market["aksu"])
    buyer = build.user("buyer")
    db.session.commit()
    first, second = app.test_client(), app.test_client()

    def token(client) -> str:
        page = text_of(client.get(f"/products/{product.id}", headers=HTML))
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    one, two = token(first), token(second)
    browser.log_in(buyer)
    signed_in = text_of(browser.get(f"/products/{product.id}", headers=HTML))
    after = text_of(app.test_client().get(f"/products/{product.id}", headers=HTML))

    assert one != two
    assert 'action="/logout"' in signed_in
    assert 'action="/logout"' not in after
    # Each token is the one of its own session: it is accepted from that session only.
    assert first.post("/logout", data={"csrf_token": one}).status_code == 302
    assert first.post("/logout", data={"csrf_token": two}).status_code == 400


def test_the_short_cache_shows_a_change_once_it_expires(app, build, market, session, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_CACHE_SECONDS", 60)
    product = build.product(market["aksu"], price_fen=1000)
    client = app.test_client()
    assert "¥10.00" in text_of(client.get(f"/products/{product.id}", headers=HTML))
    product.price_fen = 1200
    session.commit()

    cached = text_of(client.get(f"/products/{product.id}", headers=HTML))
    storefront_cache.forget_pages()  # as the seconds running out do
    fresh = text_of(client.get(f"/products/{product.id}", headers=HTML))

    assert "¥10.00" in cached and "¥12.00" in fresh


def test_every_worker_names_the_same_page_with_the_same_etag(app, build, market, monkeypatch):
    """Each worker process draws its own CSRF placeholder; the ETag must not depend on it, or a
    revalidation reaching another worker would never be a 304."""
    product = build.product(market["aksu"])
    visitor = app.test_client()
    etag = visitor.get(f"/products/{product.id}", headers=HTML).headers["ETag"]
    monkeypatch.setattr(storefront_cache, "CSRF_PLACEHOLDER", "csrf-another-worker")

    again = visitor.get(f"/products/{product.id}", headers={**HTML, "If-None-Match": etag})

    assert again.status_code == 304


def test_an_expired_page_is_drawn_again_only_when_what_it_shows_changed(app, build, market, session, monkeypatch):
    monkeypatch.setitem(app.config, "STOREFRONT_CACHE_SECONDS", 0.05)
    product = build.product(market["aksu"], price_fen=1000)
    client = app.test_client()
    drawn = client.get(f"/products/{product.id}", headers=HTML)
    time.sleep(0.1)

    kept = client.get(f"/products/{product.id}", headers=HTML)
    product.price_fen = 1300
    session.commit()
    time.sleep(0.1)
    changed = client.get(f"/products/{product.id}", headers=HTML)

    assert kept.headers["ETag"] == drawn.headers["ETag"] and "¥10.00" in text_of(kept)
    assert changed.headers["ETag"] != drawn.headers["ETag"] and "¥13.00" in text_of(changed)
