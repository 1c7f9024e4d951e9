"""take_stock(): a cart's stock taken on the database server.

One conditional UPDATE per product, in ascending product id order, as the checkout's rule has it;
if any product is short, it raises SQLSTATE MPOOS with the units still available of each short
product (JSON in DETAIL), which undoes the updates already made with the rest of the statement.
Called from inside the checkout's one INSERT statement, it lets a checkout be a single
statement (the checkout service commits it), and it is the one place the stock rule lives.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 03:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


TAKE_STOCK = """
CREATE FUNCTION take_stock(product_ids integer[], wanted integer[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    short jsonb := '{}';
BEGIN
    FOR item IN SELECT * FROM unnest(product_ids, wanted) AS cart(product_id, units) ORDER BY product_id LOOP
        UPDATE products SET stock_units = stock_units - item.units, units_sold = units_sold + item.units
         WHERE id = item.product_id AND status = 'active' AND stock_units >= item.units;
        IF NOT FOUND THEN
            short := short || jsonb_build_object(item.product_id::text, coalesce(
                (SELECT CASE WHEN status = 'active' THEN stock_units ELSE 0 END FROM products WHERE id = item.product_id),
                0));
        END IF;
    END LOOP;
    IF short <> '{}' THEN
        RAISE EXCEPTION 'not enough stock' USING ERRCODE = 'MPOOS', DETAIL = short::text;
    END IF;
    RETURN cardinality(product_ids);
END
$$
"""


def upgrade():
    op.execute(TAKE_STOCK)


def downgrade():
    op.execute('DROP FUNCTION take_stock(integer[], integer[])')
