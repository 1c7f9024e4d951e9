"""Error codes are enums: each code is declared once, in snake_case, by one enum; services and pages
name codes only through their enums (so renaming a code cannot silently lose a page's message);
and a code leaves the service as the very string clients know."""
import enum
import importlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

from marketplace.catalog.errors import CatalogErrorCode
from marketplace.errors import HTTP_CODES, Conflict, ErrorCode

PACKAGE = Path(__file__).resolve().parents[2] / "marketplace"
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
# code="...", code = "..." (a class's default) and error_response(503, "...")
LITERAL_CODE = re.compile(r"""\bcode\s*=\s*["']|error_response\(\s*\d+\s*,\s*["']""")
QUOTED_WORD = re.compile(r"""(?<![\w.])(["'])([a-z][a-z0-9_]*)\1""")
# NOT_FOUND = "not_found": a member's declaration in an errors.py
DECLARATION = re.compile(r"""^\s*[A-Z][A-Z0-9_]* = (["'])[a-z0-9_]+\1\s*(#.*)?$""")


def _code_enums() -> list[type[enum.StrEnum]]:
    """ErrorCode and the codes each domain package declares in its errors.py."""
    enums = [ErrorCode]
    for path in sorted(PACKAGE.glob("*/errors.py")):
        module = importlib.import_module(f"marketplace.{path.parent.name}.errors")
        enums += [value for value in vars(module).values() if isinstance(value, type)
                  and issubclass(value, enum.StrEnum) and value.__module__ == module.__name__]
    return enums


CODE_ENUMS = _code_enums()
DECLARED = {member.value for code_enum in CODE_ENUMS for member in code_enum}


def _lines(*suffixes: str):
    """(where, path, line) of every line of the package's files with these suffixes."""
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in suffixes):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            yield f"{path.relative_to(PACKAGE.parent)}:{number}", path, line


def test_every_domain_package_declares_its_codes():
    assert {code_enum.__name__ for code_enum in CODE_ENUMS} >= {
        "ErrorCode", "AccountErrorCode", "CatalogErrorCode", "GeoErrorCode", "OrderErrorCode", "ReportErrorCode",
        "PaymentErrorCode", "StationErrorCode", "FlowErrorCode"}


def test_every_code_is_declared_by_one_enum_only():
    """One string, one meaning: a code two packages raise has one owner, which the other imports."""
    declared_as = defaultdict(list)
    for code_enum in CODE_ENUMS:
        for name, member in code_enum.__members__.items():  # aliases too: the same string twice in one enum
            declared_as[member.value].append(f"{code_enum.__name__}.{name}")
    assert {code: names for code, names in declared_as.items() if len(names) > 1} == {}


@pytest.mark.parametrize("code_enum", CODE_ENUMS, ids=lambda code_enum: code_enum.__name__)
def test_codes_are_snake_case_and_named_after_themselves(code_enum):
    assert [f"{name} = {member.value!r}" for name, member in code_enum.__members__.items()
            if not SNAKE_CASE.fullmatch(member.value) or name != member.value.upper()] == []


def test_an_error_raised_with_a_member_answers_the_code_string(app):
    for member in (member for code_enum in CODE_ENUMS for member in code_enum):
        with app.test_request_context("/api/v1/products/1", method="PATCH"):
            response = app.make_response(app.handle_user_exception(Conflict("Refused.", code=member, details={"n": 1})))
        assert response.status_code == 409
        assert response.get_json() == {"error": {"code": member.value, "message": "Refused.", "details": {"n": 1}}}


def test_an_error_page_shows_the_code_string(app):
    with app.test_request_context("/sell/1", headers={"Accept": "text/html"}):
        response = app.make_response(app.handle_user_exception(
            Conflict("Only drafts can be deleted.", code=CatalogErrorCode.NOT_A_DRAFT)))
    page = response.get_data(as_text=True)
    assert "409 · not_a_draft" in page and "Only drafts can be deleted." in page
    assert "CatalogErrorCode" not in page


def test_werkzeug_statuses_map_to_error_codes():
    assert {status: code for status, code in HTTP_CODES.items() if not isinstance(code, ErrorCode)} == {}


def test_page_message_maps_are_keyed_by_code_enums(app):
    from marketplace.web import routes, sell, station

    with app.test_request_context("/"):
        maps = {
            "web.routes._error_messages()": routes._error_messages(),
            "web.sell._error_messages()": sell._error_messages(),
            "web.sell.ERROR_FIELDS": sell.ERROR_FIELDS,
            "web.station._messages()": station._messages(),
            "web.station.ERROR_FIELDS": station.ERROR_FIELDS,
        }
    enums = tuple(CODE_ENUMS)
    assert {where: sorted(map(repr, keys)) for where, keys in
            ((where, [key for key in page_map if not isinstance(key, enums)]) for where, page_map in maps.items())
            if keys} == {}


def test_no_code_is_written_as_a_string_literal():
    assert [f"{where}: {line.strip()}" for where, _, line in _lines(".py") if LITERAL_CODE.search(line)] == []


def test_services_and_pages_spell_declared_codes_only_through_their_enums():
    """A page whose message is keyed by "out_of_stock" silently loses it when the code is renamed;
    one keyed by OrderErrorCode.OUT_OF_STOCK fails to import."""
    spelled = [f"{where}: {match.group(0)}" for where, path, line in _lines(".py", ".html")
               if not (path.name == "errors.py" and DECLARATION.match(line))
               for match in QUOTED_WORD.finditer(line) if match.group(2) in DECLARED]
    assert spelled == []
