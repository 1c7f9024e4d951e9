"""Officials: the role official and the report scope (a province or a county) of each official.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:40:00.000000

Downgrading takes the role official away from every account (the old CHECK constraint does not
allow it) and forgets every report scope.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('buyer', 'seller', 'partner', 'admin')"
NEW_ROLES = "role IN ('buyer', 'seller', 'partner', 'admin', 'official')"


def _known_roles(condition: str) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode copies user_roles into a new table.
    with op.batch_alter_table('user_roles', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint(op.f('ck_user_roles_known_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_roles_known_role'), condition)


def upgrade():
    _known_roles(NEW_ROLES)
    op.create_table('report_scopes',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('province_adcode', sa.String(length=6), nullable=True),
    sa.Column('county_adcode', sa.String(length=6), nullable=True),
    sa.Column('granted_by_user_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(province_adcode IS NULL AND county_adcode IS NOT NULL) OR '
                       '(province_adcode IS NOT NULL AND county_adcode IS NULL)',
                       name=op.f('ck_report_scopes_province_or_county')),
    sa.ForeignKeyConstraint(['county_adcode'], ['counties.adcode'], name=op.f('fk_report_scopes_county_adcode_counties')),
    sa.ForeignKeyConstraint(['granted_by_user_id'], ['users.id'], name=op.f('fk_report_scopes_granted_by_user_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['province_adcode'], ['provinces.adcode'], name=op.f('fk_report_scopes_province_adcode_provinces')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_scopes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_report_scopes'))
    )


def downgrade():
    op.drop_table('report_scopes')
    op.execute("DELETE FROM user_roles WHERE role = 'official'")
    _known_roles(OLD_ROLES)
