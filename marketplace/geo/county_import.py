"""Importing official county lists (UTF-8 CSV, with or without BOM) into the registry.

Three kinds of list:

- ``all``: every county-level unit, columns ``adcode,province,prefecture,county``. Creates or
  updates counties (and their provinces).
- ``poverty``: the national poverty counties, columns ``adcode,...,exit_year``. Sets the flag and
  exit year on registry counties. Names in the list are informational: the official list keeps
  some pre-merger names, and two former units share one code (both rows must then agree).
- ``demonstration``: e-commerce demonstration counties, column ``adcode``. Sets the flag.

Flag lists only set flags; they never clear a flag set by an earlier list.
The whole file is checked first. If any row is bad, nothing changes unless ``skip_bad_rows``.
Re-importing the same file changes nothing.
"""
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, text

from marketplace.common.time import utcnow
from marketplace.errors import InvalidInput
from marketplace.extensions import db
from marketplace.geo.errors import GeoErrorCode
from marketplace.geo.models import County, Province
from marketplace.geo.provinces import PROVINCE_NAMES, province_adcode_of

LIST_KINDS = ("all", "poverty", "demonstration")
REQUIRED_COLUMNS = {"all": {"adcode", "province", "county"}, "poverty": {"adcode", "exit_year"}, "demonstration": {"adcode"}}
EXIT_YEARS = range(2000, 2031)
IMPORT_LOCK_KEY = 2_260_0001  # advisory lock id for county imports (GB/T 2260)


@dataclass
class BadRow:
    line: int
    reason: str
    adcode: str = ""

    def as_dict(self) -> dict:
        return {"line": self.line, "adcode": self.adcode, "reason": self.reason}


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    repeated: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    applied: bool = False

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "rows": self.rows, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "skipped": self.skipped,
            "repeated": self.repeated, "applied": self.applied,
            "bad_rows": [row.as_dict() for row in self.bad_rows],
        }


class ImportHasBadRows(InvalidInput):
    code = GeoErrorCode.IMPORT_HAS_BAD_ROWS

    def __init__(self, report: ImportReport):
        shown = report.bad_rows[:100]
        lines = "; ".join(f"line {r.line}: {r.reason}" for r in shown[:5])
        super().__init__(
            f"{len(report.bad_rows)} bad row(s), nothing imported ({lines}). Fix them or skip bad rows.",
            details={"bad_rows": [r.as_dict() for r in shown], "bad_row_count": len(report.bad_rows)},
        )
        self.report = report


class UnreadableFile(InvalidInput):
    code = GeoErrorCode.UNREADABLE_CSV


def _decoded_lines(raw: bytes, bad: list[BadRow]) -> list[str]:
    """Decode line by line so an encoding error names its line instead of failing the file."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = []
    for number, chunk in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(BadRow(number, "not valid UTF-8 (save the file as UTF-8)"))
            lines.append("\n")  # keep line numbers aligned
    return lines


def _parse(raw: bytes, kind: str) -> tuple[list[tuple[int, dict]], list[BadRow]]:
    bad: list[BadRow] = []
    lines = _decoded_lines(raw, bad)
    if not lines:
        raise UnreadableFile("The file is empty.")
    reader = csv.DictReader(io.StringIO("".join(lines)))
    header = {(name or "").strip().lower() for name in (reader.fieldnames or [])}
    missing = REQUIRED_COLUMNS[kind] - header
    if missing:
        raise UnreadableFile(
            f"The header lacks column(s) {', '.join(sorted(missing))} needed for a {kind} list.",
            details={"missing_columns": sorted(missing), "header": sorted(header)},
        )
    rows = []
    try:
        for record in reader:
            clean = {(k or "").strip().lower(): (v or "").strip() for k, v in record.items() if not isinstance(v, list)}
            if not any(clean.values()):
                continue
            rows.append((reader.line_num, clean))
    except csv.Error as exc:
        raise UnreadableFile(f"Not a readable CSV file near line {reader.line_num}: {exc}.") from None
    return rows, bad


def _check_adcode(adcode: str) -> str | None:
    if not adcode:
        return "blank adcode"
    if len(adcode) != 6 or not adcode.isdigit():
        return f"adcode {adcode!r} is not 6 digits"
    if adcode.endswith("00"):
        return f"adcode {adcode} is a province or prefecture code, not a county"
    return None


def _validate_all(rows, bad) -> dict[str, dict]:
    wanted: dict[str, dict] = {}
    for line, row in rows:
        adcode = row.get("adcode", "")
        problem = _check_adcode(adcode)
        province_code = province_adcode_of(adcode) if not problem else None
        if not problem and PROVINCE_NAMES.get(province_code) is None:
            problem = f"unknown province code {province_code}"
        if not problem and row.get("province") != PROVINCE_NAMES[province_code]:
            problem = f"unknown province {row.get('province')!r} for code {adcode} (expected {PROVINCE_NAMES[province_code]})"
        if not problem and not row.get("county"):
            problem = "blank county name"
        if not problem and len(row["county"]) > 60:
            problem = "county name longer than 60 characters"
        if not problem and adcode in wanted and wanted[adcode]["name"] != row["county"]:
            problem = f"duplicate adcode {adcode}: {wanted[adcode]['name']} on line {wanted[adcode]['line']}, {row['county']} here"
        if problem:
            bad.append(BadRow(line, problem, adcode))
            continue
        wanted[adcode] = {
            "line": line, "name": row["county"], "province_adcode": province_code,
            "prefecture_name": row.get("prefecture") or None,
        }
    return wanted


def _validate_flags(rows, bad, kind: str, existing: dict[str, County]) -> dict[str, dict]:
    wanted: dict[str, dict] = {}
    for line, row in rows:
        adcode = row.get("adcode", "")
        label = f" ({row['county']})" if row.get("county") else ""
        problem = _check_adcode(adcode)
        if not problem and adcode not in existing:
            problem = f"adcode {adcode} is not in the county registry; import the full county list first"
        exit_year = None
        if not problem and kind == "poverty":
            raw_year = row.get("exit_year", "")
            if raw_year:
                if not raw_year.isdigit() or int(raw_year) not in EXIT_YEARS:
                    problem = f"exit_year {raw_year!r} is not a year between {EXIT_YEARS.start} and {EXIT_YEARS.stop - 1}"
                else:
                    exit_year = int(raw_year)
        if not problem and adcode in wanted and wanted[adcode]["exit_year"] != exit_year:
            problem = f"adcode {adcode} listed again with a different exit year (line {wanted[adcode]['line']})"
        if problem:
            bad.append(BadRow(line, problem + label, adcode))
            continue
        wanted.setdefault(adcode, {"line": line, "exit_year": exit_year})
    return wanted


def _one_import_at_a_time() -> None:
    """Two imports at once would both insert the same new counties; the second waits for the
    first (a transaction-scoped advisory lock) and then finds them."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


def import_counties(
    raw: bytes,
    kind: str = "all",
    *,
    skip_bad_rows: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Check a whole county list, then apply it in one transaction (or raise ImportHasBadRows)."""
    if kind not in LIST_KINDS:
        raise InvalidInput(f"Unknown list kind {kind!r}; use one of {', '.join(LIST_KINDS)}.",
                           code=GeoErrorCode.UNKNOWN_LIST_KIND)
    say = progress or (lambda message: None)
    rows, bad = _parse(raw, kind)
    report = ImportReport(kind=kind, rows=len(rows) + len(bad))
    say(f"read {report.rows} rows")
    _one_import_at_a_time()
    existing = {c.adcode: c for c in db.session.scalars(select(County))}
    undecodable = len(bad)
    if kind == "all":
        wanted = _validate_all(rows, bad)
    else:
        wanted = _validate_flags(rows, bad, kind, existing)
    bad.sort(key=lambda row: row.line)
    report.bad_rows = bad
    report.skipped = len(bad)
    # Rows that repeat an earlier row's code with the same values (merged former units).
    report.repeated = len(rows) - (len(bad) - undecodable) - len(wanted)
    say(f"checked: {len(wanted)} counties to apply, {len(bad)} bad rows")
    if bad and not skip_bad_rows:
        raise ImportHasBadRows(report)

    if kind == "all":
        _apply_all(wanted, existing, report, say)
    else:
        _apply_flags(wanted, existing, report, kind)
    db.session.commit()
    report.applied = True
    say(f"done: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, {report.skipped} skipped")
    return report


def _apply_all(wanted: dict[str, dict], existing: dict[str, County], report: ImportReport, say) -> None:
    known_provinces = set(db.session.scalars(select(Province.adcode)))
    for code in sorted({w["province_adcode"] for w in wanted.values()} - known_provinces):
        db.session.add(Province(adcode=code, name=PROVINCE_NAMES[code]))
    db.session.flush()
    new_rows = []
    for done, (adcode, w) in enumerate(sorted(wanted.items()), start=1):
        county = existing.get(adcode)
        fields = {"name": w["name"], "province_adcode": w["province_adcode"], "prefecture_name": w["prefecture_name"]}
        if county is None:
            new_rows.append({"adcode": adcode, **fields, "is_national_poverty_county": False,
                             "is_demonstration_county": False})
            report.created += 1
        elif any(getattr(county, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(county, k, v)
            report.updated += 1
        else:
            report.unchanged += 1
        if done % 1000 == 0:
            say(f"  {done}/{len(wanted)}")
    if new_rows:
        db.session.execute(County.__table__.insert(), [{**row, "updated_at": utcnow()} for row in new_rows])


def _apply_flags(wanted: dict[str, dict], existing: dict[str, County], report: ImportReport, kind: str) -> None:
    for adcode, w in sorted(wanted.items()):
        county = existing[adcode]
        if kind == "poverty":
            target = {"is_national_poverty_county": True, "poverty_exit_year": w["exit_year"]}
        else:
            target = {"is_demonstration_county": True}
        if all(getattr(county, k) == v for k, v in target.items()):
            report.unchanged += 1
            continue
        for k, v in target.items():
            setattr(county, k, v)
        report.updated += 1
