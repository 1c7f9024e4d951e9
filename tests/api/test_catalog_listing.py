"""Sellers' listings through the API: create, edit with If-Match, status moves, review, stock, bad input."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, update

from marketplace.catalog import services
from marketplace.catalog.models import Product, ProductImage, ProductReview
from marketplace.catalog.taxonomy import PRICE_FEN_MAX, STOCK_UNITS_MAX
from marketplace.common.time import utcnow
from marketplace.extensions import db

PRODUCTS = "/api/v1/products"


def listing_body(**overrides) -> dict:
    return {"title": "阿克苏冰糖心苹果", "category": "fruit", "unit": "jin", "price_fen": 1250, "stock_units": 100} | overrides


def bearer(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def verify(seller) -> None:
    seller.seller_verified_at = utcnow()
    db.session.flush()


def row_counts() -> dict[str, int]:
    return {m.__tablename__: db.session.scalar(select(db.func.count()).select_from(m))
            for m in (Product, ProductImage, ProductReview)}


def reviews_of(product_id: int) -> list[ProductReview]:
    return list(db.session.scalars(select(ProductReview).where(ProductReview.product_id == product_id)
                                   .order_by(ProductReview.id)))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def edit(client, product: Product, headers: dict, if_match: str | None = "current", **changes):
    """PATCH a listing; if_match "current" sends the listing's ETag as the test last saw it."""
    if if_match == "current":
        if_match = product.etag
    extra = {} if if_match is None else {"If-Match": if_match}
    return client.patch(f"{PRODUCTS}/{product.id}", json=changes, headers=headers | extra)


def act(client, product: Product, action: str, headers: dict, **body):
    return client.post(f"{PRODUCTS}/{product.id}/{action}", json=body or None, headers=headers)


def public_ids(client) -> list[int]:
    return [item["id"] for item in client.get(PRODUCTS, query_string={"limit": 100}).json["items"]]


@pytest.fixture
def seller(build):
    return build.user("seller", county="652927", display_name="阿依古丽")


@pytest.fixture
def as_seller(build, seller) -> dict:
    return bearer(build, seller)


@pytest.fixture
def admin(build):
    return build.user("admin")


@pytest.fixture
def as_admin(build, admin) -> dict:
    return bearer(build, admin)


# ---------------------------------------------------------------- creating

def test_new_listing_is_a_draft_from_the_sellers_county(client, seller, as_seller):
    response = client.post(PRODUCTS, json=listing_body(description="新疆阿克苏，皮薄肉脆"), headers=as_seller)

    assert response.status_code == 201, response.json
    product = response.json
    assert product["status"] == "draft"
    assert product["origin"]["county_adcode"] == "652927"
    assert (product["seller_user_id"], product["seller_name"]) == (seller.id, "阿依古丽")
    assert (product["net_weight_grams"], product["price_fen"], product["stock_units"]) == (500, 1250, 100)
    assert (product["min_order_units"], product["ships_within_days"], product["version"]) == (1, 3, 1)
    assert response.headers["ETag"] == '"v1-s100"'
    stored = db.session.get(Product, product["id"])
    assert (stored.title, stored.description, stored.status) == ("阿克苏冰糖心苹果", "新疆阿克苏，皮薄肉脆", "draft")
    assert reviews_of(stored.id) == []
    assert product["id"] not in public_ids(client)


def test_unverified_sellers_published_listing_waits_for_review(client, seller, as_seller):
    response = client.post(PRODUCTS, json=listing_body(publish=True), headers=as_seller)

    assert response.status_code == 201, response.json
    assert response.json["status"] == "pending_review"
    [review] = reviews_of(response.json["id"])
    assert (review.decision, review.actor_user_id, review.reason) == ("submitted", seller.id, None)
    assert review.created_at is not None
    assert response.json["id"] not in public_ids(client)


def test_seller_verified_by_an_admin_publishes_directly(client, seller, as_seller, as_admin):
    verified = client.patch(f"/api/v1/users/{seller.id}", json={"seller_verified": True}, headers=as_admin)
    assert verified.status_code == 200, verified.json

    response = client.post(PRODUCTS, json=listing_body(publish=True), headers=as_seller)

    assert response.status_code == 201, response.json
    assert response.json["status"] == "active"
    assert response.json["id"] in public_ids(client)
    assert [r.decision for r in reviews_of(response.json["id"])] == ["submitted"]


@pytest.mark.parametrize("unit, given_weight, stored_weight", [
    ("jin", None, 500), ("jin", 500, 500), ("kg", None, 1000), ("box", 2500, 2500), ("bag", 5000, 5000),
    ("piece", None, None), ("piece", 800, 800),
])
def test_weight_units_fix_the_net_weight_and_packages_state_it(client, as_seller, unit, given_weight, stored_weight):
    body = listing_body(unit=unit) | ({} if given_weight is None else {"net_weight_grams": given_weight})

    response = client.post(PRODUCTS, json=body, headers=as_seller)

    assert response.status_code == 201, response.json
    assert response.json["net_weight_grams"] == stored_weight


def test_origin_can_be_another_county_and_a_village_in_it(client, build, as_seller):
    build.county("522633", name="从江县", is_national_poverty_county=True)
    village = build.village("522633", name="占里村")

    response = client.post(PRODUCTS, json=listing_body(origin_county_adcode="522633", origin_village_id=village.id),
                           headers=as_seller)

    assert response.status_code == 201, response.json
    origin = response.json["origin"]
    assert (origin["county_adcode"], origin["county_name"], origin["province_name"]) == ("522633", "从江县", "贵州省")
    assert (origin["village_id"], origin["village_name"], origin["is_national_poverty_county"]) == (village.id, "占里村", True)


@pytest.mark.parametrize("roles", [("buyer",), ("partner",), ("admin",)])
def test_only_sellers_can_list_products(client, build, roles):
    before = row_counts()

    response = client.post(PRODUCTS, json=listing_body(origin_county_adcode="652927"), headers=build.headers(*roles))

    assert_error(response, 403, "forbidden")
    assert row_counts() == before


def test_markup_in_text_fields_is_stored_and_returned_verbatim(client, as_seller):
    title = "<script>alert('x')</script>红枣"
    description = '<img src=x onerror="steal()"> & <b>特级</b> "骏枣" \'若羌\''

    response = client.post(PRODUCTS, json=listing_body(title=title, description=description), headers=as_seller)

    assert response.status_code == 201, response.json
    assert (response.json["title"], response.json["description"]) == (title, description)
    stored = db.session.get(Product, response.json["id"])
    assert (stored.title, stored.description) == (title, description)
    assert client.get(f"{PRODUCTS}/{stored.id}", headers=as_seller).json["description"] == description


def test_text_in_other_scripts_round_trips(client, as_seller):
    title = "Алма · ئالما · 🍎 apples"
    response = client.post(PRODUCTS, json=listing_body(title=title, description="ئاقسۇ ئالمىسى"), headers=as_seller)

    assert response.status_code == 201, response.json
    assert db.session.get(Product, response.json["id"]).title == title


# ---------------------------------------------------------------- bad input on create

@pytest.mark.parametrize("field, value", [
    ("price_fen", -100), ("price_fen", 0), ("price_fen", 12.5), ("price_fen", 1250.0), ("price_fen", "¥12.50"),
    ("price_fen", "1250"), ("price_fen", PRICE_FEN_MAX + 1), ("price_fen", 2**63), ("price_fen", None),
    ("stock_units", -1), ("stock_units", STOCK_UNITS_MAX + 1), ("stock_units", 2**63), ("stock_units", 10.5),
    ("category", "durian"), ("category", "水果"), ("unit", "ton"),
    ("title", "长" * 5000), ("title", ""), ("title", "   "), ("title", "x"), ("description", "字" * 4001),
    ("net_weight_grams", 0), ("min_order_units", 0), ("ships_within_days", 0), ("ships_within_days", 61),
    ("harvest_date", "1999-12-31"), ("harvest_date", "2024-02-30"), ("origin_county_adcode", "6529"),
    ("origin_village_id", 0), ("seller_user_id", 1), ("status", "active"), ("version", 7),
], ids=lambda value: str(value)[:20])
def test_invalid_field_is_422_and_stores_nothing(client, as_seller, field, value):
    before = row_counts()

    response = client.post(PRODUCTS, json=listing_body(**{field: value}), headers=as_seller)

    error = assert_error(response, 422, "validation_error")
    assert field in error["details"]["json"]
    assert row_counts() == before


@pytest.mark.parametrize("overrides, status, code", [
    ({"origin_county_adcode": "659999"}, 404, "county_not_found"),
    ({"origin_village_id": 999_999}, 404, "village_not_found"),
    ({"unit": "jin", "net_weight_grams": 600}, 422, "weight_contradicts_unit"),
    ({"unit": "kg", "net_weight_grams": 500}, 422, "weight_contradicts_unit"),
    ({"unit": "box"}, 422, "net_weight_required"),
    ({"unit": "bag", "net_weight_grams": None}, 422, "net_weight_required"),
])
def test_inconsistent_listing_is_refused_with_its_own_code(client, as_seller, overrides, status, code):
    before = row_counts()

    response = client.post(PRODUCTS, json=listing_body(**overrides), headers=as_seller)

    assert_error(response, status, code)
    assert row_counts() == before


def test_village_outside_the_origin_county_is_refused(client, build, as_seller):
    elsewhere = build.village("652901", name="依干其村")
    before = row_counts()

    response = client.post(PRODUCTS, json=listing_body(origin_village_id=elsewhere.id), headers=as_seller)

    assert_error(response, 422, "village_not_in_county")
    assert row_counts() == before


def test_seller_without_a_county_must_name_the_origin(client, build):
    seller = build.user("seller")
    seller.county_adcode = None
    db.session.flush()
    before = row_counts()

    response = client.post(PRODUCTS, json=listing_body(), headers=bearer(build, seller))

    assert_error(response, 422, "county_required")
    assert row_counts() == before


# ---------------------------------------------------------------- If-Match

def test_edit_without_if_match_is_428_and_changes_nothing(client, build, seller, as_seller):
    product = build.product(seller=seller, price_fen=1250)

    response = edit(client, product, as_seller, if_match=None, price_fen=990)

    assert_error(response, 428, "precondition_required")
    assert (product.price_fen, product.version) == (1250, 1)


@pytest.mark.parametrize("if_match", ['"v2-s100"', '"v0"', "*", "garbage", '"1"'])
def test_edit_with_an_etag_that_is_not_the_current_version_is_412(client, build, seller, as_seller, if_match):
    product = build.product(seller=seller, price_fen=1250)

    response = edit(client, product, as_seller, if_match=if_match, price_fen=990)

    error = assert_error(response, 412, "stale_version")
    assert error["details"] == {"current_etag": '"v1-s100"'}
    assert (product.price_fen, product.version) == (1250, 1)


def test_successful_edit_bumps_the_version_and_the_etag(client, build, seller, as_seller):
    product = build.product(seller=seller, price_fen=1250)

    response = edit(client, product, as_seller, price_fen=990)

    assert response.status_code == 200, response.json
    assert (response.json["price_fen"], response.json["version"]) == (990, 2)
    assert response.headers["ETag"] == '"v2-s100"'
    assert (product.price_fen, product.version) == (990, 2)


def test_weak_form_of_the_current_etag_is_accepted(client, build, seller, as_seller):
    product = build.product(seller=seller)

    response = edit(client, product, as_seller, if_match=f"W/{product.etag}", price_fen=990)

    assert response.status_code == 200, response.json


def test_second_edit_with_the_same_if_match_is_412_and_the_first_survives(client, build, seller, as_seller):
    product = build.product(seller=seller, title="阿克苏苹果")
    seen = product.etag

    first = edit(client, product, as_seller, if_match=seen, title="阿克苏冰糖心苹果")
    second = edit(client, product, as_seller, if_match=seen, title="温宿苹果", price_fen=1)

    assert first.status_code == 200, first.json
    assert_error(second, 412, "stale_version")
    assert second.json["error"]["details"]["current_etag"] == first.headers["ETag"]
    assert (product.title, product.price_fen, product.version) == ("阿克苏冰糖心苹果", 1250, 2)


def test_edit_losing_a_race_after_its_version_check_is_refused_by_the_database(client, build, seller, as_seller, monkeypatch):
    """Another writer commits between our If-Match check and our commit: the versioned UPDATE must miss."""
    product = build.product(seller=seller, title="阿克苏苹果")
    check_version = services._check_version

    def check_then_lose_the_race(loaded: Product, expected_version):
        check_version(loaded, expected_version)
        db.session.execute(update(Product).where(Product.id == loaded.id).values(version=Product.version + 1),
                           execution_options={"synchronize_session": False})

    monkeypatch.setattr(services, "_check_version", check_then_lose_the_race)

    response = edit(client, product, as_seller, title="我的修改")

    assert_error(response, 412, "stale_version")
    assert product.title == "阿克苏苹果"


@pytest.mark.real_commits
def test_truly_concurrent_edits_with_the_same_if_match_one_wins_one_is_412(app, build, monkeypatch):
    """Two requests, each on its own connection, both pass the If-Match check before either writes."""
    seller = build.user("seller", county="652927")
    product = build.product(seller=seller, price_fen=1250)
    headers = bearer(build, seller) | {"If-Match": product.etag}
    db.session.commit()
    url = f"{PRODUCTS}/{product.id}"
    both_checked = threading.Barrier(2, timeout=10)
    check_version = services._check_version

    def check_then_wait_for_the_other(loaded: Product, expected_version):
        check_version(loaded, expected_version)
        both_checked.wait()

    monkeypatch.setattr(services, "_check_version", check_then_wait_for_the_other)

    def edit_price(price_fen: int):
        with app.app_context():
            try:
                return app.test_client().patch(url, json={"price_fen": price_fen}, headers=headers)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(edit_price, [990, 1500]))

    assert sorted(r.status_code for r in responses) == [200, 412]
    [winner] = [r for r in responses if r.status_code == 200]
    [loser] = [r for r in responses if r.status_code == 412]
    assert loser.json["error"]["code"] == "stale_version"
    db.session.expire_all()
    stored = db.session.get(Product, product.id)
    assert (stored.price_fen, stored.version) == (winner.json["price_fen"], 2)


def test_stock_moves_change_the_etag_but_do_not_invalidate_an_edit(client, build, seller, as_seller):
    product = build.product(seller=seller, stock_units=100)
    seen = product.etag

    moved = client.post(f"{PRODUCTS}/{product.id}/stock-adjustments", json={"delta": -3}, headers=as_seller)
    response = edit(client, product, as_seller, if_match=seen, price_fen=990)

    assert moved.headers["ETag"] == '"v1-s97"'
    assert response.status_code == 200, response.json
    assert (product.price_fen, product.stock_units) == (990, 97)


def test_edit_that_changes_nothing_keeps_the_version(client, build, seller, as_seller):
    product = build.product(seller=seller, title="阿克苏苹果", price_fen=1250)

    response = edit(client, product, as_seller, title="阿克苏苹果", price_fen=1250)

    assert response.status_code == 200, response.json
    assert (response.json["version"], response.json["status"]) == (1, "active")
    assert reviews_of(product.id) == []


@pytest.mark.parametrize("changes", [
    {"price_fen": -1}, {"price_fen": 9.9}, {"price_fen": "¥12.50"}, {"stock_units": 5}, {"title": "长" * 5000},
    {"category": "durian"}, {"status": "active"}, {"version": 9},
], ids=lambda changes: next(iter(changes)) + "=" + str(next(iter(changes.values())))[:12])
def test_invalid_edit_is_422_and_changes_nothing(client, build, seller, as_seller, changes):
    product = build.product(seller=seller)

    response = edit(client, product, as_seller, **changes)

    assert_error(response, 422, "validation_error")
    assert (product.version, product.price_fen, product.stock_units, product.status) == (1, 1250, 100, "active")


@pytest.mark.parametrize("changes, status, code", [
    ({"origin_county_adcode": "659999"}, 404, "county_not_found"),
    ({"origin_village_id": 999_999}, 404, "village_not_found"),
    ({"unit": "box"}, 422, "net_weight_required"),
    ({"net_weight_grams": 750}, 422, "weight_contradicts_unit"),
])
def test_inconsistent_edit_is_refused_and_changes_nothing(client, build, seller, as_seller, changes, status, code):
    product = build.product(seller=seller)
    before = row_counts()

    response = edit(client, product, as_seller, **changes)

    assert_error(response, status, code)
    assert row_counts() == before
    assert (product.version, product.unit, product.net_weight_grams, product.origin_county_adcode) == (1, "jin", 500, "652927")


def test_moving_the_origin_county_must_not_keep_a_village_of_the_old_one(client, build, seller, as_seller):
    village = build.village("652927")
    product = build.product(seller=seller, origin_village_id=village.id)
    build.county("652901")

    response = edit(client, product, as_seller, origin_county_adcode="652901")

    assert_error(response, 422, "village_not_in_county")
    assert (product.origin_county_adcode, product.origin_village_id, product.version) == ("652927", village.id, 1)
    moved = edit(client, product, as_seller, origin_county_adcode="652901", origin_village_id=None)
    assert moved.json["origin"]["county_adcode"] == "652901"


def test_changing_unit_requires_restating_the_weight(client, build, seller, as_seller):
    product = build.product(seller=seller, unit="box", net_weight_grams=2500)

    response = edit(client, product, as_seller, unit="kg")

    assert response.status_code == 200, response.json
    assert (response.json["unit"], response.json["net_weight_grams"]) == ("kg", 1000)


# ---------------------------------------------------------------- review rules on edits

MATERIAL_EDITS = {
    "title": lambda build: {"title": "若羌灰枣"},
    "description": lambda build: {"description": "新描述"},
    "category": lambda build: {"category": "dried_fruit"},
    "unit": lambda build: {"unit": "box", "net_weight_grams": 5000},
    "net_weight": lambda build: {"unit": "piece", "net_weight_grams": 800},
    "origin_county": lambda build: {"origin_county_adcode": build.county("652901").adcode},
    "origin_village": lambda build: {"origin_village_id": build.village("652927").id},
    "harvest_date": lambda build: {"harvest_date": "2025-09-20"},
}


@pytest.mark.parametrize("material", MATERIAL_EDITS)
def test_material_edit_by_unverified_seller_sends_active_listing_back_to_review(client, build, seller, as_seller, material):
    product = build.product(seller=seller, status="active")

    response = edit(client, product, as_seller, **MATERIAL_EDITS[material](build))

    assert response.status_code == 200, response.json
    assert response.json["status"] == "pending_review"
    [review] = reviews_of(product.id)
    assert (review.decision, review.actor_user_id, review.reason) == ("submitted", seller.id, "material edit")
    assert review.product_version == product.version == 2
    assert product.id not in public_ids(client)


@pytest.mark.parametrize("changes", [
    {"price_fen": 990}, {"min_order_units": 5}, {"ships_within_days": 7},
    {"price_fen": 990, "min_order_units": 2, "ships_within_days": 1},
])
def test_price_min_order_and_shipping_edits_keep_the_listing_active(client, build, seller, as_seller, changes):
    product = build.product(seller=seller, status="active")

    response = edit(client, product, as_seller, **changes)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "active"
    assert reviews_of(product.id) == []
    assert product.id in public_ids(client)


def test_material_edit_by_verified_seller_stays_on_sale(client, build, seller, as_seller):
    verify(seller)
    product = build.product(seller=seller, status="active")

    response = edit(client, product, as_seller, title="若羌灰枣")

    assert response.json["status"] == "active"
    assert product.id in public_ids(client)


def test_material_edit_by_verified_seller_keeps_a_paused_listing_paused(client, build, seller, as_seller):
    verify(seller)
    product = build.product(seller=seller, status="paused")

    response = edit(client, product, as_seller, description="今年新货")

    assert response.status_code == 200, response.json
    assert response.json["status"] == "paused"
    assert product.id not in public_ids(client)


@pytest.mark.parametrize("status", ["draft", "pending_review", "rejected"])
def test_material_edit_of_a_listing_not_on_sale_keeps_its_status(client, build, seller, as_seller, status):
    product = build.product(seller=seller, status=status)

    response = edit(client, product, as_seller, title="若羌灰枣")

    assert response.json["status"] == status
    assert reviews_of(product.id) == []


# ---------------------------------------------------------------- submit, review, pause, resume

def test_rejection_reason_is_shown_to_the_seller_and_recorded(client, build, seller, as_seller, admin, as_admin):
    product = build.product(seller=seller, status="pending_review")

    response = act(client, product, "reject", as_admin, reason="照片与商品不符，请重新拍摄")

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["review_note"]) == ("rejected", "照片与商品不符，请重新拍摄")
    seen_by_seller = client.get(f"{PRODUCTS}/{product.id}", headers=as_seller).json
    assert seen_by_seller["review_note"] == "照片与商品不符，请重新拍摄"
    listed = client.get("/api/v1/seller/products", query_string={"status": "rejected"}, headers=as_seller).json
    assert [(p["id"], p["review_note"]) for p in listed["items"]] == [(product.id, "照片与商品不符，请重新拍摄")]
    [review] = reviews_of(product.id)
    assert (review.decision, review.actor_user_id, review.reason) == ("rejected", admin.id, "照片与商品不符，请重新拍摄")
    assert review.created_at is not None
    assert client.get(f"{PRODUCTS}/{product.id}").status_code == 404


def test_approval_puts_the_listing_on_sale_and_is_recorded(client, build, seller, admin, as_admin):
    product = build.product(seller=seller, status="pending_review")

    response = act(client, product, "approve", as_admin)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "active"
    [review] = reviews_of(product.id)
    assert (review.decision, review.actor_user_id, review.reason) == ("approved", admin.id, None)
    assert product.id in public_ids(client)


def test_rejected_listing_is_fixed_and_resubmitted_then_approved(client, build, seller, as_seller, admin, as_admin):
    created = client.post(PRODUCTS, json=listing_body(publish=True), headers=as_seller).json
    product = db.session.get(Product, created["id"])
    act(client, product, "reject", as_admin, reason="标题夸大")

    edited = edit(client, product, as_seller, title="阿克苏苹果")
    resubmitted = act(client, product, "submit", as_seller)
    approved = act(client, product, "approve", as_admin)

    assert (edited.json["status"], resubmitted.json["status"]) == ("rejected", "pending_review")
    assert resubmitted.json["review_note"] is None
    assert approved.json["status"] == "active"
    assert [(r.decision, r.actor_user_id, r.reason) for r in reviews_of(product.id)] == [
        ("submitted", seller.id, None), ("rejected", admin.id, "标题夸大"),
        ("submitted", seller.id, None), ("approved", admin.id, None),
    ]


@pytest.mark.parametrize("reason", [None, "", "   ", "x", "长" * 501])
def test_rejection_needs_a_reason(client, build, seller, as_admin, reason):
    product = build.product(seller=seller, status="pending_review")
    before = row_counts()

    response = act(client, product, "reject", as_admin, **({} if reason is None else {"reason": reason}))

    assert_error(response, 422, "validation_error")
    assert (product.status, row_counts()) == ("pending_review", before)


@pytest.mark.parametrize("action, status", [
    ("approve", "active"), ("approve", "draft"), ("approve", "rejected"), ("reject", "active"), ("reject", "paused"),
    ("submit", "pending_review"), ("submit", "active"), ("pause", "paused"), ("pause", "draft"),
    ("pause", "pending_review"), ("resume", "active"), ("resume", "rejected"),
])
def test_illegal_status_move_is_409(client, build, seller, as_seller, as_admin, action, status):
    product = build.product(seller=seller, status=status)
    headers = as_admin if action in ("approve", "reject") else as_seller

    response = act(client, product, action, headers, **({"reason": "不合规"} if action == "reject" else {}))

    assert_error(response, 409, "illegal_status_change")
    assert (product.status, product.version) == (status, 1)
    assert reviews_of(product.id) == []


def test_seller_cannot_approve_their_own_listing(client, build, seller, as_seller):
    product = build.product(seller=seller, status="pending_review")

    assert_error(act(client, product, "approve", as_seller), 403, "forbidden")
    assert_error(act(client, product, "reject", as_seller, reason="自己拒绝"), 403, "forbidden")
    assert product.status == "pending_review"


def test_pause_takes_a_listing_off_sale_and_resume_puts_it_back(client, build, seller, as_seller):
    product = build.product(seller=seller, status="active")

    paused = act(client, product, "pause", as_seller)
    hidden = product.id not in public_ids(client)
    resumed = act(client, product, "resume", as_seller)

    assert (paused.status_code, paused.json["status"], hidden) == (200, "paused", True)
    assert (resumed.status_code, resumed.json["status"]) == (200, "active")
    assert resumed.json["version"] == 3
    assert product.id in public_ids(client)


def test_review_queue_lists_only_pending_listings_oldest_first(client, build, seller, as_seller, as_admin):
    build.product(seller=seller, status="active")
    build.product(seller=seller, status="draft")
    older = client.post(PRODUCTS, json=listing_body(title="红枣", publish=True), headers=as_seller).json["id"]
    newer = client.post(PRODUCTS, json=listing_body(title="核桃", publish=True), headers=as_seller).json["id"]

    response = client.get("/api/v1/review/products", headers=as_admin)

    assert response.status_code == 200, response.json
    assert [p["id"] for p in response.json["items"]] == [older, newer]
    assert response.json["total"] == 2
    assert_error(client.get("/api/v1/review/products", headers=as_seller), 403, "forbidden")


# ---------------------------------------------------------------- ownership

OWNER_ACTIONS = {
    "edit": lambda client, p, h: edit(client, p, h, price_fen=1),
    "pause": lambda client, p, h: act(client, p, "pause", h),
    "submit": lambda client, p, h: act(client, p, "submit", h),
    "adjust_stock": lambda client, p, h: client.post(f"{PRODUCTS}/{p.id}/stock-adjustments", json={"delta": -100}, headers=h),
    "delete": lambda client, p, h: client.delete(f"{PRODUCTS}/{p.id}", headers=h),
}
STATUS_FOR_ACTION = {"edit": "active", "pause": "active", "submit": "draft", "adjust_stock": "active", "delete": "draft"}


@pytest.mark.parametrize("action", OWNER_ACTIONS)
def test_another_seller_cannot_touch_a_listing(client, build, seller, action):
    product = build.product(seller=seller, status=STATUS_FOR_ACTION[action])
    before = row_counts()

    response = OWNER_ACTIONS[action](client, product, build.headers("seller"))

    assert_error(response, 403, "not_owner")
    assert row_counts() == before
    assert (product.status, product.version, product.stock_units, product.price_fen) == (
        STATUS_FOR_ACTION[action], 1, 100, 1250)


@pytest.mark.parametrize("action", OWNER_ACTIONS)
def test_an_admin_may_act_on_any_listing(client, build, seller, as_admin, action):
    product = build.product(seller=seller, status=STATUS_FOR_ACTION[action])

    response = OWNER_ACTIONS[action](client, product, as_admin)

    assert response.status_code in (200, 204), response.get_data(as_text=True)


def test_missing_listing_is_404(client, as_seller):
    response = client.patch(f"{PRODUCTS}/999999", json={"price_fen": 1}, headers=as_seller | {"If-Match": '"v1"'})

    assert_error(response, 404, "product_not_found")


# ---------------------------------------------------------------- deleting

def test_draft_is_deleted(client, build, seller, as_seller):
    product_id = build.product(seller=seller, status="draft").id

    response = client.delete(f"{PRODUCTS}/{product_id}", headers=as_seller)

    assert response.status_code == 204
    assert db.session.get(Product, product_id) is None
    assert_error(client.get(f"{PRODUCTS}/{product_id}", headers=as_seller), 404, "product_not_found")


def test_deleting_a_draft_removes_its_photos_and_review_records(client, build, seller, as_seller):
    product = build.product(seller=seller, status="rejected")
    db.session.add(ProductImage(product=product, position=1, image_key="aa/bb/a.jpg", thumbnail_key="aa/bb/b.jpg",
                                width=10, height=10))
    db.session.add(ProductReview(product_id=product.id, decision="rejected", reason="模糊", actor_user_id=seller.id,
                                 product_version=1))
    product.status = "draft"
    db.session.flush()
    product_id = product.id

    response = client.delete(f"{PRODUCTS}/{product_id}", headers=as_seller)

    assert response.status_code == 204, response.get_data(as_text=True)
    assert reviews_of(product_id) == []
    assert db.session.scalar(select(db.func.count()).select_from(ProductImage)
                             .where(ProductImage.product_id == product_id)) == 0


@pytest.mark.parametrize("status", ["pending_review", "active", "paused", "rejected"])
def test_only_drafts_can_be_deleted(client, build, seller, as_seller, status):
    product = build.product(seller=seller, status=status)
    before = row_counts()

    response = client.delete(f"{PRODUCTS}/{product.id}", headers=as_seller)

    error = assert_error(response, 409, "not_a_draft")
    assert error["details"] == {"status": status}
    assert row_counts() == before


# ---------------------------------------------------------------- stock

def adjust(client, product: Product, delta, headers: dict):
    return client.post(f"{PRODUCTS}/{product.id}/stock-adjustments", json={"delta": delta}, headers=headers)


def test_stock_moves_by_relative_deltas_without_a_new_version(client, build, seller, as_seller):
    product = build.product(seller=seller, stock_units=10)

    added = adjust(client, product, 15, as_seller)
    removed = adjust(client, product, -5, as_seller)

    assert (added.status_code, added.json["stock_units"]) == (200, 25)
    assert (removed.json["stock_units"], removed.json["version"]) == (20, 1)
    assert removed.headers["ETag"] == '"v1-s20"'
    assert product.stock_units == 20


def test_stock_cannot_go_below_zero(client, build, seller, as_seller):
    product = build.product(seller=seller, stock_units=3)

    response = adjust(client, product, -4, as_seller)

    error = assert_error(response, 409, "stock_out_of_range")
    assert error["details"] == {"stock_units": 3, "delta": -4}
    assert product.stock_units == 3


def test_stock_cannot_exceed_the_maximum(client, build, seller, as_seller):
    product = build.product(seller=seller, stock_units=STOCK_UNITS_MAX - 1)

    assert_error(adjust(client, product, 2, as_seller), 409, "stock_out_of_range")
    assert product.stock_units == STOCK_UNITS_MAX - 1


def test_selling_out_keeps_the_listing_active_but_shown_as_sold_out(client, build, seller, as_seller):
    product = build.product(seller=seller, stock_units=3)

    response = adjust(client, product, -3, as_seller)

    assert (response.json["status"], response.json["stock_units"]) == ("sold_out", 0)
    assert product.status == "active"
    assert product.id in public_ids(client)
    assert adjust(client, product, 5, as_seller).json["status"] == "active"


@pytest.mark.parametrize("delta", [0, 1.5, "5", "+5", None, STOCK_UNITS_MAX + 1, -(2**63)])
def test_invalid_stock_delta_is_422(client, build, seller, as_seller, delta):
    product = build.product(seller=seller, stock_units=10)

    response = adjust(client, product, delta, as_seller)

    error = assert_error(response, 422, "validation_error")
    assert "delta" in error["details"]["json"]
    assert product.stock_units == 10


# ---------------------------------------------------------------- the seller's own list

@pytest.fixture
def listings_in_every_status(build, seller) -> dict[str, int]:
    """One listing of the seller per shown status, plus another seller's listing."""
    build.product(status="active")
    made = {status: build.product(seller=seller, status=status).id
            for status in ("draft", "pending_review", "active", "paused", "rejected")}
    made["sold_out"] = build.product(seller=seller, status="active", stock_units=0).id
    return made


def seller_list(client, headers: dict, **query):
    response = client.get("/api/v1/seller/products", query_string={"per_page": 100, **query}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


@pytest.mark.parametrize("status", ["draft", "pending_review", "active", "paused", "rejected", "sold_out"])
def test_seller_list_filters_by_shown_status(client, as_seller, listings_in_every_status, status):
    page = seller_list(client, as_seller, status=status)

    assert [(p["id"], p["status"]) for p in page["items"]] == [(listings_in_every_status[status], status)]
    assert page["total"] == 1


def test_seller_list_shows_only_the_sellers_own_listings_newest_first(client, as_seller, listings_in_every_status):
    page = seller_list(client, as_seller)

    assert [p["id"] for p in page["items"]] == sorted(listings_in_every_status.values(), reverse=True)
    assert page["total"] == 6


def test_seller_list_pages_with_a_total(client, as_seller, listings_in_every_status):
    pages = [seller_list(client, as_seller, per_page=4, page=n) for n in (1, 2)]

    assert [len(p["items"]) for p in pages] == [4, 2]
    assert {p["total"] for p in pages} == {6}
    assert sorted(p["id"] for page in pages for p in page["items"]) == sorted(listings_in_every_status.values())


def test_seller_list_refuses_an_unknown_status(client, as_seller):
    response = client.get("/api/v1/seller/products", query_string={"status": "deleted"}, headers=as_seller)

    assert_error(response, 422, "validation_error")


def test_review_history_shows_each_decision_with_who_and_why(client, build):
    seller = build.user("seller")
    admin = build.user("admin")
    product = build.product(seller=seller, status="draft")
    seller_headers = {"Authorization": f"Bearer {build.token(seller)}"}
    admin_headers = {"Authorization": f"Bearer {build.token(admin)}"}
    client.post(f"/api/v1/products/{product.id}/submit", headers=seller_headers)
    client.post(f"/api/v1/products/{product.id}/reject", json={"reason": "照片不清楚"}, headers=admin_headers)

    history = client.get(f"/api/v1/products/{product.id}/reviews", headers=seller_headers)

    assert history.status_code == 200
    assert [(r["decision"], r["actor_user_id"], r["reason"]) for r in history.json] == [
        ("submitted", seller.id, None), ("rejected", admin.id, "照片不清楚")]
    other = {"Authorization": f"Bearer {build.token(build.user('seller'))}"}
    assert client.get(f"/api/v1/products/{product.id}/reviews", headers=other).status_code == 403
