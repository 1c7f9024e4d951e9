"""The README's API tour and scripts/tour are the same commands, so the tour the README shows is
the one tests/e2e/test_tour.py runs."""
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A request of the service or of localstripe: `curl -s $B/...` in the README, `api 200 $B/...` in the script.
README_REQUEST = re.compile(r"curl -s (?=.*\$[BS]/)")
SCRIPT_REQUEST = re.compile(r"\bapi \d{3} ")
TRAILING_COMMENT = re.compile(r"\s{2,}# .*$")


def commands(text: str) -> list[str]:
    """Shell commands, one a string: comments (whole lines, or after two spaces) dropped, continued
    lines (a trailing backslash, or a quote still open) joined, runs of white space made one space."""
    found, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        line = TRAILING_COMMENT.sub("", line)
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        try:
            shlex.split(pending)
        except ValueError:  # a quote still open: the command goes on
            continue
        found.append(" ".join(pending.replace("\\\n", " ").split()))
        pending = ""
    assert not pending, f"unfinished command: {pending}"
    return found


def readme_requests() -> set[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return {command for block in blocks for command in commands(block) if README_REQUEST.search(command)}


def script_requests() -> set[str]:
    script = (ROOT / "scripts" / "tour").read_text()
    return {SCRIPT_REQUEST.sub("curl -s ", command) for command in commands(script) if SCRIPT_REQUEST.search(command)}


def test_the_readme_shows_every_request_the_tour_makes_and_no_other():
    readme, script = readme_requests(), script_requests()

    assert len(script) > 40, "the tour makes its requests through api STATUS ..."
    assert sorted(script - readme) == [], "requests of scripts/tour the README does not show"
    assert sorted(readme - script) == [], "requests the README shows that scripts/tour does not make"


def test_commands_joins_continued_lines_and_open_quotes():
    text = "# a comment\nA=$(curl -s $B/x \\\n  -d '{\"a\": 1,\n  \"b\": 2}')   # why\n\ncurl -s $B/y\n"

    assert commands(text) == ["A=$(curl -s $B/x -d '{\"a\": 1, \"b\": 2}')", "curl -s $B/y"]
