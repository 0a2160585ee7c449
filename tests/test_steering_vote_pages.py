"""The steering vote's pages, without JavaScript: seats, opening, declaring and
voting (whole shortlist and one application), what a voter sees before the
close, the result, recording decisions, the applicant's decision and appeal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.models import ApplicationStatus, DomainError
from coalition.grants.review_models import Review, ReviewStatus
from coalition.steering import voting
from coalition.steering.models import Choice, SeatVote, Vote
from coalition.steering.votes import dashboard_panel
from tests.conftest import post
from tests.reviews_factories import NOW, make_application, make_round
from tests.steering_factories import make_seat, make_vote, roll_seat, vote_as


def _two_factor(user):
    user.totp_secret = "JBSWY3DPEHPK3PXP"
    user.totp_enabled_at = NOW
    return user


def _vote_with_sitters(**kwargs):
    vote, apps, seats = make_vote(**kwargs)
    for seat in seats:
        _two_factor(seat.representative)
    db.session.flush()
    return vote, apps, seats


def test_seats_page_warns_of_missing_representative_and_second_factor(client, login, make_user):
    login(make_user(Role.CONVENOR, two_factor=True))
    make_seat(representative=False)
    make_seat()
    page = client.get("/steering/seats").get_data(as_text=True)
    assert 'class="cards"' in page and "data-label" in page
    assert "No representative named." in page
    assert "has not set up two-factor sign-in" in page


def test_staff_open_a_vote_with_a_closing_time_in_their_zone(client, login, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    staff.timezone = "Africa/Lagos"  # UTC+1
    login(staff)
    round_ = make_round()
    application = make_application(round_)
    make_seat()
    when = (NOW + timedelta(days=3)).replace(hour=10, minute=30, second=0)
    local = (when + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    path = f"/steering/rounds/{round_.id}/vote"
    response = post(
        client,
        path,
        {"application_ids": [str(application.id)], "closes_at": local},
        token_from=path,
    )
    assert response.status_code == 302
    vote = db.session.scalar(sa.select(Vote))
    assert vote.closes_at == when
    db.session.refresh(application)
    assert application.status == ApplicationStatus.IN_VOTE


def test_a_steering_member_declares_and_votes_on_the_shortlist_without_js(client, login):
    vote, (first, second), (seat, other, _third) = _vote_with_sitters()
    rep = login(seat.representative)
    path = f"/steering/votes/{vote.id}"
    page = client.get(path).get_data(as_text=True)
    assert "First, declare any conflict of interest" in page
    post(
        client,
        f"{path}/declare",
        {f"conflict-{first.id}": "no", f"conflict-{second.id}": "no"},
        token_from=path,
    )
    sid = roll_seat(vote, seat).id
    # One form for the whole shortlist; a user id slipped into the form is ignored (S15).
    response = post(
        client,
        f"{path}/ballot",
        {
            f"choice-{sid}-{first.id}": "approve",
            f"note-{sid}-{first.id}": "Strong team.",
            f"choice-{sid}-{second.id}": "reject",
            "user_id": str(other.representative_id),
        },
        token_from=path,
    )
    assert response.status_code == 302
    cast = {v.application_id: v for v in db.session.scalars(sa.select(SeatVote))}
    assert cast[first.id].choice == Choice.APPROVE and cast[first.id].note == "Strong team."
    assert {v.cast_by_id for v in cast.values()} == {rep.id}
    # One application at a time: change the vote on the second.
    app_path = f"{path}/applications/{second.id}"
    page = client.get(app_path).get_data(as_text=True)
    assert "Your vote" in page
    post(
        client,
        f"{path}/ballot",
        {f"choice-{sid}-{second.id}": "abstain", "back": second.id},
        token_from=app_path,
    )
    db.session.expire_all()
    assert (
        db.session.scalar(sa.select(SeatVote.choice).where(SeatVote.application_id == second.id))
        == Choice.ABSTAIN
    )


def test_a_forged_seat_in_the_form_is_refused_and_changes_nothing(client, login):
    vote, (first, _second), (seat, other, _third) = _vote_with_sitters()
    login(seat.representative)
    voting.declare(vote, first, seat.representative, conflict=False)
    path = f"/steering/votes/{vote.id}"
    forged = roll_seat(vote, other).id
    response = post(
        client, f"{path}/ballot", {f"choice-{forged}-{first.id}": "approve"}, token_from=path
    )
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "not yours to vote on" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 0


def test_before_closing_a_voter_sees_counts_not_how_others_voted(client, login):
    vote, (first, _second), (seat, other, _third) = _vote_with_sitters()
    vote_as(vote, other, first, Choice.REJECT, note="SECRET NOTE")
    login(seat.representative)
    page = client.get(f"/steering/votes/{vote.id}").get_data(as_text=True)
    assert "1 / 3" in page
    assert "SECRET NOTE" not in page
    assert client.get(f"/steering/votes/{vote.id}/result").status_code == 404


def test_a_recused_voter_sees_nothing_of_the_application(client, login):
    vote, (first, _second), (seat, *_rest) = _vote_with_sitters()
    voting.declare(vote, first, seat.representative, conflict=True, description="Family")
    login(seat.representative)
    assert client.get(f"/steering/votes/{vote.id}/applications/{first.id}").status_code == 404
    page = client.get(f"/steering/votes/{vote.id}").get_data(as_text=True)
    assert first.title not in page and "Recused" in page


def test_result_page_shows_roll_recusals_votes_rule_and_override(client, login, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    vote, (first, second), seats = _vote_with_sitters()
    voting.declare(vote, second, seats[2].representative, conflict=True, description="Board")
    for seat in seats[:2]:
        vote_as(vote, seat, first, Choice.APPROVE)
        vote_as(vote, seat, second, Choice.REJECT, note="Weak budget.")
    voting.close(vote, now=vote.closes_at)
    login(staff)
    path = f"/steering/votes/{vote.id}/result"
    post(
        client,
        f"/steering/votes/{vote.id}/apply",
        {f"decision-{second.id}": "waitlisted", f"reason-{second.id}": "A partner co-funds it."},
        token_from=path,
    )
    db.session.refresh(second)
    assert second.status == ApplicationStatus.WAITLISTED
    page = client.get(path).get_data(as_text=True)
    for text in (
        "Override",
        "A partner co-funds it.",
        "a declared conflict of interest",
        "Weak budget.",
        "More rejections than approvals.",
        "More approvals than rejections, and above the funding line.",
        'class="cards"',
    ):
        assert text in page, text
    _two_factor(seats[0].representative)
    login(seats[0].representative)
    assert "Override" in client.get(path).get_data(as_text=True)


def test_the_applicant_reads_the_decision_and_comments_and_appeals(client, login, make_user):
    make_user(Role.CONVENOR, two_factor=True)
    vote, (first, _second), seats = _vote_with_sitters()
    db.session.add(
        Review(
            application=first,
            reviewer=seats[0].representative,
            status=ReviewStatus.SUBMITTED,
            comment_applicant="Tighten the budget.",
            comment_confidential="CONFIDENTIAL REMARK",
            submitted_at=NOW,
        )
    )
    for seat in seats:
        vote_as(vote, seat, first, Choice.REJECT, note="VOTE NOTE")
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=None)
    applicant = login(first.applicant)
    path = f"/applications/{first.id}"
    page = client.get(path).get_data(as_text=True)
    assert "Tighten the budget." in page
    for secret in ("CONFIDENTIAL REMARK", "VOTE NOTE", seats[0].representative.name):
        assert secret not in page
    assert "Lodge the appeal" in page
    post(client, f"/applications/{first.id}/appeal", {"reasons": "Please."}, token_from=path)
    appeal = decisions.appeal_of(first)
    assert appeal is not None and appeal.lodged_by_id == applicant.id
    page = client.get(path).get_data(as_text=True)
    assert "waiting for its outcome" in page and "Lodge the appeal" not in page


def test_dashboard_panel_shows_open_votes_with_progress_and_recent_results(app):
    vote, (first, _second), (seat, *_rest) = _vote_with_sitters()
    vote_as(vote, seat, first, Choice.APPROVE)
    panel = dashboard_panel(seat.representative)
    ((row,),) = [panel["open"]]
    assert row["vote"].id == vote.id
    assert [(p.voted, p.due) for p in row["progress"]] == [(1, 2)]
    assert panel["recent"] == []
    voting.close(vote, now=vote.closes_at)
    panel = dashboard_panel(seat.representative)
    assert panel["open"] == [] and [v.id for v in panel["recent"]] == [vote.id]
    from flask import render_template

    with app.test_request_context():
        html = render_template("steering/votes/_dashboard_panel.html", panel=panel)
    assert "Recent results" in html and vote.round.title in html


def test_long_shortlists_come_a_page_at_a_time(client, login):
    from coalition.steering.votes import PER_PAGE

    vote, apps, (seat, *_rest) = _vote_with_sitters(applications=PER_PAGE + 2)
    login(seat.representative)
    first = client.get(f"/steering/votes/{vote.id}").get_data(as_text=True)
    assert "Page 1 of 2" in first
    link = f"/steering/votes/{vote.id}/applications/{{}}"
    assert link.format(apps[0].id) in first and link.format(apps[-1].id) not in first
    second = client.get(f"/steering/votes/{vote.id}?page=2").get_data(as_text=True)
    assert link.format(apps[-1].id) in second


def test_a_ballot_or_declaration_after_closing_says_so_and_changes_nothing(client, login):
    vote, (first, second), (seat, *_rest) = _vote_with_sitters()
    voting.declare(vote, first, seat.representative, conflict=False)
    login(seat.representative)
    path = f"/steering/votes/{vote.id}"
    token_page = client.get(path)
    assert token_page.status_code == 200
    voting.close(vote, now=vote.closes_at)
    sid = roll_seat(vote, seat).id
    for action, data in (
        ("ballot", {f"choice-{sid}-{first.id}": "approve"}),
        ("declare", {f"conflict-{second.id}": "no"}),
    ):
        response = post(client, f"{path}/{action}", data, token_from=path)
        assert response.status_code == 302 and response.headers["Location"].endswith(path)
        page = client.get(path).get_data(as_text=True)
        assert "The vote has closed: votes are no longer accepted." in page, action
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 0
    from coalition.grants.reviews import declaration_of

    assert declaration_of(seat.representative_id, second.id) is None
    # Someone off the roll learns nothing of the vote.
    outsider = _two_factor(make_seat().representative)
    db.session.flush()
    login(outsider)
    assert post(client, f"{path}/ballot", {}, token_from="/steering/").status_code == 404


def test_a_vote_on_a_recused_application_is_refused_and_changes_nothing(client, login):
    vote, (first, second), (seat, *_rest) = _vote_with_sitters()
    sitter = seat.representative
    voting.declare(vote, first, sitter, conflict=True, description="My brother runs it")
    voting.declare(vote, second, sitter, conflict=False)
    login(sitter)
    path = f"/steering/votes/{vote.id}"
    sid = roll_seat(vote, seat).id
    # The form offers no choice on it; a forged field naming it is refused, whole.
    page = client.get(path).get_data(as_text=True)
    assert f'name="choice-{sid}-{first.id}"' not in page
    assert f'name="choice-{sid}-{second.id}"' in page
    response = post(
        client,
        f"{path}/ballot",
        {f"choice-{sid}-{first.id}": "approve", f"choice-{sid}-{second.id}": "reject"},
        token_from=path,
        follow_redirects=True,
    )
    assert "You are recused from this application: you cannot vote on it." in response.get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 0
    # The seat whose organisation applies is recused for the whole seat.
    with pytest.raises(DomainError, match="recused"):
        from coalition.steering.models import RecusalReason, VoteRecusal

        db.session.add(
            VoteRecusal(
                vote_id=vote.id,
                vote_seat_id=sid,
                application_id=second.id,
                user_id=None,
                reason=RecusalReason.APPLICANT_MEMBER,
            )
        )
        db.session.flush()
        voting.cast(vote, seat_id=sid, application_id=second.id, user=sitter, choice="approve")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 0
