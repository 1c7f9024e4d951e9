"""Listing photos through the API: upload, refusals (nothing stored), serving with long cache, removal."""
import io
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from marketplace.catalog.models import Product, ProductImage, ProductReview
from marketplace.catalog.taxonomy import MAX_IMAGES
from marketplace.extensions import db
from tests import image_files


def images_url(product: Product) -> str:
    return f"/api/v1/products/{product.id}/images"


def upload(client, product: Product, content: bytes, headers: dict, filename: str = "photo.jpg"):
    return client.post(images_url(product), data={"file": (io.BytesIO(content), filename)},
                       headers=headers, content_type="multipart/form-data")


def bearer(build, user) -> dict:
    return {"Authorization": f"Bearer {build.token(user)}"}


def stored_files(app) -> set[Path]:
    return {path for path in Path(app.config["MEDIA_ROOT"]).rglob("*") if path.is_file()}


def row_counts() -> dict[str, int]:
    return {m.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(m))
            for m in (Product, ProductImage, ProductReview)}


def fetch(client, url: str):
    """GET a media URL and return (response, body); closes the file the response streams from."""
    response = client.get(url)
    body = response.get_data()
    response.close()
    return response, body


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


@pytest.fixture
def seller(build):
    return build.user("seller", county="652927")


@pytest.fixture
def as_seller(build, seller) -> dict:
    return bearer(build, seller)


@pytest.fixture
def draft(build, seller) -> Product:
    return build.product(seller=seller, status="draft")


# ---------------------------------------------------------------- uploading

def test_uploaded_photo_is_listed_with_display_and_thumbnail_urls(client, draft, as_seller):
    response = upload(client, draft, image_files.jpeg(4000, 3000), as_seller)

    assert response.status_code == 201, response.json
    [image] = response.json["images"]
    assert (image["position"], image["width"], image["height"]) == (1, 1600, 1200)
    assert image["url"].startswith("/media/") and image["thumbnail_url"].startswith("/media/")
    assert response.json["thumbnail_url"] == image["thumbnail_url"]
    assert response.headers["ETag"] == f'"v{response.json["version"]}-s100"'
    _, thumbnail = fetch(client, image["thumbnail_url"])
    assert Image.open(io.BytesIO(thumbnail)).width == 400


def test_stored_photo_carries_no_gps_position(client, draft, as_seller):
    response = upload(client, draft, image_files.jpeg_with_gps(), as_seller)

    assert response.status_code == 201, response.json
    image = response.json["images"][0]
    for url in (image["url"], image["thumbnail_url"]):
        _, body = fetch(client, url)
        stored = Image.open(io.BytesIO(body))
        assert dict(stored.getexif()) == {}
        assert b"Exif" not in body and b"Xiaomi" not in body


def test_served_photo_is_cached_for_a_year_as_immutable(client, draft, as_seller):
    image = upload(client, draft, image_files.jpeg(), as_seller).json["images"][0]

    response, body = fetch(client, image["url"])

    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    cache_control = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert {"public", "max-age=31536000", "immutable"} <= cache_control
    assert Image.open(io.BytesIO(body)).size == (640, 480)


@pytest.mark.parametrize("content, filename", [
    (image_files.png_with_transparency(), "leaf.png"),
    (image_files.encoded(image_files.photo(), "WEBP"), "walnuts.webp"),
    (image_files.encoded(image_files.photo(), "HEIF"), "IMG_0001.HEIC"),
], ids=["png_with_transparency", "webp", "heic"])
def test_png_webp_and_heic_photos_are_accepted(client, draft, as_seller, content, filename):
    response = upload(client, draft, content, as_seller, filename)

    assert response.status_code == 201, response.json
    _, body = fetch(client, response.json["images"][0]["url"])
    assert Image.open(io.BytesIO(body)).format == "JPEG"


def test_photo_of_an_unverified_sellers_active_listing_sends_it_back_to_review(client, build, seller, as_seller):
    product = build.product(seller=seller, status="active")

    response = upload(client, product, image_files.jpeg(), as_seller)

    assert response.status_code == 201, response.json
    assert response.json["status"] == "pending_review"
    [review] = db.session.scalars(db.select(ProductReview).where(ProductReview.product_id == product.id)).all()
    assert (review.decision, review.actor_user_id) == ("submitted", seller.id)
    assert client.get(f"/api/v1/products/{product.id}").status_code == 404


def test_each_upload_is_a_new_version_of_the_listing(client, draft, as_seller):
    before = draft.version

    response = upload(client, draft, image_files.jpeg(), as_seller)

    assert response.json["version"] == before + 1
    stale = client.patch(f"/api/v1/products/{draft.id}", json={"price_fen": 990},
                         headers=as_seller | {"If-Match": f'"v{before}-s100"'})
    assert_error(stale, 412, "stale_version")


def test_another_seller_cannot_add_a_photo(client, build, draft, app):
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, draft, image_files.jpeg(), build.headers("seller"))

    assert_error(response, 403, "not_owner")
    assert (row_counts(), stored_files(app)) == (before, files_before)


# ---------------------------------------------------------------- refusals (nothing stored)

@pytest.mark.parametrize("content, filename, status, code", [
    (image_files.pdf(), "invoice.jpg", 422, "not_an_image"),
    (image_files.encoded(image_files.photo(), "GIF"), "animated.gif", 422, "unsupported_image_type"),
    (image_files.padded(image_files.jpeg(), 11 * 1024 * 1024), "huge.jpg", 422, "image_too_large"),
    (image_files.png_header_only(20_000, 20_000), "bomb.png", 422, "image_too_many_pixels"),
    (b"", "empty.jpg", 422, "not_an_image"),
], ids=["pdf_renamed_jpg", "gif", "11_mb", "20000x20000_png", "empty"])
def test_refused_upload_stores_nothing(client, app, draft, as_seller, content, filename, status, code):
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, draft, content, as_seller, filename)

    assert_error(response, status, code)
    assert (row_counts(), stored_files(app)) == (before, files_before)
    assert draft.version == 1 and draft.images == []


def test_photo_over_the_configured_pixel_limit_is_refused_from_its_header(client, app, draft, as_seller, monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_MAX_PIXELS", 640 * 480 - 1)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, draft, image_files.jpeg(640, 480), as_seller)

    assert_error(response, 422, "image_too_many_pixels")
    assert "307,199" in response.json["error"]["message"]
    assert (row_counts(), stored_files(app)) == (before, files_before)


def refuse_to_decode(image):
    raise AssertionError("a picture over the pixel limit was decoded")


def test_50_mb_request_is_payload_too_large(client, app, draft, as_seller):
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, draft, image_files.padded(image_files.jpeg(), 50 * 1024 * 1024), as_seller)

    assert_error(response, 413, "payload_too_large")
    assert (row_counts(), stored_files(app)) == (before, files_before)


def test_request_without_a_file_part_is_a_validation_error(client, draft, as_seller):
    response = client.post(images_url(draft), data={"photo": "not a file"}, headers=as_seller,
                           content_type="multipart/form-data")

    assert_error(response, 422, "validation_error")
    assert "file" in response.json["error"]["details"]["files"]


def test_seventh_photo_is_refused(client, app, draft, as_seller):
    for number in range(MAX_IMAGES):
        response = upload(client, draft, image_files.jpeg(200 + number, 150), as_seller)
        assert response.status_code == 201, response.json
    assert len(response.json["images"]) == MAX_IMAGES
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, draft, image_files.jpeg(300, 200), as_seller)

    assert_error(response, 409, "too_many_images")
    assert (row_counts(), stored_files(app)) == (before, files_before)


# ---------------------------------------------------------------- upload rate limit

def test_photos_beyond_the_per_minute_allowance_are_refused_and_stored_nothing(client, app, build, seller, as_seller,
                                                                               monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_UPLOAD_RATE_LIMIT", "3 per minute")
    first, second = build.product(seller=seller, status="draft"), build.product(seller=seller, status="draft")
    for product in (first, first, second):  # one allowance for all of the seller's listings
        assert upload(client, product, image_files.jpeg(), as_seller).status_code == 201
    before, files_before = row_counts(), stored_files(app)

    response = upload(client, second, image_files.jpeg(), as_seller)

    assert_error(response, 429, "rate_limited")
    assert (row_counts(), stored_files(app)) == (before, files_before)
    other_seller = build.user("seller")  # the allowance is the person's, not the address's
    assert upload(client, build.product(seller=other_seller, status="draft"), image_files.jpeg(),
                  bearer(build, other_seller)).status_code == 201


# ---------------------------------------------------------------- removing

def test_removed_photo_leaves_the_listing_and_frees_a_slot(client, draft, as_seller):
    for width in (320, 330):
        listing = upload(client, draft, image_files.jpeg(width, 240), as_seller).json
    first, second = listing["images"]

    response = client.delete(f"{images_url(draft)}/{first['id']}", headers=as_seller)

    assert response.status_code == 200, response.json
    assert [image["id"] for image in response.json["images"]] == [second["id"]]
    assert response.json["version"] == listing["version"] + 1
    assert db.session.get(ProductImage, first["id"]) is None
    again = upload(client, draft, image_files.jpeg(340, 240), as_seller)
    assert [image["position"] for image in again.json["images"]] == [2, 3]


def test_removing_a_photo_of_another_listing_is_not_found(client, build, seller, draft, as_seller):
    other = build.product(seller=seller, status="draft")
    image_id = upload(client, other, image_files.jpeg(), as_seller).json["images"][0]["id"]

    response = client.delete(f"{images_url(draft)}/{image_id}", headers=as_seller)

    assert_error(response, 404, "image_not_found")
    assert db.session.get(ProductImage, image_id) is not None


def test_another_seller_cannot_remove_a_photo(client, build, draft, as_seller):
    image_id = upload(client, draft, image_files.jpeg(), as_seller).json["images"][0]["id"]

    response = client.delete(f"{images_url(draft)}/{image_id}", headers=build.headers("seller"))

    assert_error(response, 403, "not_owner")
    assert db.session.get(ProductImage, image_id) is not None
