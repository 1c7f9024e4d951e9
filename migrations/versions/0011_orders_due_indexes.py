"""Partial indexes for what the jobs worker settles each round: orders shipped to an address (to
be received automatically) and delivered orders (to complete), by the time they fall due.

Without them each round read the whole orders table twice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 03:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SHIPPED_TO_ADDRESS = "status = 'shipped' AND delivery_kind = 'address'"
DELIVERED = "status = 'delivered'"


def upgrade():
    op.create_index('ix_orders_shipped_to_address', 'orders', ['shipped_at', 'id'], unique=False,
                    postgresql_where=sa.text(SHIPPED_TO_ADDRESS))
    op.create_index('ix_orders_delivered', 'orders', ['delivered_at', 'id'], unique=False,
                    postgresql_where=sa.text(DELIVERED))


def downgrade():
    op.drop_index('ix_orders_delivered', table_name='orders')
    op.drop_index('ix_orders_shipped_to_address', table_name='orders')
