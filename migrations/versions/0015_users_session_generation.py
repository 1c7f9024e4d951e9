"""Browser sign-ins end everywhere at logout: users.session_generation.

A page session stores the generation of its account at sign-in, and a page request that finds the
account's generation moved on treats the browser as signed out. Logging out, deactivating the
account and setting a new password move it on, so every saved session cookie of that account
stops working (the cookies are signed, not stored, so nothing else could end them).

Existing accounts start at 0. Cookies signed before this revision carry no generation and are
treated as signed out: everyone logs in once more after the upgrade. Adding a column with a
constant default does not rewrite the table (PostgreSQL 11+).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('users', 'session_generation')
