"""The jobs worker's queue: procrastinate's schema (tables, types, functions and triggers, all
named procrastinate_*), as procrastinate 3.10.0 ships it.

The SQL is procrastinate's own ``SchemaManager.get_schema()`` of the pinned version, stored
beside this revision (0014_procrastinate_3_10_0.sql; a test checks it still matches the
installed library), so upgrading the library later takes a revision of its own that runs
procrastinate's migration scripts, rather than silently changing what this one creates. The
tables are not declared as models: only procrastinate and marketplace/common/queue.py use them,
and Alembic's comparison of models and database skips them (marketplace.alembic_include_object).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:00:00

"""
from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

SCHEMA_SQL = Path(__file__).with_name("0014_procrastinate_3_10_0.sql")


def upgrade():
    # Many statements and dollar-quoted function bodies: sent as one simple query, with no
    # parameters, straight through psycopg (as procrastinate applies it), not parsed for binds.
    op.get_bind().connection.driver_connection.execute(SCHEMA_SQL.read_text())


def downgrade():
    op.execute("DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
               "procrastinate_workers CASCADE")
    op.execute("""
        DO $$
        DECLARE routine regprocedure;
        BEGIN
            FOR routine IN SELECT p.oid::regprocedure FROM pg_proc p
                           WHERE p.pronamespace = current_schema()::regnamespace
                             AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || routine;
            END LOOP;
        END $$""")
    op.execute("DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status")
