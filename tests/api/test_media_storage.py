"""Photos in the media store: on the local directory or an S3-compatible bucket (moto's server),
served by any app node at /media/<key> with immutable caching; a store that is down is 503
storage_unavailable and leaves no row; the sweep deletes old files no row names; a configuration
that cannot work refuses to start."""
import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from marketplace import create_app
from marketplace.catalog.media import sweep_unreferenced_files
from marketplace.catalog.models import Product, ProductImage
from marketplace.common import storage
from marketplace.common.time import utcnow
from marketplace.config import TestConfig
from marketplace.extensions import db
from tests import image_files
from tests.stripe_server import free_port

IMMUTABLE = {"public", "max-age=31536000", "immutable"}


def upload(client, product: Product, headers: dict, content: bytes | None = None):
    return client.post(f"/api/v1/products/{product.id}/images",
                       data={"file": (io.BytesIO(content or image_files.jpeg()), "photo.jpg")},
                       headers=headers, content_type="multipart/form-data")


def fetch(client, url: str, headers: dict | None = None):
    """GET a media URL and return (response, body); closes what the response streams from."""
    response = client.get(url, headers=headers or {})
    body = response.get_data()
    response.close()
    return response, body


def key_of(url: str) -> str:
    return url.removeprefix("/media/")


def local_files(root: str | Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in Path(root).rglob("*") if path.is_file()}


def image_rows() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(ProductImage))


@pytest.fixture
def seller(build):
    return build.user("seller", county="652927")


@pytest.fixture
def as_seller(build, seller) -> dict:
    return {"Authorization": f"Bearer {build.token(seller)}"}


@pytest.fixture
def draft(build, seller) -> Product:
    return build.product(seller=seller, status="draft")


@pytest.fixture
def on_s3(app, s3_server, monkeypatch):
    """The test app (node 1) keeps its media in the run's bucket on the S3 server."""
    for name, value in s3_server.media_config().items():
        monkeypatch.setitem(app.config, name, value)
    return s3_server


@pytest.fixture
def s3_down(app, monkeypatch):
    """The test app keeps its media in an S3 store that does not answer (nothing listens at its port)."""
    for name, value in {"MEDIA_STORAGE": "s3", "S3_BUCKET": "marketplace-media",
                        "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                        "S3_ACCESS_KEY_ID": "key", "S3_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setitem(app.config, name, value)


@pytest.fixture(scope="module")
def second_node(app, database_url, s3_server, tmp_path_factory):
    """Another app instance (node 2) on the same bucket, with an empty media directory of its own."""
    class Node2(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        MEDIA_ROOT = str(tmp_path_factory.mktemp("node2-media"))

    for name, value in s3_server.media_config().items():
        setattr(Node2, name, value)
    node = create_app(Node2)
    node.test_client_class = app.test_client_class
    yield node
    with node.app_context():
        db.engine.dispose()


@pytest.fixture(params=["local", "s3"])
def backend(request, app, monkeypatch, tmp_path) -> str:
    """The test app on each backend in turn, each time with an empty store of its own."""
    if request.param == "local":
        config = {"MEDIA_STORAGE": "local", "MEDIA_ROOT": str(tmp_path / "media")}
    else:
        s3_server = request.getfixturevalue("s3_server")
        config = s3_server.media_config(bucket=s3_server.new_bucket())
    for name, value in config.items():
        monkeypatch.setitem(app.config, name, value)
    return request.param


def stored_keys(app, s3_server=None) -> set[str]:
    """What the test app's store holds right now, listed without the storage module."""
    if app.config["MEDIA_STORAGE"] == "local":
        return local_files(app.config["MEDIA_ROOT"])
    return s3_server.keys(app.config["S3_BUCKET"])


# ---------------------------------------------------------------- object storage across nodes

def test_photo_uploaded_through_one_node_is_served_by_another(client, app, on_s3, second_node, draft, as_seller):
    local_before = local_files(app.config["MEDIA_ROOT"])

    response = upload(client, draft, as_seller, image_files.jpeg(640, 480))

    assert response.status_code == 201, response.json
    [image] = response.json["images"]
    assert {key_of(image["url"]), key_of(image["thumbnail_url"])} <= on_s3.keys()
    served, body = fetch(second_node.test_client(), image["url"])
    assert served.status_code == 200, body
    assert Image.open(io.BytesIO(body)).size == (640, 480)
    assert served.mimetype == "image/jpeg" and served.content_length == len(body)
    assert IMMUTABLE <= {part.strip() for part in served.headers["Cache-Control"].split(",")}
    assert served.get_etag() == (hashlib.sha256(body).hexdigest(), False)
    # Neither node wrote the photo to its own disk.
    assert local_files(app.config["MEDIA_ROOT"]) == local_before
    assert local_files(second_node.config["MEDIA_ROOT"]) == set()


def test_a_photo_larger_than_a_chunk_is_served_whole_from_s3(app, on_s3, second_node):
    content = image_files.padded(image_files.jpeg(), 3 * 1024 * 1024)  # many chunks of the stream
    with app.app_context():
        key = storage.save(content, ".jpg")

    served, body = fetch(second_node.test_client(), f"/media/{key}")

    assert served.status_code == 200
    assert served.content_length == len(content) and body == content


def test_served_photo_is_immutable_and_revalidates_by_its_digest(client, backend, draft, as_seller):
    url = upload(client, draft, as_seller).json["images"][0]["url"]
    served, body = fetch(client, url)
    assert served.status_code == 200
    assert IMMUTABLE <= {part.strip() for part in served.headers["Cache-Control"].split(",")}
    assert Image.open(io.BytesIO(body)).format == "JPEG"

    again, again_body = fetch(client, url, {"If-None-Match": served.headers["ETag"]})

    assert again.status_code == 304 and again_body == b""
    assert again.headers["ETag"] == served.headers["ETag"]
    assert IMMUTABLE <= {part.strip() for part in again.headers["Cache-Control"].split(",")}
    changed, _ = fetch(client, url, {"If-None-Match": '"' + "0" * 64 + '"'})
    assert changed.status_code == 200


def test_a_well_formed_key_that_is_not_stored_is_not_found(client, backend):
    digest = hashlib.sha256(b"never uploaded").hexdigest()

    response = client.get(f"/media/{digest[:2]}/{digest[2:4]}/{digest}.jpg")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "ab/cd/../../../secret.jpg", "%2e%2e/%2e%2e/etc/passwd", "ab/cd/photo.jpg",
    "AB/CD/" + "ab" * 32 + ".jpg", "00/00/" + "ab" * 32 + ".jpg", "ab/ab/" + "ab" * 32, "ab/ab/" + "ab" * 32 + ".jpg/x",
], ids=["dotdot", "dotdot_inside", "encoded_dotdot", "short_name", "capitals", "wrong_directories",
        "no_suffix", "trailing_path"])
def test_what_is_not_a_media_key_is_not_found_without_asking_the_store(client, s3_down, path):
    # The store is down: had it been asked, the answer would be 503.
    response = client.get(f"/media/{path}")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_path_out_of_the_media_directory_serves_nothing(client, app, tmp_path, monkeypatch):
    media_root = tmp_path / "media"
    (media_root / "ab" / "cd").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"not for the public")
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(media_root))

    for path in ("../secret.jpg", "ab/cd/../../../secret.jpg", "ab/../../secret.jpg"):
        response, body = fetch(client, f"/media/{path}")
        assert response.status_code == 404 and b"not for the public" not in body


# ---------------------------------------------------------------- the store is down

def test_upload_while_the_store_is_down_is_503_and_leaves_no_row(client, s3_down, draft, as_seller):
    rows_before, version_before = image_rows(), draft.version

    response = upload(client, draft, as_seller)

    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "storage_unavailable"
    assert response.json["error"]["message"]
    assert image_rows() == rows_before
    db.session.refresh(draft)
    assert (draft.version, draft.images) == (version_before, [])


def test_serving_while_the_store_is_down_is_503(client, s3_down):
    digest = hashlib.sha256(b"a stored photo").hexdigest()

    response = client.get(f"/media/{digest[:2]}/{digest[2:4]}/{digest}.jpg")

    assert response.status_code == 503
    assert response.json["error"]["code"] == "storage_unavailable"


# ---------------------------------------------------------------- the sweep

def test_sweep_deletes_old_orphans_and_keeps_named_and_fresh_files(client, app, request, backend, draft, as_seller):
    s3_server = request.getfixturevalue("s3_server") if backend == "s3" else None
    image = upload(client, draft, as_seller).json["images"][0]
    named = {key_of(image["url"]), key_of(image["thumbnail_url"])}
    orphan = storage.save(b"the photo of an upload whose transaction rolled back", ".jpg")
    assert stored_keys(app, s3_server) == named | {orphan}

    assert sweep_unreferenced_files() == 0  # the orphan is younger than the grace period
    assert stored_keys(app, s3_server) == named | {orphan}

    a_day_later = utcnow() + timedelta(hours=app.config["MEDIA_SWEEP_GRACE_HOURS"], minutes=1)
    assert sweep_unreferenced_files(now=a_day_later) == 1
    assert stored_keys(app, s3_server) == named
    served, _ = fetch(client, image["url"])
    assert served.status_code == 200


def test_sweep_deletes_the_files_of_a_removed_photo(client, app, request, backend, draft, as_seller):
    s3_server = request.getfixturevalue("s3_server") if backend == "s3" else None
    # Wider than a thumbnail, so each photo is two files.
    first, second = (upload(client, draft, as_seller, image_files.jpeg(width, 600)).json["images"][-1]
                     for width in (800, 810))
    assert client.delete(f"/api/v1/products/{draft.id}/images/{first['id']}", headers=as_seller).status_code == 200

    deleted = sweep_unreferenced_files(now=utcnow() + timedelta(hours=25))

    assert deleted == 2
    assert stored_keys(app, s3_server) == {key_of(second["url"]), key_of(second["thumbnail_url"])}


def test_sweep_grace_period_comes_from_the_configuration(app, backend, monkeypatch):
    orphan = storage.save(b"an orphan", ".jpg")
    monkeypatch.setitem(app.config, "MEDIA_SWEEP_GRACE_HOURS", 48)

    assert sweep_unreferenced_files(now=utcnow() + timedelta(hours=47)) == 0
    assert sweep_unreferenced_files(now=utcnow() + timedelta(hours=49)) == 1
    assert not storage.exists(orphan)


def test_saving_an_old_file_again_keeps_it_from_the_sweep(app, tmp_path, monkeypatch):
    """A re-upload of a photo stored long ago may be waiting for its row to commit."""
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(tmp_path))
    content = b"a photo uploaded last week, and again now"
    key = storage.save(content, ".jpg")
    week_ago = (utcnow() - timedelta(days=7)).timestamp()
    os.utime(tmp_path / key, (week_ago, week_ago))

    assert storage.save(content, ".jpg") == key

    assert sweep_unreferenced_files() == 0
    assert storage.exists(key)


def test_sweep_leaves_files_that_are_not_media_keys(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(tmp_path))
    (tmp_path / "ab" / "cd").mkdir(parents=True)
    foreign = [tmp_path / "README.txt", tmp_path / "ab" / "cd" / "notes.jpg"]
    for path in foreign:
        path.write_bytes(b"not ours")
        os.utime(path, (0, 0))

    assert sweep_unreferenced_files() == 0
    assert all(path.exists() for path in foreign)


def test_flask_media_sweep_prints_how_many_files_it_deleted(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(tmp_path))
    key = storage.save(b"an orphan from last month", ".jpg")
    os.utime(tmp_path / key, (0, 0))

    result = app.test_cli_runner().invoke(args=["media", "sweep"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 unreferenced file(s) deleted"
    assert not (tmp_path / key).exists()


def test_flask_media_sweep_fails_clearly_when_the_store_is_down(app, s3_down):
    result = app.test_cli_runner().invoke(args=["media", "sweep"])

    assert result.exit_code == 1
    assert "storage_unavailable" in result.output


# ---------------------------------------------------------------- configuration

def _config(database_url: str, **settings) -> type[TestConfig]:
    return type("Config", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": database_url, **settings})


@pytest.mark.parametrize("settings, message", [
    ({"MEDIA_STORAGE": "s3", "S3_BUCKET": None}, "S3_BUCKET"),
    ({"MEDIA_STORAGE": "ftp"}, "MEDIA_STORAGE='ftp' is not a media storage"),
    ({"MEDIA_STORAGE": "s3", "S3_BUCKET": "media", "S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL"),
    ({"MEDIA_SWEEP_GRACE_HOURS": 0}, "MEDIA_SWEEP_GRACE_HOURS"),
], ids=["s3_without_bucket", "unknown_backend", "endpoint_without_scheme", "no_grace"])
def test_a_media_configuration_that_cannot_work_refuses_to_start(database_url, settings, message):
    with pytest.raises(RuntimeError, match=message):
        create_app(_config(database_url, **settings))


def test_an_s3_configuration_starts_without_reaching_the_store(database_url):
    """A store that is down at start makes uploads 503, not a node that will not start."""
    node = create_app(_config(database_url, MEDIA_STORAGE="s3", S3_BUCKET="media",
                              S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}"))
    assert node.config["MEDIA_STORAGE"] == "s3"
    with node.app_context():
        db.engine.dispose()
