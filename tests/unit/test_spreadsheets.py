"""CSV for spreadsheets: OWASP's rule against formula injection on every text cell, numbers untouched."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from marketplace.common.spreadsheets import csv_document, spreadsheet_cell


@pytest.mark.parametrize("text", [
    '=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
    "=", "-", "-1e3", "--120", "-120 元",
])
def test_text_that_would_start_a_formula_is_quoted(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("value", [
    "乌什县", "HYPERLINK", " =1+1", "a=b", "'=already quoted", "", "-120", "+86", "-0.25", "12.50",
    -120, 0, 3.5, -0.12, Decimal("-120.50"), None, True, date(2026, 11, 11),
])
def test_numbers_and_harmless_text_are_left_alone(value):
    assert spreadsheet_cell(value) is value


def test_document_has_a_bom_crlf_lines_and_every_cell_neutralised():
    body = csv_document([["县", "净销售额（分）"], ['=HYPERLINK("http://x","y")', -2500], ["@cmd", Decimal("12.5")]])

    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") == 3
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    assert rows == [["县", "净销售额（分）"], ['\'=HYPERLINK("http://x","y")', "-2500"], ["'@cmd", "12.5"]]
