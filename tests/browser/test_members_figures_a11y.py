"""axe-core finds no WCAG 2.2 A/AA violations on the member figures, staff and public,
in English and Arabic, with the demo register's ~250 members behind them."""

from __future__ import annotations

import random

import pyotp
import pytest
from playwright.sync_api import expect

from coalition.extensions import db
from coalition.members import stats
from coalition.members.demo import seed_members
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import audit, choose_language, report
from tests.conftest import PASSWORD


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_member_figures_have_no_axe_violations(page, make_user, language):
    seed_members(random.Random(11))
    db.session.commit()
    stats.forget_cached()
    email = f"figures-{language}@example.org"
    convenor = make_user("convenor", email=email, language=language, two_factor=True)
    secret = convenor.totp_secret
    db.session.rollback()  # hold no SQLite lock while the live server answers
    found: dict[str, list[dict]] = {}

    if language != "en":
        choose_language(page, language)
    page.goto("/directory/figures")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Every chart is an image with a name, and its numbers are in a table beside it.
    charts = page.locator("svg[role=img]")
    expect(charts).to_have_count(5)
    expect(page.locator("table")).to_have_count(5)
    audit(page, language, "public figures", found)

    sign_in(page, email, PASSWORD)
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()
    page.goto("/members/figures")
    expect(page.locator("svg[role=img]")).to_have_count(6)
    # The monthly numbers sit in a native disclosure, checked open as well as closed.
    page.locator("details summary").click()
    expect(page.locator("details table")).to_be_visible()
    audit(page, language, "staff figures", found)

    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
def test_figures_work_without_javascript(new_context):
    seed_members(random.Random(12))
    db.session.commit()
    stats.forget_cached()
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/directory/figures")
    expect(page.get_by_role("heading", name="Members by country")).to_be_visible()
    expect(page.locator("#chart-country-title")).to_have_count(1)
