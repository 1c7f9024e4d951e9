"""Officials: the role official and the report scope (a province or a county) of each official;
counts of orders, buyers and sellers without the sales excluded by review; an index for the
distinct buyers and sellers of one province or county.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:40:00.000000

sales_ledger.count_change marks the exclusion (−1) and inclusion (+1) rows that take a line's
sale out of or back into the counts, and county_daily_members.sale_lines counts each member's
sale lines that count. Earlier exclusions are marked from the ledger (their first row on the day
of the sale), and every ledger row is queued to be rolled up again: the rollups are emptied and
the jobs worker (or ``flask reports rebuild-rollups``, at once) recomputes them; until then reports
say how many rows wait.

Downgrading takes the role official away from every account (the old CHECK constraint does not
allow it), forgets every report scope and the two count columns.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('buyer', 'seller', 'partner', 'admin')"
NEW_ROLES = "role IN ('buyer', 'seller', 'partner', 'admin', 'official')"


def _known_roles(condition: str) -> None:
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_roles_known_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_roles_known_role'), condition)


# Each earlier exclusion's (inclusion's) first row of a line on the day of the line's sale.
MARK_EARLIER_ADJUSTMENTS = """
UPDATE sales_ledger SET count_change = CASE WHEN kind = 'exclusion' THEN -1 ELSE 1 END
WHERE kind IN ('exclusion', 'inclusion')
  AND business_day = (SELECT sale.business_day FROM sales_ledger sale
                      WHERE sale.kind = 'sale' AND sale.order_line_id = sales_ledger.order_line_id)
  AND id = (SELECT min(same.id) FROM sales_ledger same
            WHERE same.exclusion_id = sales_ledger.exclusion_id AND same.kind = sales_ledger.kind
              AND same.order_line_id = sales_ledger.order_line_id AND same.business_day = sales_ledger.business_day)
"""


def _roll_up_again() -> None:
    for table in ('county_daily_members', 'county_daily_sales', 'county_daily_category_sales', 'sales_ledger_queue'):
        op.execute(f"DELETE FROM {table}")
    op.execute("INSERT INTO sales_ledger_queue (ledger_id) SELECT id FROM sales_ledger")
    op.execute("UPDATE rollup_state SET version = version + 1")  # stored reports no longer hold


def upgrade():
    _known_roles(NEW_ROLES)
    op.add_column('sales_ledger', sa.Column('count_change', sa.SmallInteger(), server_default='0', nullable=False))
    op.add_column('county_daily_members', sa.Column('sale_lines', sa.Integer(), server_default='0', nullable=False))
    op.execute(MARK_EARLIER_ADJUSTMENTS)
    _roll_up_again()
    op.create_index('ix_county_daily_members_county', 'county_daily_members',
                    ['county_adcode', 'kind', 'business_day', 'member_id', 'sale_lines'], unique=False)
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
    op.drop_index('ix_county_daily_members_county', table_name='county_daily_members')
    with op.batch_alter_table('county_daily_members', schema=None) as batch_op:
        batch_op.drop_column('sale_lines')
    op.drop_column('sales_ledger', 'count_change')
    _roll_up_again()
    op.drop_table('report_scopes')
    op.execute("DELETE FROM user_roles WHERE role = 'official'")
    _known_roles(OLD_ROLES)
