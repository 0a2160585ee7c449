"""A member's own contact gives or withdraws consent to the public directory.

Withdrawal takes effect at once (the directory and the public figures drop
the member); giving consent records the wording shown and the time. Each
change is audited field by field and the staff are told, as for a profile
edit; a resent form changes nothing the second time. Other people's members
answer 404 (S13), and the staff's at-risk flag still wins over any consent.
"""

from __future__ import annotations

import html
import re
from html import unescape

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members import stats
from coalition.members.forms import CONSENT_WORDING
from coalition.members.models import Member, MemberContact, MemberStatus
from tests.conftest import csrf_token, outbox, post, sign_in_as

WITHDRAW = {"intent": "withdraw"}
GIVE = {"intent": "give"}
FIGURES_ROW = re.compile(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>')


@pytest.fixture(autouse=True)
def _fresh_figures():
    """Each test's data is rolled back, so the figures' fingerprint may come round again."""
    stats.forget_cached()
    yield
    stats.forget_cached()


@pytest.fixture
def people(make_user):
    return {
        "contact": make_user(Role.MEMBER_CONTACT, name="Amina Diallo", email="ad@ours.example"),
        "other_contact": make_user(Role.MEMBER_CONTACT, name="Other Contact"),
        "convenor": make_user(Role.CONVENOR, two_factor=True, email="staff@coalition.example"),
        "steering": make_user(Role.STEERING, two_factor=True),
        "applicant": make_user(Role.APPLICANT),
    }


@pytest.fixture
def member_of(make_member):
    """A member (committed) whose contacts include ``user``'s account."""

    def make(user, name, *, consent=True, **values):
        member = make_member(
            name=name,
            consent_public=consent,
            consent_wording="We agreed on paper." if consent else None,
            commit=False,
            **values,
        )
        member.contacts.append(
            MemberContact(name=user.name, email=user.email, role="Director", user_id=user.id)
        )
        db.session.commit()
        return member

    return make


@pytest.fixture
def ours(people, member_of):
    return member_of(people["contact"], "Observatoire Numérique du Sahel")


@pytest.fixture
def theirs(people, member_of):
    return member_of(people["other_contact"], "Another Member Entirely")


def page_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def in_directory(client, name: str) -> bool:
    response = client.get("/directory")
    assert response.status_code == 200
    return name in page_of(response)


def figures_by_country(client) -> dict[str, str]:
    response = client.get("/directory/figures")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    match = re.search(r'<section aria-labelledby="country-heading">(.*?)</section>', page, re.S)
    assert match, "no country section"
    return {html.unescape(a): html.unescape(b) for a, b in FIGURES_ROW.findall(match.group(1))}


def entries(action: str, member: Member) -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry)
        .filter_by(action=action, object_id=str(member.id))
        .order_by(AuditEntry.id)
    ).all()


def consent_of(member: Member) -> tuple:
    db.session.refresh(member)
    return (member.consent_public, member.consent_at, member.consent_wording)


# -- The page offers the one button that changes the present consent ---------------------


def test_a_consenting_member_is_offered_to_stop(client, people, ours):
    sign_in_as(client, people["contact"])
    page = page_of(client.get(f"/members/{ours.id}/profile"))
    assert "You agreed to be listed on" in page
    assert "Stop listing us in the public directory" in page
    assert f'action="/members/{ours.id}/consent"' in page
    assert 'name="intent" value="withdraw"' in page
    assert "List us in the public directory" not in page
    assert "To change this, write to the convenor staff." not in page
    # Nothing about the staff's flags when there is nothing to say.
    assert "whatever you choose" not in page


def test_a_member_without_consent_is_shown_the_wording(client, people, member_of):
    member = member_of(people["contact"], "Not Yet Listed", consent=False)
    sign_in_as(client, people["contact"])
    page = page_of(client.get(f"/members/{member.id}/profile"))
    assert "You have not agreed to be listed." in page
    assert str(CONSENT_WORDING) in page
    assert "List us in the public directory" in page
    assert 'name="intent" value="give"' in page
    assert "Stop listing us" not in page


# -- Withdrawing ---------------------------------------------------------------------------


def test_withdrawal_takes_the_member_out_at_once_audited_and_staff_told(client, people, ours):
    contact = people["contact"]
    assert in_directory(client, "Observatoire Numérique du Sahel")
    given_at, version = ours.consent_at, ours.version
    sign_in_as(client, contact)

    response = post(client, f"/members/{ours.id}/consent", WITHDRAW)

    assert response.status_code == 302
    assert response.location == f"/members/{ours.id}/profile"
    page = page_of(client.get(response.location))
    assert "Your consent is withdrawn" in page
    assert "You have not agreed to be listed." in page
    assert "List us in the public directory" in page  # they can change their mind
    assert consent_of(ours) == (False, None, None)
    assert ours.version == version + 1  # a staff form opened before is now stale
    assert ours.status == MemberStatus.ACTIVE
    assert not in_directory(client, "Observatoire Numérique du Sahel")

    (entry,) = entries("member.consent_withdrawn", ours)
    assert entry.actor_id == contact.id
    assert entry.changes["consent_public"] == [True, False]
    assert entry.changes["consent_wording"] == ["We agreed on paper.", None]
    assert entry.changes["consent_at"][0] == str(given_at)
    assert entry.changes["consent_at"][1] is None
    assert entry.details == {"by_contact": True}

    (message,) = outbox("member_edited_by_contact")
    assert message.recipient == "staff@coalition.example"
    assert "“Observatoire Numérique du Sahel” was changed by its contact Amina Diallo" in (
        message.body_text
    )


def test_withdrawing_twice_changes_and_records_nothing_the_second_time(client, people, ours):
    sign_in_as(client, people["contact"])
    assert post(client, f"/members/{ours.id}/consent", WITHDRAW).status_code == 302
    after_first = (consent_of(ours), ours.version)

    response = post(client, f"/members/{ours.id}/consent", WITHDRAW)

    assert response.status_code == 302
    assert "Nothing was changed." in page_of(client.get(response.location))
    assert (consent_of(ours), ours.version) == after_first
    assert len(entries("member.consent_withdrawn", ours)) == 1
    assert len(outbox("member_edited_by_contact")) == 1


def test_withdrawal_shows_in_the_public_figures_at_once(client, people, ours, make_member):
    # Four more public members in Kenya: five in all, the least the figures show.
    for n in range(4):
        make_member(name=f"Kenyan Member {n}", country="KE", consent_public=True)
    assert ours.country == "KE"
    assert figures_by_country(client) == {"Kenya": "5"}
    assert figures_by_country(client) == {"Kenya": "5"}  # now kept by this worker

    sign_in_as(client, people["contact"])
    assert post(client, f"/members/{ours.id}/consent", WITHDRAW).status_code == 302

    # The kept figures are not served: the register's fingerprint changed (its audit row).
    assert figures_by_country(client) == {"Kenya": "fewer than 5"}


# -- Giving consent --------------------------------------------------------------------------


def test_giving_consent_records_wording_and_time_and_lists_the_member(client, people, member_of):
    member = member_of(people["contact"], "Listed From Now On", consent=False)
    assert not in_directory(client, "Listed From Now On")
    sign_in_as(client, people["contact"])
    before = utcnow()

    response = post(client, f"/members/{member.id}/consent", GIVE)

    assert response.status_code == 302
    assert response.location == f"/members/{member.id}/profile"
    page = page_of(client.get(response.location))
    assert "your consent to be listed in the public directory is recorded" in page
    assert "Stop listing us in the public directory" in page
    listed, at, wording = consent_of(member)
    assert listed is True
    assert before <= at <= utcnow()
    assert wording == str(CONSENT_WORDING)
    assert member.is_public
    assert in_directory(client, "Listed From Now On")

    (entry,) = entries("member.consent_given", member)
    assert entry.actor_id == people["contact"].id
    assert entry.changes["consent_public"] == [False, True]
    assert entry.changes["consent_wording"] == [None, str(CONSENT_WORDING)]
    assert entry.changes["consent_at"][0] is None
    assert entry.changes["consent_at"][1] == str(at)
    assert len(outbox("member_edited_by_contact")) == 1

    # The form sent again changes nothing: the time of consent stays the first one.
    assert post(client, f"/members/{member.id}/consent", GIVE).status_code == 302
    assert consent_of(member) == (True, at, wording)
    assert len(entries("member.consent_given", member)) == 1
    assert len(outbox("member_edited_by_contact")) == 1


def test_a_member_at_risk_stays_unlisted_after_consenting(client, people, member_of):
    member = member_of(people["contact"], "Kept Out By Staff", consent=False, at_risk=True)
    sign_in_as(client, people["contact"])
    page = page_of(client.get(f"/members/{member.id}/profile"))
    assert "The convenor staff keep you off the public directory" in page

    assert post(client, f"/members/{member.id}/consent", GIVE).status_code == 302

    assert consent_of(member)[0] is True
    assert member.at_risk is True
    assert not member.is_public
    assert not in_directory(client, "Kept Out By Staff")
    page = page_of(client.get(f"/members/{member.id}/profile"))
    assert "You agreed to be listed on" in page
    assert "The convenor staff keep you off the public directory" in page


def test_an_inactive_member_is_told_only_active_members_are_listed(client, people, member_of):
    member = member_of(people["contact"], "Suspended For Now", consent=False)
    ops.change_status(member, MemberStatus.SUSPENDED, actor=None, reason="test")
    db.session.commit()
    sign_in_as(client, people["contact"])
    assert post(client, f"/members/{member.id}/consent", GIVE).status_code == 302
    assert consent_of(member)[0] is True
    assert not in_directory(client, "Suspended For Now")
    assert "Only active members are listed." in page_of(client.get(f"/members/{member.id}/profile"))


# -- Concurrent edits ---------------------------------------------------------------------


def test_a_press_is_not_refused_as_stale_and_keeps_a_concurrent_edit(client, people, ours):
    sign_in_as(client, people["contact"])
    client.get(f"/members/{ours.id}/profile")  # the page with the button is open
    old_version = ours.version
    # Meanwhile a convenor saves the member.
    ops.update_member(
        ours, actor=people["convenor"], version=ours.version, values={"acronym": "ONS"}
    )
    db.session.commit()

    assert post(client, f"/members/{ours.id}/consent", WITHDRAW).status_code == 302

    assert consent_of(ours)[0] is False
    assert ours.acronym == "ONS"
    # And a staff form opened before the withdrawal cannot put the consent back unseen.
    with pytest.raises(ops.StaleEdit):
        ops.update_member(
            ours,
            actor=people["convenor"],
            version=old_version + 1,
            values={"consent_public": True},
        )


# -- Who may, and how ---------------------------------------------------------------------


@pytest.mark.parametrize("person", ["other_contact", "steering", "applicant"])
def test_others_get_404_and_change_nothing(client, people, ours, theirs, person):
    sign_in_as(client, people[person])
    before = (consent_of(ours), ours.version)
    assert post(client, f"/members/{ours.id}/consent", WITHDRAW).status_code == 404
    assert post(client, "/members/999999/consent", WITHDRAW).status_code == 404
    assert (consent_of(ours), ours.version) == before
    assert entries("member.consent_withdrawn", ours) == []
    assert outbox("member_edited_by_contact") == []


def test_anonymous_is_refused(client, ours):
    token = csrf_token(client)
    response = client.post(f"/members/{ours.id}/consent", data={"csrf_token": token, **WITHDRAW})
    assert response.status_code == 401
    assert consent_of(ours)[0] is True


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(client, people, ours):
    sign_in_as(client, people["contact"])
    csrf_token(client)  # the session holds a token, as after any page view
    before = (consent_of(ours), ours.version)

    response = client.post(f"/members/{ours.id}/consent", data=WITHDRAW)

    assert response.status_code == 400
    assert (consent_of(ours), ours.version) == before
    assert entries("member.consent_withdrawn", ours) == []
    assert outbox("member_edited_by_contact") == []
    assert in_directory(client, "Observatoire Numérique du Sahel")


@pytest.mark.parametrize("intent", [None, "", "toggle", "GIVE"])
def test_a_form_that_does_not_say_which_way_is_refused(client, people, ours, intent):
    sign_in_as(client, people["contact"])
    before = (consent_of(ours), ours.version)
    data = {} if intent is None else {"intent": intent}
    assert post(client, f"/members/{ours.id}/consent", data).status_code == 400
    assert (consent_of(ours), ours.version) == before
    assert entries("member.consent_withdrawn", ours) == []


def test_staff_may_use_it_too(client, people, ours):
    convenor = people["convenor"]
    sign_in_as(client, convenor)
    page = page_of(client.get(f"/members/{ours.id}/profile"))
    assert "Stop listing us in the public directory" in page

    assert post(client, f"/members/{ours.id}/consent", WITHDRAW).status_code == 302
    assert consent_of(ours)[0] is False
    (entry,) = entries("member.consent_withdrawn", ours)
    assert entry.actor_id == convenor.id
    assert entry.details == {"by_contact": False}
    assert outbox("member_edited_by_contact") == []  # staff do not notify themselves

    assert post(client, f"/members/{ours.id}/consent", GIVE).status_code == 302
    listed, at, wording = consent_of(ours)
    assert (listed, wording) == (True, str(CONSENT_WORDING))
    assert at is not None
    (given,) = entries("member.consent_given", ours)
    assert given.actor_id == convenor.id
