"""The buyers' storefront: saved carts, the address book, trace tokens, and what an order line
copies for its trace page.

- cart_lines: a signed-in buyer's cart, one row per product (a visitor's cart lives in a cookie
  and joins this one at login).
- delivery_addresses: the addresses a buyer has delivered to, last used first; the checkout
  upserts the one it delivers to (the unique key makes the same address one row).
- products.trace_token and order_lines.trace_token: the unguessable public names of their trace
  pages, drawn by PostgreSQL (gen_random_uuid, from its strong random source) for existing and
  new rows alike, so the checkout's insert needs no token of its own.
- order_lines.origin_village_id and harvest_date: copied at sale time like the origin county, so a
  trace page shows what was sold even after the listing is edited. Lines sold before this
  revision get the listing's values as they are now, the closest record there is.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cart_lines',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('quantity BETWEEN 1 AND 10000', name=op.f('ck_cart_lines_quantity_in_range')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_cart_lines_product_id_products'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cart_lines_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'product_id', name=op.f('pk_cart_lines')),
    )
    op.create_table(
        'delivery_addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('recipient_name', sa.String(length=60), nullable=False),
        sa.Column('recipient_phone', sa.String(length=20), nullable=False),
        sa.Column('county_adcode', sa.String(length=6), nullable=False),
        sa.Column('detail', sa.String(length=200), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'],
                                name=op.f('fk_delivery_addresses_county_adcode_counties')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_delivery_addresses_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_addresses')),
        sa.UniqueConstraint('user_id', 'recipient_name', 'recipient_phone', 'county_adcode', 'detail',
                            name=op.f('uq_delivery_addresses_same_address')),
    )
    op.create_index('ix_delivery_addresses_user_last_used', 'delivery_addresses', ['user_id', 'last_used_at'])

    for table in ('products', 'order_lines'):
        op.add_column(table, sa.Column('trace_token', sa.Uuid(), server_default=sa.text('gen_random_uuid()'),
                                       nullable=False))
        op.create_unique_constraint(op.f(f'uq_{table}_trace_token'), table, ['trace_token'])
    op.add_column('order_lines', sa.Column('origin_village_id', sa.Integer(), nullable=True))
    op.add_column('order_lines', sa.Column('harvest_date', sa.Date(), nullable=True))
    op.create_foreign_key(op.f('fk_order_lines_origin_village_id_villages'), 'order_lines', 'villages',
                          ['origin_village_id'], ['id'])
    op.execute("UPDATE order_lines l SET origin_village_id = p.origin_village_id, harvest_date = p.harvest_date "
               "FROM products p WHERE p.id = l.product_id")


def downgrade():
    op.drop_constraint(op.f('fk_order_lines_origin_village_id_villages'), 'order_lines', type_='foreignkey')
    op.drop_column('order_lines', 'harvest_date')
    op.drop_column('order_lines', 'origin_village_id')
    for table in ('order_lines', 'products'):
        op.drop_constraint(op.f(f'uq_{table}_trace_token'), table, type_='unique')
        op.drop_column(table, 'trace_token')
    op.drop_index('ix_delivery_addresses_user_last_used', table_name='delivery_addresses')
    op.drop_table('delivery_addresses')
    op.drop_table('cart_lines')
