"""Accessibility basics of the seller pages in chromium at 360 px: text contrast of at least
4.5:1, tap targets of at least 44 px, a visible focus ring, and text that doubles without the
page scrolling sideways."""
import pytest

from tests.browser.helpers import (
    focus_ring_of_next_tab_stop,
    low_contrast_text,
    overflows_with_double_text,
    small_targets,
)


@pytest.fixture
def seller_pages(build, session):
    """A seller with a listing on sale, one waiting for review and a paid order: every page has content."""
    seller = build.user("seller", display_name="阿依古丽")
    walnuts = build.product(seller, title="乌什核桃")
    build.product(seller, title="红枣", status="pending_review")
    build.pay(build.checkout(products=[walnuts]))
    session.commit()
    return seller, ["/sell/", "/sell/products/new", f"/sell/products/{walnuts.id}/price", "/sell/orders"]


def test_seller_pages_have_readable_text_big_targets_and_a_visible_focus(page, seller_pages, log_in):
    seller, paths = seller_pages
    page.goto("/login")
    problems = {"/login": (low_contrast_text(page), small_targets(page), focus_ring_of_next_tab_stop(page))}
    log_in(page, seller)
    for path in paths:
        page.goto(path)
        problems[path] = (low_contrast_text(page), small_targets(page), focus_ring_of_next_tab_stop(page))
    for path, (contrast, targets, (outline, width)) in problems.items():
        assert contrast == [], path
        assert targets == [], path
        assert outline != "none" and width >= 2, path


def test_seller_pages_fit_360_px_with_text_twice_as_large(page, seller_pages, log_in):
    seller, paths = seller_pages
    log_in(page, seller)
    for path in ["/login", *paths]:
        page.goto(path)
        assert overflows_with_double_text(page) <= 0, path
