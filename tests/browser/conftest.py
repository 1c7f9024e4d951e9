"""Browser tests: Debian's chromium driven by Playwright (never a browser Playwright downloads),
headless at 360×740, against the app served over real HTTP by a thread of this process.

The server's requests run in their own sessions, which the per-test rolled-back transaction does
not reach: every test here is ``real_commits`` (builders' data is committed by the test, and all
tables are emptied afterwards). A missing chromium fails the run; it is never skipped.
"""
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Page, sync_playwright
from werkzeug.serving import make_server

from tests.browser.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COUNTED_TYPES,
    README_SCREENSHOTS,
    REFRESH_README_SCREENSHOTS,
    SCREENSHOTS,
    VIEWPORT,
)
from tests.builders import PASSWORD

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real_commits)


@dataclass
class LiveServer:
    url: str


@pytest.fixture(scope="session")
def live_server(app):
    """The test app on http://127.0.0.1:<free port>, one thread per request, for the whole run."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium under Playwright; fails (never skips) when it is not installed."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/ensure-chromium (scripts/test does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server) -> Page:
    """A fresh phone-sized tab in Chinese with JavaScript off (the pages must work without it)."""
    context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=live_server.url,
                                   java_script_enabled=False)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def log_in():
    """log_in(page, user): sign in through the login form, as a person does."""

    def sign_in(page: Page, user, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.fill("#identifier", user.phone)
        page.fill("#password", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()

    return sign_in


def refreshing_readme_screenshots() -> bool:
    """Whether this run refreshes the README's screenshots: only `make screenshots` asks for it, so
    `make test` leaves the working tree as it found it (its screenshots go to artifacts/ only)."""
    return os.environ.get(REFRESH_README_SCREENSHOTS) == "1"


@pytest.fixture
def screenshot():
    """screenshot(page, name, readme=False): the whole page as artifacts/screenshots/<name>.png
    (git-ignored); readme=True also refreshes docs/screenshots/<name>.png, but only when
    REFRESH_README_SCREENSHOTS=1 (`make screenshots`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str, readme: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if readme and refreshing_readme_screenshots():
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / path.name)
        return path

    return take


@pytest.fixture
def page_weight(live_server):
    """page_weight(page, path) -> bytes the browser received to show the page on a first visit
    (cache off; HTML, CSS, script, fonts: bodies as sent, compressed, plus headers), images aside.
    Fails if anything came from another site."""

    def weigh(page: Page, path: str) -> int:
        devtools = page.context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
        finished = []

        def record(request):
            finished.append(request)

        page.on("requestfinished", record)
        page.goto(path, wait_until="load")
        page.remove_listener("requestfinished", record)
        devtools.detach()
        foreign = [request.url for request in finished if not request.url.startswith(live_server.url)]
        assert foreign == [], f"{path} fetched from elsewhere: {foreign}"
        total = 0
        for request in finished:
            if request.resource_type in COUNTED_TYPES:
                sizes = request.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return total

    return weigh


@pytest.fixture
def submit_without_csrf():
    """submit_without_csrf(page, form_selector="main form") -> HTTP status of sending that form, as
    drawn on the page, with its csrf_token left out (the browser's cookies go along)."""

    def submit(page: Page, form_selector: str = "main form") -> int:
        form = page.locator(form_selector).first
        action = form.get_attribute("action") or page.url
        fields = {}
        for field in form.locator("input[name], textarea[name], select[name]").all():
            name = field.get_attribute("name")
            kind = (field.get_attribute("type") or "").lower()
            if name == "csrf_token" or kind == "file" or (kind in ("radio", "checkbox") and not field.is_checked()):
                continue
            fields[name] = field.input_value() if kind not in ("radio", "checkbox") else (field.get_attribute("value") or "on")
        response = page.request.post(urljoin(page.url, action), form=fields, headers={"Accept": "text/html"},
                                     max_redirects=0)
        return response.status

    return submit
