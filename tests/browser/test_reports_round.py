"""A steering member asks for a round report in Chromium, waits on the page that
refreshes itself while the job runs, and downloads the PDF."""

from __future__ import annotations

import pyotp
import pytest

from coalition import jobs
from coalition.extensions import db
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD, password_hash_for
from tests.test_reports_round import pdf_text, two_factor, voted_round


@pytest.mark.browser
@pytest.mark.committing
def test_steering_member_asks_for_a_round_report_waits_and_downloads(new_context, tmp_path):
    round_, _vote, _apps, seats, _recused = voted_round()
    round_.title = "Round for the browser"
    member = seats[0].representative
    member.password_hash = password_hash_for(PASSWORD)
    two_factor(member)
    email, secret, round_id = member.email, member.totp_secret, round_.id
    db.session.rollback()  # hold no SQLite lock while the live server writes

    page = new_context(viewport={"width": 320, "height": 800}).new_page()
    sign_in(page, email, PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()

    page.goto("/steering/reports/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.get_by_label("Report", exact=True).select_option("round")
    page.get_by_label("Round (round report)").select_option(str(round_id))
    page.get_by_role("button", name="Make the report").click()
    page.wait_for_load_state()
    assert page.get_by_text("Waiting for its turn").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    assert jobs.run_pending() == 1
    db.session.remove()
    page.get_by_role("link", name="Download the PDF").wait_for(timeout=15_000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the PDF").click()
    assert download.value.suggested_filename.startswith(f"round-report-{round_id}-")
    path = tmp_path / "round.pdf"
    download.value.save_as(path)
    text = pdf_text(path.read_bytes())
    assert "Round for the browser" in text and "Ranking and funding line" in text
