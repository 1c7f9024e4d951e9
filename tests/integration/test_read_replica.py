"""The read replica bind (REPLICA_DATABASE_URL): reports and public catalog reads answer from it,
writes and the reads that must see them stay on the primary, and a bad URL refuses to start.

The "replica" is a second database on the test server, migrated and holding committed rows of
its own that the primary (the test's rolled-back transaction) does not have, so every answer
shows which database it came from. The app under test runs its primary session on the test's
connection, as every other test does, and its replica engine on the second database.
"""
from datetime import date

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import InternalError
from sqlalchemy.orm import Session

from marketplace import create_app
from marketplace.accounts.models import User
from marketplace.catalog.models import Product
from marketplace.common.sql import read_alone, read_replica
from marketplace.common.time import utcnow
from marketplace.config import TestConfig
from marketplace.extensions import db
from marketplace.geo.models import County, Province
from marketplace.reports.models import CountyDailySales
from tests.conftest import IsolatedClient, database_beside

REPLICA_COUNTY = "652928"  # only the replica has this county, its seller, listing and sales
REPLICA_PRODUCT_ID = 900_000_001
REPLICA_TITLE = "副本里的红枣"
REPLICA_NET_FEN = 1_234_567
PERIOD = "from=2026-11-01&to=2026-11-11"
ADDRESS = {"recipient": "张三", "phone": "13800138000", "county_adcode": "652927", "detail": "人民路1号"}


@pytest.fixture(scope="module")
def replica_url(database_url, tmp_path_factory):
    """A second database beside the test database, migrated, with committed rows of its own."""
    with database_beside(database_url, "replica") as replica:
        class Migrating(TestConfig):
            SQLALCHEMY_DATABASE_URI = replica
            MEDIA_ROOT = str(tmp_path_factory.mktemp("replica-media"))

        migrating = create_app(Migrating)
        with migrating.app_context():
            upgrade()
            db.engine.dispose()
        _fill_replica(replica)
        yield replica


def _fill_replica(url: str) -> None:
    engine = create_engine(url)
    with Session(engine) as session:
        if session.get(Province, "650000") is None:
            session.add(Province(adcode="650000", name="新疆维吾尔自治区"))
        session.add(County(adcode=REPLICA_COUNTY, name="副本县", province_adcode="650000",
                           is_national_poverty_county=True, is_demonstration_county=False))
        session.flush()  # plain inserts, in the order of their foreign keys
        seller = User(phone="13900000901", display_name="副本卖家", county_adcode=REPLICA_COUNTY)
        session.add(seller)
        session.flush()
        session.add(Product(id=REPLICA_PRODUCT_ID, seller_user_id=seller.id, title=REPLICA_TITLE, category="fruit",
                            unit="jin", net_weight_grams=500, price_fen=2990, stock_units=40,
                            origin_county_adcode=REPLICA_COUNTY, status="active"))
        session.flush()
        session.add(CountyDailySales(business_day=date(2026, 11, 11), county_adcode=REPLICA_COUNTY, orders=3, buyers=3,
                                     sellers=1, units_sold=30, gross_fen=REPLICA_NET_FEN, net_fen=REPLICA_NET_FEN))
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def replica_app(database_url, replica_url, tmp_path_factory):
    """The app with REPLICA_DATABASE_URL pointing at the second database (as postgresql://, which
    means psycopg 3 like DATABASE_URL)."""
    class WithReplica(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        REPLICA_DATABASE_URL = replica_url.replace("postgresql+psycopg://", "postgresql://")
        MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))

    application = create_app(WithReplica)
    application.test_client_class = IsolatedClient
    yield application
    with application.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def on_replica(replica_app):
    """A client of the app whose lagging reads go to the replica."""
    return replica_app.test_client()


def test_a_report_is_computed_on_the_replica_and_without_one_on_the_primary(on_replica, client, build):
    admin = build.headers("admin")  # the caller and their roles are read on the primary

    from_replica = on_replica.get(f"/api/v1/reports/summary?{PERIOD}", headers=admin)
    from_primary = client.get(f"/api/v1/reports/summary?{PERIOD}", headers=admin)

    assert from_replica.status_code == 200, from_replica.json
    assert from_replica.json["figures"]["net_fen"] == REPLICA_NET_FEN
    assert from_replica.json["figures"]["orders"] == 3
    assert from_primary.status_code == 200, from_primary.json
    assert from_primary.json["figures"]["net_fen"] == 0


def test_a_csv_export_and_a_county_ranking_read_the_replica(on_replica, build):
    admin = build.headers("admin")

    ranking = on_replica.get(f"/api/v1/reports/counties?{PERIOD}", headers=admin)
    export = on_replica.get(f"/api/v1/reports/counties.csv?{PERIOD}&lang=en", headers=admin)

    assert [(row["county_adcode"], row["net_fen"]) for row in ranking.json["items"]] == [(REPLICA_COUNTY, REPLICA_NET_FEN)]
    assert export.status_code == 200
    assert f"{REPLICA_COUNTY},副本县" in export.data.decode("utf-8-sig")


def test_an_official_s_scope_is_read_on_the_primary_and_their_figures_on_the_replica(on_replica, build):
    official = build.official(REPLICA_COUNTY)  # the account and its scope exist on the primary only
    headers = {"Authorization": f"Bearer {build.token(official)}"}

    in_scope = on_replica.get(f"/api/v1/reports/summary?{PERIOD}", headers=headers)
    out_of_scope = on_replica.get(f"/api/v1/reports/summary?{PERIOD}&county=652927", headers=headers)

    assert in_scope.status_code == 200, in_scope.json
    assert in_scope.json["figures"]["net_fen"] == REPLICA_NET_FEN
    assert out_of_scope.status_code == 403
    assert out_of_scope.json["error"]["code"] == "out_of_scope"


def test_the_public_catalog_list_and_detail_answer_from_the_replica(on_replica, client, build):
    on_primary_only = build.product(title="主库才有的核桃")

    listed = on_replica.get("/api/v1/products?limit=50")
    detail = on_replica.get(f"/api/v1/products/{REPLICA_PRODUCT_ID}")
    again = on_replica.get(f"/api/v1/products/{REPLICA_PRODUCT_ID}", headers={"If-None-Match": detail.headers["ETag"]})
    without_replica = client.get("/api/v1/products?limit=50")

    titles = [item["title"] for item in listed.json["items"]]
    assert REPLICA_TITLE in titles and on_primary_only.title not in titles
    assert detail.status_code == 200 and detail.json["title"] == REPLICA_TITLE
    assert again.status_code == 304  # the ETag names the row the body was drawn from
    primary_titles = [item["title"] for item in without_replica.json["items"]]
    assert on_primary_only.title in primary_titles and REPLICA_TITLE not in primary_titles


def test_a_storefront_product_page_for_a_visitor_is_drawn_from_the_replica(on_replica):
    page = on_replica.get(f"/products/{REPLICA_PRODUCT_ID}")

    assert page.status_code == 200
    assert REPLICA_TITLE in page.data.decode()


def test_a_seller_s_new_listing_is_written_to_the_primary_and_their_next_read_sees_it(on_replica, build, replica_url):
    seller = build.user("seller")
    seller.seller_verified_at = utcnow()  # publishes without review
    headers = {"Authorization": f"Bearer {build.token(seller)}"}

    created = on_replica.post("/api/v1/products", headers=headers, json={
        "title": "刚上架的苹果", "category": "fruit", "unit": "jin", "net_weight_grams": 500, "price_fen": 1290,
        "stock_units": 20, "publish": True})
    seen_by_seller = on_replica.get(f"/api/v1/products/{created.json['id']}", headers=headers)
    edited = on_replica.patch(f"/api/v1/products/{created.json['id']}", headers={**headers, "If-Match": seen_by_seller.headers["ETag"]},
                              json={"price_fen": 1190})
    after_edit = on_replica.get(f"/api/v1/products/{created.json['id']}", headers=headers)

    assert created.status_code == 201, created.json
    assert created.json["status"] == "active"
    assert seen_by_seller.status_code == 200 and seen_by_seller.headers["ETag"] == created.headers["ETag"]
    assert edited.status_code == 200, edited.json
    assert after_edit.json["price_fen"] == 1190 and after_edit.headers["ETag"] == edited.headers["ETag"]
    assert db.session.get(Product, created.json["id"]).price_fen == 1190  # on the primary
    engine = create_engine(replica_url)
    with engine.connect() as replica:
        assert replica.scalar(text("SELECT count(*) FROM products WHERE title = '刚上架的苹果'")) == 0
    engine.dispose()


def test_a_checkout_is_placed_on_the_primary_and_the_buyer_reads_their_order_back(on_replica, build):
    product = build.product(stock_units=5)
    buyer = build.user("buyer")
    headers = {"Authorization": f"Bearer {build.token(buyer)}"}

    placed = on_replica.post("/api/v1/checkouts", headers={**headers, "Idempotency-Key": "replica-checkout-1"}, json={
        "lines": [{"product_id": product.id, "quantity": 2}], "delivery": {"address": ADDRESS}, "payment_method": "card"})
    bought = on_replica.get("/api/v1/orders?view=bought", headers=headers)

    assert placed.status_code == 201, placed.json
    assert [order["id"] for order in bought.json["items"]] == [order["id"] for order in placed.json["orders"]]
    db.session.refresh(product)
    assert product.stock_units == 3


def test_a_session_that_has_written_reads_its_own_writes_on_the_primary_even_inside_read_replica(replica_app, build):
    with replica_app.app_context():
        build.county(REPLICA_COUNTY, name="主库的同码县")  # flushed in this session's transaction
        with read_replica():
            name = db.session.scalar(select(County.name).where(County.adcode == REPLICA_COUNTY))
            alone = read_alone(text("SELECT name FROM counties WHERE adcode = :adcode"), {"adcode": REPLICA_COUNTY})
        db.session.rollback()
        with read_replica():  # nothing written since: the replica's county
            fresh = db.session.scalar(select(County.name).where(County.adcode == REPLICA_COUNTY))

    assert name == "主库的同码县"
    assert [row.name for row in alone] == ["主库的同码县"]
    assert fresh == "副本县"


def test_nothing_is_written_through_the_replica_bind_and_it_speaks_utc(replica_app):
    with replica_app.app_context(), db.engines["replica"].connect() as connection:
        assert connection.scalar(text("SHOW TimeZone")) == "UTC"
        with pytest.raises(InternalError, match="read-only transaction"):
            connection.execute(text("INSERT INTO provinces (adcode, name) VALUES ('990000', 'x')"))


def test_without_replica_database_url_there_is_no_replica_bind(app):
    with app.app_context():
        assert "replica" not in db.engines
        with read_replica():
            assert db.session.scalar(select(func.count()).select_from(County).where(County.adcode == REPLICA_COUNTY)) == 0


@pytest.mark.parametrize("url", ["mysql://user@host/marketplace", "sqlite:///replica.db", "not a url"])
def test_a_replica_url_of_another_database_refuses_to_start(database_url, url):
    class BadReplica(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url
        REPLICA_DATABASE_URL = url

    with pytest.raises(RuntimeError, match="REPLICA_DATABASE_URL"):
        create_app(BadReplica)
