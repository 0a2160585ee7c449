"""Issue 9, "First use, on a phone", in Chromium at 320 and 390 px: list tables become
labelled cards with nothing off screen (in Arabic too), the country checkboxes work
with JavaScript off and on, and an upload keeps what was typed."""

from __future__ import annotations

import re

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from coalition.accounts.models import Role
from coalition.countries import AFRICAN_COUNTRIES
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus, BudgetLine
from coalition.members.models import MemberStatus
from tests import sample_files
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_OPTIONS, choose_language, report
from tests.browser.test_grants_apply import (
    fill_the_form,
    open_round,
    sign_in_by_id,
    start_application,
    the_application,
)
from tests.conftest import PASSWORD

WIDTHS = (320, 390)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


def phone(new_context, width: int, **options):
    return new_context(viewport={"width": width, "height": 800}, **options).new_page()


def assert_fits(page, where: str) -> None:
    """Nothing to scroll sideways to: the page is no wider than the screen."""
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{where}: {wide} px to scroll sideways"


def assert_cards_labelled(page, where: str) -> int:
    """Every cell of a list table is a block inside the screen, shown under its column's
    label (drawn by the stylesheet from data-label); the number of cells seen."""
    cells = page.evaluate(
        """() => Array.from(document.querySelectorAll("table.cards td[data-label]"))
             .filter(td => td.textContent.trim() || td.querySelector("input"))
             .map(td => {
               const box = td.getBoundingClientRect();
               return {label: td.dataset.label, before: getComputedStyle(td, "::before").content,
                       display: getComputedStyle(td).display, start: box.left, end: box.right};
             })"""
    )
    width = page.evaluate("window.innerWidth")
    assert cells, f"{where}: no list table"
    for cell in cells:
        assert cell["display"] == "block", (where, cell)
        assert cell["before"] == f'"{cell["label"]}"', (where, cell)
        assert cell["start"] >= 0 and cell["end"] <= width, (where, cell)
    return len(cells)


def axe(page, where: str, found: dict) -> None:
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found[f"{where} {page.url}"] = results.response["violations"]


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_6_the_applicants_tables_are_cards_on_a_phone(new_context, make_user, language):
    """The dashboard's Status and Next step, and the budget of an application, are on
    screen at 320 and 390 px, labelled; axe finds nothing (no scrollable region that
    the keyboard cannot reach)."""
    round_id = open_round()
    email = f"phone-cards-{language}@example.org"
    user = make_user(Role.APPLICANT, email=email, language=language)
    application = Application(
        round_id=round_id,
        applicant_id=user.id,
        status=ApplicationStatus.DRAFT,
        title="Watching the 2027 vote on the platforms of the whole region",
        requested_amount=1_000_000,
    )
    application.budget_lines = [
        BudgetLine(position=0, category="Staff", description="Two researchers", amount=700_000),
        BudgetLine(position=1, category="Travel", description="Field work", amount=300_000),
    ]
    db.session.add(application)
    db.session.commit()
    application_id = application.id
    db.session.rollback()

    found: dict[str, list[dict]] = {}
    for width in WIDTHS:
        page = phone(new_context, width)
        if language != "en":
            choose_language(page, language)
        sign_in_by_id(page, email)
        expect(page.locator("html")).to_have_attribute("lang", language)
        for path in ("/applications/", f"/applications/{application_id}"):
            page.goto(path)
            where = f"{path} at {width} px [{language}]"
            assert_fits(page, where)
            assert assert_cards_labelled(page, where) >= 5
            axe(page, where, found)
        # Right to left: each card's label starts on the right, as the text does.
        if language == "ar":
            label = page.evaluate(
                """() => { const td = document.querySelector("table.cards td[data-label]");
                   const before = getComputedStyle(td, "::before");
                   return [getComputedStyle(td).direction, before.textAlign]; }"""
            )
            assert label[0] == "rtl" and label[1] in ("start", "right")
        page.goto("/applications/")
        status = page.locator("table.cards td").nth(3)
        expect(status).to_be_in_viewport()
        expect(page.locator("table.cards td").nth(4)).to_be_in_viewport(ratio=0.5)
    assert not found, "axe found accessibility violations:\n" + report(found)


@pytest.mark.browser
@pytest.mark.committing
def test_6_staff_lists_are_cards_on_a_phone(new_context, make_user, make_member):
    staff = make_user(Role.CONVENOR, two_factor=True, email="phone-staff@example.org")
    secret = staff.totp_secret
    make_member(name="Réseau des Vérificateurs de l'Afrique de l'Ouest", country="SN")
    make_member(MemberStatus.APPLIED, name="Joining Collective", country="GH")
    open_round()
    db.session.rollback()

    page = phone(new_context, 320)
    sign_in(page, "phone-staff@example.org", PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        for path in (
            "/members/",
            "/members/applications",
            "/admin/users/",
            "/admin/audit/",
            "/grants/",
            "/grants/funds",
        ):
            page.goto(path)
            where = f"{path} at {width} px"
            assert_fits(page, where)
            assert_cards_labelled(page, where)
        page.goto("/members/figures")
        assert_fits(page, f"/members/figures at {width} px")
        # Item 8: each bar chart, and the value of its longest bar, is inside the screen.
        for chart in page.locator("svg.bars").all():
            box = chart.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            for value in chart.locator("g > text:nth-of-type(2)").all():
                text = value.bounding_box()
                assert text["x"] + text["width"] <= width, value.text_content()


def africa_round() -> int:
    """An open call of a fund for the whole of Africa: two regions of countries."""
    round_id = open_round()
    from coalition.grants.models import Round

    round_ = db.session.get(Round, round_id)
    round_.fund.eligible_countries = list(AFRICAN_COUNTRIES)
    db.session.commit()
    return round_id


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("width", WIDTHS)
def test_9_countries_are_ticked_by_region_with_or_without_javascript(
    new_context, make_user, javascript, width
):
    round_id = africa_round()
    email = f"phone-countries-{int(javascript)}-{width}@example.org"
    make_user(Role.APPLICANT, email=email)
    db.session.rollback()
    page = phone(new_context, width, java_script_enabled=javascript)
    sign_in(page, email, PASSWORD)
    start_application(page, round_id)

    countries = page.get_by_role("group", name="Countries concerned")
    expect(countries.locator("input[type=checkbox]")).to_have_count(len(AFRICAN_COUNTRIES))
    expect(countries.locator("details")).to_have_count(2)  # Sub-Saharan, North Africa
    kenya = countries.get_by_role("checkbox", name="Kenya")
    expect(kenya).to_be_hidden()  # its region is closed
    if javascript:
        search = countries.get_by_role("searchbox", name="Find a country")
        search.fill("tun")
        expect(countries.get_by_role("checkbox", name="Tunisia")).to_be_visible()
        expect(countries.locator("li:visible")).to_have_count(1)
        search.press("Enter")  # filters; does not send the form
        countries.get_by_role("checkbox", name="Tunisia").check()
        search.fill("ken")
        kenya.check()
        search.fill("")
        # Both regions hold a ticked country: both stay open, every country shown.
        expect(countries.locator("li:visible")).to_have_count(len(AFRICAN_COUNTRIES))
        chosen = ["KE", "TN"]
    else:
        expect(countries.get_by_role("searchbox")).to_have_count(0)
        countries.get_by_text("Sub-Saharan Africa").click()  # <details> opens without JS
        kenya.check()
        chosen = ["KE"]
    assert_fits(page, f"the application form at {width} px")
    page.get_by_role("button", name="Save draft").first.click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    assert sorted(the_application(email).countries) == chosen
    db.session.rollback()
    countries = page.get_by_role("group", name="Countries concerned")
    expect(countries.get_by_role("checkbox", name="Kenya")).to_be_checked()
    expect(countries.get_by_role("checkbox", name="Kenya")).to_be_visible()  # region open


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("width", WIDTHS)
def test_10_an_upload_keeps_what_was_typed(new_context, make_user, tmp_path, javascript, width):
    round_id = open_round()
    email = f"phone-upload-{int(javascript)}-{width}@example.org"
    make_user(Role.APPLICANT, email=email)
    db.session.rollback()
    proposal = tmp_path / "proposal.pdf"
    proposal.write_bytes(sample_files.pdf())
    page = phone(new_context, width, java_script_enabled=javascript)
    sign_in(page, email, PASSWORD)
    start_application(page, round_id)

    # Item 11: every kind of input is drawn alike (the duration box was tiny and unstyled).
    looks = page.evaluate(
        """() => ["#title", "#duration_months", "#summary", "#org_country", "#kind", "#file"]
             .map(s => { const c = getComputedStyle(document.querySelector(s));
               return [c.borderTopWidth, c.borderTopStyle, c.borderTopColor, c.borderRadius,
                       c.fontSize]; })"""
    )
    assert all(look == looks[0] for look in looks), looks
    assert page.locator("#duration_months").bounding_box()["width"] >= 120

    # Type, do not save, then upload.
    fill_the_form(page)
    page.locator("#kind").select_option("proposal")
    page.locator("#file").set_input_files(str(proposal))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_load_state()
    expect(page.get_by_text("proposal.pdf is attached.")).to_be_visible()
    expect(page.locator("#title")).to_have_value("Watching the 2027 vote")
    expect(page.locator("#budget_lines-1-amount")).to_have_value(re.compile(r"^3,?000\.00$"))
    application = the_application(email)
    assert application.title == "Watching the 2027 vote"
    assert [a.original_name for a in application.attachments] == ["proposal.pdf"]
    db.session.rollback()  # hold no SQLite lock while the live server writes

    # The page is in working order: attachments, then the last check, then Submit.
    assert_fits(page, f"the application form at {width} px")
    order = page.evaluate(
        """() => ["#attachments", "#check", "button[name=submit]"].map(
             s => document.querySelector(s).getBoundingClientRect().top + window.scrollY)"""
    )
    assert order == sorted(order)
    expect(page.locator("#check")).to_contain_text("Everything the fund needs is here.")
    page.get_by_role("button", name="Submit the application").click()
    expect(
        page.get_by_text("Your application is submitted. A receipt is on its way.")
    ).to_be_visible()
    assert the_application(email).status == ApplicationStatus.SUBMITTED
