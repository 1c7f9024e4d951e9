"""Station desk: villagers without a phone as sellers and buyers of record, with the partner as agent.

- users.password_hash may be NULL (an account that cannot log in); only accounts that can log
  in need a phone or an email.
- villagers: the villager's account, the station whose partner acts for them, a contact phone,
  and when and by whom their consent was recorded.
- products.listed_by_user_id and checkouts.placed_by_user_id: the partner who listed or ordered
  for the villager.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:25:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_phone_or_email'), type_='check')
        batch_op.alter_column('password_hash', existing_type=sa.String(length=200), nullable=True)
        batch_op.create_check_constraint(
            'login_needs_identifier', 'password_hash IS NULL OR phone IS NOT NULL OR email IS NOT NULL')

    op.create_table('villagers',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('contact_phone', sa.String(length=20), nullable=True),
    sa.Column('consent_recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consent_recorded_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_villagers_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['service_stations.id'], name=op.f('fk_villagers_station_id_service_stations')),
    sa.ForeignKeyConstraint(['consent_recorded_by_user_id'], ['users.id'],
                            name=op.f('fk_villagers_consent_recorded_by_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_villagers'))
    )
    with op.batch_alter_table('villagers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_villagers_station_id'), ['station_id'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed_by_user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_listed_by_user_id'), ['listed_by_user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_products_listed_by_user_id_users'), 'users',
                                    ['listed_by_user_id'], ['id'])

    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placed_by_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_checkouts_placed_by_user_id_users'), 'users',
                                    ['placed_by_user_id'], ['id'])


def downgrade():
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_checkouts_placed_by_user_id_users'), type_='foreignkey')
        batch_op.drop_column('placed_by_user_id')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_products_listed_by_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_products_listed_by_user_id'))
        batch_op.drop_column('listed_by_user_id')

    op.drop_table('villagers')

    # Villagers' accounts stay (their sales and orders point at them) but keep unable to log in:
    # an unusable password hash and a placeholder address satisfy the older rule.
    op.execute("UPDATE users SET password_hash = '!', email = 'villager-' || id || '@villagers.invalid' "
               "WHERE password_hash IS NULL")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_users_login_needs_identifier'), type_='check')
        batch_op.alter_column('password_hash', existing_type=sa.String(length=200), nullable=False)
        batch_op.create_check_constraint('phone_or_email', 'phone IS NOT NULL OR email IS NOT NULL')
