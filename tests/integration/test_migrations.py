"""Revisions upgrade and downgrade with data in place, on an empty PostgreSQL database created
beside the test database (conftest's ``empty_database``); PostgreSQL only."""
from contextlib import contextmanager
from pathlib import Path

import procrastinate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from procrastinate.schema import SchemaManager
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from marketplace import alembic_include_object, create_app
from marketplace.config import TestConfig
from marketplace.extensions import db
from marketplace.reports import rollup


@contextmanager
def migrating(url: str):
    """An app on that database, inside its own app context, to run revisions with."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(Config)
    with app.app_context():
        try:
            yield db.engine
        finally:
            db.engine.dispose()


def run(engine, sql: str, **params) -> list:
    """One statement in its own transaction; the rows it returns, if any."""
    with engine.begin() as connection:
        result = connection.execute(text(sql), params)
        return result.all() if result.returns_rows else []


def add_user(engine, user_id: int, *roles: str) -> None:
    run(engine, "INSERT INTO users (id, phone, display_name, password_hash, locale, is_active, created_at, updated_at) "
                "VALUES (:id, :phone, '测试', 'x', 'zh_CN', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        id=user_id, phone=f"1390000{user_id:04d}")
    for role in roles:
        grant(engine, user_id, role)


def grant(engine, user_id: int, role: str) -> None:
    run(engine, "INSERT INTO user_roles (user_id, role, granted_at) VALUES (:id, :role, CURRENT_TIMESTAMP)",
        id=user_id, role=role)


def add_wushi_county(engine) -> None:
    """乌什县 and its province, written straight into the tables of the revision under test."""
    run(engine, "INSERT INTO provinces (adcode, name) VALUES ('650000', '新疆维吾尔自治区')")
    run(engine, "INSERT INTO counties (adcode, name, province_adcode, is_national_poverty_county, "
                "is_demonstration_county, updated_at) VALUES ('652927', '乌什县', '650000', true, false, CURRENT_TIMESTAMP)")


def roles_of(engine) -> list[tuple]:
    return [tuple(row) for row in run(engine, "SELECT user_id, role FROM user_roles ORDER BY user_id, role")]


def test_0007_adds_officials_and_report_scopes_and_takes_them_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0006")
        add_wushi_county(engine)
        add_user(engine, 1, "admin")
        add_user(engine, 2, "buyer")
        with pytest.raises(IntegrityError):
            grant(engine, 2, "official")

        upgrade(revision="0007")
        grant(engine, 2, "official")
        add_user(engine, 3, "official")
        run(engine, "INSERT INTO report_scopes (user_id, county_adcode, granted_by_user_id, granted_at) "
                    "VALUES (2, '652927', 1, CURRENT_TIMESTAMP)")
        run(engine, "INSERT INTO report_scopes (user_id, province_adcode, granted_at) VALUES (3, '650000', CURRENT_TIMESTAMP)")
        with pytest.raises(IntegrityError):  # a province or a county, not both
            run(engine, "INSERT INTO report_scopes (user_id, province_adcode, county_adcode, granted_at) "
                        "VALUES (1, '650000', '652927', CURRENT_TIMESTAMP)")
        with pytest.raises(IntegrityError):
            grant(engine, 1, "inspector")
        assert roles_of(engine) == [(1, "admin"), (2, "buyer"), (2, "official"), (3, "official")]

        downgrade(revision="0006")
        assert "report_scopes" not in inspect(engine).get_table_names()
        assert roles_of(engine) == [(1, "admin"), (2, "buyer")]
        with pytest.raises(IntegrityError):
            grant(engine, 2, "official")

        upgrade()
        grant(engine, 2, "official")
        assert "report_scopes" in inspect(engine).get_table_names()
        assert roles_of(engine) == [(1, "admin"), (2, "buyer"), (2, "official")]


def run_without_foreign_keys(engine, *statements: str) -> None:
    """Rows that stand for a real history without the orders, users and products behind them."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SET session_replication_role = replica")
        for statement in statements:
            cursor.execute(statement)
        connection.commit()
        cursor.execute("RESET session_replication_role")
        connection.commit()
    finally:
        connection.close()


def member_indexes(engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("county_daily_members")}


LEDGER = ("INSERT INTO sales_ledger (id, kind, business_day, occurred_at, order_id, order_line_id, refund_id, "
          "exclusion_id, product_id, category, origin_county_adcode, seller_user_id, buyer_user_id, units, amount_fen) "
          "VALUES ")
# Order 100 (lines 10 and 11) sold on 4 November and excluded; a refund of line 10 on the 6th after
# the exclusion (and its money-only exclusion row); order 101 (line 12, another buyer, same seller) kept.
HISTORY = [
    LEDGER + "(1, 'sale', '2026-11-04', '2026-11-04 03:00:00', 100, 10, NULL, NULL, 1, 'fruit', '652927', 2, 3, 2, 2500)",
    LEDGER + "(2, 'sale', '2026-11-04', '2026-11-04 03:00:00', 100, 11, NULL, NULL, 2, 'nuts', '652927', 2, 3, 1, 4800)",
    LEDGER + "(3, 'sale', '2026-11-04', '2026-11-04 05:00:00', 101, 12, NULL, NULL, 1, 'fruit', '652927', 2, 4, 1, 1250)",
    "INSERT INTO sale_exclusions (id, order_id, reason, excluded_by_user_id, excluded_at) "
    "VALUES (1, 100, '自买自卖', 1, '2026-11-05 01:00:00')",
    LEDGER + "(4, 'exclusion', '2026-11-04', '2026-11-05 01:00:00', 100, 10, NULL, 1, 1, 'fruit', '652927', 2, 3, -2, -2500)",
    LEDGER + "(5, 'exclusion', '2026-11-04', '2026-11-05 01:00:00', 100, 11, NULL, 1, 2, 'nuts', '652927', 2, 3, -1, -4800)",
    LEDGER + "(6, 'refund', '2026-11-06', '2026-11-06 02:00:00', 100, 10, 1, NULL, 1, 'fruit', '652927', 2, 3, -1, -1250)",
    LEDGER + "(7, 'exclusion', '2026-11-06', '2026-11-06 02:00:00', 100, 10, NULL, 1, 1, 'fruit', '652927', 2, 3, 1, 1250)",
    "INSERT INTO sales_ledger_queue (ledger_id) VALUES (7)",  # the rest was rolled up (counting order 100)
    "INSERT INTO county_daily_sales (business_day, county_adcode, orders, buyers, sellers, units_sold, units_refunded, "
    "gross_fen, refunded_fen, units_excluded, excluded_fen, net_fen) "
    "VALUES ('2026-11-04', '652927', 2, 2, 1, 4, 0, 8550, 0, 3, 7300, 1250)",
    "INSERT INTO county_daily_members (business_day, county_adcode, kind, member_id) VALUES "
    "('2026-11-04', '652927', 'order', 100), ('2026-11-04', '652927', 'order', 101), "
    "('2026-11-04', '652927', 'buyer', 3), ('2026-11-04', '652927', 'buyer', 4), ('2026-11-04', '652927', 'seller', 2)",
    "INSERT INTO rollup_state (name, last_run_at, rows_rolled_up, version) "
    "VALUES ('county_daily_sales', '2026-11-06 03:00:00', 6, 5)",
]


@pytest.mark.real_commits  # the app migrated here has its own sessions, not the test's transaction
def test_0007_marks_earlier_exclusions_and_rolls_everything_up_again_without_them_in_the_counts(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0006")
        add_wushi_county(engine)
        run_without_foreign_keys(engine, *HISTORY)

        upgrade(revision="0007")
        marked = run(engine, "SELECT id, count_change FROM sales_ledger ORDER BY id")
        queued = run(engine, "SELECT ledger_id FROM sales_ledger_queue ORDER BY ledger_id")
        emptied = [run(engine, f"SELECT count(*) FROM {table}")[0][0]
                   for table in ("county_daily_sales", "county_daily_category_sales", "county_daily_members")]
        version = run(engine, "SELECT version FROM rollup_state")[0][0]
        assert rollup.roll_up_all() == 7
        day = run(engine, "SELECT orders, buyers, sellers, gross_fen, excluded_fen, net_fen FROM county_daily_sales "
                          "WHERE business_day = '2026-11-04'")

        assert marked == [(1, 0), (2, 0), (3, 0), (4, -1), (5, -1), (6, 0), (7, 0)]
        assert [row[0] for row in queued] == [1, 2, 3, 4, 5, 6, 7]
        assert emptied == [0, 0, 0] and version == 6  # stored reports no longer hold
        assert "ix_county_daily_members_county" in member_indexes(engine)
        assert day == [(1, 1, 1, 8550, 7300, 1250)]  # order 100 and its buyer are out of the counts

        downgrade(revision="0006")
        columns = {table: {column["name"] for column in inspect(engine).get_columns(table)}
                   for table in ("sales_ledger", "county_daily_members")}
        assert "count_change" not in columns["sales_ledger"] and "sale_lines" not in columns["county_daily_members"]
        assert "ix_county_daily_members_county" not in member_indexes(engine)
        assert run(engine, "SELECT count(*) FROM sales_ledger")[0][0] == 7
        assert run(engine, "SELECT count(*) FROM sales_ledger_queue")[0][0] == 7
        assert run(engine, "SELECT count(*) FROM county_daily_sales")[0][0] == 0


def _rows(engine, table: str) -> int:
    return run(engine, f"SELECT count(*) FROM {table}")[0][0]


def test_0009_altering_users_and_products_keeps_the_rows_that_reference_them(empty_database):
    """0009 alters users and products, which must not take the roles and tokens of users, or the
    photos of products, with it."""
    with migrating(empty_database) as engine:
        upgrade(revision="0008")
        add_wushi_county(engine)
        add_user(engine, 1, "buyer")
        add_user(engine, 2, "seller", "buyer")
        run(engine, "INSERT INTO api_tokens (id, user_id, token_digest, created_at, expires_at) "
                    "VALUES (1, 1, 'digest', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        run(engine, "INSERT INTO products (id, seller_user_id, title, description, category, unit, price_fen, stock_units, "
                    "units_sold, min_order_units, origin_county_adcode, ships_within_days, status, created_at, updated_at, "
                    "version) VALUES (1, 2, '核桃', '', 'nuts', 'jin', 1250, 10, 0, 1, '652927', 3, 'active', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")
        run(engine, "INSERT INTO product_images (id, product_id, position, image_key, thumbnail_key, width, height, "
                    "created_at) VALUES (1, 1, 1, 'a.jpg', 'a-t.jpg', 800, 600, CURRENT_TIMESTAMP)")

        upgrade()

        assert roles_of(engine) == [(1, "buyer"), (2, "buyer"), (2, "seller")]
        assert (_rows(engine, "api_tokens"), _rows(engine, "products"), _rows(engine, "product_images")) == (1, 1, 1)


def test_0010_adds_take_stock_and_takes_it_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0009")
        add_wushi_county(engine)
        add_user(engine, 2, "seller")
        run(engine, "INSERT INTO products (id, seller_user_id, title, description, category, unit, price_fen, stock_units, "
                    "units_sold, min_order_units, origin_county_adcode, ships_within_days, status, created_at, updated_at, "
                    "version) VALUES (1, 2, '核桃', '', 'nuts', 'jin', 1250, 10, 0, 1, '652927', 3, 'active', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")

        def take_stock_defined() -> bool:
            return run(engine, "SELECT count(*) FROM pg_proc WHERE proname = 'take_stock'")[0][0] == 1

        upgrade(revision="0010")
        assert take_stock_defined() is True
        assert run(engine, "SELECT take_stock(ARRAY[1], ARRAY[4])") == [(1,)]
        with pytest.raises(DBAPIError, match="not enough stock"):
            run(engine, "SELECT take_stock(ARRAY[1], ARRAY[7])")
        assert run(engine, "SELECT stock_units, units_sold FROM products") == [(6, 4)]

        downgrade(revision="0009")
        assert take_stock_defined() is False
        assert _rows(engine, "products") == 1
        upgrade()
        assert take_stock_defined() is True
        downgrade(revision="0010")  # 0011's indexes come and go too
        upgrade()
        assert {"ix_orders_shipped_to_address", "ix_orders_delivered"} <= {
            index["name"] for index in inspect(engine).get_indexes("orders")}


def snapshot_columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("report_snapshots")}


def test_0012_gives_stored_reports_a_body_version_none_matches_and_deletes_them_going_back(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0011")
        run(engine, "INSERT INTO report_snapshots (report, preset, business_day, rollup_version, computed_at, body) "
                    "VALUES ('summary', 'today', '2026-12-05', 3, CURRENT_TIMESTAMP, '{}')")

        upgrade(revision="0012")
        assert run(engine, "SELECT report, body_version FROM report_snapshots") == [("summary", "")]
        with pytest.raises(IntegrityError):
            run(engine, "UPDATE report_snapshots SET body_version = NULL")
        run(engine, "UPDATE report_snapshots SET body_version = '0123456789abcdef'")

        downgrade(revision="0011")
        assert "body_version" not in snapshot_columns(engine)
        assert _rows(engine, "report_snapshots") == 0

        upgrade()
        assert "body_version" in snapshot_columns(engine)


def test_the_models_declare_what_the_migrations_made(app):
    """Alembic's autogenerate finds nothing to add, drop or retype between the models and the
    database migrated to head (tables, columns, types, indexes, unique and foreign keys)."""
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": alembic_include_object}), db.metadata)
    assert differences == []


PROCRASTINATE_TABLES = {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
                        "procrastinate_workers"}


def test_0014_stores_the_pinned_procrastinate_schema():
    """The SQL 0014 runs is the schema of the procrastinate installed (requirements.txt pins it):
    upgrading the library must come with a revision of its own."""
    stored = (Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0014_procrastinate_3_10_0.sql").read_text()
    assert procrastinate.__version__ == "3.10.0"
    assert stored == SchemaManager.get_schema()


def test_0014_creates_the_job_queue_and_takes_all_of_it_away_again(empty_database):
    def procrastinate_objects(engine) -> list[tuple]:
        return [tuple(row) for row in run(engine, """
            SELECT 'function', count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'
            UNION ALL SELECT 'type', count(*) FROM pg_type WHERE typname IN (
              'procrastinate_job_status', 'procrastinate_job_event_type', 'procrastinate_job_to_defer_v1')
            UNION ALL SELECT 'table', count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate%'""")]

    with migrating(empty_database) as engine:
        upgrade(revision="0013")
        assert [count for _, count in procrastinate_objects(engine)] == [0, 0, 0]

        upgrade(revision="0014")
        assert PROCRASTINATE_TABLES <= set(inspect(engine).get_table_names())
        run(engine, "INSERT INTO procrastinate_jobs (queue_name, task_name) VALUES ('default', 'roll_up_sales')")
        assert run(engine, "SELECT type::text FROM procrastinate_events") == [("deferred",)]  # its triggers work

        downgrade(revision="0013")
        assert [count for _, count in procrastinate_objects(engine)] == [0, 0, 0]
        assert not PROCRASTINATE_TABLES & set(inspect(engine).get_table_names())

        upgrade()
        assert PROCRASTINATE_TABLES <= set(inspect(engine).get_table_names())


def user_columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("users")}


def test_0015_gives_every_account_a_session_generation_and_takes_it_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0014")
        add_user(engine, 1, "buyer")

        upgrade(revision="0015")
        assert run(engine, "SELECT id, session_generation FROM users") == [(1, 0)]
        add_user(engine, 2, "seller")  # an insert that names no generation starts at 0
        run(engine, "UPDATE users SET session_generation = session_generation + 1 WHERE id = 1")
        assert run(engine, "SELECT id, session_generation FROM users ORDER BY id") == [(1, 1), (2, 0)]
        with pytest.raises(IntegrityError):
            run(engine, "UPDATE users SET session_generation = NULL")

        downgrade(revision="0014")
        assert "session_generation" not in user_columns(engine)
        assert roles_of(engine) == [(1, "buyer"), (2, "seller")]

        upgrade()
        assert "session_generation" in user_columns(engine)


def claim_tables(engine) -> set[str]:
    return {name for name in inspect(engine).get_table_names() if name.startswith("claim")}


def test_0016_adds_the_claims_tables_with_one_pending_claim_per_line_and_takes_them_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0015")
        add_user(engine, 1, "buyer")

        upgrade(revision="0016")
        assert claim_tables(engine) == {"claims", "claim_photos", "claim_events"}
        pending = run(engine, "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_claims_one_pending_per_line'")
        assert len(pending) == 1
        assert "UNIQUE" in pending[0][0] and "'open'" in pending[0][0] and "'escalated'" in pending[0][0]

        downgrade(revision="0015")
        assert claim_tables(engine) == set()
        assert roles_of(engine) == [(1, "buyer")]

        upgrade()
        assert claim_tables(engine) == {"claims", "claim_photos", "claim_events"}


def test_0017_adds_campaigns_whose_units_and_limits_hold_and_takes_them_away_again(empty_database):
    with migrating(empty_database) as engine:
        upgrade(revision="0016")
        add_wushi_county(engine)
        add_user(engine, 1, "admin")
        add_user(engine, 2, "seller")
        add_user(engine, 3, "buyer")
        run(engine, "INSERT INTO products (id, seller_user_id, title, description, category, unit, price_fen, stock_units, "
                    "units_sold, min_order_units, origin_county_adcode, ships_within_days, status, created_at, updated_at, "
                    "version) VALUES (1, 2, '核桃', '', 'nuts', 'jin', 1250, 10, 0, 1, '652927', 3, 'active', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")

        upgrade(revision="0017")
        window = "'2027-11-11 12:00+00', '2027-11-11 14:00+00'"
        run(engine, "INSERT INTO campaigns (id, name_zh, name_en, starts_at, ends_at, status, created_by_user_id, "
                    f"created_at, updated_at) VALUES (1, '专场', 'Session', {window}, 'active', 1, now(), now())")
        item = ("INSERT INTO campaign_items (campaign_id, product_id, campaign_price_fen, stock_cap, per_buyer_limit, "
                "state, starts_at, ends_at, proposed_by_user_id, created_at, updated_at) "
                f"VALUES (1, 1, 990, 3, 2, 'approved', {window}, 1, now(), now()) RETURNING id")
        item_id = run(engine, item)[0][0]
        with pytest.raises(IntegrityError, match="ex_campaign_items_one_campaign_at_a_time"):
            run(engine, item)  # the same listing again in an overlapping window
        allow = "SELECT take_campaign_allowance(ARRAY[:item], ARRAY[:units], 3)"
        take = "SELECT take_campaign_units(ARRAY[:item], ARRAY[:units], ARRAY[990], '2027-11-11 12:00+00')"
        assert run(engine, allow, item=item_id, units=2) == [(1,)]
        assert run(engine, take, item=item_id, units=2) == [(1,)]
        with pytest.raises(DBAPIError, match="campaign line refused"):
            run(engine, allow, item=item_id, units=1)  # the buyer's limit of 2
        with pytest.raises(DBAPIError, match="campaign line refused"):
            run(engine, take, item=item_id, units=2)  # the cap of 3, 2 sold
        assert run(engine, "SELECT units_sold FROM campaign_items") == [(2,)]
        assert run(engine, "SELECT units FROM campaign_allowances") == [(2,)]

        downgrade(revision="0016")
        assert "campaign_item_id" not in {column["name"] for column in inspect(engine).get_columns("order_lines")}
        assert not {"campaigns", "campaign_items", "campaign_allowances"} & set(inspect(engine).get_table_names())
        assert _rows(engine, "products") == 1
        upgrade()
