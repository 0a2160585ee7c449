"""The registry's staff pages: directory, member page, create, edit, status,
joining decisions, personal data and erasure."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    OrgType,
)
from tests.conftest import outbox, post


@pytest.fixture
def staff(make_user, login):
    return login(make_user(Role.CONVENOR, two_factor=True))


@pytest.fixture
def steering(make_user, login):
    return login(make_user(Role.STEERING, two_factor=True))


def page(client, path="/members/", **args):
    response = client.get(path, query_string=args)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# -- The directory -----------------------------------------------------------------------


def test_directory_search_ignores_accents_and_case(client, staff, make_member):
    make_member(name="Réseau Sénégalais des Vérificateurs", acronym="RSV", country="SN")
    make_member(name="Digital Rights Kenya")
    assert "Réseau Sénégalais" in page(client, q="RESEAU senegalais")
    assert "Digital Rights Kenya" not in page(client, q="reseau")
    assert "Réseau Sénégalais" in page(client, q="rsv")


def test_directory_search_by_contact(client, staff, make_member):
    make_member(
        name="Found", contacts=[{"name": "Adaeze Okonkwo", "email": "adaeze@found.example"}]
    )
    make_member(name="Other")
    assert "Found" in page(client, q="okonkwo") and "Other" not in page(client, q="okonkwo")
    assert "Found" in page(client, q="adaeze@found.example")


def test_directory_filters(client, staff, make_member):
    make_member(name="Kenyan NGO", country="KE", focus_areas=[FocusArea.HATE_SPEECH])
    make_member(
        name="Brazilian Lab", country="BR", org_type=OrgType.RESEARCH, work_countries=["KE"]
    )
    make_member(name="Lone Expert", kind=MemberKind.EXPERT, org_type=None, country="IN")
    make_member(MemberStatus.SUSPENDED, name="Suspended One", country="NG")
    make_member(name="Steering Org", country="ZA", steering_from=date(2020, 1, 1))

    def names(**args):
        text = page(client, **args)
        return {
            n
            for n in ("Kenyan NGO", "Brazilian Lab", "Lone Expert", "Suspended One", "Steering Org")
            if n in text
        }

    assert names(status="suspended") == {"Suspended One"}
    assert names(kind="expert") == {"Lone Expert"}
    assert names(type="research") == {"Brazilian Lab"}
    # A country filter finds home country and countries of work.
    assert names(country="KE") == {"Kenyan NGO", "Brazilian Lab"}
    assert names(country="Kenya") == {"Kenyan NGO", "Brazilian Lab"}
    assert names(region="latin_america") == {"Brazilian Lab"}
    assert names(focus="hate_speech") == {"Kenyan NGO"}
    assert names(steering="1") == {"Steering Org"}
    assert names(status="nonsense") == names()  # unknown values are ignored


def test_directory_sorts_and_pages_by_fifty(client, staff):
    from tests.members_factories import bulk_members

    bulk_members(120)
    first = page(client)
    assert "Bulk organisation 00000" in first and "Bulk organisation 00049" in first
    assert "Bulk organisation 00050" not in first
    assert "Page 1 of 3" in first
    third = page(client, page=3)
    assert "Bulk organisation 00119" in third and "Bulk organisation 00000" not in third
    reverse = page(client, sort="-name")
    assert reverse.index("Bulk organisation 00119") < reverse.index("Bulk organisation 00118")
    assert "Bulk organisation" in page(client, page="junk")  # a bad page number is page 1


def test_steering_reads_but_cannot_edit(client, steering, make_member):
    member = make_member(notes="internal note for staff only")
    assert "Organisation" in page(client)
    text = page(client, f"/members/{member.id}")
    assert member.name in text
    assert "internal note for staff only" not in text
    assert client.get(f"/members/{member.id}/edit").status_code == 403
    response = post(
        client,
        f"/members/{member.id}/status",
        {"status": "suspended", "reason": "x"},
        token_from="/members/",
    )
    assert response.status_code == 403
    db.session.refresh(member)
    assert member.status == MemberStatus.ACTIVE


def test_member_contact_sees_only_their_own_member(client, make_user, login, make_member):
    contact_user = login(make_user(Role.MEMBER_CONTACT))
    own = make_member(name="Our Collective")
    own.contacts.append(MemberContact(name="Me", email=contact_user.email, user_id=contact_user.id))
    other = make_member(name="Their Collective")
    db.session.commit()
    home = page(client)
    assert "Our Collective" in home and "Their Collective" not in home
    assert client.get(f"/members/{own.id}").status_code == 200
    assert client.get(f"/members/{other.id}").status_code == 404
    assert client.get("/members/99999").status_code == 404


# -- Create and edit ----------------------------------------------------------------------


MEMBER_FORM = {
    "kind": "organisation",
    "name": "Centre Africain pour la Vérité",
    "acronym": "CAV",
    "org_type": "fact_checking",
    "country": "CI",
    "work_countries": ["BF", "ML"],
    "focus_areas": ["disinformation", "election_integrity"],
    "languages": ["fr"],
    "website": "https://cav.example.org",
    "consent_public": "y",
    "consent_wording": "I agree to be listed in the public directory.",
    "contacts-0-name": "Aya Kouassi",
    "contacts-0-email": "aya@cav.example.org",
    "contacts-0-role": "Director",
}


def test_create_member(client, staff):
    response = post(client, "/members/new", MEMBER_FORM, token_from="/members/new")
    assert response.status_code == 302
    member = db.session.scalar(sa.select(Member).filter_by(acronym="CAV"))
    assert member.status == MemberStatus.ACTIVE and member.region.value == "sub_saharan_africa"
    assert member.work_countries == ["BF", "ML"]
    assert member.consent_at is not None
    assert member.contacts[0].email == "aya@cav.example.org" and member.contacts[0].is_primary
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="member.created"))
    assert entry.changes["name"] == [None, "Centre Africain pour la Vérité"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "Enter the member"),
        ({"country": ""}, "Choose the home country."),
        ({"website": "javascript:alert(1)"}, "Enter a web address starting with https://"),
        ({"contacts-0-email": "not-an-email"}, "Enter an email address like name@example.org."),
        ({"consent_wording": ""}, "Record the wording the member agreed to."),
        ({"name": "x" * 301}, "Field cannot be longer than 300 characters."),
    ],
)
def test_create_member_bad_input(client, staff, change, message):
    response = post(client, "/members/new", {**MEMBER_FORM, **change}, token_from="/members/new")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in text
    assert 'value="aya@cav.example.org"' in text or "contacts-0-email" in change
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0


def _edit_form(client, member_id):
    text = page(client, f"/members/{member_id}/edit")
    import re

    version = re.search(r'name="version" type="hidden" value="(\d+)"', text).group(1)
    return version


def test_edit_member_records_field_changes(client, staff, make_member):
    member = make_member(name="Old Name", country="KE")
    version = _edit_form(client, member.id)
    data = {
        **MEMBER_FORM,
        "version": version,
        "name": "New Name",
        "country": "UG",
        "contacts-0-id": str(member.contacts[0].id),
    }
    response = post(client, f"/members/{member.id}/edit", data, token_from="/members/")
    assert response.status_code == 302
    db.session.refresh(member)
    assert member.name == "New Name" and member.country == "UG"
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="member.updated"))
    assert entry.changes["name"] == ["Old Name", "New Name"]
    assert entry.changes["country"] == ["KE", "UG"]
    assert entry.actor_id == staff.id


def test_stale_edit_is_refused_and_keeps_what_was_typed(client, app, staff, make_member):
    member = make_member(name="Shared Record")
    version = _edit_form(client, member.id)
    # Someone else saves first.
    other = app.test_client()
    from tests.conftest import sign_in_as

    sign_in_as(other, staff)
    post(
        other,
        f"/members/{member.id}/edit",
        {**MEMBER_FORM, "version": version, "name": "Their Save"},
        token_from="/members/",
    )
    response = post(
        client,
        f"/members/{member.id}/edit",
        {**MEMBER_FORM, "version": version, "name": "My Typing"},
        token_from="/members/",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "someone else changed this member" in text
    assert 'value="My Typing"' in text
    db.session.refresh(member)
    assert member.name == "Their Save"


# -- Status and joining decisions --------------------------------------------------------------


def test_status_change_through_the_page(client, staff, make_member):
    member = make_member()
    response = post(
        client,
        f"/members/{member.id}/status",
        {"status": "suspended", "reason": "Unpaid dues", "version": member.version},
        token_from=f"/members/{member.id}",
    )
    assert response.status_code == 302
    db.session.refresh(member)
    assert member.status == MemberStatus.SUSPENDED
    text = page(client, f"/members/{member.id}")
    assert "Unpaid dues" in text and "Active → Suspended" in text


def test_illegal_status_change_is_refused_with_a_message(client, staff, make_member):
    member = make_member(MemberStatus.WITHDRAWN)
    response = post(
        client,
        f"/members/{member.id}/status",
        {"status": "active", "reason": "Back", "version": member.version},
        token_from=f"/members/{member.id}",
        follow_redirects=True,
    )
    assert "is final" in response.get_data(
        as_text=True
    ) or "Not a valid choice" in response.get_data(as_text=True)
    db.session.refresh(member)
    assert member.status == MemberStatus.WITHDRAWN


def test_approve_a_joining_application(client, staff, make_member):
    member = make_member(
        MemberStatus.APPLIED,
        name="Joining Group",
        contacts=[{"name": "Applicant", "email": "applicant@joining.example"}],
    )
    assert "Joining Group" in page(client, "/members/applications")
    response = post(
        client,
        f"/members/{member.id}/decide",
        {"decision": "approve", "reason": "Fits the coalition's aims"},
        token_from=f"/members/{member.id}",
    )
    assert response.status_code == 302
    db.session.refresh(member)
    assert member.status == MemberStatus.ACTIVE and member.joined_on is not None
    [message] = outbox("membership_approved")
    assert message.recipient == "applicant@joining.example"
    assert "Fits the coalition" not in message.body_text  # the reason stays behind sign-in
    assert member.status_changes[0].reason == "Fits the coalition's aims"


def test_reject_needs_a_reason(client, staff, make_member):
    member = make_member(MemberStatus.APPLIED)
    response = post(
        client,
        f"/members/{member.id}/decide",
        {"decision": "reject", "reason": ""},
        token_from=f"/members/{member.id}",
    )
    assert response.status_code == 400
    assert "Give the reason" in response.get_data(as_text=True)
    db.session.refresh(member)
    assert member.status == MemberStatus.APPLIED
    post(
        client,
        f"/members/{member.id}/decide",
        {"decision": "reject", "reason": "Out of scope"},
        token_from=f"/members/{member.id}",
    )
    db.session.refresh(member)
    assert member.status == MemberStatus.REJECTED
    assert outbox("membership_rejected")


# -- Personal data and erasure -----------------------------------------------------------------


def test_personal_data_export_is_audited(client, staff, make_member):
    member = make_member(
        kind=MemberKind.EXPERT,
        org_type=None,
        name="Dr Lindiwe Dube",
        contacts=[{"name": "Lindiwe Dube", "email": "lindiwe@example.org"}],
    )
    response = post(
        client, f"/members/{member.id}/personal-data.json", token_from=f"/members/{member.id}"
    )
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers.getlist("Content-Type") == ["application/json"]
    data = json.loads(response.data)
    assert data["member"]["name"] == "Dr Lindiwe Dube"
    assert data["contacts"][0]["email"] == "lindiwe@example.org"
    assert data["status_history"][0]["to"] == "active"
    assert db.session.scalar(
        sa.select(AuditEntry).filter_by(
            action="member.personal_data_exported", object_id=str(member.id)
        )
    )


def test_s18_personal_data_export_is_a_post_and_a_get_writes_nothing(client, staff, make_member):
    """A link from another site (a GET) exports nothing and writes no audit row; the
    member page offers the export as a form with its CSRF token."""
    member = make_member()
    assert client.get(f"/members/{member.id}/personal-data.json").status_code == 405
    without_token = client.post(f"/members/{member.id}/personal-data.json")
    assert without_token.status_code == 400
    assert not db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.personal_data_exported")
    )
    text = page(client, f"/members/{member.id}")
    assert f'<form method="post" action="/members/{member.id}/personal-data.json"' in text


def test_erase_an_expert(client, staff, make_member):
    expert = make_member(
        kind=MemberKind.EXPERT,
        org_type=None,
        name="Dr Kofi Boateng",
        country="GH",
        notes="phone +233 555",
        contacts=[{"name": "Kofi Boateng", "email": "kofi@example.org"}],
    )
    response = post(client, f"/members/{expert.id}/erase", token_from=f"/members/{expert.id}")
    assert response.status_code == 302
    db.session.refresh(expert)
    assert expert.erased_at is not None
    text = page(client, f"/members/{expert.id}")
    for secret in ("Kofi", "kofi@example.org", "+233 555"):
        assert secret not in text
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="member.erased"))
    # Still counted where it was.
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Member).filter_by(country="GH"))
        == 1
    )


def test_organisation_is_not_erased_but_its_contact_is(client, staff, make_member):
    org = make_member(contacts=[{"name": "Private Person", "email": "private@example.org"}])
    post(client, f"/members/{org.id}/erase", token_from=f"/members/{org.id}")
    db.session.refresh(org)
    assert org.erased_at is None
    contact_id = org.contacts[0].id
    post(client, f"/members/{org.id}/contacts/{contact_id}/erase", token_from=f"/members/{org.id}")
    contact = db.session.get(MemberContact, contact_id)
    db.session.refresh(contact)
    assert contact.email is None and contact.name == "Erased contact"
    assert "Private Person" not in page(client, f"/members/{org.id}")
    # S22: erasing a person writes an audit row, naming who erased whom.
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="member.contact_erased"))
    assert entry.actor_id == staff.id and entry.details == {"contact_id": contact_id}


# -- S16: the contacts of a member at risk, for convenor staff only ------------------------


def _at_risk_and_safe(make_member):
    risky = make_member(
        name="Risky Collective",
        at_risk=True,
        contacts=[{"name": "Hidden Person", "email": "hidden.person@risky.example"}],
    )
    safe = make_member(
        name="Safe Collective",
        contacts=[{"name": "Shown Person", "email": "shown.person@safe.example"}],
    )
    return risky, safe


def test_s16_steering_sees_no_contacts_of_a_member_at_risk_on_its_page(
    client, steering, make_member
):
    risky, safe = _at_risk_and_safe(make_member)
    text = page(client, f"/members/{risky.id}")
    assert "Risky Collective" in text
    assert "hidden.person@risky.example" not in text and "Hidden Person" not in text
    assert "only the convenor staff see its contacts" in text
    assert "shown.person@safe.example" in page(client, f"/members/{safe.id}")


def test_s16_convenor_sees_the_contacts_of_a_member_at_risk(client, staff, make_member):
    risky, _safe = _at_risk_and_safe(make_member)
    assert "hidden.person@risky.example" in page(client, f"/members/{risky.id}")
    listed = page(client)
    assert "hidden.person@risky.example" in listed
    assert "Risky Collective" in page(client, q="hidden.person@risky")


def test_s16_steering_search_does_not_find_a_member_at_risk_by_its_contacts(
    client, steering, make_member
):
    _at_risk_and_safe(make_member)
    for q in ("hidden.person@risky.example", "Hidden Person", "risky.example"):
        assert "Risky Collective" not in page(client, q=q), q
    # By its name it is found, as every member is, without its contacts.
    found = page(client, q="risky collective")
    assert "Risky Collective" in found and "hidden.person" not in found
    assert "Safe Collective" in page(client, q="shown.person@safe")


def test_s16_steering_directory_lists_no_contact_of_a_member_at_risk(client, steering, make_member):
    _at_risk_and_safe(make_member)
    listed = page(client)
    assert "Risky Collective" in listed and "Safe Collective" in listed
    assert "hidden.person@risky.example" not in listed and "Hidden Person" not in listed
    assert "shown.person@safe.example" in listed


def test_s16_steering_export_filtered_by_a_hidden_contact_finds_nothing(
    client, steering, make_member
):
    _at_risk_and_safe(make_member)
    response = post(
        client, "/members/export.csv?q=hidden.person%40risky", {}, token_from="/members/"
    )
    assert response.status_code == 200
    assert b"Risky Collective" not in response.data and b"hidden.person" not in response.data


def test_s16_the_contacts_rule_and_its_query_condition_agree(make_user, make_member):
    """``members.read_contacts`` and ``policy.readable_contacts`` say the same of
    every member, for every reader of the register."""
    from coalition import policy

    risky, safe = _at_risk_and_safe(make_member)
    contact = make_user(Role.STEERING, Role.MEMBER_CONTACT, two_factor=True)
    risky.contacts.append(MemberContact(name="Own", email=contact.email, user_id=contact.id))
    db.session.commit()
    readers = {
        "convenor": make_user(Role.CONVENOR, two_factor=True),
        "steering": make_user(Role.STEERING, two_factor=True),
        "steering and the risky member's contact": contact,
        "steering without a second factor": make_user(Role.STEERING),
        "applicant": make_user(Role.APPLICANT),
    }
    expected = {
        "convenor": {risky.id, safe.id},
        "steering": {safe.id},
        "steering and the risky member's contact": {risky.id, safe.id},
        "steering without a second factor": set(),
        "applicant": set(),
    }
    for name, reader in readers.items():
        by_rule = {m.id for m in (risky, safe) if policy.can(reader, "members.read_contacts", m)}
        by_query = set(
            db.session.scalars(
                sa.select(Member.id).where(
                    Member.id.in_([risky.id, safe.id]), policy.readable_contacts(reader)
                )
            )
        )
        assert by_rule == by_query == expected[name], name


# -- S11: the at-risk flag is set and lifted on its own, behind a fresh sign-in ------------


def test_at_risk_flag_is_set_and_lifted_from_the_member_page(client, staff, make_member):
    member = make_member()
    text = page(client, f"/members/{member.id}")
    assert f'action="/members/{member.id}/at-risk"' in text
    response = post(
        client,
        f"/members/{member.id}/at-risk",
        {"at_risk": "1", "version": str(member.version)},
        token_from=f"/members/{member.id}",
    )
    assert response.status_code == 302
    db.session.refresh(member)
    assert member.at_risk is True
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="member.at_risk_set"))
    assert entry.changes == {"at_risk": [False, True]} and entry.actor_id == staff.id
    response = post(
        client,
        f"/members/{member.id}/at-risk",
        {"at_risk": "0", "version": str(member.version)},
        token_from=f"/members/{member.id}",
    )
    db.session.refresh(member)
    assert member.at_risk is False
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="member.at_risk_lifted"))


@pytest.mark.parametrize("at_risk", [True, False])
def test_the_edit_form_does_not_change_the_at_risk_flag(client, staff, make_member, at_risk):
    """Neither an unticked box (not sent) nor a forged ``at_risk`` field changes it."""
    member = make_member(at_risk=at_risk)
    assert 'name="at_risk"' not in page(client, f"/members/{member.id}/edit")
    data = {
        **MEMBER_FORM,
        "version": _edit_form(client, member.id),
        "name": "Renamed",
        "contacts-0-id": str(member.contacts[0].id),
    }
    if not at_risk:
        data["at_risk"] = "y"
    response = post(client, f"/members/{member.id}/edit", data, token_from="/members/")
    assert response.status_code == 302
    db.session.refresh(member)
    assert (member.name, member.at_risk) == ("Renamed", at_risk)
