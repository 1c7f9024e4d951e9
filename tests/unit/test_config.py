"""Configuration comes from the environment; production refuses to start without a secret, a database
or Redis; settings that cannot be right refuse to start."""
import importlib

import pytest
from sqlalchemy.engine import make_url

import marketplace.config as config_module
from marketplace import postgresql_url, trusted_proxy_hops
from marketplace.common.logs import configure_logging
from marketplace.local_postgres import LocalPostgres


@pytest.fixture
def fresh_config(monkeypatch):
    """Re-read marketplace.config under a patched environment, then restore it."""

    def load(**environment):
        for name in ("SECRET_KEY", "DATABASE_URL", "MARKETPLACE_ENV", "FLASK_ENV", "REDIS_URL", "LOG_FORMAT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config_module)

    yield load
    monkeypatch.undo()
    importlib.reload(config_module)


def test_production_without_secret_key_refuses_to_start(fresh_config):
    module = fresh_config(MARKETPLACE_ENV="production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        module.config_from_env().check()


def test_production_reads_secret_and_database_from_the_environment(fresh_config):
    module = fresh_config(MARKETPLACE_ENV="production", SECRET_KEY="s" * 32,
                          DATABASE_URL="postgresql+psycopg://app@db.internal/marketplace",
                          REDIS_URL="redis://redis.internal:6379/0")
    chosen = module.config_from_env()
    chosen.check()
    assert chosen.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://app@db.internal/marketplace"
    assert chosen.SESSION_COOKIE_SECURE is True
    assert chosen.RATELIMIT_STORAGE_URI == "redis://redis.internal:6379/0"
    assert chosen.LOG_FORMAT == "json"


def test_production_without_redis_url_refuses_to_start(fresh_config):
    module = fresh_config(MARKETPLACE_ENV="production", SECRET_KEY="s" * 32,
                          DATABASE_URL="postgresql+psycopg://app@db.internal/marketplace")
    with pytest.raises(RuntimeError, match=r"REDIS_URL must be set in production.*redis://"):
        module.config_from_env().check()


def test_development_logs_text_unless_told_otherwise(fresh_config):
    assert fresh_config().config_from_env().LOG_FORMAT == "text"
    assert fresh_config(LOG_FORMAT="json").config_from_env().LOG_FORMAT == "json"


@pytest.mark.parametrize("value", ["-1", "1.5", "two", "1e3", " ", "+1"])
def test_trusted_proxies_that_are_not_a_count_refuse_to_start(value):
    with pytest.raises(RuntimeError, match="TRUSTED_PROXIES must be the number of proxies"):
        trusted_proxy_hops(value)


def test_trusted_proxies_is_a_count_of_hops():
    assert [trusted_proxy_hops(v) for v in ("0", "1", " 2 ", 3, None)] == [0, 1, 2, 3, 0]


def test_unknown_log_format_refuses_to_start():
    with pytest.raises(RuntimeError, match="LOG_FORMAT must be 'json' or 'text'"):
        configure_logging("yaml")


def test_default_database_is_the_embedded_postgresql_under_instance(fresh_config):
    module = fresh_config()
    url = make_url(module.config_from_env().SQLALCHEMY_DATABASE_URI)
    assert (url.drivername, url.database) == ("postgresql+psycopg", "marketplace")
    assert url.query["host"] == str(LocalPostgres(module.INSTANCE_DIR / "postgres").socket_dir)


def test_production_without_database_url_refuses_to_start(fresh_config):
    module = fresh_config(MARKETPLACE_ENV="production", SECRET_KEY="s" * 32)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        module.config_from_env().check()


@pytest.mark.parametrize("url", ["mysql://root@localhost/marketplace", "mssql+pyodbc://sa@db/marketplace", "marketplace.db", ""])
def test_only_postgresql_urls_are_accepted(url):
    with pytest.raises(RuntimeError, match="PostgreSQL|DATABASE_URL"):
        postgresql_url(url)


def test_plain_postgresql_urls_mean_psycopg_3():
    assert postgresql_url("postgres://app@db/marketplace") == "postgresql+psycopg://app@db/marketplace"
    assert postgresql_url("postgresql://app@db/marketplace") == "postgresql+psycopg://app@db/marketplace"


def test_redis_url_becomes_the_rate_limit_storage(fresh_config):
    module = fresh_config(REDIS_URL="redis://127.0.0.1:6379/0")
    assert module.config_from_env().RATELIMIT_STORAGE_URI == "redis://127.0.0.1:6379/0"


def test_unknown_environment_name_is_refused(fresh_config):
    module = fresh_config(MARKETPLACE_ENV="staging")
    with pytest.raises(RuntimeError, match="Unknown MARKETPLACE_ENV"):
        module.config_from_env()
