"""After-sales claims: claims on order lines, their photos and their timeline.

- claims: one buyer's claim on one order line, with the amount asked, the seller's offer, the
  amount granted and the refund that pays it. A line has at most one pending claim (open,
  offered or escalated): the partial unique index uq_claims_one_pending_per_line holds it even
  when two requests open one at the same moment.
- claim_photos: photos of either side, stored through the media store like listings' photos
  (the media sweep asks this table too).
- claim_events: every step of a claim (opened, offered, accepted, contested, escalated, decided,
  auto_accepted, refunded...), with who, how much and why, like order_events.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 16:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

PENDING = "status IN ('open', 'offered', 'escalated')"


def upgrade():
    op.create_table(
        'claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=False),
        sa.Column('buyer_user_id', sa.Integer(), nullable=False),
        sa.Column('seller_user_id', sa.Integer(), nullable=False),
        sa.Column('opened_by_user_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('description', sa.String(length=1000), nullable=False),
        sa.Column('amount_asked_fen', sa.Integer(), nullable=False),
        sa.Column('offered_fen', sa.Integer(), nullable=True),
        sa.Column('granted_fen', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('respond_by', sa.DateTime(timezone=True), nullable=True),
        sa.Column('seller_note', sa.String(length=1000), nullable=True),
        sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_reason', sa.String(length=1000), nullable=True),
        sa.Column('refund_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("reason IN ('damaged', 'rotten', 'short_weight', 'wrong_item', 'not_received')",
                           name=op.f('ck_claims_known_reason')),
        sa.CheckConstraint("status IN ('open', 'offered', 'escalated', 'accepted', 'refunded', 'closed')",
                           name=op.f('ck_claims_known_status')),
        sa.CheckConstraint('amount_asked_fen > 0', name=op.f('ck_claims_amount_asked_positive')),
        sa.CheckConstraint('offered_fen IS NULL OR offered_fen > 0', name=op.f('ck_claims_offer_positive')),
        sa.CheckConstraint('granted_fen IS NULL OR granted_fen >= 0', name=op.f('ck_claims_granted_not_negative')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_claims_order_id_orders')),
        sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_claims_order_line_id_order_lines')),
        sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_claims_buyer_user_id_users')),
        sa.ForeignKeyConstraint(['seller_user_id'], ['users.id'], name=op.f('fk_claims_seller_user_id_users')),
        sa.ForeignKeyConstraint(['opened_by_user_id'], ['users.id'], name=op.f('fk_claims_opened_by_user_id_users')),
        sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'], name=op.f('fk_claims_decided_by_user_id_users')),
        sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_claims_refund_id_refunds')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
        sa.UniqueConstraint('refund_id', name=op.f('uq_claims_refund_id')),
    )
    op.create_index(op.f('ix_claims_order_id'), 'claims', ['order_id'])
    op.create_index(op.f('ix_claims_order_line_id'), 'claims', ['order_line_id'])
    op.create_index('uq_claims_one_pending_per_line', 'claims', ['order_line_id'], unique=True,
                    postgresql_where=sa.text(PENDING))
    op.create_index('ix_claims_status_respond_by', 'claims', ['status', 'respond_by'])
    op.create_index('ix_claims_seller_status', 'claims', ['seller_user_id', 'status'])
    op.create_index('ix_claims_buyer', 'claims', ['buyer_user_id', 'id'])
    op.create_table(
        'claim_photos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('claim_id', sa.Integer(), nullable=False),
        sa.Column('side', sa.String(length=10), nullable=False),
        sa.Column('added_by_user_id', sa.Integer(), nullable=False),
        sa.Column('image_key', sa.String(length=120), nullable=False),
        sa.Column('thumbnail_key', sa.String(length=120), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('buyer', 'seller')", name=op.f('ck_claim_photos_known_side')),
        sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_photos_claim_id_claims')),
        sa.ForeignKeyConstraint(['added_by_user_id'], ['users.id'], name=op.f('fk_claim_photos_added_by_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_photos')),
    )
    op.create_index(op.f('ix_claim_photos_claim_id'), 'claim_photos', ['claim_id'])
    op.create_index(op.f('ix_claim_photos_image_key'), 'claim_photos', ['image_key'])
    op.create_index(op.f('ix_claim_photos_thumbnail_key'), 'claim_photos', ['thumbnail_key'])
    op.create_table(
        'claim_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('claim_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('amount_fen', sa.Integer(), nullable=True),
        sa.Column('note', sa.String(length=1000), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('opened', 'photo_added', 'offered', 'accepted', 'offer_accepted', 'contested', "
                           "'escalated', 'decided', 'auto_accepted', 'refunded', 'closed')",
                           name=op.f('ck_claim_events_known_kind')),
        sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_events_claim_id_claims')),
        sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_claim_events_actor_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_events')),
    )
    op.create_index(op.f('ix_claim_events_claim_id'), 'claim_events', ['claim_id'])


def downgrade():
    op.drop_table('claim_events')
    op.drop_table('claim_photos')
    op.drop_table('claims')
