"""Accounts and roles, API tokens, provinces, counties, villages and service stations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 14:15:23.566205

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('provinces',
    sa.Column('adcode', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('adcode', name=op.f('pk_provinces')),
    sa.UniqueConstraint('name', name=op.f('uq_provinces_name'))
    )
    op.create_table('counties',
    sa.Column('adcode', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('province_adcode', sa.String(length=6), nullable=False),
    sa.Column('prefecture_name', sa.String(length=60), nullable=True),
    sa.Column('is_national_poverty_county', sa.Boolean(), nullable=False),
    sa.Column('poverty_exit_year', sa.Integer(), nullable=True),
    sa.Column('is_demonstration_county', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(adcode) = 6', name=op.f('ck_counties_adcode_six_digits')),
    sa.CheckConstraint('poverty_exit_year IS NULL OR is_national_poverty_county', name=op.f('ck_counties_exit_year_only_for_poverty')),
    sa.ForeignKeyConstraint(['province_adcode'], ['provinces.adcode'], name=op.f('fk_counties_province_adcode_provinces')),
    sa.PrimaryKeyConstraint('adcode', name=op.f('pk_counties'))
    )
    with op.batch_alter_table('counties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counties_is_demonstration_county'), ['is_demonstration_county'], unique=False)
        batch_op.create_index(batch_op.f('ix_counties_is_national_poverty_county'), ['is_national_poverty_county'], unique=False)
        batch_op.create_index(batch_op.f('ix_counties_province_adcode'), ['province_adcode'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('county_adcode', sa.String(length=6), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('phone IS NOT NULL OR email IS NOT NULL', name=op.f('ck_users_phone_or_email')),
    sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'], name=op.f('fk_users_county_adcode_counties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('phone', name=op.f('uq_users_phone'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_county_adcode'), ['county_adcode'], unique=False)

    op.create_table('villages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_adcode', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'], name=op.f('fk_villages_county_adcode_counties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_villages')),
    sa.UniqueConstraint('county_adcode', 'name', name='uq_villages_county_name')
    )
    with op.batch_alter_table('villages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_villages_county_adcode'), ['county_adcode'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_api_tokens_token_digest'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('service_stations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('partner_user_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_user_id'], ['users.id'], name=op.f('fk_service_stations_partner_user_id_users')),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], name=op.f('fk_service_stations_village_id_villages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_stations'))
    )
    with op.batch_alter_table('service_stations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_stations_partner_user_id'), ['partner_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_stations_village_id'), ['village_id'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('buyer', 'seller', 'partner', 'admin')", name=op.f('ck_user_roles_known_role')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_roles'))
    )


def downgrade():
    op.drop_table('user_roles')
    with op.batch_alter_table('service_stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_stations_village_id'))
        batch_op.drop_index(batch_op.f('ix_service_stations_partner_user_id'))

    op.drop_table('service_stations')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('villages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_villages_county_adcode'))

    op.drop_table('villages')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_county_adcode'))

    op.drop_table('users')
    with op.batch_alter_table('counties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counties_province_adcode'))
        batch_op.drop_index(batch_op.f('ix_counties_is_national_poverty_county'))
        batch_op.drop_index(batch_op.f('ix_counties_is_demonstration_county'))

    op.drop_table('counties')
    op.drop_table('provinces')
