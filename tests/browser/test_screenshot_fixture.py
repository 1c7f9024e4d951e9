"""The screenshot fixture: `make test` writes screenshots to artifacts/ only; the README's, which are
tracked, are refreshed by `make screenshots` alone."""
from pathlib import Path

import pytest

from tests.browser import conftest as browser_conftest
from tests.browser.helpers import REFRESH_README_SCREENSHOTS


class FakePage:
    def screenshot(self, path: str, full_page: bool) -> None:
        Path(path).write_bytes(b"png")


@pytest.fixture
def folders(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Artifacts and README folders of this test; asked for before screenshot, which makes the first."""
    artifacts, readme = tmp_path / "artifacts", tmp_path / "docs"
    monkeypatch.setattr(browser_conftest, "SCREENSHOTS", artifacts)
    monkeypatch.setattr(browser_conftest, "README_SCREENSHOTS", readme)
    return artifacts, readme


def test_a_readme_screenshot_stays_in_artifacts_in_a_test_run(folders, screenshot, monkeypatch):
    monkeypatch.delenv(REFRESH_README_SCREENSHOTS, raising=False)
    artifacts, readme = folders

    screenshot(FakePage(), "station-desk", readme=True)

    assert (artifacts / "station-desk.png").exists()
    assert not readme.exists()


def test_make_screenshots_refreshes_the_readme_copy(folders, screenshot, monkeypatch):
    monkeypatch.setenv(REFRESH_README_SCREENSHOTS, "1")
    artifacts, readme = folders

    screenshot(FakePage(), "station-desk", readme=True)
    screenshot(FakePage(), "station-desk-empty")

    assert sorted(p.name for p in readme.iterdir()) == ["station-desk.png"]
    assert (artifacts / "station-desk-empty.png").exists()
