"""Importing official county lists: the real 2024 files, every class of bad row, the CLI and the upload API."""
import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.errors import AppError
from marketplace.extensions import db
from marketplace.geo.county_import import ImportHasBadRows, import_counties
from marketplace.geo.models import County, Province
from tests.conftest import SHARED_COUNTIES

ALL_HEADER = "adcode,province,prefecture,county"
POVERTY_HEADER = "adcode,province,prefecture,county,exit_year"
AKSU = "652901,新疆维吾尔自治区,阿克苏地区,阿克苏市"
HUAYIN = "610582,陕西省,渭南市,华阴市"
IMPORTS_URL = "/api/v1/counties/imports"


# ---------------------------------------------------------------- helpers

def official_path(name: str) -> Path:
    """A file from ../shared/data/counties; its absence is a failure, not a reason to skip."""
    path = SHARED_COUNTIES / name
    if not path.is_file():
        pytest.fail(f"The official county file {path} is missing; these tests need ../shared/data/counties.")
    return path


def official_bytes(name: str) -> bytes:
    return official_path(name).read_bytes()


def official_rows(name: str) -> list[tuple[int, dict]]:
    """(line number, row) for each data row of an official file, read independently of the importer."""
    with official_path(name).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return [(reader.line_num, row) for row in reader]


def csv_file(*lines: str | bytes) -> bytes:
    """A CSV file from text lines (UTF-8) or raw byte lines (for encoding errors)."""
    return b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)


def registry() -> dict:
    """Everything an import may change, read fresh from the database."""
    db.session.expire_all()
    return {
        "provinces": {p.adcode: p.name for p in db.session.scalars(select(Province))},
        "counties": {
            c.adcode: (c.name, c.province_adcode, c.prefecture_name, c.is_national_poverty_county,
                       c.poverty_exit_year, c.is_demonstration_county, c.updated_at)
            for c in db.session.scalars(select(County))
        },
    }


def county_names() -> dict[str, str]:
    db.session.expire_all()
    return {c.adcode: c.name for c in db.session.scalars(select(County))}


def poverty_exit_years() -> dict[str, int | None]:
    """adcode -> exit year of every county flagged as a national poverty county."""
    db.session.expire_all()
    rows = db.session.execute(select(County.adcode, County.poverty_exit_year).where(County.is_national_poverty_county))
    return dict(rows.all())


def county(adcode: str) -> County:
    db.session.expire_all()
    return db.session.get(County, adcode)


def bad_lines(report) -> list[int]:
    return [row.line for row in report.bad_rows]


def import_official_counties():
    return import_counties(official_bytes("counties_all.csv"), "all")


def import_official_poverty_list():
    return import_counties(official_bytes("poverty_counties_832.csv"), "poverty", skip_bad_rows=True)


def import_small_registry() -> None:
    import_counties(csv_file(ALL_HEADER, AKSU, HUAYIN), "all")


def upload(client, raw: bytes, headers: dict | None = None, **form):
    data = {"file": (io.BytesIO(raw), "counties.csv"), **form}
    return client.post(IMPORTS_URL, data=data, headers=headers or {}, content_type="multipart/form-data")


# ---------------------------------------------------------------- the official files

def test_official_county_list_creates_2846_counties_in_31_provinces():
    expected = {row["adcode"]: (row["county"], row["province"], row["prefecture"] or None)
                for _, row in official_rows("counties_all.csv")}

    report = import_official_counties()

    assert (report.created, report.updated, report.unchanged, report.skipped) == (2846, 0, 0, 0)
    assert report.applied and report.bad_rows == []
    assert db.session.scalar(select(func.count()).select_from(County)) == 2846
    assert db.session.scalar(select(func.count()).select_from(Province)) == 31
    imported = {c.adcode: (c.name, c.province.name, c.prefecture_name) for c in db.session.scalars(select(County))}
    assert imported == expected
    assert {p.name for p in db.session.scalars(select(Province))} == {province for _, province, _ in expected.values()}


def test_official_poverty_list_flags_830_distinct_counties_and_reports_the_blank_code_row():
    blank_code_rows = [(line, row["county"]) for line, row in official_rows("poverty_counties_832.csv") if not row["adcode"]]
    assert blank_code_rows == [(793, "大柴旦行委")]
    import_official_counties()

    report = import_official_poverty_list()

    assert report.rows == 832
    assert [row.as_dict() for row in report.bad_rows] == [
        {"line": 793, "adcode": "", "reason": "blank adcode (大柴旦行委)"}
    ]
    assert (report.skipped, report.repeated) == (1, 1)
    assert (report.created, report.updated, report.unchanged) == (0, 830, 0)
    assert len(poverty_exit_years()) == 830


def test_official_poverty_list_repeats_only_632803_for_the_merged_lenghu_and_mangya_units():
    listed = Counter(row["adcode"] for _, row in official_rows("poverty_counties_832.csv") if row["adcode"])
    repeated = {code: count for code, count in listed.items() if count > 1}
    names = {row["county"] for _, row in official_rows("poverty_counties_832.csv") if row["adcode"] == "632803"}
    assert repeated == {"632803": 2} and names == {"冷湖行委", "茫崖行委"}
    import_official_counties()

    report = import_official_poverty_list()

    assert report.repeated == 1
    assert all(row.adcode != "632803" for row in report.bad_rows)
    merged = county("632803")
    assert (merged.name, merged.is_national_poverty_county, merged.poverty_exit_year) == ("茫崖市", True, 2019)


def test_official_poverty_exit_years_match_the_list_after_deduplication():
    rows = [row for _, row in official_rows("poverty_counties_832.csv")]
    # The file itself carries the official yearly announcement totals (SOURCES.md).
    assert Counter(int(row["exit_year"]) for row in rows) == {2016: 28, 2017: 125, 2018: 283, 2019: 344, 2020: 52}
    expected_years = {row["adcode"]: int(row["exit_year"]) for row in rows if row["adcode"]}
    import_official_counties()

    import_official_poverty_list()

    flagged = poverty_exit_years()
    assert flagged == expected_years
    assert Counter(flagged.values()) == Counter(expected_years.values())


@pytest.mark.parametrize(
    ("adcode", "name", "exit_year"),
    [
        ("451228", "都安瑶族自治县", 2020),
        ("520625", "印江土家族苗族自治县", 2018),
        ("520626", "德江县", 2019),
        ("410225", "兰考县", 2016),
        ("360881", "井冈山市", 2016),
    ],
)
def test_spot_checked_poverty_counties_carry_their_exit_year(adcode, name, exit_year):
    import_official_counties()
    import_official_poverty_list()

    flagged = county(adcode)

    assert (flagged.name, flagged.is_national_poverty_county, flagged.poverty_exit_year) == (name, True, exit_year)


def test_suichang_is_not_a_poverty_county():
    import_official_counties()
    import_official_poverty_list()

    suichang = county("331123")

    assert (suichang.name, suichang.is_national_poverty_county, suichang.poverty_exit_year) == ("遂昌县", False, None)


def test_official_poverty_list_without_skip_bad_rows_raises_and_changes_nothing():
    import_official_counties()
    before = registry()

    with pytest.raises(ImportHasBadRows) as raised:
        import_counties(official_bytes("poverty_counties_832.csv"), "poverty")

    assert raised.value.code == "import_has_bad_rows"
    assert bad_lines(raised.value.report) == [793]
    assert not raised.value.report.applied
    assert registry() == before
    assert poverty_exit_years() == {}


def test_reimporting_both_official_lists_changes_nothing():
    import_official_counties()
    import_official_poverty_list()
    before = registry()

    again_all = import_official_counties()
    again_poverty = import_official_poverty_list()

    assert (again_all.created, again_all.updated, again_all.unchanged) == (0, 0, 2846)
    assert (again_poverty.created, again_poverty.updated, again_poverty.unchanged) == (0, 0, 830)
    assert (again_poverty.skipped, again_poverty.repeated) == (1, 1)
    assert registry() == before


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf_as_excel_saves"])
def test_official_files_with_a_utf8_bom_import_identically(line_end):
    def with_bom(name: str) -> bytes:
        return b"\xef\xbb\xbf" + official_bytes(name).replace(b"\n", line_end)

    expected_names = {row["adcode"]: row["county"] for _, row in official_rows("counties_all.csv")}

    created = import_counties(with_bom("counties_all.csv"), "all")
    flagged = import_counties(with_bom("poverty_counties_832.csv"), "poverty", skip_bad_rows=True)

    assert (created.created, created.skipped) == (2846, 0)
    assert county_names() == expected_names
    assert (flagged.updated, flagged.repeated, bad_lines(flagged)) == (830, 1, [793])
    # The same data without the BOM is already there: nothing to change.
    assert import_official_counties().unchanged == 2846
    assert import_official_poverty_list().unchanged == 830


# ---------------------------------------------------------------- bad rows, one class at a time

BAD_COUNTY_ROWS = [
    pytest.param("65292,新疆维吾尔自治区,阿克苏地区,乌什县", "not 6 digits", id="five_digit_code"),
    pytest.param("65292A,新疆维吾尔自治区,阿克苏地区,乌什县", "not 6 digits", id="letters_in_code"),
    pytest.param("652900,新疆维吾尔自治区,,阿克苏地区", "not a county", id="code_ending_in_00"),
    pytest.param("652927,甘肃省,阿克苏地区,乌什县", "unknown province", id="province_not_matching_code"),
    pytest.param("652901,新疆维吾尔自治区,阿克苏地区,温宿县", "duplicate adcode 652901", id="duplicate_code_other_name"),
    pytest.param(",新疆维吾尔自治区,阿克苏地区,乌什县", "blank adcode", id="blank_code"),
    pytest.param("652927,新疆维吾尔自治区,阿克苏地区,乌什县".encode("gbk"), "not valid UTF-8", id="gbk_encoded_line"),
]


@pytest.mark.parametrize(("bad_row", "reason"), BAD_COUNTY_ROWS)
def test_a_bad_row_is_reported_by_line_and_nothing_is_imported(bad_row, reason):
    with pytest.raises(ImportHasBadRows) as raised:
        import_counties(csv_file(ALL_HEADER, AKSU, bad_row, HUAYIN), "all")

    [reported] = raised.value.report.bad_rows
    assert reported.line == 3
    assert reason in reported.reason
    assert raised.value.details["bad_rows"][0]["line"] == 3
    assert registry() == {"provinces": {}, "counties": {}}


@pytest.mark.parametrize(("bad_row", "reason"), BAD_COUNTY_ROWS)
def test_a_bad_row_blocks_the_good_changes_in_the_same_file(bad_row, reason):
    import_small_registry()
    before = registry()
    renamed_aksu = "652901,新疆维吾尔自治区,阿克苏地区,阿克苏新市"

    with pytest.raises(ImportHasBadRows):
        import_counties(csv_file(ALL_HEADER, renamed_aksu, bad_row, "610829,陕西省,榆林市,吴堡县"), "all")

    assert registry() == before


@pytest.mark.parametrize(("bad_row", "reason"), BAD_COUNTY_ROWS)
def test_skip_bad_rows_applies_only_the_good_rows(bad_row, reason):
    report = import_counties(csv_file(ALL_HEADER, AKSU, bad_row, HUAYIN), "all", skip_bad_rows=True)

    assert report.applied
    assert (report.created, report.skipped, bad_lines(report)) == (2, 1, [3])
    assert county_names() == {"652901": "阿克苏市", "610582": "华阴市"}


def test_bad_rows_are_numbered_by_physical_line_even_after_undecodable_and_blank_lines():
    raw = csv_file(
        ALL_HEADER,                                                   # 1
        AKSU,                                                         # 2
        "652927,新疆维吾尔自治区,阿克苏地区,乌什县".encode("gbk"),    # 3 bad: not UTF-8
        "",                                                           # 4 blank, ignored
        "65292,新疆维吾尔自治区,阿克苏地区,乌什县",                   # 5 bad: five digits
        HUAYIN,                                                       # 6
        "652901,新疆维吾尔自治区,阿克苏地区,温宿县",                  # 7 bad: 652901 renamed
    )

    with pytest.raises(ImportHasBadRows) as raised:
        import_counties(raw, "all")

    assert bad_lines(raised.value.report) == [3, 5, 7]
    assert raised.value.details["bad_row_count"] == 3


def test_repeating_a_county_row_unchanged_is_not_a_bad_row():
    report = import_counties(csv_file(ALL_HEADER, AKSU, HUAYIN, AKSU), "all")

    assert (report.created, report.repeated, report.bad_rows) == (2, 1, [])


def test_reimporting_a_renamed_county_updates_it():
    import_small_registry()

    report = import_counties(csv_file(ALL_HEADER, "652901,新疆维吾尔自治区,阿克苏地区,阿克苏新市", HUAYIN), "all")

    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert county_names() == {"652901": "阿克苏新市", "610582": "华阴市"}


@pytest.mark.parametrize(
    ("header", "kind", "missing"),
    [
        ("adcode,prefecture,county", "all", ["province"]),
        ("code,province,prefecture,county", "all", ["adcode"]),
        ("adcode,province,prefecture,county", "poverty", ["exit_year"]),
        ("county", "demonstration", ["adcode"]),
    ],
)
def test_a_header_without_required_columns_is_unreadable(header, kind, missing):
    with pytest.raises(AppError) as raised:
        import_counties(csv_file(header, AKSU), kind)

    assert raised.value.code == "unreadable_csv"
    assert raised.value.details["missing_columns"] == missing
    assert registry() == {"provinces": {}, "counties": {}}


def test_an_empty_file_is_unreadable():
    with pytest.raises(AppError) as raised:
        import_counties(b"", "all")

    assert raised.value.code == "unreadable_csv"


BAD_POVERTY_ROWS = [
    pytest.param("331123,浙江省,丽水市,遂昌县,2019", "not in the county registry", id="code_not_in_registry"),
    pytest.param("610582,陕西省,渭南市,华阴市,2019年", "is not a year", id="exit_year_not_a_year"),
    pytest.param("652901,新疆维吾尔自治区,阿克苏地区,阿克苏市,2018", "different exit year", id="repeated_code_other_year"),
    pytest.param("6529,新疆维吾尔自治区,阿克苏地区,乌什县,2019", "not 6 digits", id="short_code"),
]


@pytest.mark.parametrize(("bad_row", "reason"), BAD_POVERTY_ROWS)
def test_a_bad_poverty_row_blocks_the_list_unless_skipped(bad_row, reason):
    import_small_registry()
    raw = csv_file(POVERTY_HEADER, "652901,新疆维吾尔自治区,阿克苏地区,阿克苏市,2019", bad_row)

    with pytest.raises(ImportHasBadRows) as raised:
        import_counties(raw, "poverty")
    assert [(r.line, reason in r.reason) for r in raised.value.report.bad_rows] == [(3, True)]
    assert poverty_exit_years() == {}

    report = import_counties(raw, "poverty", skip_bad_rows=True)
    assert (report.updated, report.skipped) == (1, 1)
    assert poverty_exit_years() == {"652901": 2019}


def test_demonstration_list_sets_the_flag_and_reports_unknown_codes():
    import_small_registry()
    raw = csv_file("adcode", "652901", "331123", "65290X")

    with pytest.raises(ImportHasBadRows) as raised:
        import_counties(raw, "demonstration")
    assert bad_lines(raised.value.report) == [3, 4]
    assert "not in the county registry" in raised.value.report.bad_rows[0].reason
    assert not county("652901").is_demonstration_county

    report = import_counties(raw, "demonstration", skip_bad_rows=True)

    assert (report.updated, report.skipped) == (1, 2)
    assert county("652901").is_demonstration_county
    assert not county("610582").is_demonstration_county
    assert county("331123") is None


def test_flag_lists_add_flags_without_clearing_each_other():
    import_small_registry()
    import_counties(csv_file(POVERTY_HEADER, "652901,新疆维吾尔自治区,阿克苏地区,阿克苏市,2019"), "poverty")

    import_counties(csv_file("adcode", "610582"), "demonstration")
    import_counties(csv_file(POVERTY_HEADER, "610582,陕西省,渭南市,华阴市,2020"), "poverty")

    aksu, huayin = county("652901"), county("610582")
    assert (aksu.is_national_poverty_county, aksu.poverty_exit_year, aksu.is_demonstration_county) == (True, 2019, False)
    assert (huayin.is_national_poverty_county, huayin.poverty_exit_year, huayin.is_demonstration_county) == (True, 2020, True)


# ---------------------------------------------------------------- flask counties import

def run_import_command(app, *args: str):
    return app.test_cli_runner().invoke(args=["counties", "import", *args])


def test_cli_imports_the_official_lists_with_progress_and_a_summary(app):
    counties = run_import_command(app, str(official_path("counties_all.csv")))
    assert counties.exit_code == 0, counties.output
    assert "read 2846 rows" in counties.output and "2000/2846" in counties.output
    assert "created 2846, updated 0, unchanged 0, skipped 0" in counties.output

    poverty = run_import_command(app, str(official_path("poverty_counties_832.csv")), "--poverty-list", "--skip-bad-rows")
    assert poverty.exit_code == 0, poverty.output
    assert "skipped line 793: blank adcode (大柴旦行委)" in poverty.output
    assert "created 0, updated 830, unchanged 0, skipped 1" in poverty.output
    assert len(poverty_exit_years()) == 830


def test_cli_refuses_a_list_with_bad_rows_and_prints_their_lines(app):
    import_official_counties()

    result = run_import_command(app, str(official_path("poverty_counties_832.csv")), "--poverty-list")

    assert result.exit_code != 0
    assert "line 793: blank adcode" in result.output
    assert "nothing was imported" in result.output
    assert poverty_exit_years() == {}


def test_cli_reports_every_bad_line_of_a_county_list(app, tmp_path):
    path = tmp_path / "counties.csv"
    path.write_bytes(csv_file(ALL_HEADER, AKSU, "65292,新疆维吾尔自治区,阿克苏地区,乌什县", HUAYIN, ",陕西省,延安市,洛川县"))

    refused = run_import_command(app, str(path))
    assert refused.exit_code != 0
    assert "line 3:" in refused.output and "line 5:" in refused.output
    assert county_names() == {}

    skipped = run_import_command(app, str(path), "--skip-bad-rows")
    assert skipped.exit_code == 0, skipped.output
    assert "created 2, updated 0, unchanged 0, skipped 2" in skipped.output
    assert county_names() == {"652901": "阿克苏市", "610582": "华阴市"}


def test_cli_imports_a_demonstration_list(app, tmp_path):
    import_small_registry()
    path = tmp_path / "demonstration.csv"
    path.write_bytes(csv_file("adcode", "610582"))

    result = run_import_command(app, str(path), "--demonstration-list")

    assert result.exit_code == 0, result.output
    assert "created 0, updated 1, unchanged 0, skipped 0" in result.output
    assert county("610582").is_demonstration_county


def test_cli_names_the_error_code_of_an_unreadable_file(app, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_bytes(csv_file("code,name", "652901,阿克苏市"))

    result = run_import_command(app, str(path))

    assert result.exit_code != 0
    assert "unreadable_csv" in result.output


# ---------------------------------------------------------------- POST /api/v1/counties/imports

def test_admin_upload_imports_the_official_lists_and_returns_the_summary(client, build):
    admin = build.headers("admin")

    counties = upload(client, official_bytes("counties_all.csv"), admin)
    poverty = upload(client, official_bytes("poverty_counties_832.csv"), admin, kind="poverty", skip_bad_rows="true")

    assert counties.status_code == 200, counties.json
    assert {k: counties.json[k] for k in ("kind", "rows", "created", "updated", "unchanged", "skipped", "applied")} == {
        "kind": "all", "rows": 2846, "created": 2846, "updated": 0, "unchanged": 0, "skipped": 0, "applied": True}
    assert poverty.status_code == 200, poverty.json
    assert (poverty.json["updated"], poverty.json["skipped"], poverty.json["repeated"]) == (830, 1, 1)
    assert poverty.json["bad_rows"] == [{"line": 793, "adcode": "", "reason": "blank adcode (大柴旦行委)"}]
    assert len(poverty_exit_years()) == 830


def test_upload_with_bad_rows_is_422_with_the_rows_and_imports_nothing(client, build):
    raw = csv_file(ALL_HEADER, AKSU, "652900,新疆维吾尔自治区,,阿克苏地区", HUAYIN)

    response = upload(client, raw, build.headers("admin"))

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "import_has_bad_rows"
    assert [row["line"] for row in error["details"]["bad_rows"]] == [3]
    assert error["details"]["bad_rows"][0]["adcode"] == "652900"
    assert county_names() == {}


def test_upload_with_skip_bad_rows_applies_the_good_rows(client, build):
    raw = csv_file(ALL_HEADER, AKSU, "652900,新疆维吾尔自治区,,阿克苏地区", HUAYIN)

    response = upload(client, raw, build.headers("admin"), skip_bad_rows="true")

    assert response.status_code == 200, response.json
    assert (response.json["created"], response.json["skipped"]) == (2, 1)
    assert county_names() == {"652901": "阿克苏市", "610582": "华阴市"}


def test_upload_without_the_needed_columns_is_422_unreadable_csv(client, build):
    response = upload(client, csv_file("adcode,county", "652901,阿克苏市"), build.headers("admin"))

    assert response.status_code == 422
    assert response.json["error"]["code"] == "unreadable_csv"


@pytest.mark.parametrize(("roles", "status", "code"), [
    (("seller",), 403, "forbidden"),
    (("buyer", "partner"), 403, "forbidden"),
    ((), 401, "not_authenticated"),
])
def test_only_administrators_may_upload_county_lists(client, build, roles, status, code):
    headers = build.headers(*roles) if roles else {}

    response = upload(client, csv_file(ALL_HEADER, AKSU), headers)

    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert "652901" not in county_names()


def test_cli_refuses_two_list_kinds_at_once(app, tmp_path):
    csv_file = tmp_path / "both.csv"
    csv_file.write_text("adcode,exit_year\n652927,2019\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["counties", "import", str(csv_file), "--poverty-list", "--demonstration-list"])

    assert result.exit_code == 2
    assert "not both" in result.output
    assert db.session.scalar(select(func.count()).select_from(County)) == 0
