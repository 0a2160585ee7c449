"""Grants in Chromium: staff award an approved application with three tranches; the
grantee files an interim report with a file and submits it; staff accept it. With
JavaScript on and off. The grant, report and money pages have no axe violation in
English and Arabic."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants.award_models import Award, ReportStatus
from tests import sample_files
from tests.awards_factories import TODAY, approved, award, file_and_submit
from tests.browser.test_accessibility import audit, choose_language, report
from tests.browser.test_grants_apply import sign_in_by_id
from tests.reviews_factories import make_round


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


def sign_in_staff(page, email: str, secret: str) -> None:
    sign_in_by_id(page, email)
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()


def day(delta: int) -> str:
    return (TODAY + timedelta(days=delta)).isoformat()


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_award_report_and_accept(new_context, make_user, tmp_path, javascript):
    suffix = "js" if javascript else "nojs"
    staff = make_user(Role.CONVENOR, two_factor=True, email=f"award-staff-{suffix}@example.org")
    grantee = make_user(Role.APPLICANT, email=f"grantee-{suffix}@example.org")
    round_ = make_round(budget=5_000_000)
    application = approved(round_, amount=1_200_000, applicant=grantee, title="Radio watch")
    db.session.commit()
    application_id, secret, staff_email = application.id, staff.totp_secret, staff.email
    grantee_email = grantee.email
    db.session.rollback()
    evidence = tmp_path / "evidence.pdf"
    evidence.write_bytes(sample_files.pdf())

    staff_page = new_context(java_script_enabled=javascript).new_page()
    sign_in_staff(staff_page, staff_email, secret)
    staff_page.goto(f"/applications/{application_id}")
    staff_page.get_by_role("link", name="Award a grant").click()
    staff_page.get_by_label("Amount awarded").fill("12,000")
    staff_page.get_by_label("Starts on").fill(day(0))
    staff_page.get_by_label("Ends on").fill(day(365))
    staff_page.get_by_label("Report 1, kind").select_option("interim")
    staff_page.get_by_label("Report 1, due on").fill(day(150))
    staff_page.get_by_label("Report 2, kind").select_option("final")
    staff_page.get_by_label("Report 2, due on").fill(day(400))
    # The even split fills three rows, with dates 90 days apart.
    staff_page.get_by_label("Number of tranches").fill("3")
    staff_page.get_by_role("button", name="Split the amount evenly").click()
    expect(staff_page.get_by_label("Amount, tranche 3")).to_have_value("4,000.00")
    staff_page.get_by_label("Paid after, tranche 3").select_option("0")
    staff_page.get_by_role("button", name="Award the grant").click()
    expect(staff_page.get_by_text("The grant is made.")).to_be_visible()
    db.session.rollback()
    grant = db.session.scalar(sa.select(Award).where(Award.application_id == application_id))
    assert [t.amount for t in grant.tranches] == [400_000, 400_000, 400_000]
    assert grant.tranches[2].condition_report_id == grant.reports[0].id
    report_id, grant_id = grant.reports[0].id, grant.id
    db.session.rollback()

    page = new_context(java_script_enabled=javascript).new_page()
    sign_in_by_id(page, grantee_email)
    page.goto(f"/applications/{application_id}")
    page.get_by_role("link", name="See the grant, its payments and its reports").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Radio watch")
    page.get_by_role("link", name="Interim report").click()
    page.get_by_label("What was done").fill("Monitored 30 stations.")
    page.get_by_label("Results").fill("Three briefs aired.")
    page.get_by_label("Problems met").fill("None.")
    page.get_by_label("Spending against the budget").fill("As planned.")
    page.get_by_label("Spent so far, budget line 1").fill("4,000")
    page.locator("#file").set_input_files(str(evidence))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("evidence.pdf is attached.")).to_be_visible()
    expect(page.get_by_label("What was done")).to_have_value("Monitored 30 stations.")
    page.get_by_role("button", name="Submit the report").click()
    expect(page.get_by_text("Your report is submitted.")).to_be_visible()

    staff_page.goto(f"/grants/reports/{report_id}")
    expect(staff_page.get_by_role("link", name="evidence.pdf")).to_be_visible()
    staff_page.get_by_label("Accept the report").check()
    staff_page.get_by_role("button", name="Send the answer").click()
    expect(staff_page.get_by_text("The report is accepted.")).to_be_visible()
    assert staff_page.url.endswith(f"/grants/awards/{grant_id}")
    db.session.rollback()
    grant = db.session.get(Award, grant_id)
    assert grant.reports[0].status == ReportStatus.ACCEPTED
    assert grant.reports[0].attachments[0].original_name == "evidence.pdf"
    assert [s.spent for s in grant.reports[0].spending] == [400_000]


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_grant_report_and_money_pages_have_no_axe_violations(page, make_user, language):
    staff = make_user(Role.CONVENOR, two_factor=True, language=language)
    grantee = make_user(
        Role.APPLICANT, email=f"axe-grantee-{language}@example.org", language=language
    )
    round_ = make_round(budget=5_000_000)
    grant = award(approved(round_, amount=1_000_000, applicant=grantee))
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="BANK-1")
    other = award(approved(round_, amount=1_000_000))
    file_and_submit(other.reports[0])
    db.session.commit()
    grant_id, report_id, submitted_id = grant.id, grant.reports[0].id, other.reports[0].id
    tranche_id, secret = grant.tranches[1].id, staff.totp_secret
    staff_email, grantee_email = staff.email, grantee.email
    db.session.rollback()
    found: dict[str, list[dict]] = {}

    choose_language(page, language)
    sign_in_by_id(page, grantee_email)
    page.goto(f"/grants/awards/{grant_id}")
    audit(page, language, "a grant, grantee", found)
    page.goto(f"/grants/reports/{report_id}")
    audit(page, language, "a report form", found)
    page.locator("#spending-0-spent").fill("-5")
    page.locator("button[name=save]").first.click()
    expect(page.locator(".error-summary")).to_be_visible()
    audit(page, language, "a report form with errors", found)
    page.context.clear_cookies()

    choose_language(page, language)
    sign_in_staff(page, staff_email, secret)
    for label, path in (
        ("money", "/grants/money"),
        ("grants list", "/grants/awards"),
        ("a grant, staff", f"/grants/awards/{grant_id}"),
        ("a submitted report, staff", f"/grants/reports/{submitted_id}"),
    ):
        page.goto(path)
        audit(page, language, label, found)
    page.goto(f"/grants/awards/{grant_id}/tranches/{tranche_id}/pay")
    audit(page, language, "pay a tranche", found)
    assert not found, "axe found accessibility violations:\n" + report(found)
