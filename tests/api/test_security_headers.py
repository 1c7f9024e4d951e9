"""Security headers: nothing of the site may be framed or sniffed into another type, pages run only
this site's scripts and styles, and HSTS is sent in production only."""
import base64
import hashlib
import io
import re

import pytest

from marketplace import create_app
from marketplace.config import ProductionConfig
from tests import image_files

PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive -> sources."""
    directives = [part.split() for part in response.headers["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives}


def assert_not_framed_nor_sniffed(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # not in tests: only production sends it


@pytest.mark.parametrize("path", ["/", "/login", "/no-such-page"])
def test_pages_forbid_framing_and_run_only_this_sites_scripts_and_styles(client, path):
    response = client.get(path, headers={"Accept": "text/html"})

    assert response.mimetype == "text/html"
    assert_not_framed_nor_sniffed(response)
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY


def test_a_photo_under_media_is_never_sniffed_or_framed(client, build):
    seller = build.user("seller", county="652927")
    product = build.product(seller=seller, status="draft")
    uploaded = client.post(f"/api/v1/products/{product.id}/images", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(image_files.jpeg()), "photo.jpg")},
                           headers={"Authorization": f"Bearer {build.token(seller)}"})
    assert uploaded.status_code == 201, uploaded.json

    response = client.get(uploaded.json["images"][0]["url"])
    response.close()

    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert_not_framed_nor_sniffed(response)
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]  # once


@pytest.mark.parametrize("path", ["/api/v1/categories", "/api/v1/products/999999", "/healthz"])
def test_api_answers_are_never_sniffed(client, path):
    response = client.get(path)

    assert response.mimetype == "application/json"
    assert_not_framed_nor_sniffed(response)


def test_the_api_docs_page_runs_its_own_inline_script_by_its_hash_and_nothing_else_inline(client):
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert_not_framed_nor_sniffed(response)
    [script] = re.findall(r"<script>(.*?)</script>", response.get_data(as_text=True), flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy(response)["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy(response)["frame-ancestors"] == ["'none'"]


def test_hsts_is_sent_in_production_only(app, client):
    class Production(ProductionConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        SECRET_KEY = "production-test-key"
        MEDIA_ROOT = app.config["MEDIA_ROOT"]
        LOG_FORMAT = "text"  # as the test run's own logging is

    production = create_app(Production).test_client()

    for answer in (production.get("/login", headers={"Accept": "text/html"}), production.get("/api/v1/no-such-thing")):
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in client.get("/login").headers
