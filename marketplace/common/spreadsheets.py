"""CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads the Chinese), and no text cell a
spreadsheet would run as a formula.

Excel, LibreOffice and Google Sheets take a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and,
after a tab or carriage return, what follows) as a formula: a county imported as
``=HYPERLINK("http://x","y")`` would be a live link in the administrator's sheet. OWASP's rule is
applied to every text cell: it gets a leading single quote, which spreadsheets show as text. Numbers
stay numbers: an int or Decimal cell is never touched, and neither is text that is only a number
(``-120``), which no spreadsheet runs.
"""
import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_cell(value):
    """``value`` as a spreadsheet may read it: text that would start a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_document(rows: Iterable[Sequence]) -> bytes:
    """Rows (the header first) as a CSV file for spreadsheets: a byte-order mark, CRLF line ends, and
    every cell through spreadsheet_cell. Every CSV the service sends is written here."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
