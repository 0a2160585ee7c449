"""An applicant applies to an open call in Chromium: fills every section, saves
a draft, uploads the proposal and submits; the applicant's pages have no axe
violations in English and Arabic; the form saves with JavaScript switched off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import files
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    AttachmentKind,
    Fund,
    RegistrationStatus,
    Round,
    RoundPhase,
)
from tests import sample_files
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import audit, choose_language, report
from tests.conftest import PASSWORD

CALL_TITLE = "Elections and platforms 2027"


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    """Attachments go to a folder of this test, which the live server uses too."""
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


def open_round() -> int:
    """An open call needing a proposal, committed for the live server; its id."""
    now = datetime.now(UTC)
    fund = Fund(name="Africa Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = ["KE", "SN", "GH"]
    round_ = Round(
        fund=fund,
        title=CALL_TITLE,
        description="Research and advocacy on platform harms around elections.",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=20),
        budget=20_000_000,
        min_grant=500_000,
        max_grant=5_000_000,
        required_attachments=["proposal"],
    )
    db.session.add_all([fund, round_])
    db.session.commit()
    return round_.id


def sign_in_by_id(page, email: str) -> None:
    """Sign in through the form by its fields' ids (the labels are translated)."""
    page.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form:has(#email) button[type=submit]").click()
    page.wait_for_load_state()


def start_application(page, round_id: int) -> int:
    """Press "Start an application" on the call's page; the new application's id."""
    page.goto(f"/calls/{round_id}")
    page.locator(f'form[action="/applications/start/{round_id}"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/applications/\d+/edit$"))
    return int(re.search(r"/applications/(\d+)/edit", page.url).group(1))


def fill_the_form(page) -> None:
    """Sections 1 to 3, by the fields' ids, as the same values in any language."""
    page.locator("#org_name").fill("Digital Watch Kenya")
    page.locator("#org_country").select_option("KE")
    page.locator(f'input[name="org_registration"][value="{RegistrationStatus.REGISTERED}"]').check()
    page.locator("#title").fill("Watching the 2027 vote")
    page.locator("#summary").fill("We monitor election disinformation on the big platforms.")
    page.locator("#problem").fill("Coordinated disinformation ahead of the vote.")
    page.locator("#activities").fill("Monitoring, research, a briefing for platforms.")
    page.locator("#outcomes").fill("A public report and platform commitments.")
    page.locator("#elections").fill("General elections, August 2027")
    page.locator("#countries-KE").check()
    page.locator("#countries-GH").check()
    page.locator("#duration_months").fill("12")
    page.locator("#requested_amount").fill("10,000.00")
    page.locator("#budget_lines-0-category").fill("Staff")
    page.locator("#budget_lines-0-description").fill("Two researchers")
    page.locator("#budget_lines-0-amount").fill("7,000")
    page.locator("#budget_lines-1-category").fill("Travel")
    page.locator("#budget_lines-1-description").fill("Field work")
    page.locator("#budget_lines-1-amount").fill("3000.00")


def the_application(applicant_email: str) -> Application:
    db.session.rollback()  # see what the live server committed
    return db.session.scalars(
        sa.select(Application).where(Application.applicant.has(email=applicant_email))
    ).one()


@pytest.mark.browser
@pytest.mark.committing
def test_an_applicant_fills_saves_uploads_and_submits(page, make_user, tmp_path, uploads):
    round_id = open_round()
    email = "applicant-flow@example.org"
    make_user(Role.APPLICANT, email=email, name="Amina Njoroge")
    db.session.rollback()  # hold no SQLite lock while the live server answers
    proposal = tmp_path / "proposal.pdf"
    proposal.write_bytes(sample_files.pdf())

    sign_in(page, email, PASSWORD)
    page.goto("/calls")
    page.get_by_role("link", name=CALL_TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(CALL_TITLE)
    assert page.url.endswith(f"/calls/{round_id}")
    page.get_by_role("button", name="Start an application").click()
    page.wait_for_url(re.compile(r"/applications/\d+/edit$"))
    application_id = int(re.search(r"/applications/(\d+)/edit", page.url).group(1))

    # Section 1, by the labels a person reads.
    page.get_by_label("Organisation name").fill("Digital Watch Kenya")
    page.get_by_label("Organisation's country").select_option(label="Kenya")
    page.get_by_label("Legally registered").check()
    # Section 2.
    page.get_by_label("Project title").fill("Watching the 2027 vote")
    page.get_by_label("Summary").fill("We monitor election disinformation on the big platforms.")
    page.get_by_label("The problem").fill("Coordinated disinformation ahead of the vote.")
    page.get_by_label("Planned activities").fill("Monitoring, research, a platform briefing.")
    page.get_by_label("Expected outcomes").fill("A public report and platform commitments.")
    page.get_by_label("Elections concerned").fill("General elections, August 2027")
    countries = page.get_by_role("group", name="Countries concerned")
    countries.get_by_label("Kenya").check()
    countries.get_by_label("Ghana").check()
    page.get_by_label("Duration (months)").fill("12")
    # Section 3: the amount and two lines that add up to it.
    page.get_by_label("Amount requested").fill("10,000.00")
    page.get_by_label("Category, line 1").fill("Staff")
    page.get_by_label("Description, line 1").fill("Two researchers")
    page.get_by_label("Amount, line 1").fill("7,000")
    page.get_by_label("Category, line 2").fill("Travel")
    page.get_by_label("Description, line 2").fill("Field work")
    page.get_by_label("Amount, line 2").fill("3000.00")

    page.get_by_role("button", name="Save draft").first.click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    # What was saved comes back in the form.
    expect(page.get_by_label("Project title")).to_have_value("Watching the 2027 vote")
    expect(page.get_by_label("Amount, line 2")).to_have_value(re.compile(r"^3,?000\.00$"))

    page.locator("#kind").select_option(AttachmentKind.PROPOSAL.value)
    page.locator("#file").set_input_files(str(proposal))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("proposal.pdf is attached.")).to_be_visible()
    expect(page.locator("#attachments").get_by_role("link", name="proposal.pdf")).to_be_visible()

    page.get_by_role("button", name="Submit the application").click()
    expect(
        page.get_by_text("Your application is submitted. A receipt is on its way.")
    ).to_be_visible()
    # The read-only page (Chromium keeps the "#attachments" of the upload's redirect).
    assert page.url.split("#")[0].endswith(f"/applications/{application_id}")

    page.goto("/applications/")
    row = page.get_by_role("row").filter(has_text="Watching the 2027 vote")
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").nth(3)).to_have_text("Submitted")

    application = the_application(email)
    assert application.id == application_id
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.submitted_at is not None
    assert application.org_name == "Digital Watch Kenya"
    assert application.org_country == "KE"
    assert application.org_registration == RegistrationStatus.REGISTERED
    assert sorted(application.countries) == ["GH", "KE"]
    assert application.duration_months == 12
    assert application.requested_amount == 1_000_000
    assert [(line.category, line.amount) for line in application.budget_lines] == [
        ("Staff", 700_000),
        ("Travel", 300_000),
    ]
    [attachment] = application.attachments
    assert attachment.kind == AttachmentKind.PROPOSAL
    assert attachment.original_name == "proposal.pdf"
    stored = files.path_of(attachment.stored_name)
    assert Path(stored).resolve().is_relative_to(Path(uploads).resolve())
    assert Path(stored).read_bytes() == proposal.read_bytes()


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_applicant_pages_have_no_axe_violations(page, make_user, language):
    round_id = open_round()
    email = f"applicant-axe-{language}@example.org"
    make_user(Role.APPLICANT, email=email, name="Amina Njoroge", language=language)
    db.session.rollback()
    found: dict[str, list[dict]] = {}

    if language != "en":
        choose_language(page, language)
    sign_in_by_id(page, email)

    page.goto(f"/calls/{round_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(CALL_TITLE)
    audit(page, language, "a call, signed in", found)

    application_id = start_application(page, round_id)
    expect(page.locator("#org_name")).to_be_visible()
    audit(page, language, "application form, empty", found)

    # An invalid save: the summary, and the error beside the field.
    page.locator("#org_name").fill("Digital Watch Kenya")
    page.locator("#requested_amount").fill("-5")
    page.locator("button[name=save]").first.click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#requested_amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#org_name")).to_have_value("Digital Watch Kenya")
    audit(page, language, "application form with errors", found)

    # Submitting without the proposal: the "Not submitted yet" list.
    fill_the_form(page)
    page.locator("button[name=submit]").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator('a[href="#attachments"]')).to_have_count(1)
    audit(page, language, "application form, not submitted yet", found)

    page.goto("/applications/")
    expect(page.locator(f'a[href="/applications/{application_id}"]')).to_be_visible()
    audit(page, language, "my applications", found)

    page.goto(f"/applications/{application_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Watching the 2027 vote")
    audit(page, language, "an application, read-only", found)

    assert the_application(email).status == ApplicationStatus.DRAFT
    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
def test_the_form_saves_without_javascript(new_context, make_user):
    round_id = open_round()
    email = "applicant-nojs@example.org"
    make_user(Role.APPLICANT, email=email)
    db.session.rollback()
    page = new_context(java_script_enabled=False).new_page()

    sign_in(page, email, PASSWORD)
    start_application(page, round_id)
    fill_the_form(page)
    page.get_by_role("button", name="Save draft").first.click()
    page.wait_for_load_state()
    expect(page.get_by_text("Draft saved.")).to_be_visible()

    application = the_application(email)
    assert application.status == ApplicationStatus.DRAFT
    assert application.title == "Watching the 2027 vote"
    assert application.org_country == "KE"
    assert application.org_registration == RegistrationStatus.REGISTERED
    assert sorted(application.countries) == ["GH", "KE"]
    assert application.requested_amount == 1_000_000
    assert [line.amount for line in application.budget_lines] == [700_000, 300_000]
