"""Unbound extensions, bound to an app in create_app."""
from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api as SmorestApi
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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
babel = Babel()
