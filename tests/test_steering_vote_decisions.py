"""Recorded decisions on the pages: an override is marked wherever a decision shows to
staff and the steering group (never to the applicant); the waitlist moves up from a
form that always names the next application in ranking order; two staff moving up at
once approve one; a closed vote's result is read once per worker."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    DomainError,
)
from coalition.steering import sheets, voting
from coalition.steering.models import Choice
from coalition.steering.votes import PER_PAGE
from tests.conftest import post
from tests.reviews_factories import NOW, make_round
from tests.steering_factories import make_vote, vote_as
from tests.test_members_queries import counting_queries

AMOUNT = 100_000
REASON = "A partner co-funds it, so the fund need not."


def _two_factor(user):
    user.totp_secret = "JBSWY3DPEHPK3PXP"
    user.totp_enabled_at = NOW
    return user


def _overridden(make_user):
    """A closed vote of three seats on two applications, both approved by the vote; staff
    record the second as rejected, with a reason (an override)."""
    staff = make_user(Role.CONVENOR, two_factor=True)
    vote, (first, second), seats = make_vote()
    for seat in seats:
        _two_factor(seat.representative)
        for application in (first, second):
            vote_as(vote, seat, application, Choice.APPROVE, note="VOTE NOTE")
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=staff, overrides={second.id: ("rejected", REASON)})
    assert second.status == ApplicationStatus.REJECTED
    return staff, vote, first, second, seats


def test_an_override_is_marked_for_staff_and_steering_never_for_the_applicant(
    client, login, make_user
):
    staff, vote, first, second, seats = _overridden(make_user)
    application_page = f"/applications/{second.id}"
    login(staff)
    page = client.get(application_page).get_data(as_text=True)
    history = page[page.index("History") :]
    # In the history, on the status change the override made; and beside the decision.
    assert "Override" in history and REASON in history
    assert "of the vote's result (Approved)" in history
    decision = page[page.index('id="decision-h"') : page.index("History")]
    assert "Override" in decision and REASON in decision
    # The other application's decision followed the vote: no mark.
    other = client.get(f"/applications/{first.id}").get_data(as_text=True)
    assert "Override" not in other
    # The round's list marks it beside its status, and only it.
    listing = client.get(f"/grants/rounds/{vote.round_id}/applications").get_data(as_text=True)
    assert listing.count(">Override</strong>") == 1
    row = listing[listing.index(second.title) :]
    assert row.index("Override") < row.index("</tr>")
    # The vote's page of the application, and the result page.
    voted = client.get(f"/steering/votes/{vote.id}/applications/{second.id}")
    assert "Override" in voted.get_data(as_text=True) and REASON in voted.get_data(as_text=True)
    result = client.get(f"/steering/votes/{vote.id}/result").get_data(as_text=True)
    assert "Override" in result and REASON in result
    # A steering member sees the mark too.
    login(seats[0].representative)
    page = client.get(application_page).get_data(as_text=True)
    assert "Override" in page and REASON in page
    # The applicant reads the decision, never that it overrode a vote, nor why.
    login(second.applicant)
    page = client.get(application_page).get_data(as_text=True)
    assert "Not funded" in page
    for secret in ("Override", REASON, "VOTE NOTE", "vote's result"):
        assert secret not in page, secret


def test_a_recused_steering_member_does_not_see_the_override_on_the_application(app, make_user):
    from flask import render_template_string
    from flask_login import login_user

    from coalition.steering.models import RecusalReason, VoteRecusal

    staff, vote, _first, second, seats = _overridden(make_user)
    recused = seats[1].representative
    seat_row = next(s for s in voting.load_roll(vote).seats if s.representative_id == recused.id)
    db.session.add(
        VoteRecusal(
            vote_id=vote.id,
            vote_seat_id=seat_row.id,
            application_id=second.id,
            user_id=recused.id,
            reason=RecusalReason.DECLARED,
            recorded_at=NOW,
        )
    )
    db.session.flush()
    seen = {}
    for person in (recused, staff, seats[0].representative, second.applicant):
        with app.test_request_context():
            login_user(person)
            seen[person.id] = render_template_string("{{ decision_overrides(a)|length }}", a=second)
    assert [seen[p.id] for p in (recused, staff, seats[0].representative, second.applicant)] == [
        "0",
        "1",
        "1",
        "0",
    ]


def _waitlist(make_user, applications=PER_PAGE + 3):
    """One seat approving every application (AMOUNT each) against a budget of PER_PAGE of them:
    the last three (ranked by id) are waitlisted, on the result's second page."""
    staff = make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(budget=AMOUNT * PER_PAGE)
    vote, apps, (seat,) = make_vote(
        seats=1, applications=applications, round_=round_, amounts=[AMOUNT] * applications
    )
    for application in apps:
        vote_as(vote, seat, application, Choice.APPROVE)
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=staff)
    waitlisted = [a for a in apps if a.status == ApplicationStatus.WAITLISTED]
    assert waitlisted == apps[PER_PAGE:]
    return staff, vote, apps, waitlisted


def test_the_move_up_form_always_names_the_next_waitlisted_application(client, login, make_user):
    staff, vote, apps, waitlisted = _waitlist(make_user)
    login(staff)
    path = f"/steering/votes/{vote.id}/result"
    page = client.get(path).get_data(as_text=True)
    # On the first page, though the waitlisted applications are listed on the second.
    assert waitlisted[0].title not in page[page.index('id="roll-h"') :]
    section = page[page.index('id="move-h"') : page.index('id="roll-h"')]
    assert waitlisted[0].title in section and "Budget left in the round" in section
    assert "does not cover it yet" in section and 'id="move-up"' not in section
    # Budget frees: the form appears, for the best-ranked waitlisted application.
    apps[0].status = ApplicationStatus.WITHDRAWN
    db.session.flush()
    page = client.get(path).get_data(as_text=True)
    section = page[page.index('id="move-h"') : page.index('id="roll-h"')]
    assert f"/steering/applications/{waitlisted[0].id}/move-up" in section
    assert waitlisted[1].title not in section
    # Not the second in line, and not without a reason: refused, nothing moves.
    for target, reason in ((waitlisted[1], "Out of order."), (waitlisted[0], "  ")):
        response = post(
            client,
            f"/steering/applications/{target.id}/move-up",
            {"reason": reason, "vote_id": vote.id},
            token_from=path,
            follow_redirects=True,
        )
        text = response.get_data(as_text=True)
        assert "ranking order" in text or "Give the reason" in text
        db.session.refresh(target)
        assert target.status == ApplicationStatus.WAITLISTED
    response = post(
        client,
        f"/steering/applications/{waitlisted[0].id}/move-up",
        {"reason": "An approved applicant withdrew.", "vote_id": vote.id},
        token_from=path,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(path)
    db.session.refresh(waitlisted[0])
    assert waitlisted[0].status == ApplicationStatus.APPROVED
    (change,) = [
        c for c in waitlisted[0].status_changes if c.to_status == ApplicationStatus.APPROVED
    ]
    assert change.reason == "An approved applicant withdrew."
    # The form moves on to the next one; the budget left no longer covers it.
    section = client.get(path).get_data(as_text=True)
    section = section[section.index('id="move-h"') : section.index('id="roll-h"')]
    assert waitlisted[1].title in section and "does not cover it yet" in section
    # Steering members read the result but get no form.
    login(_two_factor(make_user(Role.STEERING)))
    assert 'id="move-h"' not in client.get(path).get_data(as_text=True)


def test_waitlist_head_is_the_ranking_order_rule(app, make_user):
    _staff, vote, apps, waitlisted = _waitlist(make_user, applications=PER_PAGE + 2)
    head = decisions.waitlist_head(vote.round)
    assert head.application_id == waitlisted[0].id and head.title == waitlisted[0].title
    assert (head.requested_amount, head.budget_left, head.fits) == (AMOUNT, 0, False)
    with pytest.raises(DomainError, match="budget left"):
        decisions.move_up(waitlisted[0], actor=None, reason="Too soon.")
    apps[0].status = ApplicationStatus.WITHDRAWN
    db.session.flush()
    with pytest.raises(DomainError, match="ranking order"):
        decisions.move_up(waitlisted[1], actor=None, reason="Out of order.")
    decisions.move_up(waitlisted[0], actor=None, reason="Budget freed.")
    assert decisions.waitlist_head(vote.round).application_id == waitlisted[1].id
    waitlisted[1].status = ApplicationStatus.REJECTED  # the last one leaves the list
    db.session.flush()
    assert decisions.waitlist_head(vote.round) is None


@pytest.mark.committing
def test_two_staff_moving_up_at_once_approve_one_within_the_budget(app, make_user):
    from tests.test_steering_votes import _threads

    _staff, vote, apps, waitlisted = _waitlist(make_user, applications=PER_PAGE + 2)
    apps[0].status = ApplicationStatus.WITHDRAWN  # room for one more
    round_id = vote.round_id
    ids = [a.id for a in waitlisted]
    db.session.commit()
    db.session.remove()

    def work(i):
        # One moves up the head; the other, the head too (a double click in two windows)
        # or the second in line, which ranking order and the budget both refuse.
        target = ids[0] if i == 0 else ids[i - 1]
        decisions.move_up(db.session.get(Application, target), actor=None, reason=f"Freed ({i}).")

    outcomes = _threads(app, 3, work)
    assert outcomes.count("ok") == 1 and outcomes.count("refused") == 2, outcomes
    moved = db.session.scalars(
        sa.select(ApplicationStatusChange.application_id).where(
            ApplicationStatusChange.to_status == ApplicationStatus.APPROVED,
            ApplicationStatusChange.reason.like("Freed%"),
        )
    ).all()
    assert moved == [ids[0]]
    funded = db.session.scalar(
        sa.select(sa.func.sum(Application.requested_amount)).where(
            Application.round_id == round_id, Application.status == ApplicationStatus.APPROVED
        )
    )
    assert funded == AMOUNT * PER_PAGE


def test_a_closed_result_is_read_once_per_worker_and_decisions_stay_fresh(
    client, login, make_user, app
):
    staff = make_user(Role.CONVENOR, two_factor=True)
    vote, (first, second), seats = make_vote()
    for seat in seats:
        vote_as(vote, seat, first, Choice.APPROVE, note="Strong.")
        vote_as(vote, seat, second, Choice.REJECT)
    voting.close(vote, now=vote.closes_at)
    db.session.flush()
    login(staff)
    path = f"/steering/votes/{vote.id}/result"
    app.config["VOTE_RESULT_CACHE_SECONDS"] = 600
    sheets.forget_result_sheets()
    try:

        def read():
            db.session.expire_all()
            with counting_queries() as statements:
                text = client.get(path).get_data(as_text=True)
            return text, len(statements)

        cold, cold_queries = read()
        warm, warm_queries = read()
        assert warm_queries < cold_queries
        assert cold == warm and "Strong." in warm
        # What may change on a closed vote is read every time.
        decisions.apply_result(vote, actor=staff)
        db.session.flush()
        after, _ = read()
        assert "Decision recorded: Approved" in after and "Decision recorded: Not funded" in after
        # Another vote never reads this one's sheet.
        other, (third, _x), other_seats = make_vote()
        vote_as(other, other_seats[0], third, Choice.ABSTAIN, note="Other vote.")
        voting.close(other, now=other.closes_at)
        page, _ = read()
        assert "Other vote." not in page
        other_page = client.get(f"/steering/votes/{other.id}/result").get_data(as_text=True)
        assert "Other vote." in other_page and "Strong." not in other_page
    finally:
        app.config.pop("VOTE_RESULT_CACHE_SECONDS", None)
        sheets.forget_result_sheets()


# -- The appeal period, set per round -------------------------------------------------------


def test_staff_set_the_appeal_period_per_round(client, make_user, login):
    from coalition.grants.models import Round, RoundPhase
    from tests.test_grants_rounds import field_error, round_data

    login(make_user(Role.CONVENOR, two_factor=True))
    round_ = make_round(phase=RoundPhase.DRAFT)
    assert round_.appeal_days == 14  # the default
    db.session.commit()
    edit = f"/grants/rounds/{round_.id}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert 'id="appeal_days"' in form and 'value="14"' in form
    base = {
        "timezone": "UTC",
        "opens_at": "2027-03-01T06:00",
        "closes_at": "2027-03-20T12:00",
        "review_deadline": "",
        "budget": "100,000",
        "min_grant": "1,000",
        "max_grant": "25,000",
        "criteria-0-name": "Relevance",
        "criteria-0-weight": "1",
        "criteria-1-name": "",
        "criteria-1-weight": "",
        "criteria-2-name": "",
        "criteria-2-weight": "",
    }
    for bad in ("0", "91", "two weeks"):
        db.session.expire_all()
        data = round_data(
            round_.fund,
            **base,
            appeal_days=bad,
            version=str(db.session.get(Round, round_.id).version),
        )
        response = post(client, edit, data, token_from=edit)
        assert response.status_code == 200, bad
        assert field_error(response.get_data(as_text=True), "appeal_days"), bad
    db.session.expire_all()
    assert db.session.get(Round, round_.id).appeal_days == 14
    data = round_data(
        round_.fund,
        **base,
        appeal_days="30",
        version=str(db.session.get(Round, round_.id).version),
    )
    response = post(client, edit, data, token_from=edit)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(Round, round_.id)
    assert saved.appeal_days == 30
    page = client.get(f"/grants/rounds/{round_.id}").get_data(as_text=True)
    assert "Appeal period (days)" in page and "<dd>30</dd>" in page


def test_the_operations_keep_the_appeal_period_within_bounds(app):
    from coalition.grants import rounds as round_ops
    from coalition.grants.models import RoundPhase

    round_ = make_round(phase=RoundPhase.DRAFT)
    values = {key: getattr(round_, key) for key in round_ops.ROUND_FIELDS}
    criteria = [{"name": c.name, "weight": c.weight} for c in round_.criteria]
    with app.test_request_context():
        for bad in (0, 91, -3):
            with pytest.raises(DomainError, match="appeal period") as refused:
                round_ops.update_round(
                    round_,
                    actor=None,
                    version=round_.version,
                    values={**values, "appeal_days": bad},
                    criteria=criteria,
                )
            assert refused.value.field == "appeal_days"
        # Left out: the round keeps its period.
        round_ops.update_round(
            round_,
            actor=None,
            version=round_.version,
            values={**values, "appeal_days": None, "title": "Renamed"},
            criteria=criteria,
        )
    assert (round_.title, round_.appeal_days) == ("Renamed", 14)


def test_the_appeal_deadline_follows_the_rounds_period(app, make_user):
    from datetime import timedelta

    make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round()
    round_.appeal_days = 3
    vote, (application, _other), seats = make_vote(round_=round_)
    for seat in seats:
        vote_as(vote, seat, application, Choice.REJECT)
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=None)
    decided = application.status_changed_at
    assert decisions.appeal_deadline(application) == decided + timedelta(days=3)
    with pytest.raises(DomainError, match="period for an appeal has ended"):
        decisions.lodge_appeal(
            application,
            actor=application.applicant,
            reasons="We were misread.",
            now=decided + timedelta(days=3),
        )
    assert decisions.appeal_of(application) is None
    decisions.lodge_appeal(
        application,
        actor=application.applicant,
        reasons="We were misread.",
        now=decided + timedelta(days=3, seconds=-1),
    )
    assert decisions.appeal_of(application) is not None
