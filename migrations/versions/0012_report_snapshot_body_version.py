"""Stored reports carry the version of their body's shape (report_snapshots.body_version), derived
from the schema that dumped it: a release that changes a report's fields no longer serves the
stored reports of the old shape.

The rows already stored get '', which no schema's version equals: the jobs worker stores them
again on its next round, and until then they are computed live. Going back, the stored reports
are deleted: the older code cannot tell which shape they have.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('report_snapshots', sa.Column('body_version', sa.String(length=16), server_default='', nullable=False))


def downgrade():
    op.execute("DELETE FROM report_snapshots")
    op.drop_column('report_snapshots', 'body_version')
