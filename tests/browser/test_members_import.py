"""A convenor imports the shared sample member list in Chromium: upload, the check
in the background, the report with its planted problems, then the import."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from coalition import jobs
from coalition.extensions import db
from coalition.members import importing
from coalition.members.io_views import REFRESH_SECONDS
from coalition.members.models import Member
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_OPTIONS, report
from tests.conftest import PASSWORD

SAMPLES = (
    os.environ.get("COALITION_SAMPLES")
    or Path(__file__).resolve().parents[3] / "shared" / "samples"
)
SAMPLE = Path(SAMPLES) / "members.csv"
# A day after the sample's last join date (2026-12-16): its lines 2-241 are clean.
SAMPLE_TODAY = date(2026, 12, 31)
EMAIL = "imogen.convenor@example.org"
# The job page refreshes itself every REFRESH_SECONDS while the job runs.
RESULT_WAIT_MS = (REFRESH_SECONDS * 3 + 5) * 1000


def play_the_scheduler(app) -> int:
    """What the scheduler process does every few seconds: run the queued jobs."""
    with app.app_context():
        try:
            return jobs.run_pending()
        finally:
            db.session.remove()


def axe(page, label: str, found: dict) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found[f"{label} {page.url}"] = results.response["violations"]


@pytest.mark.browser
@pytest.mark.committing
def test_convenor_checks_and_imports_the_sample(app, page, make_user, monkeypatch):
    if not SAMPLE.exists():
        pytest.skip(f"the shared sample is not at {SAMPLE}")
    monkeypatch.setattr(importing.checking, "latest_today", lambda: SAMPLE_TODAY)
    convenor = make_user("convenor", email=EMAIL, name="Imogen Convenor", two_factor=True)
    secret = convenor.totp_secret
    db.session.rollback()  # hold no SQLite lock while the live server writes
    found: dict[str, list] = {}

    sign_in(page, EMAIL, PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()

    page.goto("/members/import")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import members")
    axe(page, "import page", found)
    page.get_by_label("Member list").set_input_files(str(SAMPLE))
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check of members.csv")
    expect(page.locator("main")).to_contain_text("Waiting for its turn")
    axe(page, "check waiting", found)

    assert play_the_scheduler(app) == 1
    # The page refreshes itself while the job runs (a reload of ours could
    # collide with its own): wait for the report to come in.
    main = page.locator("main")
    expect(main).to_contain_text(
        "This is a check: nothing has been written to the register.", timeout=RESULT_WAIT_MS
    )
    # One count of likely duplicates, in the summary and beside the box (issue 9 #13).
    summary = main.locator("dl.facts").last
    expect(summary.locator("dt", has_text="duplicates").locator("+ dd")).to_have_text("1")
    expect(main).to_contain_text("1 row looks like a member already in the file or the register")
    for text in (
        "Country: unknown country “Wakanda”.",
        "Contact email: “not-an-email” is not an email address.",
        "Name is missing.",
        "Likely duplicate of line 12: the same name and country.",
        "Likely duplicate of line 22: the same web domain.",
        "Likely duplicate of line 32: the same contact email.",
        "Likely duplicate of line 34: the same web domain.",
    ):
        expect(main).to_contain_text(text)
    # The rows with problems open the table, each under its line number in the file.
    lines = page.locator("tbody th[scope=row]")
    expect(lines.nth(0)).to_have_text("244")
    expect(lines.nth(4)).to_have_text("243")
    expect(page.locator("tbody tr").nth(2)).to_contain_text("(no name)")
    axe(page, "check report", found)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0

    # Importing with the errors left in is refused beside the box; ticking it imports.
    page.get_by_role("button", name="Import 240 members").click()
    expect(page.locator("#skip_errors-error")).to_contain_text("3 rows have errors.")
    axe(page, "commit refused", found)
    page.get_by_label("Skip the rows with errors").check()
    page.get_by_role("button", name="Import 240 members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import of members.csv")

    assert play_the_scheduler(app) == 1
    expect(page.locator("main")).to_contain_text(
        "Imported: 240 members created, 0 updated, 0 unchanged, 5 rows skipped.",
        timeout=RESULT_WAIT_MS,
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 240
        db.session.remove()

    # The check now shows what was done, and offers no second import (issue 9 #13).
    page.get_by_role("link", name="The check this import followed").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check of members.csv")
    expect(page.locator("main")).to_contain_text("This check has been imported")
    expect(page.locator("main")).to_contain_text(
        "Imported: 240 members created, 0 updated, 0 unchanged, 5 rows skipped."
    )
    expect(page.get_by_role("button", name="Import 240 members")).to_have_count(0)
    axe(page, "imported check", found)

    assert not found, "axe found accessibility violations:\n" + report(found)
