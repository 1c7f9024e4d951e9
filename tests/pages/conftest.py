"""Helpers for the people's pages driven through the test client (as a browser without script would)."""
import re
import time

import pytest

from tests.builders import PASSWORD


class Browser:
    """A test client that reads forms' hidden fields and sends them back, like a browser."""

    def __init__(self, client):
        self.client = client

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def hidden_fields(self, path: str) -> dict:
        page = self.client.get(path).get_data(as_text=True)
        fields = {}
        for tag in re.findall(r'<input[^>]*type="hidden"[^>]*>', page):
            name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = value.group(1) if value else ""
        return fields

    def send(self, form_path: str, data: dict, *, to: str | None = None, files: dict | None = None, **kwargs):
        """Open the form at ``form_path`` and send it with ``data`` (and photos) to its action."""
        body = {**self.hidden_fields(form_path), **data, **(files or {})}
        return self.client.post(to or form_path, data=body, content_type="multipart/form-data", **kwargs)

    def log_in(self, user, password: str = PASSWORD):
        return self.send("/login", {"identifier": user.phone, "password": password}, to="/login")


@pytest.fixture
def browser(client) -> Browser:
    """A browser without JavaScript: the test client sending forms as they are drawn."""
    return Browser(client)


@pytest.fixture
def buyer(build, session):
    """A buyer, committed (the pages' requests read it in their own transactions)."""
    user = build.user("buyer")
    session.commit()
    return user


@pytest.fixture
def buyer_browser(browser, buyer):
    """A browser signed in as the buyer through the login form."""
    assert browser.log_in(buyer).status_code == 302
    return browser


@pytest.fixture
def seller(build, session):
    """An unverified seller (their listings go to review) in Wushi, with two villages there."""
    build.county("652927", "乌什县", is_national_poverty_county=True)
    user = build.user("seller", county="652927", display_name="阿依古丽")
    build.village("652927", "英阿瓦提村")
    build.village("652927", "亚科瑞克村")
    session.commit()
    return user


@pytest.fixture
def seller_browser(browser, seller):
    """A browser signed in as the seller through the login form."""
    assert browser.log_in(seller).status_code == 302
    return browser


def expire_sign_in(client, hours: int) -> None:
    """Move the browser's sign-in back in time, as if the seller had left the form open."""
    with client.session_transaction() as browser_session:
        browser_session["signed_in_at"] = int(time.time()) - hours * 3600
