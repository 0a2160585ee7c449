"""The steering vote: seats, the frozen roll, recusals, voting until the closing
second, the result (quorum, decision, funding line), recording decisions with
overrides, the waitlist, feedback, appeals, the emails and reminders, the
access rules, and the races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants import reviews as review_ops
from coalition.grants.decision_models import Appeal, AppealOutcome
from coalition.grants.models import Application, ApplicationStatus, DomainError, RoundPhase
from coalition.grants.review_models import Recommendation
from coalition.members.models import MemberContact, MemberStatus
from coalition.policy import can
from coalition.steering import seats as seat_ops
from coalition.steering import voting
from coalition.steering.models import (
    Choice,
    Outcome,
    RecusalReason,
    ResultRule,
    SeatVote,
    SeatVoteChange,
    Vote,
    VoteItem,
    VoteRecusal,
    VoteSeat,
    VoteStatus,
)
from tests.conftest import outbox
from tests.reviews_factories import NOW, make_application, make_person, make_round
from tests.steering_factories import (
    TODAY,
    declare_all_clear,
    make_seat,
    make_seat_member,
    make_sitter,
    make_vote,
    roll_seat,
    vote_as,
)

A, R, X = Choice.APPROVE, Choice.REJECT, Choice.ABSTAIN


# -- The rules, hand-computed --------------------------------------------------------------

# (seats not recused, choices, quorum, rule before the funding line: None = approvals win)
TALLY_CASES = [
    (5, [A, A, A], True, None),  # 3 of 5 voted: quorum; approvals win
    (5, [A, A], False, ResultRule.NO_QUORUM),  # 2 of 5: no majority voted
    (4, [A, R], False, ResultRule.NO_QUORUM),  # half is not a majority
    (4, [A, R, X], True, ResultRule.TIE),  # 3 of 4; one each way
    (4, [X, X, X], True, ResultRule.TIE),  # all abstain: 0 = 0
    (3, [X, X, A], True, None),  # abstentions count for quorum only
    (3, [R, R, A], True, ResultRule.MORE_REJECTIONS),
    (3, [R, X], True, ResultRule.MORE_REJECTIONS),
    (1, [A], True, None),  # one seat left after recusals
    (0, [], False, ResultRule.NO_QUORUM),  # every seat recused
    (10, [A] * 5 + [R] * 1, True, None),  # 6 of 10
    (10, [A] * 3 + [R] * 2, False, ResultRule.NO_QUORUM),  # 5 of 10
    (7, [A, A, R, R, X], True, ResultRule.TIE),
]


@pytest.mark.parametrize(("eligible", "choices", "quorum", "rule"), TALLY_CASES)
def test_quorum_and_decision_rules(eligible, choices, quorum, rule):
    count = voting.tally(eligible, choices)
    assert count.voted == len(choices)
    assert count.quorum is quorum
    assert count.rule == rule


def test_more_votes_than_seats_is_a_bug():
    with pytest.raises(ValueError):
        voting.tally(1, [A, A])


def test_approved_applications_split_at_the_funding_line():
    # (application, rank, amount); budget 1,000: 400 + 500 fit, the next 200 does not.
    items = [(11, 1, 400), (12, 2, 500), (13, 3, 300), (14, 4, 200), (15, 5, 50)]
    win = voting.tally(3, [A, A])
    lose = voting.tally(3, [R, R])
    tallies = {11: win, 12: win, 13: lose, 14: win, 15: win}
    results = voting.decide(items, tallies, budget=1_000)
    assert {a: r.outcome for a, r in results.items()} == {
        11: Outcome.APPROVED,
        12: Outcome.APPROVED,
        13: Outcome.REJECTED,  # rejected: not counted against the budget
        14: Outcome.WAITLISTED,  # 400 + 500 + 200 > 1,000
        15: Outcome.WAITLISTED,  # below the line once it is passed
    }
    assert results[14].rule == ResultRule.BELOW_FUNDING_LINE
    assert results[11].rule == ResultRule.WITHIN_BUDGET


# -- Hypothesis: order never matters; a recused seat never changes anything ----------------


def _transient_roll(n_seats, recused_pairs):
    seats = []
    for i in range(n_seats):
        seat = VoteSeat(id=i + 1, member_id=i + 1, seat_name=f"S{i}", representative_id=100 + i)
        seats.append(seat)
    roll = voting.Roll(seats=seats)
    for seat_id, app_id in recused_pairs:
        roll.recused.setdefault((seat_id, app_id), set()).add(None)
    return roll


APPS = [(1, 1, 300), (2, 2, 300), (3, 3, 300), (4, 4, 300)]
choice_st = st.sampled_from(list(Choice))


@st.composite
def ballots(draw):
    n_seats = draw(st.integers(1, 9))
    votes = {}
    for seat_id in range(1, n_seats + 1):
        for app_id, _rank, _amount in APPS:
            choice = draw(st.none() | choice_st)
            if choice is not None:
                votes[(seat_id, app_id)] = choice
    recused = draw(
        st.sets(st.tuples(st.integers(1, n_seats), st.sampled_from([a[0] for a in APPS])))
    )
    budget = draw(st.integers(0, 1_300))
    return n_seats, votes, recused, budget


def _outcomes(results):
    return {a: (r.outcome, r.rule, r.tally) for a, r in results.items()}


@settings(max_examples=150, deadline=None)
@given(ballots(), st.randoms())
def test_the_result_never_depends_on_the_order_of_votes(case, rnd):
    n_seats, votes, recused, budget = case
    roll = _transient_roll(n_seats, recused)
    listed = [(s, a, c) for (s, a), c in votes.items()]
    first = voting.compute_results(roll, APPS, listed, budget)
    rnd.shuffle(listed)
    assert _outcomes(voting.compute_results(roll, APPS, listed, budget)) == _outcomes(first)


@settings(max_examples=150, deadline=None)
@given(ballots(), st.sampled_from([a[0] for a in APPS]), st.none() | choice_st)
def test_a_recused_seat_never_changes_quorum_or_result(case, app_id, extra_choice):
    n_seats, votes, recused, budget = case
    listed = [(s, a, c) for (s, a), c in votes.items()]
    alone = _outcomes(
        voting.compute_results(_transient_roll(n_seats, recused), APPS, listed, budget)
    )
    extra = n_seats + 1
    voted = listed + ([(extra, app_id, extra_choice)] if extra_choice is not None else [])
    # One more seat, recused from ``app_id``: its vote there (cast before the recusal)
    # changes nothing anywhere, and the quorum base and counts there stay as without it.
    # (It sits on the other applications, whose counts, and through the funding line
    # whose outcomes, it may change.)
    roll = _transient_roll(extra, recused | {(extra, app_id)})
    without_vote = _outcomes(voting.compute_results(roll, APPS, listed, budget))
    after = _outcomes(voting.compute_results(roll, APPS, voted, budget))
    assert after == without_vote
    assert after[app_id][2] == alone[app_id][2]
    # Recused from every application, the extra seat changes no result at all.
    everywhere = _transient_roll(extra, recused | {(extra, a[0]) for a in APPS})
    assert _outcomes(voting.compute_results(everywhere, APPS, voted, budget)) == alone


@settings(max_examples=100, deadline=None)
@given(ballots())
def test_quorum_is_a_strict_majority_of_seats_not_recused(case):
    n_seats, votes, recused, budget = case
    roll = _transient_roll(n_seats, recused)
    results = voting.compute_results(roll, APPS, [(s, a, c) for (s, a), c in votes.items()], budget)
    for app_id, result in results.items():
        eligible = [s for s in range(1, n_seats + 1) if (s, app_id) not in recused]
        voted = [s for s in eligible if (s, app_id) in votes]
        assert result.tally.eligible == len(eligible)
        assert result.tally.quorum == (2 * len(voted) > len(eligible))
        if not result.tally.quorum:
            assert result.outcome == Outcome.NO_DECISION


# -- Seats ---------------------------------------------------------------------------------


def test_seats_are_active_members_whose_term_covers_the_day(app):
    current = make_seat_member()
    make_seat_member(steering_until=TODAY - timedelta(days=1))  # term ended
    make_seat_member(steering_from=TODAY + timedelta(days=1))  # not yet
    make_seat_member(status=MemberStatus.SUSPENDED)
    make_seat_member(steering_from=None)
    last_day = make_seat_member(steering_until=TODAY)
    assert {s.member.id for s in seat_ops.current_seats(TODAY)} == {current.id, last_day.id}


def test_seat_warnings_name_missing_representative_and_second_factor(app):
    seat = make_seat(alternate=True)
    empty = make_seat(representative=False)
    by_member = {s.member.id: s for s in seat_ops.current_seats(TODAY)}
    assert by_member[empty.member_id].warnings == ["No representative named."]
    warnings = by_member[seat.member_id].warnings
    assert len(warnings) == 2 and all("two-factor" in w for w in warnings)


def test_staff_set_sitters_who_hold_the_steering_role(app):
    member = make_seat_member()
    rep, alt = make_sitter(), make_sitter()
    outsider = make_person(Role.REVIEWER)
    with pytest.raises(DomainError, match="steering role"):
        seat_ops.set_sitters(member, representative_id=outsider.id, alternate_id=None, actor=None)
    with pytest.raises(DomainError, match="someone other"):
        seat_ops.set_sitters(member, representative_id=rep.id, alternate_id=rep.id, actor=None)
    with pytest.raises(DomainError, match="representative before"):
        seat_ops.set_sitters(member, representative_id=None, alternate_id=alt.id, actor=None)
    seat = seat_ops.set_sitters(member, representative_id=rep.id, alternate_id=alt.id, actor=None)
    assert (seat.representative_id, seat.alternate_id) == (rep.id, alt.id)
    ended = make_seat_member(steering_until=TODAY - timedelta(days=1))
    with pytest.raises(DomainError, match="no steering seat"):
        seat_ops.set_sitters(ended, representative_id=rep.id, alternate_id=None, actor=None)
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).filter_by(action="steering.seat_set")
    )


# -- Opening and the frozen roll -----------------------------------------------------------


def test_opening_freezes_the_roll_and_puts_applications_to_the_vote(app):
    alternate = make_sitter()
    vote, apps, seats = make_vote(seats=3)
    assert vote.status == VoteStatus.OPEN
    roll = voting.load_roll(vote)
    # Seats in organisation-name order (the factory numbers names in creation order).
    assert [s.member_id for s in roll.seats] == [s.member_id for s in seats]
    assert {s.representative_id for s in roll.seats} == {s.representative_id for s in seats}
    assert all(a.status == ApplicationStatus.IN_VOTE for a in apps)
    # Later changes to seats and terms change nothing in the roll.
    first = seats[0]
    new_rep = make_sitter()
    member0 = db.session.get(type(first.member), first.member_id)
    seat_ops.set_sitters(
        member0, representative_id=new_rep.id, alternate_id=alternate.id, actor=None
    )
    seats[1].member.steering_until = TODAY - timedelta(days=1)  # term ended
    make_seat()  # a new seat
    db.session.flush()
    frozen = voting.load_roll(vote)
    assert [(s.member_id, s.representative_id, s.alternate_id) for s in frozen.seats] == [
        (s.member_id, s.representative_id, s.alternate_id) for s in roll.seats
    ]
    old_rep = next(s for s in frozen.seats if s.member_id == first.member_id).representative_id
    assert old_rep != new_rep.id
    # The new representative is not on this vote's roll: refused.
    voting.declare(vote, apps[0], new_rep, conflict=False, now=NOW)
    with pytest.raises(DomainError, match="do not sit for this seat"):
        voting.cast(
            vote,
            seat_id=roll_seat(vote, first).id,
            application_id=apps[0].id,
            user=new_rep,
            choice="approve",
            now=NOW,
        )
    # The ended seat still votes on this vote, through its frozen representative.
    assert vote_as(vote, seats[1], apps[0], A).choice == A


def test_opening_is_refused_without_seats_or_shortlist(app):
    round_ = make_round()
    application = make_application(round_)
    with pytest.raises(DomainError, match="no steering seats"):
        voting.open_vote(
            round_, closes_at=NOW + timedelta(days=2), actor=None, application_ids=[application.id]
        )
    make_seat(representative=False)
    with pytest.raises(DomainError, match="No steering seat has a representative"):
        voting.open_vote(
            round_, closes_at=NOW + timedelta(days=2), actor=None, application_ids=[application.id]
        )
    make_seat()
    with pytest.raises(DomainError, match="shortlist is empty"):
        voting.open_vote(round_, closes_at=NOW + timedelta(days=2), actor=None, application_ids=[])
    # Default shortlist: eligible applications with all their reviews done (none here).
    with pytest.raises(DomainError, match="shortlist is empty"):
        voting.open_vote(round_, closes_at=NOW + timedelta(days=2), actor=None)
    other = make_application(make_round())
    with pytest.raises(DomainError, match="only eligible applications of this round"):
        voting.open_vote(
            round_, closes_at=NOW + timedelta(days=2), actor=None, application_ids=[other.id]
        )
    with pytest.raises(DomainError, match="in the future"):
        voting.open_vote(
            round_,
            closes_at=NOW - timedelta(seconds=1),
            actor=None,
            now=NOW,
            application_ids=[application.id],
        )
    round_.phase = RoundPhase.DECIDED
    with pytest.raises(DomainError, match="round in review"):
        voting.open_vote(
            round_, closes_at=NOW + timedelta(days=2), actor=None, application_ids=[application.id]
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == 0
    assert application.status == ApplicationStatus.ELIGIBLE


def test_the_default_shortlist_is_every_eligible_application_with_its_reviews_done(app):
    from coalition.grants import assignment

    round_ = make_round(reviewers=1)
    done, pending = make_application(round_), make_application(round_)
    for application, submit in ((done, True), (pending, False)):
        reviewer = make_person()
        review = assignment.assign(application, reviewer, actor=None)
        review_ops.declare(application, reviewer, conflict=False)
        if submit:
            review_ops.save_draft(
                review,
                actor=reviewer,
                version=None,
                scores={c.id: 4 for c in round_.criteria},
                comment_applicant="Good.",
                comment_confidential="Strong.",
                recommendation=Recommendation.FUND,
            )
            review_ops.submit(review, actor=reviewer)
    make_seat()
    vote = voting.open_vote(round_, closes_at=NOW + timedelta(days=2), actor=None)
    assert voting.item_ids(vote) == [done.id]
    assert pending.status == ApplicationStatus.ELIGIBLE


def test_known_and_declared_conflicts_are_frozen_as_recusals(app):
    round_ = make_round()
    seat_with_alt = make_seat(alternate=True)
    applicant_member_seat = make_seat()
    plain = make_seat()
    # The representative declared a conflict during the reviews; the alternate steps in.
    application = make_application(round_)
    review_ops.declare  # noqa: B018 - the steering member declares on the vote list
    rep = seat_with_alt.representative
    review_ops.declare(application, rep, conflict=True, description="My sister runs it.")
    # The second seat's organisation applies itself.
    own = make_application(round_, member_id=applicant_member_seat.member_id)
    # The third seat's representative is a contact of the applicant organisation.
    contact_org = make_seat_member(steering_from=None, name="Applicant org")
    db.session.add(
        MemberContact(
            member_id=contact_org.id,
            name="x",
            email=plain.representative.email,
            user_id=plain.representative.id,
        )
    )
    known = make_application(round_, member_id=contact_org.id)
    vote = voting.open_vote(
        round_,
        closes_at=NOW + timedelta(days=2),
        actor=None,
        application_ids=[application.id, own.id, known.id],
        now=NOW,
    )
    reasons = {
        (r.seat.member_id, r.application_id, r.user_id): r.reason
        for r in db.session.scalars(sa.select(VoteRecusal))
    }
    assert reasons == {
        (seat_with_alt.member_id, application.id, rep.id): RecusalReason.DECLARED,
        (applicant_member_seat.member_id, own.id, None): RecusalReason.APPLICANT_MEMBER,
        (plain.member_id, known.id, plain.representative_id): RecusalReason.KNOWN,
    }
    roll = voting.load_roll(vote)
    alt_seat = roll_seat(vote, seat_with_alt)
    assert not roll.seat_recused(alt_seat, application.id)  # the alternate votes
    assert roll.may_cast(alt_seat, application.id, seat_with_alt.alternate_id)
    assert not roll.may_cast(alt_seat, application.id, rep.id)
    assert roll.seat_recused(roll_seat(vote, applicant_member_seat), own.id)
    assert roll.seat_recused(roll_seat(vote, plain), known.id)  # nobody else on that seat
    assert len(roll.eligible(known.id)) == 2
    with pytest.raises(DomainError, match="recused"):
        vote_as(vote, seat_with_alt, application, A)
    assert vote_as(vote, seat_with_alt, application, A, user=seat_with_alt.alternate).choice == A


def test_a_conflict_declared_after_opening_recuses_from_then_on(app):
    round_ = make_round()
    seat = make_seat(alternate=True)
    others = [make_seat(), make_seat()]
    vote, apps, _ = make_vote(seats=0, applications=1, round_=round_)
    application = apps[0]
    vote_as(vote, seat, application, A, now=NOW + timedelta(hours=1))
    assert voting.seats_voted(vote) == {application.id: 1}
    later = NOW + timedelta(hours=2)
    voting.declare(
        vote,
        application,
        seat.representative,
        conflict=True,
        description="Board member",
        now=later,
    )
    (recusal,) = db.session.scalars(sa.select(VoteRecusal)).all()
    assert recusal.after_opening and recusal.recorded_at == later
    assert recusal.user_id == seat.representative_id
    # The representative's vote is set aside (kept in the history); the alternate votes.
    assert voting.seats_voted(vote) == {}
    changes = db.session.scalars(sa.select(SeatVoteChange).order_by(SeatVoteChange.id)).all()
    assert [c.choice for c in changes] == [A, None]
    vote_as(vote, seat, application, R, user=seat.alternate, now=later)
    for other in others:
        vote_as(vote, other, application, R, now=later)
    voting.close(vote, now=vote.closes_at)
    (item,) = vote.items
    assert (item.seats_eligible, item.rejections, item.outcome) == (3, 3, Outcome.REJECTED)


# -- Voting --------------------------------------------------------------------------------


def test_a_vote_is_changeable_until_closing_and_every_change_is_kept(app):
    vote, (application, _), (seat, *_rest) = make_vote()
    first = vote_as(vote, seat, application, A, note="Strong team.")
    assert first.version == 1
    again = vote_as(vote, seat, application, A, note="Strong team.")  # a double submission
    assert again.version == 1
    changed = vote_as(vote, seat, application, R)
    assert changed.choice == R and changed.note is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 1
    history = db.session.scalars(sa.select(SeatVoteChange).order_by(SeatVoteChange.id)).all()
    assert [(h.choice, h.note) for h in history] == [(A, "Strong team."), (R, None)]
    with pytest.raises(voting.StaleVote):
        voting.cast(
            vote,
            seat_id=roll_seat(vote, seat).id,
            application_id=application.id,
            user=seat.representative,
            choice="abstain",
            expected_version=1,
            now=NOW,
        )


def test_the_closing_second_decides(app):
    vote, (application, _), (seat, other, _third) = make_vote()
    closes = vote.closes_at
    assert vote_as(vote, seat, application, A, now=closes - timedelta(seconds=1)).choice == A
    with pytest.raises(DomainError, match="has closed"):
        vote_as(vote, other, application, A, now=closes)
    assert voting.seats_voted(vote) == {application.id: 1}


@pytest.mark.parametrize("case", ["forged_seat", "forged_application", "off_roll", "undeclared"])
def test_bad_votes_are_refused_and_change_nothing(app, case):
    vote, (application, _), (seat, other, _third) = make_vote()
    user = seat.representative
    voting.declare(vote, application, user, conflict=False, now=NOW)
    seat_id, application_id = roll_seat(vote, seat).id, application.id
    message = {
        "forged_seat": "do not sit for this seat",
        "forged_application": "not on the vote's shortlist",
        "off_roll": "do not sit for this seat",
        "undeclared": "Declare whether",
    }[case]
    if case == "forged_seat":
        seat_id = roll_seat(vote, other).id  # someone else's seat
    elif case == "forged_application":
        application_id = make_application(vote.round).id
    elif case == "off_roll":
        user = make_sitter()
    elif case == "undeclared":
        user = other.representative
        seat_id = roll_seat(vote, other).id
    with pytest.raises(DomainError, match=message):
        voting.cast(
            vote,
            seat_id=seat_id,
            application_id=application_id,
            user=user,
            choice="approve",
            now=NOW,
        )
    with pytest.raises(DomainError, match="approve, reject or abstain"):
        voting.cast(
            vote,
            seat_id=seat_id,
            application_id=application_id,
            user=user,
            choice="maybe",
            now=NOW,
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVote)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeatVoteChange)) == 0


def test_a_person_on_two_seats_votes_for_each_separately(app):
    person = make_sitter()
    one, two = make_seat(representative=person), make_seat(alternate=person)
    vote, (application, _), _ = make_vote(seats=1)
    vote_as(vote, one, application, A, user=person)
    vote_as(vote, two, application, R, user=person)
    mine = voting.own_votes(vote, person)
    assert {v.choice for v in mine.values()} == {A, R}
    progress = voting.progress(vote, person.id)
    assert [(p.voted, p.due) for p in progress] == [(1, 2), (1, 2)]


def test_one_form_for_the_whole_shortlist_is_all_or_nothing(app):
    vote, apps, (seat, *_rest) = make_vote(applications=3)
    user = seat.representative
    declare_all_clear(vote, user)
    sid = roll_seat(vote, seat).id
    with pytest.raises(DomainError):
        voting.cast_many(
            vote,
            user=user,
            ballots={(sid, apps[0].id): ("approve", None), (sid, apps[1].id): ("nonsense", None)},
            now=NOW,
        )
    assert voting.seats_voted(vote) == {}
    changed = voting.cast_many(
        vote,
        user=user,
        ballots={(sid, a.id): ("approve", None) for a in apps},
        now=NOW,
    )
    assert changed == 3
    assert voting.seats_voted(vote) == {a.id: 1 for a in apps}


# -- Closing and the result ----------------------------------------------------------------


def _round_with_votes(make_user):
    """Four seats, five applications of 400,000 each, budget 1,000,000:

    app0: A A A -      approved (within budget)
    app1: A A R X      approved (800,000)
    app2: A A - -      no quorum? 2 of 4 is not a majority: no decision
    app3: A R X -      tie: no decision
    app4: A A A R      approved, but 1,200,000 > 1,000,000: waitlisted
    """
    make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(budget=1_000_000)
    vote, apps, seats = make_vote(seats=4, applications=5, round_=round_, amounts=[400_000] * 5)
    table = {
        0: [A, A, A, None],
        1: [A, A, R, X],
        2: [A, A, None, None],
        3: [A, R, X, None],
        4: [A, A, A, R],
    }
    for index, choices in table.items():
        for seat, choice in zip(seats, choices, strict=True):
            if choice is not None:
                vote_as(vote, seat, apps[index], choice)
    return vote, apps, seats


def test_the_result_is_computed_and_stored_at_closing(app, make_user):
    vote, apps, seats = _round_with_votes(make_user)
    with pytest.raises(DomainError, match="closes at its closing time"):
        voting.close(vote, now=NOW)  # the scheduler never closes early
    assert voting.close_due_votes(now=vote.closes_at - timedelta(seconds=1)) == 0
    assert voting.close_due_votes(now=vote.closes_at) == 1
    db.session.refresh(vote)
    assert vote.status == VoteStatus.CLOSED and vote.budget_available == 1_000_000
    got = {i.application_id: (i.outcome, i.rule, i.quorum) for i in vote.items}
    assert got == {
        apps[0].id: (Outcome.APPROVED, ResultRule.WITHIN_BUDGET, True),
        apps[1].id: (Outcome.APPROVED, ResultRule.WITHIN_BUDGET, True),
        apps[2].id: (Outcome.NO_DECISION, ResultRule.NO_QUORUM, False),
        apps[3].id: (Outcome.NO_DECISION, ResultRule.TIE, True),
        apps[4].id: (Outcome.WAITLISTED, ResultRule.BELOW_FUNDING_LINE, True),
    }
    item1 = next(i for i in vote.items if i.application_id == apps[1].id)
    assert (item1.approvals, item1.rejections, item1.abstentions, item1.seats_voted) == (
        2,
        1,
        1,
        4,
    )
    # Closed: nothing changes any more.
    with pytest.raises(DomainError, match="has closed"):
        vote_as(vote, seats[3], apps[2], A)
    with pytest.raises(DomainError, match="already closed"):
        voting.close(vote, actor=make_person(Role.CONVENOR), reason="again", now=vote.closes_at)
    voters = {s.representative.email for s in seats}
    assert {m.recipient for m in outbox("steering_vote_closed")} == voters
    assert len(outbox("steering_vote_closed_staff")) == 1
    assert f"/steering/votes/{vote.id}/result" in outbox("steering_vote_closed")[0].body_text


def test_staff_close_early_only_with_a_reason(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    vote, _apps, _seats = make_vote()
    with pytest.raises(DomainError, match="Say why"):
        voting.close(vote, actor=staff, reason="  ", now=NOW)
    assert vote.status == VoteStatus.OPEN
    voting.close(vote, actor=staff, reason="Every seat has voted.", now=NOW)
    assert vote.close_reason == "Every seat has voted." and vote.closed_by_id == staff.id
    assert all(i.outcome == Outcome.NO_DECISION for i in vote.items)


# -- Recording decisions -------------------------------------------------------------------


def test_applying_the_result_moves_each_application_once(app, make_user):
    vote, apps, _seats = _round_with_votes(make_user)
    staff = make_person(Role.CONVENOR)
    with pytest.raises(DomainError, match="still open"):
        decisions.apply_result(vote, actor=staff)
    voting.close(vote, now=vote.closes_at)
    with pytest.raises(DomainError, match="Give the reason"):
        decisions.apply_result(vote, actor=staff, overrides={apps[3].id: ("rejected", " ")})
    assert vote.applied_at is None
    decided = decisions.apply_result(
        vote, actor=staff, overrides={apps[3].id: ("rejected", "Out of the fund's scope.")}
    )
    statuses = [a.status for a in apps]
    assert statuses == [
        ApplicationStatus.APPROVED,
        ApplicationStatus.APPROVED,
        ApplicationStatus.IN_VOTE,  # no decision: back to the steering group
        ApplicationStatus.REJECTED,  # the override
        ApplicationStatus.WAITLISTED,
    ]
    assert len(decided) == 4
    override = next(i for i in vote.items if i.application_id == apps[3].id)
    assert override.is_override and override.outcome == Outcome.NO_DECISION
    assert override.decision == ApplicationStatus.REJECTED
    assert not next(i for i in vote.items if i.application_id == apps[0].id).is_override
    (change,) = [c for c in apps[3].status_changes if c.to_status == ApplicationStatus.REJECTED]
    assert change.reason == "Out of the fund's scope."
    with pytest.raises(DomainError, match="already been recorded"):
        decisions.apply_result(vote, actor=staff)
    # The applicants hear that a decision exists, nothing more.
    messages = outbox("application_decided")
    assert len(messages) == 4
    for message in messages:
        body = message.body_text.lower()
        assert "approved" not in body and "rejected" not in body and "waitlist" not in body
        assert "/applications/" in message.body_text
    # A new vote on the application without a decision.
    assert voting.awaiting_vote(vote.round) == [apps[2].id]
    again = voting.open_vote(vote.round, closes_at=NOW + timedelta(days=9), actor=staff, now=NOW)
    assert voting.item_ids(again) == [apps[2].id]


def test_an_override_equal_to_the_result_is_no_override(app, make_user):
    vote, apps, _ = _round_with_votes(make_user)
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=None, overrides={apps[0].id: ("approved", "")})
    assert not vote.items[0].is_override


def test_a_waitlisted_application_moves_up_in_ranking_order_when_budget_frees(app, make_user):
    vote, apps, _ = _round_with_votes(make_user)
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=None)
    waitlisted = apps[4]
    with pytest.raises(DomainError, match="budget left"):
        decisions.move_up(waitlisted, actor=None, reason="Budget freed.")
    apps[0].status = ApplicationStatus.WITHDRAWN  # budget frees (approved moves on, here)
    db.session.flush()
    with pytest.raises(DomainError, match="reason"):
        decisions.move_up(waitlisted, actor=None, reason="")
    decisions.move_up(waitlisted, actor=None, reason="An approved grantee withdrew.")
    assert waitlisted.status == ApplicationStatus.APPROVED
    assert outbox("application_decided")


# -- Feedback and appeals ------------------------------------------------------------------


def _rejected(make_user):
    make_user(Role.CONVENOR, two_factor=True)
    vote, (application, _), seats = make_vote()
    for seat in seats:
        vote_as(vote, seat, application, R)
    voting.close(vote, now=vote.closes_at)
    decisions.apply_result(vote, actor=None, now=NOW)
    assert application.status == ApplicationStatus.REJECTED
    return application


def test_feedback_is_the_decision_and_the_comments_for_the_applicant_unsigned(app, make_user):
    from coalition.grants.review_models import Review, ReviewStatus

    application = _rejected(make_user)
    reviewer = make_person(name="Dr Secret Reviewer")
    db.session.add(
        Review(
            application=application,
            reviewer=reviewer,
            status=ReviewStatus.SUBMITTED,
            comment_applicant="Tighten the budget.",
            comment_confidential="CONFIDENTIAL",
            submitted_at=NOW,
        )
    )
    db.session.flush()
    feedback = decisions.feedback_for(application)
    assert feedback.status == ApplicationStatus.REJECTED
    assert feedback.comments == ["Tighten the budget."]
    assert "CONFIDENTIAL" not in repr(feedback) and "Secret" not in repr(feedback)
    assert feedback.appeal_until == application.status_changed_at + timedelta(days=14)
    assert decisions.feedback_for(make_application(make_round())) is None


def test_one_appeal_within_the_period_and_its_outcome(app, make_user):
    application = _rejected(make_user)
    applicant = application.applicant
    with pytest.raises(DomainError, match="Only the applicant"):
        decisions.lodge_appeal(application, actor=make_person(), reasons="x")
    with pytest.raises(DomainError, match="period for an appeal has ended"):
        decisions.lodge_appeal(
            application,
            actor=applicant,
            reasons="The reviewers misread our budget.",
            now=application.status_changed_at + timedelta(days=14),
        )
    with pytest.raises(DomainError, match="Give the reasons"):
        decisions.lodge_appeal(application, actor=applicant, reasons=" ")
    appeal = decisions.lodge_appeal(
        application,
        actor=applicant,
        reasons="The reviewers misread our budget.",
        now=application.status_changed_at + timedelta(days=14, seconds=-1),
    )
    assert outbox("appeal_lodged_staff")
    with pytest.raises(DomainError, match="already appealed"):
        decisions.lodge_appeal(application, actor=applicant, reasons="Again.")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appeal)) == 1
    with pytest.raises(DomainError, match="reasons"):
        decisions.decide_appeal(appeal, actor=None, upheld=True, reasons="")
    decisions.decide_appeal(appeal, actor=None, upheld=True, reasons="The budget was misread.")
    assert appeal.outcome == AppealOutcome.UPHELD
    assert application.status == ApplicationStatus.IN_VOTE
    with pytest.raises(DomainError, match="already been decided"):
        decisions.decide_appeal(appeal, actor=None, upheld=False, reasons="No.")
    (told,) = outbox("appeal_decided")
    assert told.recipient == applicant.email and "upheld" not in told.body_text.lower()
    # Back to a new vote.
    assert application.id in voting.awaiting_vote(application.round)
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"application.appealed", "application.appeal_decided", "application.appeal_upheld"} <= (
        actions
    )


def test_a_dismissed_appeal_leaves_the_rejection(app, make_user):
    application = _rejected(make_user)
    application.round.appeal_days = 3
    appeal = decisions.lodge_appeal(application, actor=application.applicant, reasons="Please.")
    decisions.decide_appeal(appeal, actor=None, upheld=False, reasons="The scores stand.")
    assert application.status == ApplicationStatus.REJECTED
    assert appeal.outcome == AppealOutcome.DISMISSED


# -- Emails and reminders ------------------------------------------------------------------


def test_voters_are_told_the_vote_opened_with_the_closing_time_in_their_zone(app):
    seat = make_seat()
    seat.representative.timezone = "Africa/Nairobi"
    alt_seat = make_seat(alternate=True)
    noon = (NOW + timedelta(days=2)).replace(hour=12, minute=0, second=0)
    vote, _apps, _ = make_vote(seats=0, closes_at=noon)
    messages = {m.recipient: m for m in outbox("steering_vote_opened")}
    assert set(messages) == {
        seat.representative.email,
        alt_seat.representative.email,
        alt_seat.alternate.email,
    }
    assert "Africa/Nairobi (12:00 UTC)" in messages[seat.representative.email].body_text
    assert "3:00" in messages[seat.representative.email].body_text
    assert f"/steering/votes/{vote.id}" in messages[seat.representative.email].body_text


def test_reminders_go_48_and_24_hours_before_to_seats_not_done_once(app):
    closes = NOW + timedelta(days=5)
    vote, apps, (done, partly, idle) = make_vote(closes_at=closes)
    for application in apps:
        vote_as(vote, done, application, A)
    vote_as(vote, partly, apps[0], A)
    assert voting.send_vote_reminders(now=closes - timedelta(hours=49)) == 0
    assert voting.send_vote_reminders(now=closes - timedelta(hours=48)) == 2
    assert voting.send_vote_reminders(now=closes - timedelta(hours=47)) == 0  # run twice
    assert {m.recipient for m in outbox("steering_vote_reminder")} == {
        partly.representative.email,
        idle.representative.email,
    }
    vote_as(vote, partly, apps[1], X)
    assert voting.send_vote_reminders(now=closes - timedelta(hours=24)) == 1
    assert voting.send_vote_reminders(now=closes - timedelta(hours=1)) == 0
    assert len(outbox("steering_vote_reminder")) == 3
    assert voting.send_vote_reminders(now=closes) == 0


def test_the_scheduler_runs_the_vote_jobs(app):
    from coalition.scheduler import build_scheduler

    scheduler = build_scheduler(app)
    assert scheduler.get_job("close_due_votes") and scheduler.get_job("remind_voters")


# -- Access --------------------------------------------------------------------------------


def _with_second_factor(user):
    user.totp_secret = "JBSWY3DPEHPK3PXP"
    user.totp_enabled_at = NOW
    return user


def test_who_may_vote_read_and_manage(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    seat = make_seat(alternate=True)
    vote, (application, second), (plain, *_r) = make_vote()
    rep, alt = _with_second_factor(seat.representative), _with_second_factor(seat.alternate)
    outsider = _with_second_factor(make_sitter())
    _with_second_factor(plain.representative)
    sid = roll_seat(vote, seat).id
    assert can(staff, "votes.manage") and not can(rep, "votes.manage")
    assert not can(staff, "votes.cast", (vote, application, sid))  # staff hold no seat
    assert not can(rep, "votes.cast", (vote, application, sid))  # not declared yet
    voting.declare(vote, application, rep, conflict=False, now=NOW)
    assert can(rep, "votes.cast", (vote, application, sid))
    assert can(rep, "votes.read", vote) and not can(outsider, "votes.read", vote)
    assert not can(outsider, "votes.sit", vote)
    assert not can(rep, "votes.cast", (vote, application, roll_seat(vote, plain).id))
    # Recused: neither the vote nor the application.
    voting.declare(vote, second, rep, conflict=True, description="Related", now=NOW)
    assert not can(rep, "votes.cast", (vote, second, sid))
    assert not can(rep, "votes.read_application", (vote, second))
    assert can(rep, "votes.read_application", (vote, application))
    voting.declare(vote, second, alt, conflict=False, now=NOW)
    assert can(alt, "votes.cast", (vote, second, sid))
    # Results: steering members once closed; applicants never.
    assert not can(rep, "votes.read_result", vote)
    voting.close(vote, actor=staff, reason="Test", now=NOW)
    assert can(rep, "votes.read_result", vote) and can(outsider, "votes.read_result", vote)
    assert not can(application.applicant, "votes.read_result", vote)
    assert not can(rep, "votes.cast", (vote, application, sid))
    assert can(application.applicant, "decisions.read_feedback", application)
    assert not can(rep, "decisions.read_feedback", application)


# -- Races (real threads, committed rows; PostgreSQL) ---------------------------------------


def _threads(app, n, work):
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                work(i)
                db.session.commit()
                outcomes.append("ok")
            except DomainError:
                db.session.rollback()
                outcomes.append("refused")
            except Exception as exc:
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


def _count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.committing
def test_two_votes_of_one_seat_at_once_leave_one_vote_and_one_change(app):
    from coalition.accounts.models import User

    vote, (application, _), (seat, *_r) = make_vote()
    voting.declare(vote, application, seat.representative, conflict=False, now=NOW)
    ids = (vote.id, roll_seat(vote, seat).id, application.id, seat.representative_id)
    db.session.commit()
    db.session.remove()

    def work(_i):
        vote_id, seat_id, application_id, user_id = ids
        voting.cast(
            db.session.get(Vote, vote_id),
            seat_id=seat_id,
            application_id=application_id,
            user=db.session.get(User, user_id),
            choice="approve",
            expected_version=0,
        )

    outcomes = _threads(app, 2, work)
    assert all(o in ("ok", "refused") for o in outcomes), outcomes
    assert _count(SeatVote) == 1 and _count(SeatVoteChange) == 1


@pytest.mark.committing
def test_the_scheduler_and_staff_closing_at_once_make_one_result(app):
    vote, _apps, _seats = make_vote(closes_at=NOW + timedelta(days=1))
    staff = make_person(Role.CONVENOR)
    vote_id, staff_id, closes = vote.id, staff.id, vote.closes_at
    db.session.commit()
    db.session.remove()
    from coalition.accounts.models import User

    def work(i):
        if i == 0:
            assert voting.close_due_votes(now=closes) in (0, 1)
        else:
            voting.close(
                db.session.get(Vote, vote_id),
                actor=db.session.get(User, staff_id),
                reason="Closing now.",
                now=closes,
            )

    outcomes = _threads(app, 2, work)
    assert all(o in ("ok", "refused") for o in outcomes), outcomes
    closed = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).filter_by(action="steering.vote_closed")
    )
    assert closed == 1
    assert db.session.get(Vote, vote_id).status == VoteStatus.CLOSED


@pytest.mark.committing
def test_two_staff_applying_one_result_at_once_move_each_application_once(app):
    vote, apps, seats = make_vote()
    for seat in seats:
        for application in apps:
            vote_as(vote, seat, application, A)
    voting.close(vote, now=vote.closes_at)
    vote_id = vote.id
    db.session.commit()
    db.session.remove()

    def work(_i):
        decisions.apply_result(db.session.get(Vote, vote_id), actor=None)

    outcomes = _threads(app, 2, work)
    assert outcomes == ["ok", "refused"], outcomes
    from coalition.grants.models import ApplicationStatusChange

    moves = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ApplicationStatusChange)
        .filter_by(to_status=ApplicationStatus.APPROVED)
    )
    assert moves == 2
    assert _count(Application) >= 2 and _count(VoteItem) == 2


@pytest.mark.committing
def test_a_vote_racing_the_close_either_counts_or_is_refused(app):
    from coalition.accounts.models import User

    vote, (application, _), (seat, *_r) = make_vote()
    voting.declare(vote, application, seat.representative, conflict=False, now=NOW)
    ids = (vote.id, roll_seat(vote, seat).id, application.id, seat.representative_id)
    closes = vote.closes_at
    db.session.commit()
    db.session.remove()

    def work(i):
        vote_id, seat_id, application_id, user_id = ids
        if i == 0:
            voting.close_due_votes(now=closes)
        else:
            voting.cast(
                db.session.get(Vote, vote_id),
                seat_id=seat_id,
                application_id=application_id,
                user=db.session.get(User, user_id),
                choice="approve",
                now=closes - timedelta(seconds=1),
            )

    outcomes = _threads(app, 2, work)
    assert all(o in ("ok", "refused") for o in outcomes), outcomes
    item = db.session.scalar(sa.select(VoteItem))
    # The stored result agrees with the votes stored.
    assert item.seats_voted == _count(SeatVote)


@pytest.mark.parametrize(
    "status",
    [
        ApplicationStatus.APPROVED,
        ApplicationStatus.AWARDED,
        ApplicationStatus.REPORTING,
        ApplicationStatus.COMPLETED,
    ],
)
def test_feedback_of_a_funded_application_reads_approved(app, status):
    """A grantee's decision stays "approved" once the grant runs: where the grant
    has got to is the grant's page's business, not the decision's."""
    application = make_application(make_round())
    application.status = status
    db.session.flush()
    feedback = decisions.feedback_for(application)
    assert feedback.status == ApplicationStatus.APPROVED
    assert feedback.appeal_until is None
