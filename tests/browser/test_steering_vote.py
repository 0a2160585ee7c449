"""A steering member declares conflicts and votes on a shortlist in a real browser,
JavaScript on and off; axe finds nothing on the vote, application and result pages
in English and Arabic."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.steering import voting
from coalition.steering.models import Choice, SeatVote, SteeringSeat
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import audit, choose_language, report
from tests.conftest import PASSWORD
from tests.reviews_factories import NOW, make_application, make_round
from tests.steering_factories import make_seat_member


def _world(make_user, tag: str):
    sitter = make_user(Role.STEERING, two_factor=True, email=f"sitter-{tag}@example.org")
    other = make_user(Role.STEERING, two_factor=True, email=f"other-{tag}@example.org")
    round_ = make_round()
    apps = [make_application(round_, title=f"Radio fact-check {n} ({tag})") for n in range(2)]
    seats = []
    for person in (sitter, other):
        member = make_seat_member()
        seats.append(SteeringSeat(member_id=member.id, representative_id=person.id))
    db.session.add_all(seats)
    db.session.flush()
    vote = voting.open_vote(
        round_,
        closes_at=NOW + timedelta(days=3),
        actor=None,
        application_ids=[a.id for a in apps],
        now=NOW,
    )
    ids = {"vote": vote.id, "apps": [a.id for a in apps], "secret": sitter.totp_secret}
    db.session.commit()
    return ids, sitter.email


def _sign_in(page, email, secret):
    sign_in(page, email, PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_steering_member_declares_and_votes_on_the_shortlist(new_context, make_user, javascript):
    ids, email = _world(make_user, "js" if javascript else "nojs")
    db.session.rollback()
    page = new_context(java_script_enabled=javascript).new_page()
    _sign_in(page, email, ids["secret"])
    page.goto(f"/steering/votes/{ids['vote']}")
    for fieldset in page.locator("form fieldset").all():
        fieldset.get_by_label("No conflict of interest").check()
    page.get_by_role("button", name="Record my declarations").click()
    page.wait_for_load_state()
    first, second = ids["apps"]
    page.locator(f"select[name$='-{first}']").select_option("approve")
    page.locator(f"select[name$='-{second}']").select_option("abstain")
    page.get_by_role("button", name="Record my votes").click()
    page.wait_for_load_state()
    assert "Your votes are recorded" in page.content()
    db.session.expire_all()
    choices = dict(
        db.session.execute(sa.select(SeatVote.application_id, SeatVote.choice)).tuples().all()
    )
    assert choices == {first: Choice.APPROVE, second: Choice.ABSTAIN}


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_vote_and_result_pages_have_no_axe_violations(page, make_user, language):
    ids, email = _world(make_user, language)
    from coalition.accounts.models import User

    sitter = db.session.scalar(sa.select(User).where(User.email == email))
    first = ids["apps"][0]
    from coalition.steering.models import Vote

    vote = db.session.get(Vote, ids["vote"])
    voting.declare(vote, vote.items[0].application, sitter, conflict=False)
    db.session.commit()
    db.session.rollback()
    found: dict[str, list[dict]] = {}
    _sign_in(page, email, ids["secret"])
    if language != "en":
        choose_language(page, language)
    page.goto(f"/steering/votes/{ids['vote']}")
    audit(page, language, "vote", found)
    page.goto(f"/steering/votes/{ids['vote']}/applications/{first}")
    audit(page, language, "application", found)
    vote = db.session.get(Vote, ids["vote"])
    voting.close(vote, now=vote.closes_at)
    db.session.commit()
    db.session.rollback()
    page.goto(f"/steering/votes/{ids['vote']}/result")
    audit(page, language, "result", found)
    assert not found, report(found)


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_staff_result_with_move_up_and_override_has_no_axe_violations(page, make_user, language):
    """Staff's view: the move-up form at the top of the result, the decisions recorded
    with an override, and the override in the application's history."""
    from coalition.grants import decisions
    from coalition.grants.models import ApplicationStatus
    from coalition.steering.models import Vote

    staff = make_user(Role.CONVENOR, two_factor=True, email=f"staff-{language}@example.org")
    sitter = make_user(Role.STEERING, two_factor=True, email=f"seat-{language}@example.org")
    round_ = make_round(budget=2_000_000)
    apps = [
        make_application(round_, title=f"Election archive {n} ({language})", amount=amount)
        for n, amount in enumerate((1_000_000, 1_500_000, 1_500_000))
    ]
    member = make_seat_member()
    db.session.add(SteeringSeat(member_id=member.id, representative_id=sitter.id))
    db.session.flush()
    vote = voting.open_vote(
        round_,
        closes_at=NOW + timedelta(days=3),
        actor=None,
        application_ids=[a.id for a in apps],
        now=NOW,
    )
    seat_id = voting.load_roll(vote).seats[0].id
    for application in apps:
        voting.declare(vote, application, sitter, conflict=False, now=NOW)
        voting.cast(
            vote,
            seat_id=seat_id,
            application_id=application.id,
            user=sitter,
            choice=Choice.APPROVE,
            now=NOW,
        )
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(
        vote, actor=staff, overrides={apps[2].id: ("rejected", "Outside the call's scope.")}
    )
    apps[0].status = ApplicationStatus.WITHDRAWN  # budget frees
    ids = {"vote": vote.id, "overridden": apps[2].id, "secret": staff.totp_secret}
    email = staff.email
    db.session.commit()
    db.session.rollback()
    found: dict[str, list[dict]] = {}
    _sign_in(page, email, ids["secret"])
    if language != "en":
        choose_language(page, language)
    page.goto(f"/steering/votes/{ids['vote']}/result")
    assert page.locator("#move-up").count() == 1
    audit(page, language, "result (staff)", found)
    page.goto(f"/applications/{ids['overridden']}")
    assert page.locator(".timeline .badge").count() == 1
    audit(page, language, "overridden application", found)
    assert not found, report(found)
    db.session.expire_all()
    assert db.session.get(Vote, ids["vote"]).applied_at is not None
