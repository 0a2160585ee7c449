"""axe-core finds no WCAG 2.2 A/AA violation on the staff pages: the member
directory, a member's page and its edit form, joining applications, people
and the audit log, as a convenor signed in with two factors."""

from __future__ import annotations

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.members.models import MemberKind, MemberStatus
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_OPTIONS, report
from tests.conftest import PASSWORD


@pytest.mark.browser
@pytest.mark.committing
def test_staff_pages_have_no_axe_violations(page, make_user, make_member):
    staff = make_user(Role.CONVENOR, two_factor=True, email="axe-staff@example.org")
    secret = staff.totp_secret
    member = make_member(name="Réseau des Vérificateurs", country="SN", notes="Met in Dakar.")
    make_member(MemberStatus.APPLIED, name="Joining Collective", country="GH")
    make_member(kind=MemberKind.EXPERT, org_type=None, name="Dr Amal Haddad", country="TN")
    member_id = member.id
    db.session.rollback()  # hold no SQLite lock while the live server writes

    sign_in(page, "axe-staff@example.org", PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/"), page.url

    found: dict[str, list[dict]] = {}
    for path in (
        "/members/",
        "/members/?q=reseau&status=active",
        f"/members/{member_id}",
        f"/members/{member_id}/edit",
        "/members/new",
        "/members/applications",
        "/admin/users/",
        "/admin/audit/",
    ):
        page.goto(path)
        assert page.locator("h1").count() == 1, path
        results = Axe().run(page, options=AXE_OPTIONS)
        if results.violations_count:
            found[path] = results.response["violations"]

    # The edit form with errors beside its fields.
    page.goto(f"/members/{member_id}/edit")
    page.get_by_label("Name", exact=True).first.fill("")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.locator(".error-summary").count() == 1
    results = Axe().run(page, options=AXE_OPTIONS)
    if results.violations_count:
        found["edit form with errors"] = results.response["violations"]
    assert not found, report(found)
