"""Stored whole-country reports (report_snapshots) and the rollup version they are computed from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:20:27.466110

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_snapshots',
    sa.Column('report', sa.String(length=20), nullable=False),
    sa.Column('preset', sa.String(length=20), nullable=False),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('rollup_version', sa.BigInteger(), nullable=False),
    sa.Column('counties_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('report', 'preset', name=op.f('pk_report_snapshots'))
    )
    with op.batch_alter_table('rollup_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.BigInteger(), nullable=False, server_default='0'))



def downgrade():
    with op.batch_alter_table('rollup_state', schema=None) as batch_op:
        batch_op.drop_column('version')

    op.drop_table('report_snapshots')
