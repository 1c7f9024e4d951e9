"""The pages' translations: every string marked in the pages' code and templates has its Chinese,
and the committed .mo files are what the .po files compile to."""
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOGS = ROOT / "marketplace" / "translations"
PYBABEL = Path(sys.executable).parent / "pybabel"


def _entries(catalog) -> dict:
    def hashable(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return {hashable(message.id): hashable(message.string) for message in catalog if message.id and not message.fuzzy}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set:
    """The msgids `scripts/translations update` would extract now."""
    template = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([str(PYBABEL), "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "-o", str(template), "."], cwd=ROOT, check=True, capture_output=True)
    with template.open("rb") as handle:
        return {tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id for m in read_po(handle) if m.id}


def _po(locale: str):
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def test_every_marked_string_has_its_chinese(extracted):
    chinese = _entries(_po("zh"))
    untranslated = sorted(str(msgid) for msgid in extracted
                          if not (chinese.get(msgid)[0] if isinstance(chinese.get(msgid), tuple) else chinese.get(msgid)))
    assert untranslated == [], "run scripts/translations update and fill in these msgstr"


@pytest.mark.parametrize("locale", sorted(p.name for p in CATALOGS.iterdir() if p.is_dir()))
def test_committed_mo_is_the_compiled_po(locale):
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = _entries(read_mo(handle))
    assert compiled == _entries(_po(locale)), "run scripts/translations compile"
