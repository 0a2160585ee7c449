"""The joining form and the public directory in Chromium: an application sent
through the real form, the email it queues delivered over SMTP, and axe-core
finding no WCAG 2.2 A/AA violation on /join and /directory."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coalition.extensions import db
from coalition.mail import deliver_due
from coalition.members import operations as ops
from coalition.members.forms import CONSENT_WORDING
from coalition.members.models import FocusArea, Member, MemberKind, MemberStatus, OrgType
from tests.browser.test_accessibility import DIRECTIONS, audit, choose_language, report

NAME = "Observatoire Numérique du Sahel"
EMAIL = "aminata.traore@ons.example.org"


def fill_application(page) -> None:
    page.goto("/join")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join the coalition")
    page.get_by_label("Who is joining?", exact=True).select_option("organisation")
    page.get_by_label("Name of the organisation or expert", exact=True).fill(NAME)
    page.get_by_label("Acronym", exact=True).fill("ONS")
    page.get_by_label("Type of organisation", exact=True).select_option("research")
    page.get_by_label("Country", exact=True).select_option(label="Mali")
    countries = page.get_by_role("group", name="Countries of work")
    countries.get_by_text("Sub-Saharan Africa", exact=True).click()  # opens the region
    countries.get_by_label("Burkina Faso", exact=True).check()
    countries.get_by_label("Niger", exact=True).check()
    page.get_by_label("Election integrity", exact=True).check()
    page.get_by_label("Hate speech and incitement", exact=True).check()
    page.get_by_label("Français", exact=True).check()
    page.get_by_label("Website", exact=True).fill("ons.example.org")
    page.get_by_label("Your name", exact=True).fill("Aminata Traoré")
    page.get_by_label("Your email address", exact=True).fill(EMAIL)
    page.get_by_label("Your role", exact=True).fill("Coordinator")
    page.get_by_label("Why do you want to join?", exact=True).fill(
        "We monitor election-time hate speech."
    )
    page.get_by_label(str(CONSENT_WORDING)).check()


@pytest.mark.browser
@pytest.mark.committing
def test_join_form_filled_and_sent_in_chromium(app, page, live_server, mailbox):
    fill_application(page)
    page.get_by_role("button", name="Send the application").click()

    expect(page).to_have_url(f"{live_server}/join/thanks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for applying")
    assert mailbox.envelopes == [], "email is sent by the outbox, never during the request"

    db.session.rollback()  # see what the live server committed
    member = db.session.scalar(sa.select(Member).where(Member.name == NAME))
    assert member is not None
    assert member.status == MemberStatus.APPLIED
    assert (member.kind, member.org_type, member.country) == (
        MemberKind.ORGANISATION,
        OrgType.RESEARCH,
        "ML",
    )
    assert member.work_countries == ["BF", "NE"]
    assert member.focus_areas == [FocusArea.HATE_SPEECH, FocusArea.ELECTION_INTEGRITY]
    assert member.languages == ["fr"]
    assert member.website == "https://ons.example.org"
    assert member.consent_wording == str(CONSENT_WORDING)
    assert member.consent_at is not None
    assert [(c.name, c.email) for c in member.contacts] == [("Aminata Traoré", EMAIL)]
    db.session.rollback()

    with app.app_context():
        counts = deliver_due()
    assert counts == {"sent": 1, "retry": 0, "failed": 0}
    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == [EMAIL]
    # Only French was ticked: the email is in French (the text falls back to
    # English until translations are compiled), and holds no detail of the application.
    assert envelope.message["Content-Language"] == "fr"
    # Sent to an address nobody has confirmed: it carries none of the text typed with it.
    assert "Aminata Traoré" not in envelope.text
    for detail in ("Observatoire", "ONS", "Mali", "Coordinator", "hate speech"):
        assert detail not in envelope.text


@pytest.mark.browser
@pytest.mark.committing
def test_keyboard_users_never_reach_the_honeypot(page):
    page.goto("/join")
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement && document.activeElement.id"))
    assert "consent_public" in reached, reached  # the walk went past the end of the form
    assert "website_confirm" not in reached


@pytest.mark.browser
@pytest.mark.committing
def test_a_filled_honeypot_in_the_browser_is_thanked_and_forgotten(page, live_server):
    fill_application(page)
    page.locator("#website_confirm").fill("http://spam.example", force=True)
    page.get_by_role("button", name="Send the application").click()
    expect(page).to_have_url(f"{live_server}/join/thanks")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Member.id))) == 0
    db.session.rollback()


def public_members() -> None:
    for n, (name, country) in enumerate(
        [("Centre for Digital Rights", "KE"), ("مرصد المنصات", "TN"), ("Red de Verificación", "BO")]
    ):
        ops.create_member(
            actor=None,
            values={
                "kind": MemberKind.ORGANISATION,
                "name": name,
                "acronym": f"M{n}",
                "org_type": OrgType.NGO,
                "country": country,
                "website": f"https://member{n}.example.org",
                "consent_public": True,
            },
            focus_areas=[FocusArea.DISINFORMATION, FocusArea.DIGITAL_RIGHTS],
            contacts=[{"name": f"Contact {n}", "email": f"c{n}@example.org"}],
        )
    db.session.commit()


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_join_and_directory_have_no_axe_violations(page, language):
    public_members()
    found: dict[str, list[dict]] = {}
    if language != "en":
        choose_language(page, language)

    page.goto("/join")
    audit(page, language, "join", found)

    # A joining form that failed: the summary and the errors beside the fields.
    page.locator("#contact_email").fill("not an address")
    page.locator("#website").fill("ftp://files.example.org")
    page.locator("form:has(#contact_email) button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#contact_email")).to_have_attribute("aria-invalid", "true")
    audit(page, language, "join with errors", found)

    page.goto("/join/thanks")
    audit(page, language, "join thanks", found)

    page.goto("/directory")
    expect(page.locator("tbody tr")).to_have_count(3)
    audit(page, language, "directory", found)

    page.goto("/directory?q=nobody-matches-this")
    audit(page, language, "directory, no match", found)

    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("path", ["/join", "/directory"])
def test_no_horizontal_scroll_at_320px(new_context, language, path):
    public_members()
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    if language != "en":
        choose_language(page, language)
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("dir", DIRECTIONS[language])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{path} [{language}] scrolls sideways at 320px: {width}px wide"
