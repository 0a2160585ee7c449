"""A member's own contacts: editing the member's profile and contacts, and the
yearly confirmation. Other people's members answer 404 (S13); every change
is audited field by field and the staff are told."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    OrgType,
)
from tests.conftest import outbox, post, sign_in_as


@pytest.fixture
def people(make_user):
    return {
        "contact": make_user(Role.MEMBER_CONTACT, name="Wanjiku Kamau", email="wk@cdr.example"),
        "other_contact": make_user(Role.MEMBER_CONTACT, name="Other Contact"),
        "convenor": make_user(Role.CONVENOR, two_factor=True, email="staff@coalition.example"),
        "second_convenor": make_user(
            Role.CONVENOR, two_factor=True, email="staff2@coalition.example", language="fr"
        ),
        "retired_convenor": make_user(Role.CONVENOR, two_factor=True, active=False),
        "steering": make_user(Role.STEERING, two_factor=True),
        "applicant": make_user(Role.APPLICANT),
    }


def new_member(name, contact_user=None, status=MemberStatus.ACTIVE, **values):
    base = {
        "kind": MemberKind.ORGANISATION,
        "name": name,
        "acronym": "CDR",
        "org_type": OrgType.NGO,
        "country": "KE",
        "website": "https://cdr.example.org",
        "languages": ["en"],
        "notes": "Staff note: keep an eye on the grant",
        "consent_public": True,
        "joined_on": (utcnow() - timedelta(days=400)).date(),
        "steering_from": None,
    }
    base.update(values)
    contacts = [{"name": "Second Person", "email": "second@cdr.example", "role": "Finance"}]
    member = ops.create_member(
        actor=None,
        values=base,
        focus_areas=[FocusArea.DISINFORMATION],
        work_countries=["UG"],
        contacts=contacts,
        status=status,
    )
    if contact_user is not None:
        member.contacts.append(
            MemberContact(
                name=contact_user.name,
                email=contact_user.email,
                role="Director",
                is_primary=False,
                user_id=contact_user.id,
            )
        )
    db.session.commit()
    return member


@pytest.fixture
def ours(people):
    return new_member("Centre for Digital Rights", people["contact"])


@pytest.fixture
def theirs(people):
    return new_member("Another Member", people["other_contact"], acronym="AM")


def page_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def form_data(client, member_id: int) -> dict:
    """What the profile form holds as the browser would send it back."""
    page = client.get(f"/members/{member_id}/profile").get_data(as_text=True)
    form = page[page.index('<form method="post" action="/members/') :]
    data: dict = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox":
            if " checked" in tag:
                data.setdefault(name.group(1), []).append(unescape(value.group(1)))
            continue
        data[name.group(1)] = unescape(value.group(1)) if value else ""
    for attributes, options in re.findall(r"<select([^>]*)>(.*?)</select>", form, re.S):
        name = re.search(r'name="([^"]+)"', attributes).group(1)
        chosen = re.findall(r'<option selected value="([^"]*)"', options)
        if " multiple" in attributes:
            data[name] = chosen
        else:
            data[name] = chosen[0] if chosen else ""
    return data


def contact_index(data: dict, name: str) -> str:
    for key, value in data.items():
        if key.endswith("-name") and value == name:
            return key.split("-")[1]
    raise AssertionError(f"no row for {name}")


# -- The contact edits their own member ----------------------------------------------------


def test_contact_sees_their_members_profile(client, people, ours):
    sign_in_as(client, people["contact"])
    response = client.get(f"/members/{ours.id}/profile")
    assert response.status_code == 200
    page = page_of(response)
    assert "Profile of Centre for Digital Rights" in page
    assert 'value="https://cdr.example.org"' in page
    assert "This is you" in page
    # The staff's own notes and flags are not on the contact's page.
    assert "keep an eye" not in page
    assert "at risk" not in page.lower()
    # The yearly confirmation: when it is due.
    due = ops.confirmation_due_at(ours)
    assert "Next confirmation due" in page
    assert f"{due:%B} {due.day}, {due.year}" in page
    assert "overdue: please confirm" in page  # joined 400 days ago, never confirmed


def test_contact_edits_profile_and_contacts_audited_and_staff_told(client, people, ours):
    contact = people["contact"]
    sign_in_as(client, contact)
    data = form_data(client, ours.id)
    own = contact_index(data, "Wanjiku Kamau")
    second = contact_index(data, "Second Person")
    new = str(max(int(k.split("-")[1]) for k in data if k.startswith("contacts-")))
    own_row_id = int(data[f"contacts-{own}-id"])
    data.update(
        {
            "name": "Centre for Digital Rights Kenya",
            "website": "https://www.cdr-kenya.example.org",
            "focus_areas": ["hate_speech", "ad_tech"],
            "work_countries": ["UG", "TZ"],
            "languages": ["en", "fr"],
            f"contacts-{own}-role": "Executive director",
            f"contacts-{own}-is_primary": "y",
            f"contacts-{second}-remove": "y",
            f"contacts-{new}-name": "Fatuma Ali",
            f"contacts-{new}-email": "Fatuma@CDR.example",
            # Fields that are not the contact's to change are ignored.
            "notes": "edited notes",
            "at_risk": "y",
            "consent_public": "",
            "status": "withdrawn",
            "country": "TZ",
            "steering_from": "2020-01-01",
        }
    )
    response = post(client, f"/members/{ours.id}/profile", data, token_from="/")
    assert response.status_code == 302, page_of(response)
    assert response.location == f"/members/{ours.id}/profile"
    assert "The profile is saved" in page_of(client.get(response.location))

    member = db.session.get(Member, ours.id)
    db.session.refresh(member)
    assert member.name == "Centre for Digital Rights Kenya"
    assert member.web_domain == "cdr-kenya.example.org"
    assert member.focus_areas == [FocusArea.HATE_SPEECH, FocusArea.AD_TECH]
    assert member.work_countries == ["TZ", "UG"]
    assert member.languages == ["en", "fr"]
    # Untouched: what only staff change.
    assert member.notes == "Staff note: keep an eye on the grant"
    assert (member.at_risk, member.consent_public, member.status) == (
        False,
        True,
        MemberStatus.ACTIVE,
    )
    assert (member.country, member.steering_from) == ("KE", None)
    # Contacts: their own row kept (same row, same account link), one removed, one added.
    rows = {c.name: c for c in member.contacts}
    assert set(rows) == {"Wanjiku Kamau", "Fatuma Ali"}
    assert rows["Wanjiku Kamau"].id == own_row_id
    assert rows["Wanjiku Kamau"].user_id == contact.id
    assert rows["Wanjiku Kamau"].role == "Executive director"
    assert rows["Wanjiku Kamau"].is_primary is True
    assert rows["Fatuma Ali"].email == "fatuma@cdr.example"
    assert rows["Fatuma Ali"].user_id is None

    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(
            action="member.updated_by_contact", object_id=str(member.id)
        )
    )
    assert entry.actor_id == contact.id
    assert entry.changes["name"] == ["Centre for Digital Rights", "Centre for Digital Rights Kenya"]
    assert entry.changes["website"] == [
        "https://cdr.example.org",
        "https://www.cdr-kenya.example.org",
    ]
    assert entry.changes["focus_areas"] == [["disinformation"], ["hate_speech", "ad_tech"]]
    assert entry.changes["work_countries"] == [["UG"], ["TZ", "UG"]]
    assert "contacts" in entry.changes
    assert not {"notes", "at_risk", "status", "country", "consent_public"} & set(entry.changes)

    # Every active convenor is told, in their language, with a link to the member.
    messages = outbox("member_edited_by_contact")
    assert sorted(m.recipient for m in messages) == [
        "staff2@coalition.example",
        "staff@coalition.example",
    ]
    by_address = {m.recipient: m for m in messages}
    assert by_address["staff2@coalition.example"].language == "fr"
    text = by_address["staff@coalition.example"].body_text
    assert (
        "The profile of “Centre for Digital Rights Kenya” was changed by its contact Wanjiku Kamau."
        in text
    )
    assert f"http://localhost/members/{member.id}" in text


def test_saving_unchanged_changes_nothing_and_tells_nobody(client, people, ours):
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 302
    assert "Nothing was changed." in page_of(client.get(response.location))
    assert outbox("member_edited_by_contact") == []
    assert (
        db.session.scalar(sa.select(AuditEntry).filter_by(action="member.updated_by_contact"))
        is None
    )


def test_a_contact_cannot_remove_themself(client, people, ours):
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    own = contact_index(data, "Wanjiku Kamau")
    data[f"contacts-{own}-remove"] = "y"
    data["name"] = "Renamed meanwhile"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    page = page_of(response)
    assert "removing yourself would end your access" in page
    assert 'value="Renamed meanwhile"' in page  # what was typed is kept
    db.session.refresh(ours)
    assert ours.name == "Centre for Digital Rights"
    assert any(c.user_id == people["contact"].id for c in ours.contacts)

    # Leaving their row out of the form altogether is refused the same way.
    data = form_data(client, ours.id)
    for key in [
        k for k in data if k.startswith(f"contacts-{contact_index(data, 'Wanjiku Kamau')}-")
    ]:
        del data[key]
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    assert "removing yourself would end your access" in page_of(response)
    db.session.refresh(ours)
    assert any(c.user_id == people["contact"].id for c in ours.contacts)


def test_emptying_a_contacts_name_is_not_a_silent_removal(client, people, ours):
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    second = contact_index(data, "Second Person")
    data[f"contacts-{second}-name"] = ""
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    assert "Enter a name, or tick" in page_of(response)
    db.session.refresh(ours)
    assert {c.name for c in ours.contacts} == {"Second Person", "Wanjiku Kamau"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Enter the name."),
        ({"website": "javascript:alert(1)"}, "https://"),
        ({"acronym": "A" * 41}, "40"),
        ({"work_countries": ["XX"]}, "Choose countries from the list."),
        ({"version": ""}, "required"),
    ],
)
def test_bad_profile_input_is_refused_beside_the_field(client, people, ours, changes, message):
    sign_in_as(client, people["contact"])
    version = ours.version
    data = {**form_data(client, ours.id), **changes}
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    assert message in page_of(response)
    assert "Please correct the following" in page_of(response)
    db.session.refresh(ours)
    assert (ours.version, ours.name, ours.acronym) == (version, "Centre for Digital Rights", "CDR")
    assert outbox("member_edited_by_contact") == []


def test_contact_rows_are_checked(client, people, ours):
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    new = str(max(int(k.split("-")[1]) for k in data if k.startswith("contacts-")))
    data[f"contacts-{new}-name"] = "Bad Email Person"
    data[f"contacts-{new}-email"] = "not an address"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    page = page_of(response)
    assert f'id="contacts-{new}-email-error"' in page
    # The summary names the row.
    assert f'href="#contacts-{new}-email">New contact, Email' in page

    data[f"contacts-{new}-email"] = "fine@example.org"
    for key in [k for k in data if k.endswith("-name")]:
        data[key.replace("-name", "-is_primary")] = "y"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    assert "for one contact only" in page_of(response)
    db.session.refresh(ours)
    assert len(ours.contacts) == 2


def test_stale_edit_is_refused_and_keeps_what_was_typed(client, people, ours):
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    assert data["version"] == str(ours.version)
    # Meanwhile, a convenor saves the member.
    ops.update_member(
        ours,
        actor=people["convenor"],
        version=ours.version,
        values={"acronym": "CDR-K"},
    )
    db.session.commit()

    data["name"] = "My typed name"
    data["website"] = "https://typed.example.org"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 409
    page = page_of(response)
    assert "Someone else saved this member while you were editing" in page
    assert 'value="My typed name"' in page
    assert 'value="https://typed.example.org"' in page
    assert "CDR-K" in page  # the record as it is now, to compare
    db.session.refresh(ours)
    assert ours.name == "Centre for Digital Rights"
    assert ours.acronym == "CDR-K"
    assert outbox("member_edited_by_contact") == []

    # Sending the form again (it now carries the current version) saves it.
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    assert version == str(ours.version)
    data["version"] = version
    data["acronym"] = "CDR-K"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 302
    db.session.refresh(ours)
    assert (ours.name, ours.acronym) == ("My typed name", "CDR-K")


# -- Other people's members -------------------------------------------------------------


@pytest.mark.parametrize("person", ["other_contact", "steering", "applicant"])
def test_others_cannot_reach_or_change_the_profile(client, people, ours, theirs, person):
    """404 for GET and POST, on the profile and the confirmation: the member's page is private.

    A steering member reads the registry but does not edit a member's profile;
    they are answered 404 like everyone else refused here, as the route x
    role table gives one refusal status per route.
    """
    sign_in_as(client, people[person])
    before = (ours.version, ours.last_confirmed_at)
    assert client.get(f"/members/{ours.id}/profile").status_code == 404
    data = {"version": str(ours.version), "name": "Hijacked", "contacts-0-name": "Mallory"}
    assert post(client, f"/members/{ours.id}/profile", data).status_code == 404
    assert post(client, f"/members/{ours.id}/confirm").status_code == 404
    db.session.refresh(ours)
    assert ours.name == "Centre for Digital Rights"
    assert (ours.version, ours.last_confirmed_at) == before
    assert "Mallory" not in {c.name for c in ours.contacts}
    # An id that does not exist answers the same.
    assert client.get("/members/999999/profile").status_code == 404


def test_other_contact_reaches_only_their_own(client, people, ours, theirs):
    sign_in_as(client, people["other_contact"])
    assert client.get(f"/members/{theirs.id}/profile").status_code == 200
    assert client.get(f"/members/{ours.id}/profile").status_code == 404


def test_a_contact_row_of_another_member_cannot_be_taken_over(client, people, ours, theirs):
    """A hidden contact id pointing at another member's contact adds a new row; it moves nothing."""
    sign_in_as(client, people["contact"])
    data = form_data(client, ours.id)
    new = str(max(int(k.split("-")[1]) for k in data if k.startswith("contacts-")))
    foreign = theirs.contacts[0]
    data[f"contacts-{new}-id"] = str(foreign.id)
    data[f"contacts-{new}-name"] = "Taken Over"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 302
    db.session.refresh(foreign)
    assert foreign.member_id == theirs.id
    assert foreign.name != "Taken Over"
    db.session.refresh(ours)
    assert "Taken Over" in {c.name for c in ours.contacts}


def test_anonymous_is_sent_to_sign_in(client, ours):
    response = client.get(f"/members/{ours.id}/profile")
    assert response.status_code == 302
    assert response.location.startswith("/sign-in?next=")
    assert post(client, f"/members/{ours.id}/confirm").status_code == 401


def test_staff_may_use_the_profile_page(client, people, ours):
    convenor = people["convenor"]
    sign_in_as(client, convenor)
    data = form_data(client, ours.id)
    own = contact_index(data, "Wanjiku Kamau")
    data["name"] = "Edited by staff"
    data[f"contacts-{own}-remove"] = "y"  # staff may hand a member over
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 302
    db.session.refresh(ours)
    assert ours.name == "Edited by staff"
    assert {c.name for c in ours.contacts} == {"Second Person"}
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.updated", object_id=str(ours.id))
    )
    assert entry.actor_id == convenor.id
    assert outbox("member_edited_by_contact") == []  # staff do not notify themselves


# -- The yearly confirmation -----------------------------------------------------------


def test_yearly_confirmation_at_one_click(client, people, ours):
    sign_in_as(client, people["contact"])
    ours.last_confirmed_at = utcnow() - timedelta(days=380)
    db.session.commit()
    page = page_of(client.get(f"/members/{ours.id}/profile"))
    assert "Confirm our membership for another year" in page

    before = utcnow()
    response = post(client, f"/members/{ours.id}/confirm")
    assert response.status_code == 302
    assert response.location == f"/members/{ours.id}/profile"
    follow = page_of(client.get(response.location))
    assert "the membership is confirmed" in follow

    db.session.refresh(ours)
    assert before <= ours.last_confirmed_at <= utcnow()
    due = ops.confirmation_due_at(ours)
    assert due - ours.last_confirmed_at == ops.CONFIRMATION_PERIOD
    assert f"{due:%B} {due.day}, {due.year}" in follow
    assert "overdue" not in follow
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.confirmed", object_id=str(ours.id))
    )
    assert entry.actor_id == people["contact"].id


def test_confirming_a_lapsed_membership_makes_it_active(client, people, ours):
    ops.change_status(ours, MemberStatus.LAPSED, actor=None, reason="No yearly confirmation")
    db.session.commit()
    sign_in_as(client, people["contact"])
    assert post(client, f"/members/{ours.id}/confirm").status_code == 302
    db.session.refresh(ours)
    assert ours.status == MemberStatus.ACTIVE
    assert ours.status_changes[0].actor_id == people["contact"].id


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN])
def test_confirmation_is_refused_when_the_membership_is_not_running(client, people, status):
    member = new_member("Paused Member", people["contact"])
    ops.change_status(member, status, actor=None, reason="test")
    confirmed = member.last_confirmed_at
    db.session.commit()
    sign_in_as(client, people["contact"])
    page = page_of(client.get(f"/members/{member.id}/profile"))
    assert "Confirm our membership" not in page
    response = post(client, f"/members/{member.id}/confirm")
    assert response.status_code == 302
    assert "cannot be confirmed" in page_of(client.get(response.location))
    db.session.refresh(member)
    assert member.last_confirmed_at == confirmed
    assert member.status == status


def test_a_member_keeps_at_least_one_contact(client, people, ours):
    sign_in_as(client, people["convenor"])
    data = form_data(client, ours.id)
    for key in [k for k in data if k.endswith("-name") and data[k]]:
        data[key.replace("-name", "-remove")] = "y"
    response = post(client, f"/members/{ours.id}/profile", data)
    assert response.status_code == 200
    page = page_of(response)
    assert "Keep at least one contact." in page
    assert 'href="#contacts">Contacts: Keep at least one contact.' in page
    db.session.refresh(ours)
    assert len(ours.contacts) == 2
