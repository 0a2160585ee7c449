"""The registry's staff pages: directory, member page, create, edit, status,
joining decisions, personal data and erasure."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine

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
    response = client.get(f"/members/{member.id}/personal-data.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.data)
    assert data["member"]["name"] == "Dr Lindiwe Dube"
    assert data["contacts"][0]["email"] == "lindiwe@example.org"
    assert data["status_history"][0]["to"] == "active"
    assert db.session.scalar(
        sa.select(AuditEntry).filter_by(
            action="member.personal_data_exported", object_id=str(member.id)
        )
    )


def test_personal_data_export_asks_for_the_password_when_sign_in_is_old(
    client, app, staff, make_member
):
    member = make_member()
    with time_machine.travel(time.time() + app.config["REAUTH_AFTER_SECONDS"] + 5, tick=False):
        response = client.get(f"/members/{member.id}/personal-data.json")
    assert "/reauthenticate" in response.headers["Location"]


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
