"""axe-core finds no WCAG 2.2 A/AA violations on the account pages, in English and Arabic."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from coalition.extensions import db
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}
DIRECTIONS = {"en": "ltr", "ar": "rtl"}


def choose_language(page, language: str) -> None:
    """Use the language switch in the page header, as a visitor would."""
    page.goto("/")
    header = page.locator("header form.language-form")
    header.get_by_role("combobox").select_option(language)
    header.get_by_role("button").click()
    page.wait_for_load_state()


def audit(page, language: str, label: str, found: dict[str, list[dict]]) -> None:
    """Check the page is in ``language``, then keep what axe finds on it under ``label``."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("html")).to_have_attribute("dir", DIRECTIONS[language])
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found[f"{label} [{language}] {page.url}"] = results.response["violations"]


def report(found: dict[str, list[dict]]) -> str:
    lines = []
    for where, violations in found.items():
        lines.append(f"{where}:")
        for v in violations:
            lines.append(f"  {v['id']} ({v['impact']}): {v['help']}  <{v['helpUrl']}>")
            for node in v["nodes"]:
                lines.append(f"    - {', '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_account_pages_have_no_axe_violations(page, make_user, language):
    email = f"axe-{language}@example.org"
    make_user("applicant", email=email, name="Nadia Haddad", language=language)
    db.session.rollback()  # hold no SQLite lock while the live server writes
    found: dict[str, list[dict]] = {}

    if language != "en":
        choose_language(page, language)

    page.goto("/sign-in")
    audit(page, language, "sign-in", found)

    page.goto("/sign-up")
    audit(page, language, "sign-up", found)

    page.goto("/")
    audit(page, language, "home, anonymous", found)

    # A sign-up that fails: the error summary and the errors beside the fields.
    page.goto("/sign-up")
    page.locator("#email").fill("not an address")
    page.locator("#password").fill("short")
    page.locator("form:has(#email) button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    audit(page, language, "sign-up with errors", found)

    sign_in(page, email, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nadia Haddad")
    audit(page, language, "home, signed in as an applicant", found)

    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("path", ["/sign-in", "/sign-up"])
def test_no_horizontal_scroll_at_320px(new_context, language, path):
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    if language != "en":
        choose_language(page, language)
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("dir", DIRECTIONS[language])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{path} [{language}] scrolls sideways at 320px: {width}px wide"
