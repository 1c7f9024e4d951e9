"""Alembic environment: runs revisions against the app's database (Flask-Migrate)."""
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
# Keep the application's own loggers working after a migration run in the same process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
target_metadata = migrate_ext.db.metadata


def run_migrations_offline():
    """Emit SQL for the configured URL without connecting."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run revisions over a live connection."""

    def skip_empty_autogenerate(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(migrate_ext.configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table in batch mode by copying it, dropping the old one and renaming
            # the copy. With foreign keys enforced, that drop deletes the rows that reference the
            # table (ON DELETE CASCADE: a user's roles and tokens) or is refused. The pragma only
            # takes effect outside a transaction, so it goes to the driver before ours begins;
            # all the revisions then run in that one transaction (SQLite's DDL is transactional).
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            conf_args.setdefault("transactional_ddl", True)
        try:
            context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
            with context.begin_transaction():
                broken_before = _broken_references(connection) if sqlite else set()
                context.run_migrations()
                if sqlite and (broken := _broken_references(connection) - broken_before):
                    raise RuntimeError("The revisions left rows referencing missing rows "
                                       f"(table, rowid, parent table): {sorted(broken)[:10]}")
        finally:
            if sqlite:
                connection.rollback()  # nothing is left open: the revisions committed or failed
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def _broken_references(connection) -> set[tuple]:
    """Rows whose foreign keys point at nothing (SQLite), to be checked with enforcement off."""
    return {tuple(row[:3]) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
