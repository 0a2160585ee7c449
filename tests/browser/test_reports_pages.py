"""The reports pages in Chromium: no axe-core violation, no sideways scrolling at 390 px
(nor 320 px), and the whole path of a steering member's request: the form, the page
that refreshes itself without JavaScript while the job runs, then the download."""

from __future__ import annotations

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe

from coalition import jobs
from coalition.accounts.models import Role
from coalition.extensions import db
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_OPTIONS, report
from tests.conftest import PASSWORD


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("width", [390, 320])
def test_reports_pages_on_a_phone(new_context, make_user, make_member, width, tmp_path):
    person = make_user(Role.CONVENOR, two_factor=True, email=f"reports{width}@example.org")
    secret = person.totp_secret
    make_member(name="Réseau des Vérificateurs", country="SN")
    db.session.rollback()  # hold no SQLite lock while the live server writes

    page = new_context(viewport={"width": width, "height": 800}).new_page()
    sign_in(page, f"reports{width}@example.org", PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()

    found: dict[str, list[dict]] = {}
    page.goto("/steering/reports/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found["list"] = results.response["violations"]

    page.get_by_label("Language of the report").select_option("fr")
    page.get_by_role("button", name="Make the report").click()
    page.wait_for_load_state()
    assert "/steering/reports/" in page.url
    assert page.get_by_text("Waiting for its turn").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found["progress"] = results.response["violations"]

    assert jobs.run_pending() == 1
    db.session.remove()
    # The page's own Refresh header brings the download link, without JavaScript.
    page.get_by_role("link", name="Download the PDF").wait_for(timeout=15_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if width == 390:
        page.screenshot(path=str(tmp_path / "report-390.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the PDF").click()
    assert download.value.suggested_filename.endswith("-fr.pdf")
    assert not found, report(found)
