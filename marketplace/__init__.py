"""The rural produce marketplace: a Flask application factory."""
import inspect
from collections.abc import Mapping
from pathlib import Path

import flask_swagger_ui
from flask import Flask, current_app, request, send_from_directory
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from marketplace.common import json_provider, storage
from marketplace.common.converters import IdConverter
from marketplace.common.logs import configure_logging
from marketplace.common.sql import REPLICA_BIND
from marketplace.config import INSTANCE_DIR, Config, ProductionConfig, config_from_env
from marketplace.errors import ErrorOut, UnsupportedMediaType, register_error_handlers
from marketplace.extensions import api, babel, csrf, db, limit_only_limited_views, limiter, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
# Request bodies the API understands; anything else is 415 before a view runs.
API_BODY_TYPES = ("application/json", "multipart/form-data")


class Marketplace(Flask):
    """Flask, for an app whose views and hooks are all plain functions (``synchronous_only`` checks
    it when the app is built): Flask asks of each view, hook and handler on every request whether it
    is a coroutine, some fifteen times a request; here the answer is known."""

    def ensure_sync(self, func):
        return func


def synchronous_only(app: Flask) -> None:
    """Refuse to build an app with an ``async def`` view, hook or error handler (Marketplace runs
    them as plain functions, which would hand back an unawaited coroutine)."""
    hooks = [app.view_functions.values(), app.teardown_appcontext_funcs]
    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                     app.url_value_preprocessors, app.url_default_functions, app.template_context_processors):
        hooks.extend(registry.values())
    hooks.extend(handlers for codes in app.error_handler_spec.values() for by_class in codes.values()
                 for handlers in [by_class.values()])
    for func in (func for group in hooks for func in group):
        if inspect.iscoroutinefunction(getattr(func, "func", func)):
            raise RuntimeError(f"{func!r} is a coroutine function; this app runs views and hooks synchronously.")


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, without its cost on requests that send none (the API, probes,
    a first visit): the signing serializer is built when a cookie is to be read or written, once per
    key, not on every request."""

    def __init__(self):
        self._serializers = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self._serializers:
            self._serializers = {keys: super().get_signing_serializer(app)}  # the key changes only in tests
        return self._serializers[keys]

    def open_session(self, app: Flask, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: type[Config] | Mapping | None = None) -> Flask:
    """Build the app from a config class, or from the environment's class plus overrides."""
    app = Marketplace(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    app.session_interface = SessionCookies()
    app.url_map.converters["id"] = IdConverter
    json_provider.init_app(app)  # UTF-8, keys in the schemas' order, written by orjson
    if isinstance(config, type):
        app.config.from_object(config)
    else:
        base = config_from_env()
        if base is ProductionConfig:
            base.check()
        app.config.from_object(base)
        app.config.update(config or {})
    app.config["SQLALCHEMY_DATABASE_URI"] = postgresql_url(app.config.get("SQLALCHEMY_DATABASE_URI"))
    app.config["TRUSTED_PROXIES"] = trusted_proxy_hops(app.config.get("TRUSTED_PROXIES"))
    configure_logging(app.config["LOG_FORMAT"])
    trust_proxies(app)
    if app.config.get("REPLICA_DATABASE_URL"):  # reads that tolerate lag (common.sql.read_replica)
        app.config["SQLALCHEMY_BINDS"] = {**app.config.get("SQLALCHEMY_BINDS", {}),
                                          REPLICA_BIND: postgresql_url(app.config["REPLICA_DATABASE_URL"], "REPLICA_DATABASE_URL")}

    register_extensions(app)
    register_blueprints(app)
    limit_only_limited_views(app)
    register_error_handlers(app)
    register_commands(app)
    synchronous_only(app)
    return app


def postgresql_url(url: str | None, setting: str = "DATABASE_URL") -> str:
    """The database URL for psycopg 3; PostgreSQL is the only database, anything else is refused
    before a request finds out (postgres:// and postgresql:// are taken to mean psycopg 3).
    ``setting`` names the variable the URL came from, for the message."""
    if not url:
        raise RuntimeError("No database configured: set DATABASE_URL (tests: TEST_DATABASE_URL) to a "
                           "postgresql+psycopg:// URL.")
    scheme, separator, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    if scheme != "postgresql+psycopg" or not separator:
        raise RuntimeError(f"PostgreSQL is the only database this service runs on; {scheme!r} URLs are not "
                           f"supported ({setting}). Use postgresql+psycopg://user@host/database.")
    return url


def alembic_include_object(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic compares the models with the database, except for the job queue's tables (migration
    0014 makes them from procrastinate's own schema; no model declares them)."""
    return not (name or "").startswith("procrastinate_")


def trusted_proxy_hops(value) -> int:
    """TRUSTED_PROXIES as a number of hops; anything else is refused before a request is keyed on
    an address it should not believe."""
    text = str(value if value is not None else 0).strip()
    if not (text.isascii() and text.isdigit()):  # no sign, no fraction: a count of proxies
        raise RuntimeError(f"TRUSTED_PROXIES must be the number of proxies in front of the app (0, 1, 2...), "
                           f"not {value!r}.")
    return int(text)


def trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES hops, take the client's address and scheme from what those proxies
    appended to X-Forwarded-For and X-Forwarded-Proto (the limits key on that address). The Host
    header is not taken from X-Forwarded-Host: the proxies in front pass Host through (HAProxy by
    default, nginx with `proxy_set_header Host $host`), and a forwarded host a proxy did not
    overwrite would let a client choose the host of the trace pages' absolute URLs."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def register_extensions(app: Flask) -> None:
    storage.init_app(app)  # a media configuration that cannot work refuses to start
    db.init_app(app)
    with app.app_context():
        event.listen(db.engine, "connect", _speak_utc)
        if REPLICA_BIND in db.engines:
            event.listen(db.engines[REPLICA_BIND], "connect", _speak_utc)
            event.listen(db.engines[REPLICA_BIND], "connect", _read_only)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True, include_object=alembic_include_object)
    from marketplace.web.sell import allow_photo_uploads

    app.before_request(allow_photo_uploads)  # before CSRFProtect reads the body
    csrf.init_app(app)
    app.before_request(_check_csrf)
    limiter.init_app(app)
    from marketplace.web import language

    babel.init_app(app, locale_selector=language.select_locale, default_locale=language.DEFAULT_LOCALE,
                   default_timezone="Asia/Shanghai")
    api.ERROR_SCHEMA = ErrorOut
    api.init_app(app, spec_kwargs={"info": {"description": "Rural produce marketplace: sellers in poverty counties, urban buyers, village service stations."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_converter(IdConverter, IdConverter.openapi_schema)
    app.before_request(_require_known_body_type)
    from marketplace import monitoring

    monitoring.init_app(app)


def _check_csrf():
    """The CSRF token of a request that changes something (the API's blueprints are exempt: they
    authenticate with bearer tokens, not cookies)."""
    if request.method in current_app.config["WTF_CSRF_METHODS"] and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)


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


def _speak_utc(dbapi_connection, connection_record) -> None:
    """Times are stored in UTC, and every connection reads and writes them in UTC, whatever the
    server's own TimeZone (an embedded cluster takes its machine's)."""
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _read_only(dbapi_connection, connection_record) -> None:
    """Nothing is written through the replica bind: a streaming standby refuses writes anyway,
    and a writable copy (a logical replica, a misconfigured URL) must not drift from the primary."""
    dbapi_connection.execute("SET default_transaction_read_only = on")
    dbapi_connection.commit()


def register_blueprints(app: Flask) -> None:
    from marketplace import health
    from marketplace.accounts.routes import bp as accounts_bp
    from marketplace.campaigns.routes import bp as campaigns_bp
    from marketplace.catalog.routes import bp as catalog_bp
    from marketplace.catalog.routes import serve_media
    from marketplace.claims.routes import bp as claims_bp
    from marketplace.flows.routes import bp as flows_bp
    from marketplace.geo.routes import bp as geo_bp
    from marketplace.orders.routes import bp as orders_bp
    from marketplace.payments.routes import bp as payments_bp
    from marketplace.reports.routes import bp as reports_bp
    from marketplace.reports.routes import review_bp
    from marketplace.stations.routes import bp as stations_bp
    from marketplace.web import compression, security_headers
    from marketplace.web.admin_campaigns import bp as admin_campaigns_bp
    from marketplace.web.admin_claims import bp as admin_bp  # web.admin's blueprint, with its claims pages
    from marketplace.web.cart import bp as cart_bp
    from marketplace.web.checkout import bp as buy_bp
    from marketplace.web.claims import bp as claim_pages_bp
    from marketplace.web.my_orders import bp as my_orders_bp
    from marketplace.web.routes import bp as web_bp
    from marketplace.web.sell import bp as sell_bp
    from marketplace.web.sell_campaigns import bp as sell_campaigns_bp
    from marketplace.web.station import bp as station_bp
    from marketplace.web.storefront import bp as shop_bp
    from marketplace.web.trace import bp as trace_bp

    for blueprint in (accounts_bp, geo_bp, stations_bp, catalog_bp, campaigns_bp, orders_bp, payments_bp, flows_bp,
                      claims_bp,
                      reports_bp, review_bp):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # the API authenticates with bearer tokens, not cookies
    app.register_blueprint(health.bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(sell_bp)
    app.register_blueprint(sell_campaigns_bp)
    app.register_blueprint(station_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(admin_campaigns_bp)
    for blueprint in (shop_bp, trace_bp, cart_bp, buy_bp, my_orders_bp):  # the buyers' storefront
        app.register_blueprint(blueprint)
    app.register_blueprint(claim_pages_bp)  # claims, as the buyer, the seller and the station partner see them
    app.after_request(compression.gzip_pages)
    security_headers.init_app(app)  # after the API's docs page is registered (it gets its own policy)
    app.add_url_rule("/media/<path:key>", endpoint="media", view_func=serve_media)

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_ui_assets(filename):
        return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)


def register_commands(app: Flask) -> None:
    from marketplace.cli import register

    register(app)
