"""Statements run on psycopg's cursor are sent without their layout, so that psycopg keeps its
parse of their placeholders (it caches texts up to MAX_CACHED_STATEMENT_LENGTH only)."""
import pytest
from psycopg import _queries
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from marketplace.catalog import browse
from marketplace.common.sql import compact_sql
from marketplace.orders import checkout


def test_layout_and_comments_go_and_quoted_text_stays_as_written():
    sql = ("SELECT 'two  spaces -- not a comment', \"odd  name\"  -- a comment\n"
           "  FROM  t /* another\n one */\n WHERE a = 'it''s  /* kept */'")

    assert compact_sql(sql) == ("SELECT 'two  spaces -- not a comment', \"odd  name\" FROM t WHERE a = "
                                "'it''s  /* kept */'")


@pytest.mark.parametrize("statement", [checkout._INSERT_CHECKOUT, browse._DETAIL], ids=["checkout", "detail"])
def test_the_busiest_statements_fit_psycopgs_cache_of_parsed_queries(statement):
    compiled = statement.compile(dialect=postgresql_psycopg.dialect()).string

    assert len(compact_sql(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_the_checkout_as_written_would_not_fit():
    compiled = checkout._INSERT_CHECKOUT.compile(dialect=postgresql_psycopg.dialect()).string

    assert len(compiled.encode()) > _queries.MAX_CACHED_STATEMENT_LENGTH
