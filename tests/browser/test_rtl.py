"""Right to left in Chromium (issue 14): the join form, the application form and
the directory in Arabic lay out from the right (the main navigation starts at
the right edge, labels and fields start at the right), with screenshots kept in
``test-artifacts/``; and axe-core finds nothing on the public pages in any of the
five languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from coalition.config import LANGUAGES
from coalition.extensions import db
from coalition.members.models import MemberStatus
from tests.browser.test_accessibility import AXE_OPTIONS, report
from tests.browser.test_grants_apply import open_round, sign_in_by_id, start_application
from tests.test_members_export import make_member

ARTIFACTS = Path("test-artifacts")
PUBLIC_PAGES = ["/", "/calls", "/directory", "/directory/figures", "/join", "/sign-in", "/sign-up"]


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found, f"{locator} is not laid out"
    return found


def right(b: dict) -> float:
    return b["x"] + b["width"]


def assert_right_to_left(page, name: str) -> None:
    """The page reads from the right: <html> says so, the navigation's first item is
    right of its last, and the page's heading starts at the right edge of the content."""
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "ar")
    expect(html).to_have_attribute("dir", "rtl")
    width = page.viewport_size["width"]
    items = page.locator("header nav .nav > li")
    first, last = box(items.first), box(items.last)
    assert first["x"] > last["x"], "the main navigation does not start at the right"
    brand = box(page.locator("header .brand"))
    assert brand["x"] > width / 2, "the brand is not at the right edge"
    main = box(page.locator("main"))
    heading = box(page.locator("main h1").first)
    assert abs(right(heading) - (right(main) - 16)) < 24, "the heading does not start at the right"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rtl-{name}.png"), full_page=True)


def assert_fields_start_at_the_right(page, form) -> None:
    """Every visible text field's label and box are aligned on their right edges."""
    inputs = form.locator("input[type=text]:visible, input[type=email]:visible, textarea:visible")
    assert inputs.count() >= 2
    for i in range(min(inputs.count(), 6)):
        field = inputs.nth(i)
        label = form.locator(f'label[for="{field.get_attribute("id")}"]')
        if not label.count():
            continue
        assert abs(right(box(label)) - right(box(field))) < 4, field.get_attribute("id")


@pytest.mark.browser
@pytest.mark.committing
def test_the_join_form_reads_right_to_left(new_context):
    page = new_context(locale="ar", viewport={"width": 1024, "height": 800}).new_page()
    page.goto("/join")
    assert_right_to_left(page, "join")
    assert_fields_start_at_the_right(page, page.locator("main form").last)
    # The skip link appears at the right edge when a keyboard reaches it first.
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    assert right(box(skip)) > page.viewport_size["width"] - 40


@pytest.mark.browser
@pytest.mark.committing
def test_the_directory_reads_right_to_left_with_names_isolated(new_context):
    make_member("Open Data Kenya", acronym="ODK", status=MemberStatus.ACTIVE)
    make_member("شبكة الصحفيين", status=MemberStatus.ACTIVE)
    db.session.rollback()
    page = new_context(locale="ar", viewport={"width": 1024, "height": 800}).new_page()
    page.goto("/directory")
    assert_right_to_left(page, "directory")
    # The table's first column is at the right; an English name keeps its own order.
    first_header = box(page.locator("main table thead th").first)
    last_header = box(page.locator("main table thead th").last)
    assert first_header["x"] > last_header["x"]
    name = page.locator("main table tbody bdi", has_text="Open Data Kenya")
    expect(name).to_have_count(1)
    assert name.evaluate("e => getComputedStyle(e).direction") == "ltr"


@pytest.mark.browser
@pytest.mark.committing
def test_the_application_form_reads_right_to_left(new_context, make_user):
    round_id = open_round()
    make_user("applicant", email="rtl@example.org", name="Salma Idrissi", language="ar")
    db.session.rollback()
    page = new_context(locale="ar", viewport={"width": 1024, "height": 900}).new_page()
    sign_in_by_id(page, "rtl@example.org")
    start_application(page, round_id)
    assert_right_to_left(page, "application-form")
    assert_fields_start_at_the_right(page, page.locator("main form").first)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", list(LANGUAGES))
def test_public_pages_have_no_axe_violations_in_each_language(new_context, language):
    make_member("Open Data Kenya", acronym="ODK", status=MemberStatus.ACTIVE)
    open_round()
    page = new_context(locale=language).new_page()
    found: dict[str, list[dict]] = {}
    for path in PUBLIC_PAGES:
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        results = Axe().run(page, options=AXE_OPTIONS)
        if results.violations_count:
            found[f"{path} [{language}]"] = results.response["violations"]
    assert not found, report(found)
