"""The body version of a stored report: derived from its schema's fields, the same in every
process, changed by any field added, renamed or retyped, also in a nested schema."""
import json
import os
import subprocess
import sys
from pathlib import Path

import marshmallow as ma
import pytest

from marketplace.common.schemas import Schema
from marketplace.reports import snapshots
from marketplace.reports.schemas import CountyRowOut, FiguresOut, SummaryOut, rows_of

PROJECT = Path(__file__).resolve().parent.parent.parent


def copy_of(schema: type[ma.Schema], **changes: ma.fields.Field | None) -> type[ma.Schema]:
    """A new schema class with the fields of ``schema``: ``changes`` replace or add fields, or
    remove them (None)."""
    fields = {**schema._declared_fields, **changes}
    return Schema.from_dict({name: field for name, field in fields.items() if field is not None},
                            name=schema.__name__)


def test_every_stored_report_has_a_short_hex_version():
    assert set(snapshots.BODY_VERSIONS) == set(snapshots.REPORTS)
    for version in snapshots.BODY_VERSIONS.values():
        assert len(version) == 16 and int(version, 16) >= 0


def test_the_versions_are_the_same_when_computed_again_in_another_process():
    code = "import json; from marketplace.reports import snapshots; print(json.dumps(snapshots.BODY_VERSIONS))"
    other = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})

    assert json.loads(other.stdout.splitlines()[-1]) == snapshots.BODY_VERSIONS
    assert snapshots.body_version(SummaryOut) == snapshots.BODY_VERSIONS["summary"]


def test_a_copy_with_the_same_fields_has_the_same_version():
    assert snapshots.body_version(copy_of(SummaryOut)) == snapshots.body_version(SummaryOut)


@pytest.mark.parametrize("changes", [
    {"peak_day_share": ma.fields.Float(allow_none=True)},  # added
    {"peak_day": None},  # removed
    {"peak_day": None, "busiest_day": ma.fields.Date(allow_none=True)},  # renamed
    {"peak_day": ma.fields.Date(allow_none=True, data_key="peakDay")},  # dumped under another key
    {"peak_day_net_fen": ma.fields.Float(required=True)},  # retyped
    {"peak_day_net_fen": ma.fields.Integer(required=True, attribute="extra.peak_day_net_fen")},  # read elsewhere
    {"figures": ma.fields.Nested(copy_of(FiguresOut, units=ma.fields.Float(required=True)), required=True)},
    {"figures": ma.fields.List(ma.fields.Nested(FiguresOut), required=True)},
], ids=["added", "removed", "renamed", "data_key", "retyped", "attribute", "nested_retyped", "listed"])
def test_changing_a_field_changes_the_version(changes):
    assert snapshots.body_version(copy_of(SummaryOut, **changes)) != snapshots.BODY_VERSIONS["summary"]


def test_a_field_changed_in_the_rows_of_a_ranking_changes_the_ranking_version():
    rows = copy_of(CountyRowOut, net_fen=ma.fields.Float(required=True))

    assert snapshots.body_version(rows_of(CountyRowOut, "CountyRankingOut")) == snapshots.BODY_VERSIONS["counties"]
    assert snapshots.body_version(rows_of(rows, "CountyRankingOut")) != snapshots.BODY_VERSIONS["counties"]
