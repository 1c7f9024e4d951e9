"""Payments: Stripe intents and events, refunds (with lines), seller settlement and station cash ledgers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:28:44.387906

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stripe_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stripe_event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('applied', 'unchanged', 'ignored', 'flagged')", name=op.f('ck_stripe_events_known_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('stripe_event_id', name=op.f('uq_stripe_events_stripe_event_id'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_stripe_payment_intent_id'), ['stripe_payment_intent_id'], unique=False)

    op.create_table('payment_intents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('checkout_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('stripe_id', sa.String(length=255), nullable=False),
    sa.Column('payment_method', sa.String(length=20), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payment_intents_amount_positive')),
    sa.ForeignKeyConstraint(['checkout_id'], ['checkouts.id'], name=op.f('fk_payment_intents_checkout_id_checkouts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_intents')),
    sa.UniqueConstraint('checkout_id', 'attempt', name='uq_payment_intents_checkout_attempt'),
    sa.UniqueConstraint('stripe_id', name=op.f('uq_payment_intents_stripe_id'))
    )
    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_intents_checkout_id'), ['checkout_id'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('checkout_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=True),
    sa.Column('payment_intent_id', sa.Integer(), nullable=True),
    sa.Column('stripe_refund_id', sa.String(length=255), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("method IN ('stripe', 'cash')", name=op.f('ck_refunds_known_method')),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f('ck_refunds_known_status')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['checkout_id'], ['checkouts.id'], name=op.f('fk_refunds_checkout_id_checkouts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['payment_intent_id'], ['payment_intents.id'], name=op.f('fk_refunds_payment_intent_id_payment_intents')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_refunds_requested_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('stripe_refund_id', name=op.f('uq_refunds_stripe_refund_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_checkout_id'), ['checkout_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_refunds_status_submitted', ['status', 'submitted_at'], unique=False)

    op.create_table('refund_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 0 AND amount_fen >= 0 AND quantity + amount_fen > 0', name=op.f('ck_refund_lines_something_back')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_refund_lines_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_lines_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_lines'))
    )
    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_lines_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_lines_refund_id'), ['refund_id'], unique=False)

    op.create_table('seller_ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seller_user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('recorded_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('sale', 'commission', 'refund', 'payout')", name=op.f('ck_seller_ledger_entries_known_kind')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_seller_ledger_entries_order_id_orders')),
    sa.ForeignKeyConstraint(['recorded_by_user_id'], ['users.id'], name=op.f('fk_seller_ledger_entries_recorded_by_user_id_users')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_seller_ledger_entries_refund_id_refunds')),
    sa.ForeignKeyConstraint(['seller_user_id'], ['users.id'], name=op.f('fk_seller_ledger_entries_seller_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seller_ledger_entries'))
    )
    with op.batch_alter_table('seller_ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seller_ledger_entries_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_seller_ledger_seller_id', ['seller_user_id', 'id'], unique=False)
        batch_op.create_index('uq_seller_ledger_order_kind', ['order_id', 'kind'], unique=True, postgresql_where=sa.text('refund_id IS NULL AND order_id IS NOT NULL'))
        batch_op.create_index('uq_seller_ledger_refund_kind', ['refund_id', 'kind'], unique=True, postgresql_where=sa.text('refund_id IS NOT NULL'))

    op.create_table('station_cash_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('checkout_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('recorded_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'collection' AND amount_fen > 0) OR (kind <> 'collection' AND amount_fen < 0)", name=op.f('ck_station_cash_entries_sign_follows_kind')),
    sa.CheckConstraint("kind IN ('collection', 'refund', 'remittance')", name=op.f('ck_station_cash_entries_known_kind')),
    sa.ForeignKeyConstraint(['checkout_id'], ['checkouts.id'], name=op.f('fk_station_cash_entries_checkout_id_checkouts')),
    sa.ForeignKeyConstraint(['recorded_by_user_id'], ['users.id'], name=op.f('fk_station_cash_entries_recorded_by_user_id_users')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_station_cash_entries_refund_id_refunds')),
    sa.ForeignKeyConstraint(['station_id'], ['service_stations.id'], name=op.f('fk_station_cash_entries_station_id_service_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_cash_entries'))
    )
    with op.batch_alter_table('station_cash_entries', schema=None) as batch_op:
        batch_op.create_index('ix_station_cash_station_id', ['station_id', 'id'], unique=False)
        batch_op.create_index('uq_station_cash_collection_checkout', ['checkout_id'], unique=True, postgresql_where=sa.text("kind = 'collection'"))
        batch_op.create_index('uq_station_cash_refund', ['refund_id'], unique=True, postgresql_where=sa.text('refund_id IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('station_cash_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_station_cash_refund', postgresql_where=sa.text('refund_id IS NOT NULL'))
        batch_op.drop_index('uq_station_cash_collection_checkout', postgresql_where=sa.text("kind = 'collection'"))
        batch_op.drop_index('ix_station_cash_station_id')

    op.drop_table('station_cash_entries')
    with op.batch_alter_table('seller_ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_seller_ledger_refund_kind', postgresql_where=sa.text('refund_id IS NOT NULL'))
        batch_op.drop_index('uq_seller_ledger_order_kind', postgresql_where=sa.text('refund_id IS NULL AND order_id IS NOT NULL'))
        batch_op.drop_index('ix_seller_ledger_seller_id')
        batch_op.drop_index(batch_op.f('ix_seller_ledger_entries_order_id'))

    op.drop_table('seller_ledger_entries')
    with op.batch_alter_table('refund_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_lines_refund_id'))
        batch_op.drop_index(batch_op.f('ix_refund_lines_order_line_id'))

    op.drop_table('refund_lines')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_refunds_status_submitted')
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_checkout_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('payment_intents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_intents_checkout_id'))

    op.drop_table('payment_intents')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_stripe_payment_intent_id'))

    op.drop_table('stripe_events')
