"""axe-core finds no WCAG 2.2 A/AA violations on the public calls (/calls and a
call's page) nor on the staff pages of funds and rounds, in English and Arabic;
the public pages work with JavaScript switched off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from coalition.countries import AFRICAN_COUNTRIES
from coalition.extensions import db
from coalition.grants.models import Criterion, Fund, Round, RoundPhase
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import audit, choose_language, report
from tests.conftest import PASSWORD

DESCRIPTION = """## Who may apply

Civil-society groups working on **elections** and platform harms.

- Research on *disinformation*
- Advocacy with platforms

Read [the guidance](https://example.org/guidance) or write to
[grants@example.org](mailto:grants@example.org).
"""


def open_round() -> Round:
    """A fund for all of Africa with one open call, committed for the live server."""
    now = datetime.now(UTC)
    fund = Fund(name="Africa Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = AFRICAN_COUNTRIES
    round_ = Round(
        fund=fund,
        title="Elections and platforms 2027",
        description=DESCRIPTION,
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=20),
        budget=10_000_000,
        min_grant=500_000,
        max_grant=2_500_000,
        required_attachments=["proposal", "budget"],
    )
    round_.criteria.append(Criterion(position=0, name="Relevance", weight=2))
    db.session.add_all([fund, round_])
    db.session.commit()
    return round_


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_calls_have_no_axe_violations(page, language):
    round_id = open_round().id
    db.session.rollback()  # hold no SQLite lock while the live server answers
    found: dict[str, list[dict]] = {}

    if language != "en":
        choose_language(page, language)
    page.goto("/calls")
    expect(page.locator(f'a[href="/calls/{round_id}"]')).to_be_visible()
    audit(page, language, "calls", found)

    page.goto(f"/calls/{round_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Elections and platforms 2027")
    expect(page.locator('a[href="https://example.org/guidance"]')).to_be_visible()
    audit(page, language, "a call", found)

    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_fund_and_round_staff_pages_have_no_axe_violations(page, make_user, language):
    round_id = open_round().id
    email = f"grants-staff-{language}@example.org"
    convenor = make_user("convenor", email=email, language=language, two_factor=True)
    secret = convenor.totp_secret
    db.session.rollback()
    found: dict[str, list[dict]] = {}

    sign_in(page, email, PASSWORD)
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()

    for label, path in [
        ("grants home", "/grants/"),
        ("funds", "/grants/funds/"),
        ("new fund", "/grants/funds/new"),
        ("round", f"/grants/rounds/{round_id}"),
        ("edit round", f"/grants/rounds/{round_id}/edit"),
        ("new round", "/grants/rounds/new"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        audit(page, language, label, found)

    # A round form sent back with errors: the summary, and errors beside the fields.
    page.locator("#title").fill("")
    page.locator("#criteria-0-weight").fill("0")
    page.locator("#criteria-0-name").fill("Relevance")
    page.locator("form:has(#title) button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#title")).to_have_attribute("aria-invalid", "true")
    audit(page, language, "new round with errors", found)

    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
def test_calls_work_without_javascript(new_context):
    round_id = open_round().id
    db.session.rollback()
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/calls")
    page.get_by_role("link", name="Elections and platforms 2027").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/calls/{round_id}")
    expect(page.get_by_role("heading", name="Who may apply", exact=True).first).to_be_visible()
