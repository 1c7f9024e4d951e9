"""Reports and review: the append-only sales ledger and its queue, county/day and category rollups, rollup state, sale exclusions, poverty-household reviews, the review audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:57:29.849166

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('county_daily_members',
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('county_adcode', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('order', 'buyer', 'seller')", name=op.f('ck_county_daily_members_known_kind')),
    sa.PrimaryKeyConstraint('business_day', 'county_adcode', 'kind', 'member_id', name=op.f('pk_county_daily_members'))
    )
    op.create_table('rollup_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rows_rolled_up', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rollup_state'))
    )
    op.create_table('county_daily_category_sales',
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('county_adcode', sa.String(length=6), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('units_refunded', sa.Integer(), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('units_excluded', sa.Integer(), nullable=False),
    sa.Column('excluded_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'], name=op.f('fk_county_daily_category_sales_county_adcode_counties')),
    sa.PrimaryKeyConstraint('business_day', 'county_adcode', 'category', name=op.f('pk_county_daily_category_sales'))
    )
    op.create_table('county_daily_sales',
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('county_adcode', sa.String(length=6), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('buyers', sa.Integer(), nullable=False),
    sa.Column('sellers', sa.Integer(), nullable=False),
    sa.Column('units_sold', sa.Integer(), nullable=False),
    sa.Column('units_refunded', sa.Integer(), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('units_excluded', sa.Integer(), nullable=False),
    sa.Column('excluded_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'], name=op.f('fk_county_daily_sales_county_adcode_counties')),
    sa.PrimaryKeyConstraint('business_day', 'county_adcode', name=op.f('pk_county_daily_sales'))
    )
    op.create_table('poverty_household_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seller_user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('evidence_note', sa.String(length=500), nullable=False),
    sa.Column('reviewed_by_user_id', sa.Integer(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('verified', 'rejected', 'revoked')", name=op.f('ck_poverty_household_reviews_known_status')),
    sa.ForeignKeyConstraint(['reviewed_by_user_id'], ['users.id'], name=op.f('fk_poverty_household_reviews_reviewed_by_user_id_users')),
    sa.ForeignKeyConstraint(['seller_user_id'], ['users.id'], name=op.f('fk_poverty_household_reviews_seller_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poverty_household_reviews'))
    )
    with op.batch_alter_table('poverty_household_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_poverty_household_reviews_seller', ['seller_user_id', 'id'], unique=False)

    op.create_table('review_audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_review_audit_log_actor_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_audit_log'))
    )
    with op.batch_alter_table('review_audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_audit_log_created_at'), ['created_at'], unique=False)

    op.create_table('sale_exclusions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('flag', sa.String(length=30), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('excluded_by_user_id', sa.Integer(), nullable=False),
    sa.Column('excluded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_by_user_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lift_reason', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['excluded_by_user_id'], ['users.id'], name=op.f('fk_sale_exclusions_excluded_by_user_id_users')),
    sa.ForeignKeyConstraint(['lifted_by_user_id'], ['users.id'], name=op.f('fk_sale_exclusions_lifted_by_user_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_sale_exclusions_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_exclusions'))
    )
    with op.batch_alter_table('sale_exclusions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_exclusions_order_id'), ['order_id'], unique=False)
        batch_op.create_index('uq_sale_exclusions_active_order', ['order_id'], unique=True, postgresql_where=sa.text('lifted_at IS NULL'))

    op.create_table('sales_ledger',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('exclusion_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('origin_county_adcode', sa.String(length=6), nullable=False),
    sa.Column('seller_user_id', sa.Integer(), nullable=False),
    sa.Column('buyer_user_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.CheckConstraint("(kind = 'sale' AND units > 0 AND amount_fen > 0) OR (kind = 'refund' AND units <= 0 AND amount_fen <= 0) OR kind IN ('exclusion', 'inclusion')", name=op.f('ck_sales_ledger_sign_follows_kind')),
    sa.CheckConstraint("kind IN ('sale', 'refund', 'exclusion', 'inclusion')", name=op.f('ck_sales_ledger_known_kind')),
    sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_sales_ledger_buyer_user_id_users')),
    sa.ForeignKeyConstraint(['exclusion_id'], ['sale_exclusions.id'], name=op.f('fk_sales_ledger_exclusion_id_sale_exclusions')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_sales_ledger_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_sales_ledger_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['origin_county_adcode'], ['counties.adcode'], name=op.f('fk_sales_ledger_origin_county_adcode_counties')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_sales_ledger_product_id_products')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_sales_ledger_refund_id_refunds')),
    sa.ForeignKeyConstraint(['seller_user_id'], ['users.id'], name=op.f('fk_sales_ledger_seller_user_id_users')),
    sa.ForeignKeyConstraint(['station_id'], ['service_stations.id'], name=op.f('fk_sales_ledger_station_id_service_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_ledger'))
    )
    with op.batch_alter_table('sales_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_sales_ledger_day_county', ['business_day', 'origin_county_adcode'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_ledger_order_id'), ['order_id'], unique=False)
        batch_op.create_index('uq_sales_ledger_refund_line', ['refund_id', 'order_line_id'], unique=True, postgresql_where=sa.text("kind = 'refund'"))
        batch_op.create_index('uq_sales_ledger_sale_line', ['order_line_id'], unique=True, postgresql_where=sa.text("kind = 'sale'"))

    op.create_table('sales_ledger_queue',
    sa.Column('ledger_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['ledger_id'], ['sales_ledger.id'], name=op.f('fk_sales_ledger_queue_ledger_id_sales_ledger')),
    sa.PrimaryKeyConstraint('ledger_id', name=op.f('pk_sales_ledger_queue'))
    )


def downgrade():
    op.drop_table('sales_ledger_queue')
    with op.batch_alter_table('sales_ledger', schema=None) as batch_op:
        batch_op.drop_index('uq_sales_ledger_sale_line', postgresql_where=sa.text("kind = 'sale'"))
        batch_op.drop_index('uq_sales_ledger_refund_line', postgresql_where=sa.text("kind = 'refund'"))
        batch_op.drop_index(batch_op.f('ix_sales_ledger_order_id'))
        batch_op.drop_index('ix_sales_ledger_day_county')

    op.drop_table('sales_ledger')
    with op.batch_alter_table('sale_exclusions', schema=None) as batch_op:
        batch_op.drop_index('uq_sale_exclusions_active_order', postgresql_where=sa.text('lifted_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_sale_exclusions_order_id'))

    op.drop_table('sale_exclusions')
    with op.batch_alter_table('review_audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_audit_log_created_at'))

    op.drop_table('review_audit_log')
    with op.batch_alter_table('poverty_household_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_poverty_household_reviews_seller')

    op.drop_table('poverty_household_reviews')
    op.drop_table('county_daily_sales')
    op.drop_table('county_daily_category_sales')
    op.drop_table('rollup_state')
    op.drop_table('county_daily_members')
