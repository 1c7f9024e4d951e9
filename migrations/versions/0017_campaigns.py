"""Campaigns: timed sales with a campaign price, a stock cap and a per-buyer limit per listing.

- campaigns: a named window [starts_at, ends_at) in UTC (given in Asia/Shanghai by the API),
  optionally for poverty-county listings only, active or cancelled.
- campaign_items: a listing in a campaign with its price, cap, limit and units sold, proposed by
  its seller (pending) and approved or rejected by an administrator, or added approved. Each item
  carries a copy of its campaign's window, kept equal to it by the campaign's updates, so that the
  database itself refuses a listing in two campaigns whose windows overlap (an exclusion
  constraint over pending and approved items, with btree_gist), and so that "which price applies
  now" is one index probe on the item alone. units_sold never exceeds the cap (CHECK).
- campaign_allowances: what each buyer has bought of an item, in orders not cancelled or expired.
- order_lines.campaign_item_id: the campaign a line was sold under (its price is the line's own).
- take_campaign_allowance() and take_campaign_units(): the campaign part of a sale, on the
  database server beside take_stock (0010) and in the same spirit, per item in ascending id order.
  The first raises the buyer's allowance by a conditional upsert (within the limit) and runs
  before take_stock, so a buyer's second checkout waits on their own allowance row and is refused
  there, without queueing on the listing's row; the second, after take_stock, raises units_sold
  by a conditional UPDATE (within the cap, and, at a given moment, the item approved, live and at
  the price the buyer was shown). Every sale takes the rows in that order (allowance, listing,
  item), as the give-back and the late payment do. Any refusal raises SQLSTATE MPCMP with JSON in
  DETAIL, undoing the statement that called it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 17:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


TAKE_CAMPAIGN_ALLOWANCE = """
CREATE FUNCTION take_campaign_allowance(item_ids integer[], wanted integer[], buyer integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    line record;
    refused jsonb := '{}';
BEGIN
    FOR line IN SELECT * FROM unnest(item_ids, wanted) AS cart(item_id, units) ORDER BY item_id LOOP
        INSERT INTO campaign_allowances AS a (campaign_item_id, buyer_user_id, units)
        SELECT line.item_id, buyer, line.units FROM campaign_items
         WHERE id = line.item_id AND line.units <= per_buyer_limit
        ON CONFLICT (campaign_item_id, buyer_user_id) DO UPDATE SET units = a.units + EXCLUDED.units
         WHERE a.units + EXCLUDED.units <= (SELECT per_buyer_limit FROM campaign_items WHERE id = a.campaign_item_id);
        IF NOT FOUND THEN
            refused := refused || jsonb_build_object(line.item_id::text, jsonb_build_object(
                'reason', 'limit_reached',
                'limit', (SELECT per_buyer_limit FROM campaign_items WHERE id = line.item_id),
                'already_bought', coalesce((SELECT units FROM campaign_allowances
                                            WHERE campaign_item_id = line.item_id AND buyer_user_id = buyer), 0)));
        END IF;
    END LOOP;
    IF refused <> '{}' THEN
        RAISE EXCEPTION 'campaign line refused' USING ERRCODE = 'MPCMP', DETAIL = refused::text;
    END IF;
    RETURN cardinality(item_ids);
END
$$
"""

TAKE_CAMPAIGN_UNITS = """
CREATE FUNCTION take_campaign_units(item_ids integer[], wanted integer[], prices integer[], at timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    line record;
    item record;
    refused jsonb := '{}';
BEGIN
    FOR line IN SELECT * FROM unnest(item_ids, wanted, prices) AS cart(item_id, units, price_fen) ORDER BY item_id LOOP
        UPDATE campaign_items SET units_sold = units_sold + line.units
         WHERE id = line.item_id AND units_sold + line.units <= stock_cap
           AND (at IS NULL OR (state = 'approved' AND starts_at <= at AND at < ends_at
                               AND campaign_price_fen = line.price_fen));
        IF NOT FOUND THEN
            SELECT * INTO item FROM campaign_items WHERE id = line.item_id;
            refused := refused || jsonb_build_object(line.item_id::text, CASE
                WHEN item.id IS NULL OR (at IS NOT NULL AND (item.state <> 'approved' OR at >= item.ends_at
                                                             OR item.campaign_price_fen <> line.price_fen))
                    THEN jsonb_build_object('reason', 'ended')
                WHEN at IS NOT NULL AND at < item.starts_at
                    THEN jsonb_build_object('reason', 'not_started', 'opens_at', item.starts_at)
                ELSE jsonb_build_object('reason', 'sold_out', 'units_left', item.stock_cap - item.units_sold)
            END);
        END IF;
    END LOOP;
    IF refused <> '{}' THEN
        RAISE EXCEPTION 'campaign line refused' USING ERRCODE = 'MPCMP', DETAIL = refused::text;
    END IF;
    RETURN cardinality(item_ids);
END
$$
"""

ITEM_STATES = "'pending', 'approved', 'rejected', 'withdrawn', 'removed'"


def upgrade():
    op.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name_zh', sa.String(length=60), nullable=False),
        sa.Column('name_en', sa.String(length=60), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('poverty_counties_only', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by_user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_campaigns_ends_after_start')),
        sa.CheckConstraint("status IN ('active', 'cancelled')", name=op.f('ck_campaigns_known_status')),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                                name=op.f('fk_campaigns_created_by_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    )
    op.create_index(op.f('ix_campaigns_ends_at'), 'campaigns', ['ends_at'])
    op.create_table(
        'campaign_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('campaign_price_fen', sa.Integer(), nullable=False),
        sa.Column('stock_cap', sa.Integer(), nullable=False),
        sa.Column('per_buyer_limit', sa.Integer(), nullable=False),
        sa.Column('units_sold', sa.Integer(), server_default='0', nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reject_reason', sa.String(length=300), nullable=True),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('proposed_by_user_id', sa.Integer(), nullable=False),
        sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('campaign_price_fen > 0', name=op.f('ck_campaign_items_price_positive')),
        sa.CheckConstraint('stock_cap >= 1', name=op.f('ck_campaign_items_cap_positive')),
        sa.CheckConstraint('per_buyer_limit >= 1', name=op.f('ck_campaign_items_limit_positive')),
        sa.CheckConstraint('units_sold >= 0 AND units_sold <= stock_cap',
                           name=op.f('ck_campaign_items_units_sold_within_cap')),
        sa.CheckConstraint(f'state IN ({ITEM_STATES})', name=op.f('ck_campaign_items_known_state')),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_campaign_items_ends_after_start')),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_items_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_campaign_items_product_id_products')),
        sa.ForeignKeyConstraint(['proposed_by_user_id'], ['users.id'],
                                name=op.f('fk_campaign_items_proposed_by_user_id_users')),
        sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'],
                                name=op.f('fk_campaign_items_decided_by_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_items')),
        postgresql.ExcludeConstraint(
            (sa.column('product_id'), '='), (sa.text('tstzrange(starts_at, ends_at)'), '&&'),
            where=sa.text("state IN ('pending', 'approved')"), using='gist',
            name='ex_campaign_items_one_campaign_at_a_time'),
    )
    op.create_index(op.f('ix_campaign_items_campaign_id'), 'campaign_items', ['campaign_id'])
    op.create_index('ix_campaign_items_live_by_product', 'campaign_items', ['product_id', 'ends_at'],
                    postgresql_where=sa.text("state = 'approved'"))
    op.create_index('ix_campaign_items_approved_starts', 'campaign_items', ['starts_at'],
                    postgresql_where=sa.text("state = 'approved'"))
    op.create_index('ix_campaign_items_approved_ends', 'campaign_items', ['ends_at'],
                    postgresql_where=sa.text("state = 'approved'"))
    op.create_table(
        'campaign_allowances',
        sa.Column('campaign_item_id', sa.Integer(), nullable=False),
        sa.Column('buyer_user_id', sa.Integer(), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.CheckConstraint('units >= 0', name=op.f('ck_campaign_allowances_units_not_negative')),
        sa.ForeignKeyConstraint(['campaign_item_id'], ['campaign_items.id'],
                                name=op.f('fk_campaign_allowances_campaign_item_id_campaign_items')),
        sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'],
                                name=op.f('fk_campaign_allowances_buyer_user_id_users')),
        sa.PrimaryKeyConstraint('campaign_item_id', 'buyer_user_id', name=op.f('pk_campaign_allowances')),
    )
    op.add_column('order_lines', sa.Column('campaign_item_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_order_lines_campaign_item_id_campaign_items'), 'order_lines', 'campaign_items',
                          ['campaign_item_id'], ['id'])
    op.create_index('ix_order_lines_campaign_item', 'order_lines', ['campaign_item_id'],
                    postgresql_where=sa.text('campaign_item_id IS NOT NULL'))
    op.execute(TAKE_CAMPAIGN_ALLOWANCE)
    op.execute(TAKE_CAMPAIGN_UNITS)


def downgrade():
    op.execute('DROP FUNCTION take_campaign_units(integer[], integer[], integer[], timestamptz)')
    op.execute('DROP FUNCTION take_campaign_allowance(integer[], integer[], integer)')
    op.drop_index('ix_order_lines_campaign_item', table_name='order_lines')
    op.drop_constraint(op.f('fk_order_lines_campaign_item_id_campaign_items'), 'order_lines', type_='foreignkey')
    op.drop_column('order_lines', 'campaign_item_id')
    op.drop_table('campaign_allowances')
    op.drop_table('campaign_items')
    op.drop_table('campaigns')
    # btree_gist stays: other schemas may use it, and keeping an extension changes no data.
