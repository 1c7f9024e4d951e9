"""Unbound extensions, bound to an app in create_app."""
from collections.abc import Callable

import flask_smorest
import marshmallow as ma
from flask import Flask, current_app
from flask.globals import request_ctx
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api as SmorestApi
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy

# Stable constraint names, so that Alembic revisions name what the models declare.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Api(SmorestApi):
    """flask-smorest Api whose errors are documented and produced by marketplace.errors."""

    def _register_error_handlers(self):
        # marketplace.errors registers the one handler for every error.
        pass


class _Arguments(MultiDictProxy):
    """A query string, form or headers for webargs, an absent key answered at once: werkzeug's
    MultiDict.get raises and catches a BadRequestKeyError for it, an exception built for each of a
    schema's fields the request leaves out (the catalog's dozen filters, on every page)."""

    def __getitem__(self, key: str):
        if key not in self.data:
            return ma.missing
        return super().__getitem__(key)


class ArgumentsParser(FlaskParser):
    def _makeproxy(self, multidict, schema, *, cls=_Arguments):
        return super()._makeproxy(multidict, schema, cls=cls)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with the arguments parser above."""

    ARGUMENTS_PARSER = ArgumentsParser()


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
csrf = CSRFProtect()
# Keyed on request.remote_addr: the client itself, or behind TRUSTED_PROXIES hops the client
# ProxyFix found in X-Forwarded-For (see create_app).
limiter = Limiter(key_func=get_remote_address)


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# One allowance of password guesses per client address, drawn on by every login form and
# endpoint alike (the API's and the pages'), so that switching between them gains nothing.
login_attempts = limiter.shared_limit(_login_rate_limit, scope="login", methods=["POST"])


def _register_rate_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


# Each sign-up costs a password hash: one allowance of new accounts per client address, drawn on
# by the API's registration and the sign-up page alike.
registrations = limiter.shared_limit(_register_rate_limit, scope="register", methods=["POST"])


def _image_upload_rate_limit() -> str:
    return current_app.config["IMAGE_UPLOAD_RATE_LIMIT"]


def image_upload_limit(uploader_id: Callable[[], int], photos_sent: Callable[[], int]):
    """One allowance of photos per person, drawn on by the API's photo upload and the listing forms
    alike: decoding a photo is the costliest work a request can ask for. Stacked under the
    decorator that signs the caller in, so that ``uploader_id`` (their account) is known when it is
    checked; ``photos_sent`` counts the request's photos, and a request without any is not counted."""
    return limiter.shared_limit(_image_upload_rate_limit, scope="image_upload", methods=["POST"],
                                key_func=lambda: f"user:{uploader_id()}", cost=photos_sent,
                                exempt_when=lambda: photos_sent() == 0)


def limit_only_limited_views(app: Flask) -> None:
    """Keep Flask-Limiter's per-request hooks off the requests it has nothing to do with.

    Every limit of this app decorates its view (logins, sign-ups, uploads), and a decorated view
    checks its own limits inside its decorator. The extension's before_request check serves only
    default, application and blueprint limits, which this app does not set, yet it costs every
    request (health probes, the catalog, checkouts) a resolution of limits that finds none. It is
    taken out; the header and clean-up hooks then run only for requests a limit looked at.
    Called once the blueprints are registered, so that a limit set on a blueprint is seen."""
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or manager._blueprint_limits:
        raise RuntimeError("Rate limits that are not on a view (default, application or blueprint limits) "
                           "need Flask-Limiter's before_request check; see extensions.limit_only_limited_views.")
    hooks = app.before_request_funcs[None]
    hooks.remove(limiter._check_request_limit)
    after = app.after_request_funcs[None]
    teardown = app.teardown_request_funcs[None]
    inject_headers = next(hook for hook in after if getattr(hook, "args", None) == (limiter,))
    release = limiter._Limiter__release_context

    def limit_headers(response):
        return inject_headers(response) if _limiter_looked() else response

    def release_limits(error=None):
        if _limiter_looked():
            release(error)

    after[after.index(inject_headers)] = limit_headers
    teardown[teardown.index(release)] = release_limits


def _limiter_looked() -> bool:
    """Whether a limit was checked in this request (Flask-Limiter keeps its state on the request
    context, made on first use)."""
    return hasattr(request_ctx._get_current_object(), "_limiter_request_context")


babel = Babel()
