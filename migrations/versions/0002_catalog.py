"""Catalog: products, their photos and review decisions; verified sellers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:23:44.309230

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seller_user_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('net_weight_grams', sa.Integer(), nullable=True),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('stock_units', sa.Integer(), nullable=False),
    sa.Column('units_sold', sa.Integer(), server_default='0', nullable=False),
    sa.Column('min_order_units', sa.Integer(), nullable=False),
    sa.Column('origin_county_adcode', sa.String(length=6), nullable=False),
    sa.Column('origin_village_id', sa.Integer(), nullable=True),
    sa.Column('harvest_date', sa.Date(), nullable=True),
    sa.Column('ships_within_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_note', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("category IN ('fruit', 'nuts', 'dried_fruit', 'grains_rice', 'vegetables', 'mushrooms', 'tea', 'honey', 'meat_eggs', 'textiles_handicrafts', 'other')", name=op.f('ck_products_known_category')),
    sa.CheckConstraint("status IN ('draft', 'pending_review', 'active', 'paused', 'rejected')", name=op.f('ck_products_known_status')),
    sa.CheckConstraint("unit IN ('jin', 'kg', 'box', 'bag', 'piece')", name=op.f('ck_products_known_unit')),
    sa.CheckConstraint('min_order_units >= 1', name=op.f('ck_products_min_order_positive')),
    sa.CheckConstraint('price_fen > 0', name=op.f('ck_products_price_positive')),
    sa.CheckConstraint('stock_units >= 0', name=op.f('ck_products_stock_not_negative')),
    sa.CheckConstraint('units_sold >= 0', name=op.f('ck_products_units_sold_not_negative')),
    sa.ForeignKeyConstraint(['origin_county_adcode'], ['counties.adcode'], name=op.f('fk_products_origin_county_adcode_counties')),
    sa.ForeignKeyConstraint(['origin_village_id'], ['villages.id'], name=op.f('fk_products_origin_village_id_villages')),
    sa.ForeignKeyConstraint(['seller_user_id'], ['users.id'], name=op.f('fk_products_seller_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)
        batch_op.create_index('ix_products_county_status_created', ['origin_county_adcode', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_seller_user_id'), ['seller_user_id'], unique=False)
        batch_op.create_index('ix_products_status_created', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_products_status_price', ['status', 'price_fen', 'id'], unique=False)
        batch_op.create_index('ix_products_status_sold', ['status', 'units_sold', 'id'], unique=False)

    op.create_table('product_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('image_key', sa.String(length=120), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=120), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_images_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_images')),
    sa.UniqueConstraint('product_id', 'position', name='uq_product_images_position')
    )
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_images_product_id'), ['product_id'], unique=False)

    op.create_table('product_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('actor_user_id', sa.Integer(), nullable=False),
    sa.Column('product_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('submitted', 'approved', 'rejected')", name=op.f('ck_product_reviews_known_decision')),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_product_reviews_actor_user_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_reviews_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_reviews'))
    )
    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_reviews_product_id'), ['product_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seller_verified_at', sa.DateTime(timezone=True), nullable=True))

    # Substring search on titles (Chinese has no word boundaries): a trigram GIN index.
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_products_title_trgm', 'products', ['title'], unique=False,
                    postgresql_using='gin', postgresql_ops={'title': 'gin_trgm_ops'})



def downgrade():
    op.drop_index('ix_products_title_trgm', table_name='products')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('seller_verified_at')

    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_reviews_product_id'))

    op.drop_table('product_reviews')
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_images_product_id'))

    op.drop_table('product_images')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_status_sold')
        batch_op.drop_index('ix_products_status_price')
        batch_op.drop_index('ix_products_status_created')
        batch_op.drop_index(batch_op.f('ix_products_seller_user_id'))
        batch_op.drop_index('ix_products_county_status_created')
        batch_op.drop_index(batch_op.f('ix_products_category'))

    op.drop_table('products')
