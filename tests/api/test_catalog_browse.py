"""The public catalog: search, filters, sorts, pagination, visibility, detail and conditional GET."""
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from marketplace.catalog.models import Product, ProductImage
from marketplace.catalog.taxonomy import Category
from marketplace.extensions import db

PRODUCTS = "/api/v1/products"
T0 = datetime(2025, 10, 1, 8, 0, tzinfo=UTC)


def browse(client, **query) -> dict:
    response = client.get(PRODUCTS, query_string={"limit": 100, **query})
    assert response.status_code == 200, response.json
    return response.json


def browsed_ids(client, **query) -> list[int]:
    page = browse(client, **query)
    assert page["next_cursor"] is None, "test data fits on one page"
    return [item["id"] for item in page["items"]]


def all_pages(client, **query) -> list[dict]:
    """Follow next_cursor until the last page."""
    pages = [client.get(PRODUCTS, query_string=query).json]
    while pages[-1]["next_cursor"]:
        pages.append(client.get(PRODUCTS, query_string={**query, "cursor": pages[-1]["next_cursor"]}).json)
    return pages


def bearer(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    return response.json["error"]


@pytest.fixture
def counties(build) -> dict[str, str]:
    """Counties with every combination of flags, in three provinces."""
    build.county("652927", name="乌什县", is_national_poverty_county=True, is_demonstration_county=True)
    build.county("652901", name="阿克苏市")
    build.county("522633", name="从江县", is_national_poverty_county=True)
    build.county("451027", name="凌云县", is_demonstration_county=True)
    return {"both": "652927", "neither": "652901", "poverty": "522633", "demonstration": "451027"}


@pytest.fixture
def seller_in(build, counties):
    """A seller from one of the counties."""
    made = {}

    def seller(kind: str):
        if kind not in made:
            made[kind] = build.user("seller", county=counties[kind])
        return made[kind]

    return seller


@pytest.fixture
def one_per_county(build, seller_in) -> dict[str, int]:
    return {kind: build.product(seller=seller_in(kind)).id for kind in ("both", "neither", "poverty", "demonstration")}


# ---------------------------------------------------------------- visibility

def test_only_active_listings_are_public_including_sold_out_ones(client, build, seller_in):
    seller = seller_in("both")
    active = build.product(seller=seller).id
    sold_out = build.product(seller=seller, stock_units=0).id
    for status in ("draft", "pending_review", "paused", "rejected"):
        build.product(seller=seller, status=status)

    page = browse(client)

    assert {item["id"]: item["status"] for item in page["items"]} == {active: "active", sold_out: "sold_out"}
    assert len(page["items"]) == 2


@pytest.mark.parametrize("status", ["draft", "pending_review", "paused", "rejected"])
def test_listing_not_on_sale_is_404_to_the_public_and_other_sellers(client, build, seller_in, status):
    product = build.product(seller=seller_in("both"), status=status)

    assert_error(client.get(f"{PRODUCTS}/{product.id}"), 404, "product_not_found")
    assert_error(client.get(f"{PRODUCTS}/{product.id}", headers=build.headers("seller")), 404, "product_not_found")
    assert_error(client.get(f"{PRODUCTS}/{product.id}", headers=build.headers("buyer")), 404, "product_not_found")


@pytest.mark.parametrize("status", ["draft", "pending_review", "paused", "rejected"])
def test_listing_not_on_sale_is_visible_to_its_owner_and_admins(client, build, seller_in, status):
    seller = seller_in("both")
    product = build.product(seller=seller, status=status)

    for headers in (bearer(build, seller), build.headers("admin")):
        response = client.get(f"{PRODUCTS}/{product.id}", headers=headers)
        assert response.status_code == 200, response.json
        assert response.json["status"] == status


def test_sold_out_listing_detail_is_public(client, build, seller_in):
    product = build.product(seller=seller_in("both"), stock_units=0)

    response = client.get(f"{PRODUCTS}/{product.id}")

    assert (response.status_code, response.json["status"], response.json["stock_units"]) == (200, "sold_out", 0)


def test_invalid_token_on_a_public_read_is_401_not_anonymous(client, build, seller_in):
    product = build.product(seller=seller_in("both"))

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"Authorization": "Bearer forged"})

    assert_error(response, 401, "invalid_token")


# ---------------------------------------------------------------- detail

def test_detail_shows_seller_origin_and_photos(client, build, counties):
    seller = build.user("seller", county=counties["both"], display_name="买买提·艾力")
    village = build.village(counties["both"], name="英阿瓦提村")
    product = build.product(seller=seller, title="乌什核桃", category="nuts", unit="bag", net_weight_grams=2500,
                            price_fen=6800, stock_units=40, min_order_units=2, ships_within_days=5,
                            origin_village_id=village.id, harvest_date=date(2025, 9, 20), description="薄皮核桃")
    for position, name in ((1, "front"), (2, "back")):
        db.session.add(ProductImage(product=product, position=position, image_key=f"ab/cd/{name}.jpg",
                                    thumbnail_key=f"ab/cd/{name}-thumb.jpg", width=1600, height=1200))
    db.session.flush()

    response = client.get(f"{PRODUCTS}/{product.id}")

    assert response.status_code == 200, response.json
    detail = response.json
    assert {k: detail[k] for k in ("title", "description", "category", "unit", "net_weight_grams", "price_fen",
                                   "stock_units", "min_order_units", "ships_within_days", "harvest_date", "status",
                                   "seller_name", "seller_user_id")} == {
        "title": "乌什核桃", "description": "薄皮核桃", "category": "nuts", "unit": "bag", "net_weight_grams": 2500,
        "price_fen": 6800, "stock_units": 40, "min_order_units": 2, "ships_within_days": 5,
        "harvest_date": "2025-09-20", "status": "active", "seller_name": "买买提·艾力", "seller_user_id": seller.id,
    }
    assert detail["origin"] == {
        "county_adcode": "652927", "county_name": "乌什县", "province_name": "新疆维吾尔自治区",
        "is_national_poverty_county": True, "poverty_exit_year": None, "is_demonstration_county": True,
        "village_id": village.id, "village_name": "英阿瓦提村",
    }
    assert [(i["position"], i["url"], i["thumbnail_url"]) for i in detail["images"]] == [
        (1, "/media/ab/cd/front.jpg", "/media/ab/cd/front-thumb.jpg"),
        (2, "/media/ab/cd/back.jpg", "/media/ab/cd/back-thumb.jpg"),
    ]
    assert detail["thumbnail_url"] == "/media/ab/cd/front-thumb.jpg"
    assert response.headers["ETag"] == '"v1-s40"'


def test_catalog_items_carry_the_summary_fields(client, build, counties):
    seller = build.user("seller", county=counties["poverty"], display_name="吴秀英")
    product = build.product(seller=seller, title="从江香猪", category="meat_eggs", price_fen=8800)

    [item] = browse(client)["items"]

    assert item["id"] == product.id
    assert (item["title"], item["category"], item["price_fen"], item["seller_name"]) == ("从江香猪", "meat_eggs", 8800, "吴秀英")
    assert (item["origin"]["county_name"], item["origin"]["province_name"]) == ("从江县", "贵州省")
    assert item["origin"]["is_national_poverty_county"] is True
    assert item["thumbnail_url"] is None
    assert item["created_at"].endswith(("Z", "+00:00"))


def test_unknown_product_is_404(client):
    assert_error(client.get(f"{PRODUCTS}/424242"), 404, "product_not_found")


# ---------------------------------------------------------------- conditional GET

def test_matching_if_none_match_is_304_without_a_body(client, build, seller_in):
    product = build.product(seller=seller_in("both"))
    etag = client.get(f"{PRODUCTS}/{product.id}").headers["ETag"]

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    assert response.get_data() == b""


def test_if_none_match_listing_several_etags_is_304_when_one_matches(client, build, seller_in):
    product = build.product(seller=seller_in("both"))

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": f'"v0-s1", {product.etag}'})

    assert response.status_code == 304


@pytest.mark.parametrize("if_none_match", ["W/{etag}", "*"], ids=["weak_form", "star"])
def test_if_none_match_uses_weak_comparison(client, build, seller_in, if_none_match):
    # Proxies that gzip responses turn "v1-s100" into W/"v1-s100"; the browser sends that back.
    product = build.product(seller=seller_in("both"))

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": if_none_match.format(etag=product.etag)})

    assert response.status_code == 304


def test_head_with_matching_if_none_match_is_304(client, build, seller_in):
    product = build.product(seller=seller_in("both"))

    assert client.head(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": product.etag}).status_code == 304
    assert client.head(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": '"v9"'}).status_code == 200


@pytest.mark.parametrize("change", ["edit", "stock"])
def test_changed_listing_is_sent_again_with_a_new_etag(client, build, seller_in, change):
    seller = seller_in("both")
    product = build.product(seller=seller)
    old_etag = product.etag
    headers = bearer(build, seller)
    if change == "edit":
        client.patch(f"{PRODUCTS}/{product.id}", json={"price_fen": 990}, headers=headers | {"If-Match": old_etag})
    else:
        client.post(f"{PRODUCTS}/{product.id}/stock-adjustments", json={"delta": -1}, headers=headers)

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": old_etag})

    assert response.status_code == 200
    assert response.headers["ETag"] not in (old_etag, None)
    assert response.json["version"] == product.version


def test_if_none_match_does_not_reveal_a_hidden_listing(client, build, seller_in):
    product = build.product(seller=seller_in("both"), status="paused")

    response = client.get(f"{PRODUCTS}/{product.id}", headers={"If-None-Match": product.etag})

    assert_error(response, 404, "product_not_found")


# ---------------------------------------------------------------- search

def test_search_finds_chinese_substrings(client, build, seller_in):
    seller = seller_in("both")
    apples = build.product(seller=seller, title="阿克苏冰糖心苹果").id
    build.product(seller=seller, title="若羌灰枣")
    walnut = build.product(seller=seller, title="乌什薄皮核桃，冰糖心口感").id

    assert sorted(browsed_ids(client, q="冰糖心")) == sorted([apples, walnut])
    assert browsed_ids(client, q="灰枣") != []
    assert browsed_ids(client, q="榴莲") == []


def test_search_ignores_latin_case(client, build, seller_in):
    honey = build.product(seller=seller_in("both"), title="Organic Wild HONEY 野生蜂蜜").id

    assert browsed_ids(client, q="honey") == [honey]
    assert browsed_ids(client, q="wild honey") == [honey]
    # A word without cased letters is matched exactly (LIKE), in a title with cased letters too;
    # a word too short for the trigram index (strpos) ignores case as well.
    assert browsed_ids(client, q="野生蜂蜜") == [honey]
    assert browsed_ids(client, q="honey 野生") == [honey]
    assert browsed_ids(client, q="hO") == [honey]
    assert browsed_ids(client, q="蜂蜜") == [honey]


def test_a_word_too_short_for_the_trigram_index_is_searched_with_a_plan_postgresql_keeps(client, build, seller_in):
    walnut = build.product(seller=seller_in("both"), title="乌什薄皮核桃").id
    # psycopg prepares a statement on its 5th run; PostgreSQL plans the first 5 runs of a prepared
    # statement for their values, then keeps a generic plan if it costs no more.
    for _ in range(12):
        assert browsed_ids(client, q="核桃") == [walnut]

    plans = db.session.execute(text("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                    "WHERE statement LIKE '%strpos(p.title%'")).all()
    assert len(plans) == 1 and plans[0].generic_plans >= 1


@pytest.mark.parametrize("query, expected", [
    ("%", {"100%纯蜂蜜"}), ("100%", {"100%纯蜂蜜"}), ("_", {"礼盒_A款"}), ("盒_A", {"礼盒_A款"}),
    ("\\", {"路径\\符号"}), ("1000", {"1000克纯蜂蜜"}),
])
def test_search_treats_wildcard_characters_literally(client, build, seller_in, query, expected):
    seller = seller_in("both")
    for title in ("100%纯蜂蜜", "1000克纯蜂蜜", "礼盒_A款", "礼盒BA款", "路径\\符号"):
        build.product(seller=seller, title=title)

    titles = {item["title"] for item in browse(client, q=query)["items"]}

    assert titles == expected


def test_search_only_covers_listings_on_sale(client, build, seller_in):
    build.product(seller=seller_in("both"), title="草稿红枣", status="draft")

    assert browsed_ids(client, q="红枣") == []


# ---------------------------------------------------------------- filters

def test_filter_by_category(client, build, seller_in):
    seller = seller_in("both")
    nuts = build.product(seller=seller, category="nuts").id
    build.product(seller=seller, category="fruit")

    assert browsed_ids(client, category="nuts") == [nuts]
    assert browsed_ids(client, category="tea") == []
    assert_error(client.get(PRODUCTS, query_string={"category": "durian"}), 422, "validation_error")


def test_filter_by_county(client, one_per_county):
    assert browsed_ids(client, county="522633") == [one_per_county["poverty"]]
    assert browsed_ids(client, county="110101") == []


def test_filter_by_province(client, one_per_county):
    assert sorted(browsed_ids(client, province="650000")) == sorted([one_per_county["both"], one_per_county["neither"]])
    assert browsed_ids(client, province="450000") == [one_per_county["demonstration"]]
    assert browsed_ids(client, province="110000") == []


@pytest.mark.parametrize("query, kinds", [
    ({"poverty_only": "true"}, {"both", "poverty"}),
    ({"demonstration_only": "true"}, {"both", "demonstration"}),
    ({"poverty_only": "true", "demonstration_only": "true"}, {"both"}),
    ({"poverty_only": "true", "province": "520000"}, {"poverty"}),
    ({"poverty_only": "false"}, {"both", "neither", "poverty", "demonstration"}),
])
def test_filter_by_county_flags(client, one_per_county, query, kinds):
    assert sorted(browsed_ids(client, **query)) == sorted(one_per_county[k] for k in kinds)


def test_filter_by_price_range_includes_both_bounds(client, build, seller_in):
    seller = seller_in("both")
    by_price = {price: build.product(seller=seller, price_fen=price).id for price in (500, 1000, 1500, 2000)}

    assert sorted(browsed_ids(client, min_price_fen=1000, max_price_fen=1500)) == sorted([by_price[1000], by_price[1500]])
    assert sorted(browsed_ids(client, min_price_fen=1500)) == sorted([by_price[1500], by_price[2000]])
    assert sorted(browsed_ids(client, max_price_fen=500)) == [by_price[500]]
    assert browsed_ids(client, min_price_fen=1200, max_price_fen=1200) == []


def test_min_price_above_max_price_is_422(client):
    error = assert_error(client.get(PRODUCTS, query_string={"min_price_fen": 2000, "max_price_fen": 1000}),
                         422, "validation_error")
    assert "min_price_fen" in error["details"]["query"]


def test_in_stock_leaves_out_sold_out_listings(client, build, seller_in):
    seller = seller_in("both")
    available = build.product(seller=seller, stock_units=1).id
    sold_out = build.product(seller=seller, stock_units=0).id

    assert browsed_ids(client, in_stock="true") == [available]
    assert sorted(browsed_ids(client)) == sorted([available, sold_out])


def test_filters_combine(client, build, seller_in):
    poor = seller_in("poverty")
    wanted = build.product(seller=poor, category="grains_rice", title="从江香禾糯", price_fen=3000).id
    build.product(seller=poor, category="grains_rice", title="从江香禾糯（大包）", price_fen=9000)
    build.product(seller=poor, category="tea", title="从江香禾糯茶", price_fen=3000)
    build.product(seller=seller_in("neither"), category="grains_rice", title="阿克苏香禾糯", price_fen=3000)

    ids = browsed_ids(client, q="香禾糯", category="grains_rice", poverty_only="true", max_price_fen=5000, in_stock="true")

    assert ids == [wanted]


@pytest.mark.parametrize("query", [
    {"sort": "random"}, {"limit": 0}, {"limit": 101}, {"cursor": ""}, {"province": "新疆"}, {"county": "6529"},
    {"min_price_fen": -1}, {"min_price_fen": "¥10"}, {"max_price_fen": 1.5}, {"q": ""}, {"q": "长" * 51},
    {"poverty_only": "maybe"}, {"in_stock": "2"},
], ids=lambda query: "&".join(f"{k}={str(v)[:8]}" for k, v in query.items()))
def test_bad_query_parameters_are_422(client, query):
    error = assert_error(client.get(PRODUCTS, query_string=query), 422, "validation_error")
    assert set(error["details"]["query"]) == set(query)


# ---------------------------------------------------------------- sorting and pagination

@pytest.fixture
def priced(build, seller_in) -> dict[str, int]:
    """Four listings created an hour apart; two share a price so ties must be broken by id."""
    seller = seller_in("both")
    rows = [("oldest", 3000), ("older", 1000), ("newer", 2000), ("newest", 1000)]
    return {name: build.product(seller=seller, price_fen=price, created_at=T0 + timedelta(hours=n)).id
            for n, (name, price) in enumerate(rows)}


@pytest.mark.parametrize("sort, order", [
    (None, ["newest", "newer", "older", "oldest"]),
    ("newest", ["newest", "newer", "older", "oldest"]),
    ("price_asc", ["older", "newest", "newer", "oldest"]),
    ("price_desc", ["oldest", "newer", "newest", "older"]),
])
def test_sort_orders(client, priced, sort, order):
    query = {} if sort is None else {"sort": sort}

    assert browsed_ids(client, **query) == [priced[name] for name in order]


@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc"])
def test_pages_of_identical_listings_are_stable_disjoint_and_complete(client, build, seller_in, sort):
    seller = seller_in("both")
    # Same price and the same creation time: only a tie-breaker keeps the pages from overlapping.
    ids = [build.product(seller=seller, price_fen=1250, created_at=T0).id for _ in range(23)]
    build.product(seller=seller, status="draft", price_fen=1250, created_at=T0)

    pages = all_pages(client, sort=sort, limit=5)
    repeated = all_pages(client, sort=sort, limit=5)

    seen = [item["id"] for page in pages for item in page["items"]]
    assert [len(page["items"]) for page in pages] == [5, 5, 5, 5, 3]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 23
    assert pages == repeated
    assert seen == (sorted(ids) if sort == "price_asc" else sorted(ids, reverse=True))


def test_pages_stay_disjoint_when_listings_are_added_while_paging(client, build, seller_in):
    seller = seller_in("both")
    older = [build.product(seller=seller, created_at=T0 + timedelta(minutes=n)).id for n in range(6)]
    first = client.get(PRODUCTS, query_string={"limit": 3}).json
    build.product(seller=seller, created_at=T0 + timedelta(days=1))  # newer than everything: lands on page 1

    second = client.get(PRODUCTS, query_string={"limit": 3, "cursor": first["next_cursor"]}).json

    assert [i["id"] for i in first["items"] + second["items"]] == sorted(older, reverse=True)
    assert second["next_cursor"] is None


def test_a_cursor_alone_continues_its_listing_with_its_filters_and_sort(client, build, seller_in):
    seller = seller_in("both")
    cheap = [build.product(seller=seller, category=Category.FRUIT, price_fen=100 + n).id for n in range(5)]
    build.product(seller=seller, category=Category.GRAINS_RICE, price_fen=50)  # cheapest, but another category
    query = {"category": "fruit", "sort": "price_asc", "limit": 2}
    first = browse(client, **query)

    rest = all_pages(client, cursor=first["next_cursor"], limit=2)

    assert [i["id"] for page in [first, *rest] for i in page["items"]] == cheap
    assert rest[0] == browse(client, **query, cursor=first["next_cursor"])  # the same filters, given again


def test_a_cursor_with_other_filters_or_sort_is_refused_and_says_which(client, build, seller_in):
    for n in range(3):
        build.product(seller=seller_in("both"), price_fen=100 + n)
    cursor = browse(client, limit=1, poverty_only="true")["next_cursor"]

    for other in ({"sort": "price_asc"}, {"poverty_only": "false"}, {"category": "fruit"}, {"q": "苹果"}):
        body = assert_error(client.get(PRODUCTS, query_string={"cursor": cursor, **other}), 422, "invalid_cursor")
        assert body["message"].startswith("The cursor was made for another listing")
        assert set(body["details"]["differing"]) == set(other)
    browse(client, cursor=cursor, poverty_only="true", sort="newest", limit=5)  # the cursor's own: fine


def test_a_made_up_or_edited_cursor_is_refused(client, build, seller_in):
    for _ in range(3):
        build.product(seller=seller_in("both"))
    cursor = browse(client, limit=1)["next_cursor"]
    edited = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")

    for bad in ("bm90LWEtY3Vyc29y", edited):
        body = assert_error(client.get(PRODUCTS, query_string={"cursor": bad}), 422, "invalid_cursor")
        assert "not one this listing handed out" in body["message"]


def test_default_page_size_is_20(client, build, seller_in):
    for _ in range(21):
        build.product(seller=seller_in("both"))

    page = client.get(PRODUCTS).json

    assert (page["limit"], len(page["items"])) == (20, 20) and page["next_cursor"]


def test_list_items_are_exactly_what_the_summary_schema_dumps(app, client, build, seller_in):
    """The read side builds dicts by hand for speed; they must equal the schema's dump."""
    from marketplace.catalog.schemas import ProductOut, ProductSummaryOut

    village = build.village(seller_in("both").county_adcode)
    product = build.product(seller=seller_in("both"), origin_village_id=village.id, harvest_date=date(2026, 9, 1))
    db.session.add(ProductImage(product=product, position=1, image_key="aa/bb/big.jpg", thumbnail_key="aa/bb/small.jpg",
                                width=1600, height=1200))
    db.session.flush()

    item = browse(client)["items"][0]
    detail = client.get(f"{PRODUCTS}/{product.id}").json

    db.session.expire_all()
    with app.test_request_context():
        fresh = db.session.get(Product, product.id)
        assert item == ProductSummaryOut().dump(fresh)
        assert detail == ProductOut().dump(fresh)


# ---------------------------------------------------------------- categories

def test_categories_list_the_whole_taxonomy_with_both_labels(client):
    response = client.get("/api/v1/categories")

    assert response.status_code == 200
    by_code = {c["code"]: (c["label_zh"], c["label_en"]) for c in response.json}
    assert list(by_code) == [c.value for c in Category]
    assert by_code["fruit"] == ("水果", "Fruit")
    assert by_code["grains_rice"] == ("粮油米面", "Grains and rice")
    assert by_code["textiles_handicrafts"] == ("纺织手工", "Textiles and handicrafts")
    assert all(zh and en for zh, en in by_code.values())


def test_best_selling_ranks_by_units_in_live_orders(client, build, seller_in):
    seller = seller_in("both")
    slow, fast, returned = (build.product(seller=seller, stock_units=50) for _ in range(3))
    build.checkout(products=[fast], quantity=5)
    build.checkout(products=[slow], quantity=1)
    cancelled = build.checkout(products=[returned], quantity=9)
    order = cancelled.orders[0]
    client.post(f"/api/v1/orders/{order.id}/cancel", headers=bearer(build, db.session.get(type(seller), order.buyer_user_id)))

    ids = browsed_ids(client, sort="best_selling")

    assert ids == [fast.id, slow.id, returned.id]
    assert [db.session.get(Product, p.id).units_sold for p in (fast, slow, returned)] == [5, 1, 0]


def test_a_search_of_only_spaces_is_refused_not_read_as_everything(client):
    assert_error(client.get(PRODUCTS, query_string={"q": "   "}), 422, "validation_error")
