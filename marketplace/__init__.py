"""The rural produce marketplace: a Flask application factory."""
from collections.abc import Mapping
from pathlib import Path

import flask_swagger_ui
from flask import Flask, has_request_context, request, send_from_directory
from sqlalchemy import event
from sqlalchemy.engine import Engine

from marketplace.common.converters import IdConverter
from marketplace.config import INSTANCE_DIR, Config, ProductionConfig, config_from_env
from marketplace.errors import ErrorOut, UnsupportedMediaType, register_error_handlers
from marketplace.extensions import api, babel, csrf, db, limiter, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
# Request bodies the API understands; anything else is 415 before a view runs.
API_BODY_TYPES = ("application/json", "multipart/form-data")


def create_app(config: type[Config] | Mapping | None = None) -> Flask:
    """Build the app from a config class, or from the environment's class plus overrides."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    app.url_map.converters["id"] = IdConverter
    # UTF-8 JSON: Chinese text is half the bytes of \uXXXX escapes on a farmer's slow connection;
    # keys in the order the schemas declare them.
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if isinstance(config, type):
        app.config.from_object(config)
    else:
        base = config_from_env()
        if base is ProductionConfig:
            base.check()
        app.config.from_object(base)
        app.config.update(config or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    from marketplace.web.sell import allow_photo_uploads

    app.before_request(allow_photo_uploads)  # before CSRFProtect reads the body
    csrf.init_app(app)
    limiter.init_app(app)
    from marketplace.web import language

    babel.init_app(app, locale_selector=language.select_locale, default_locale=language.DEFAULT_LOCALE,
                   default_timezone="Asia/Shanghai")
    api.ERROR_SCHEMA = ErrorOut
    api.init_app(app, spec_kwargs={"info": {"description": "Rural produce marketplace: sellers in poverty counties, urban buyers, village service stations."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_converter(IdConverter, IdConverter.openapi_schema)
    app.before_request(_require_known_body_type)


def _require_known_body_type():
    if not request.path.startswith("/api/") or request.method not in ("POST", "PUT", "PATCH"):
        return None
    if request.content_length in (None, 0) and not request.headers.get("Transfer-Encoding"):
        return None
    if request.mimetype not in API_BODY_TYPES:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(API_BODY_TYPES)}, not {request.mimetype or 'an unnamed type'}."
        )
    return None


def register_blueprints(app: Flask) -> None:
    from marketplace import health
    from marketplace.accounts.routes import bp as accounts_bp
    from marketplace.catalog.routes import bp as catalog_bp
    from marketplace.catalog.routes import serve_media
    from marketplace.geo.routes import bp as geo_bp
    from marketplace.orders.routes import bp as orders_bp
    from marketplace.payments.routes import bp as payments_bp
    from marketplace.reports.routes import bp as reports_bp
    from marketplace.reports.routes import review_bp
    from marketplace.stations.routes import bp as stations_bp
    from marketplace.web import compression
    from marketplace.web.routes import bp as web_bp
    from marketplace.web.sell import bp as sell_bp
    from marketplace.web.station import bp as station_bp

    for blueprint in (accounts_bp, geo_bp, stations_bp, catalog_bp, orders_bp, payments_bp, reports_bp, review_bp):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # the API authenticates with bearer tokens, not cookies
    app.register_blueprint(health.bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(sell_bp)
    app.register_blueprint(station_bp)
    app.after_request(compression.gzip_pages)
    app.add_url_rule("/media/<path:key>", endpoint="media", view_func=serve_media)

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_ui_assets(filename):
        return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)


def register_commands(app: Flask) -> None:
    from marketplace.cli import register

    register(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, let SQLAlchemy drive transactions (needed for SAVEPOINT), let
    readers go on while one writer writes (WAL), and make a writer wait its turn (busy timeout)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


# Requests that may write take SQLite's write lock when their transaction begins. A deferred
# transaction that reads first reads a snapshot, and SQLite refuses to let it write once another
# writer has committed since (SQLITE_BUSY_SNAPSHOT, at once, whatever the busy timeout): a
# checkout would fail because a webhook was stored meanwhile. Reads, jobs and the CLI stay deferred.
_WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name == "sqlite":
        writing = has_request_context() and request.method in _WRITING_METHODS
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
