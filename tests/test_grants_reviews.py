"""Reviews: conflict of interest first, drafts with optimistic locking, one
submission before the deadline, reopening by staff, the scores and ranking of
a round with its funding line, the access rules, and the reminders."""

from __future__ import annotations

import threading
from datetime import timedelta
from fractions import Fraction

import pytest
import sqlalchemy as sa
import time_machine
from sqlalchemy.exc import IntegrityError

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import assignment as assign_ops
from coalition.grants import reviews as ops
from coalition.grants import rounds as round_ops
from coalition.grants.models import Application, ApplicationStatus, DomainError, RoundPhase
from coalition.grants.review_models import (
    ConflictDeclaration,
    ConflictKind,
    Recommendation,
    Review,
    ReviewScore,
    ReviewStatus,
)
from coalition.grants.scores import round_ranking, weighted_score
from coalition.policy import can
from tests.conftest import outbox
from tests.reviews_factories import NOW, make_application, make_person, make_round


def fill(review, scores, recommendation=Recommendation.FUND, *, version=None, now=None):
    """Save a draft with these scores, in the rubric's order."""
    criteria = review.application.round.criteria
    return ops.save_draft(
        review,
        actor=review.reviewer,
        version=version,
        scores={c.id: s for c, s in zip(criteria, scores, strict=True)},
        comment_applicant="Clear plan; tighten the budget.",
        comment_confidential="The team is strong.",
        recommendation=recommendation,
        now=now,
    )


def started_review(round_=None, *, reviewer=None, application=None):
    round_ = round_ or make_round()
    reviewer = reviewer or make_person()
    application = application or make_application(round_)
    review = assign_ops.assign(application, reviewer, actor=None)
    ops.declare(application, reviewer, conflict=False)
    return review


def submitted_review(round_, application, scores, recommendation=Recommendation.FUND, at=None):
    review = started_review(round_, application=application)
    fill(review, scores, recommendation)
    ops.submit(review, actor=review.reviewer, now=at)
    return review


# -- Conflict of interest comes first ------------------------------------------------------------


def test_declaring_no_conflict_opens_the_review(app):
    review = assign_ops.assign(make_application(make_round()), make_person(), actor=None)
    reviewer, application = review.reviewer, review.application
    with pytest.raises(DomainError, match="conflict of interest first"):
        fill(review, (3, 3, 3))
    declaration = ops.declare(application, reviewer, conflict=False, now=NOW)
    assert declaration.kind == ConflictKind.NONE and declaration.declared_at == NOW
    assert review.status == ReviewStatus.IN_PROGRESS
    with pytest.raises(DomainError, match="already declared no conflict"):
        ops.declare(application, reviewer, conflict=False)
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="conflict.declared"))
    assert entry.changes == {"kind": [None, "none"]}


def test_a_conflict_recuses_and_tells_staff(app, make_user):
    convenor = make_user(Role.CONVENOR, two_factor=True)
    review = started_review()
    reviewer, application = review.reviewer, review.application
    fill(review, (4, 4, 4))
    with pytest.raises(DomainError, match="Describe the conflict"):
        ops.declare(application, reviewer, conflict=True, description="  ")
    ops.declare(application, reviewer, conflict=True, description="I advised them last year.")
    assert review.status == ReviewStatus.RECUSED
    declaration = ops.declaration_of(reviewer.id, application.id)
    assert declaration.kind == ConflictKind.CONFLICT
    assert declaration.description == "I advised them last year."
    (mail,) = outbox("review_recused_staff", convenor.email)
    assert f"/grants/rounds/{application.round_id}" in mail.body_text
    assert application.title not in mail.body_text
    # Never back to "no conflict", and no second conflict either.
    with pytest.raises(DomainError, match="it stays"):
        ops.declare(application, reviewer, conflict=False)
    with pytest.raises(DomainError, match="it stays"):
        ops.declare(application, reviewer, conflict=True, description="Again")
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("conflict.declared") == 2
    assert "review.recused" in actions


def test_a_submitted_review_is_recused_by_a_late_conflict(app):
    round_ = make_round()
    review = submitted_review(round_, make_application(round_), (5, 5, 5))
    ops.declare(review.application, review.reviewer, conflict=True, description="Found out late")
    assert review.status == ReviewStatus.RECUSED
    assert round_ranking(round_).rows[0].done == 0  # its scores no longer count


def test_a_declared_no_conflict_carries_over_to_a_new_assignment(app):
    round_ = make_round(reviewers=1)
    steering = make_person(Role.STEERING)
    first, second = make_application(round_), make_application(round_)
    ops.declare_for_round(round_, steering, {first.id: (False, None), second.id: (False, None)})
    review = assign_ops.assign(first, steering, actor=None)
    assert review.status == ReviewStatus.IN_PROGRESS  # no second declaration to make
    fill(review, (3, 3, 3))
    # Unassigned, then assigned again: still declared, and the draft starts afresh.
    assign_ops.unassign(review, actor=None)
    again = assign_ops.assign(first, steering, actor=None)
    assert again.status == ReviewStatus.IN_PROGRESS and again.scores == []
    (automatic,) = assign_ops.auto_assign(round_, actor=None).created
    assert (automatic.application_id, automatic.status) == (second.id, ReviewStatus.IN_PROGRESS)


def test_only_those_asked_declare(app):
    round_ = make_round()
    application = make_application(round_)
    stranger = make_person()
    with pytest.raises(DomainError, match="not asked"):
        ops.declare(application, stranger, conflict=False)
    assert not can(stranger, "reviews.declare", application)


def test_no_conflict_is_refused_where_one_is_known(app, make_member):
    review = assign_ops.assign(make_application(make_round()), make_person(), actor=None)
    # The reviewer became a contact of the applicant organisation after assignment.
    member = make_member(commit=False, contacts=[{"name": "R", "email": review.reviewer.email}])
    review.application.member_id = member.id
    db.session.flush()
    with pytest.raises(DomainError, match="contact of the applicant organisation"):
        ops.declare(review.application, review.reviewer, conflict=False)
    assert review.status == ReviewStatus.ASSIGNED


def test_one_declaration_per_person_and_application(app):
    round_ = make_round()
    person = make_person(Role.STEERING)
    application = make_application(round_)
    db.session.add(
        ConflictDeclaration(user_id=person.id, application_id=application.id, kind="none")
    )
    db.session.flush()
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(
            ConflictDeclaration(user_id=person.id, application_id=application.id, kind="none")
        )
        db.session.flush()


def test_steering_declares_for_the_whole_vote_list(app):
    round_ = make_round()
    steering = make_person(Role.STEERING)
    first, second = make_application(round_), make_application(round_)
    make_application(round_, status=ApplicationStatus.INELIGIBLE)
    with pytest.raises(DomainError, match="every application"):
        ops.declare_for_round(round_, steering, {first.id: (False, None)})
    # A refusal on one application records none of them.
    with pytest.raises(DomainError, match=second.title):
        ops.declare_for_round(round_, steering, {first.id: (False, None), second.id: (True, "")})
    assert ops.declarations_for(steering.id, [first.id, second.id]) == {}
    ops.declare_for_round(
        round_, steering, {first.id: (False, None), second.id: (True, "We are partners.")}, now=NOW
    )
    mine = ops.declarations_for(steering.id, [first.id, second.id])
    assert mine[first.id].kind == ConflictKind.NONE
    assert mine[second.id].kind == ConflictKind.CONFLICT
    # "No conflict" can still become a conflict, from the same list.
    ops.declare_for_round(round_, steering, {first.id: (True, "A new board member is mine.")})
    recusals = ops.round_conflicts(round_.id)
    assert [(d.user_id, d.application_id) for d in recusals] == [
        (steering.id, second.id),
        (steering.id, first.id),
    ]
    assert recusals[0].declared_at == NOW
    reviewer = make_person()
    with pytest.raises(DomainError, match="Only steering members"):
        ops.declare_for_round(round_, reviewer, {})


# -- Writing, saving, submitting -------------------------------------------------------------


def test_a_draft_saves_any_number_of_times_with_optimistic_locking(app):
    review = started_review()
    first = review.version
    changes = ops.save_draft(
        review,
        actor=review.reviewer,
        version=first,
        scores={review.application.round.criteria[0].id: 4},
        comment_applicant=None,
        comment_confidential=None,
        recommendation=None,
    )
    assert changes["scores"][1] == {str(review.application.round.criteria[0].id): 4}
    assert review.version > first
    fill(review, (4, 3, 2), version=review.version)
    assert review.score_by_criterion == {
        c.id: s for c, s in zip(review.application.round.criteria, (4, 3, 2), strict=True)
    }
    # A form opened before the last save is refused, and the review is unchanged.
    with pytest.raises(ops.StaleReview, match="saved from another window"):
        fill(review, (1, 1, 1), version=first)
    assert sorted(review.score_by_criterion.values()) == [2, 3, 4]
    # The comments' words stay out of the audit log.
    saved = db.session.scalars(sa.select(AuditEntry).filter_by(action="review.saved")).all()
    assert all("tighten" not in str(e.changes) for e in saved)


def test_a_save_crossing_another_save_is_stale(app):
    review = started_review()
    db.session.commit()
    # Someone else's save moved the version on after this object was read.
    db.session.execute(
        sa.update(Review)
        .where(Review.id == review.id)
        .values(version=Review.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(ops.StaleReview):
        fill(review, (2, 2, 2))


@pytest.mark.parametrize("bad", [0, 6, -1, "five", 2.5, "2.5", True])
def test_a_score_outside_one_to_five_is_refused(app, bad):
    review = started_review()
    with pytest.raises(DomainError, match="from 1 to 5"):
        fill(review, (bad, 3, 3))
    assert review.scores == []


def test_the_database_refuses_a_score_outside_the_range(app):
    review = started_review()
    criterion = review.application.round.criteria[0]
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(ReviewScore(review_id=review.id, criterion_id=criterion.id, score=6))
        db.session.flush()


def test_a_score_of_another_round_is_refused(app):
    review = started_review()
    other = make_round().criteria[0]
    with pytest.raises(DomainError, match="round's criteria"):
        ops.save_draft(
            review,
            actor=review.reviewer,
            version=None,
            scores={other.id: 3},
            comment_applicant=None,
            comment_confidential=None,
            recommendation=None,
        )


def test_submission_needs_every_score_a_comment_and_a_recommendation(app):
    review = started_review()
    criteria = review.application.round.criteria
    ops.save_draft(
        review,
        actor=review.reviewer,
        version=None,
        scores={criteria[0].id: 5, criteria[1].id: 4},
        comment_applicant="Good.",
        comment_confidential=None,
        recommendation="fund",
    )
    with pytest.raises(DomainError, match="Score “Value for money”") as missing:
        ops.submit(review, actor=review.reviewer)
    assert missing.value.field == "scores"
    fill(review, (5, 4, 3), recommendation=None)
    with pytest.raises(DomainError, match="recommendation"):
        ops.submit(review, actor=review.reviewer)
    assert review.status == ReviewStatus.IN_PROGRESS


def test_submitted_once_then_locked(app):
    review = started_review()
    fill(review, (5, 4, 3))
    ops.submit(review, actor=review.reviewer, now=NOW)
    assert review.status == ReviewStatus.SUBMITTED and review.submitted_at == NOW
    with pytest.raises(DomainError, match="already been submitted"):
        ops.submit(review, actor=review.reviewer)
    with pytest.raises(DomainError, match="submitted and can no longer be changed"):
        fill(review, (1, 1, 1))
    assert not can(review.reviewer, "reviews.write", review)
    entries = db.session.scalars(sa.select(AuditEntry).filter_by(action="review.submitted")).all()
    assert len(entries) == 1


def test_a_stale_submission_loses(app):
    review = started_review()
    fill(review, (5, 4, 3))
    db.session.execute(
        sa.update(Review)
        .where(Review.id == review.id)
        .values(status=ReviewStatus.SUBMITTED, version=Review.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(DomainError, match="already been submitted, or changed elsewhere"):
        ops.submit(review, actor=review.reviewer)


def test_no_review_after_the_deadline_until_staff_reopen_it(app, make_user):
    convenor = make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(deadline=NOW + timedelta(days=1))
    review = started_review(round_)
    fill(review, (3, 3, 3), now=NOW)
    late = NOW + timedelta(days=1)  # the deadline itself is too late
    with pytest.raises(DomainError, match="deadline has passed"):
        fill(review, (4, 4, 4), now=late)
    with pytest.raises(DomainError, match="deadline has passed"):
        ops.submit(review, actor=review.reviewer, now=late)
    with time_machine.travel(late, tick=False):
        assert not can(review.reviewer, "reviews.write", review)
    with pytest.raises(DomainError, match="reason"):
        ops.reopen(review, actor=convenor, reason=" ", now=late)
    ops.reopen(review, actor=convenor, reason="Ill for a week.", now=late)
    ops.submit(review, actor=review.reviewer, now=late + timedelta(hours=1))
    assert review.status == ReviewStatus.SUBMITTED
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="review.reopened"))
    assert entry.details == {"reason": "Ill for a week."}
    assert outbox("review_reopened", review.reviewer.email)


def test_staff_reopen_a_submitted_review(app, make_user):
    convenor = make_user(Role.CONVENOR, two_factor=True)
    review = started_review()
    fill(review, (3, 3, 3))
    ops.submit(review, actor=review.reviewer)
    assert can(convenor, "reviews.assign") and not can(review.reviewer, "reviews.assign")
    ops.reopen(review, actor=convenor, reason="Scores and comment disagree.")
    assert review.status == ReviewStatus.IN_PROGRESS and review.submitted_at is None
    fill(review, (4, 4, 4), version=review.version)
    ops.submit(review, actor=review.reviewer)
    with pytest.raises(DomainError, match="Only a submitted or overdue review"):
        ops.reopen(started_review(), actor=convenor, reason="Why not")


# -- The round's move to review waits for screening --------------------------------------------


def test_the_round_goes_to_review_once_screening_is_done(app):
    round_ = make_round(phase=RoundPhase.PUBLISHED)
    waiting = make_application(round_, status=ApplicationStatus.SUBMITTED)
    make_application(round_, status=ApplicationStatus.SCREENING)
    make_application(round_, status=ApplicationStatus.ELIGIBLE)
    with pytest.raises(DomainError, match="2 applications still wait for screening"):
        round_ops.move_round(round_, RoundPhase.IN_REVIEW, actor=None)
    assert round_.phase == RoundPhase.PUBLISHED
    waiting.status = ApplicationStatus.INELIGIBLE
    db.session.flush()
    with pytest.raises(DomainError, match="1 application still waits for screening"):
        round_ops.move_round(round_, RoundPhase.IN_REVIEW, actor=None)
    db.session.execute(
        sa.update(Application)
        .where(Application.round_id == round_.id, Application.status == "screening")
        .values(status=ApplicationStatus.ELIGIBLE)
    )
    round_ops.move_round(round_, RoundPhase.IN_REVIEW, actor=None)
    assert round_.phase == RoundPhase.IN_REVIEW


# -- Scores, ranking and the funding line ------------------------------------------------------


def test_weighted_scores_ranking_ties_and_funding_line(app):
    # Weights 3, 2, 1 (sum 6). Amounts in cents; the budget is 60,000.00.
    round_ = make_round(budget=6_000_000)
    t = NOW - timedelta(days=25)
    a = make_application(round_, amount=2_000_000, submitted_at=t + timedelta(hours=6))
    b = make_application(round_, amount=1_000_000, submitted_at=t + timedelta(hours=1))
    c = make_application(round_, amount=1_500_000, submitted_at=t + timedelta(hours=2))
    d = make_application(round_, amount=1_000_000, submitted_at=t + timedelta(hours=5))
    e = make_application(round_, amount=500_000, submitted_at=t + timedelta(hours=4))
    f = make_application(round_, amount=200_000, submitted_at=t + timedelta(hours=3))
    g = make_application(round_, amount=100_000, submitted_at=t)
    make_application(round_, status=ApplicationStatus.INELIGIBLE)
    make_application(round_, status=ApplicationStatus.WITHDRAWN)
    # a: (5,4,3) -> 26/6 = 13/3 and (4,4,4) -> 4: mean 25/6, spread 1/3.
    submitted_review(round_, a, (5, 4, 3))
    submitted_review(round_, a, (4, 4, 4))
    # b: (5,5,5) -> 5 and (2,3,4) -> 16/6 = 8/3: mean 23/6, spread 7/3, disagree.
    submitted_review(round_, b, (5, 5, 5))
    submitted_review(round_, b, (2, 3, 4), Recommendation.FUND_WITH_CHANGES)
    # c and d: both 4; d has two "fund", c one: d ranks first.
    submitted_review(round_, c, (4, 4, 4))
    submitted_review(round_, c, (4, 4, 4), Recommendation.FUND_WITH_CHANGES)
    submitted_review(round_, d, (4, 4, 4))
    submitted_review(round_, d, (4, 4, 4))
    # e and f: both 3 with one "fund" each: f was submitted earlier and ranks first.
    # e: "fund" against "do not fund": strong disagreement at equal scores.
    submitted_review(round_, e, (3, 3, 3))
    submitted_review(round_, e, (3, 3, 3), Recommendation.DO_NOT_FUND)
    submitted_review(round_, f, (3, 3, 3))
    submitted_review(round_, f, (3, 3, 3), Recommendation.FUND_WITH_CHANGES)
    # g: one submitted of two, another still a draft (not counted), (2,2,5) -> 15/6.
    submitted_review(round_, g, (2, 2, 5))
    fill(started_review(round_, application=g), (5, 5, 5))

    ranking = round_ranking(round_)
    order = [row.application_id for row in ranking.rows]
    assert order == [a.id, d.id, c.id, b.id, f.id, e.id, g.id]
    rows = {row.application_id: row for row in ranking.rows}
    assert rows[a.id].mean == Fraction(25, 6) and rows[a.id].spread == Fraction(1, 3)
    assert rows[b.id].mean == Fraction(23, 6) and rows[b.id].spread == Fraction(7, 3)
    assert rows[g.id].mean == Fraction(5, 2)
    assert [rows[x.id].disagreement for x in (a, b, c, d, e, f, g)] == [
        False, True, False, False, True, False, False,
    ]  # fmt: skip
    assert (rows[g.id].done, rows[g.id].assigned, rows[g.id].required) == (1, 2, 2)
    assert rows[g.id].reviews_missing == 1
    assert (rows[d.id].fund, rows[c.id].fund, rows[c.id].fund_with_changes) == (2, 1, 1)
    # Running totals: 20k, 30k, 45k, 55k, 57k, 62k (over 60k), 63k.
    assert [row.cumulative for row in ranking.rows] == [
        2_000_000, 3_000_000, 4_500_000, 5_500_000, 5_700_000, 6_200_000, 6_300_000,
    ]  # fmt: skip
    assert [row.within_budget for row in ranking.rows] == [True] * 5 + [False] * 2
    assert ranking.allocated == 5_700_000
    assert [row.rank for row in ranking.rows] == list(range(1, 8))


def test_disagreement_at_exactly_one_and_a_half(app):
    # (5,5,5) -> 5 and (4,3,3) -> 21/6 = 3.5: exactly 1.5 apart.
    round_ = make_round()
    application = make_application(round_)
    first = submitted_review(round_, application, (5, 5, 5))
    second = submitted_review(round_, application, (4, 3, 3), Recommendation.FUND_WITH_CHANGES)
    assert weighted_score(first) - weighted_score(second) == Fraction(3, 2)
    (row,) = round_ranking(round_).rows
    assert row.spread == Fraction(3, 2) and row.disagreement
    # Just under: (5,5,5) against (4,3,4) -> 22/6: spread 4/3, no flag.
    other = make_application(round_)
    submitted_review(round_, other, (5, 5, 5))
    submitted_review(round_, other, (4, 3, 4), Recommendation.DO_NOT_FUND)
    row = next(r for r in round_ranking(round_).rows if r.application_id == other.id)
    assert row.spread == Fraction(4, 3)
    assert row.disagreement  # but "fund" against "do not fund" still flags it


def count_queries():
    statements = []

    def before(_conn, _cursor, statement, *_args):
        statements.append(statement)

    return statements, before


def test_ranking_takes_a_constant_number_of_queries(app):
    def measure(applications, reviewers, criteria):
        rubric = tuple((f"Criterion {i}", i + 1) for i in range(criteria))
        round_ = make_round(reviewers=reviewers, rubric=rubric, budget=10**9)
        for _ in range(applications):
            application = make_application(round_)
            for _ in range(reviewers):
                review = started_review(round_, application=application)
                ops.save_draft(
                    review,
                    actor=review.reviewer,
                    version=None,
                    scores={c.id: 3 for c in round_.criteria},
                    comment_applicant="Fine.",
                    comment_confidential=None,
                    recommendation="fund",
                )
                ops.submit(review, actor=review.reviewer)
        db.session.flush()
        db.session.expire_all()
        _ = round_.budget, round_.reviewers_per_application
        statements, listener = count_queries()
        engine = db.session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            ranking = round_ranking(round_)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        assert len(ranking.rows) == applications
        return len(statements)

    small = measure(1, 1, 1)
    large = measure(12, 3, 5)
    assert small == large <= 3, (small, large)


# -- Access rules ---------------------------------------------------------------------------


@pytest.fixture
def cast(app, make_user):
    """Everyone around one application with two reviews, one submitted."""
    round_ = make_round()
    applicant = make_user(Role.APPLICANT)
    application = make_application(round_, applicant=applicant)
    people = {
        "convenor": make_user(Role.CONVENOR, two_factor=True),
        "steering": make_user(Role.STEERING, two_factor=True),
        "steering_undeclared": make_user(Role.STEERING, two_factor=True),
        "steering_recused": make_user(Role.STEERING, two_factor=True),
        "submitted": make_user(Role.REVIEWER),
        "drafting": make_user(Role.REVIEWER),
        "undeclared": make_user(Role.REVIEWER),
        "recused": make_user(Role.REVIEWER),
        "unassigned": make_user(Role.REVIEWER),
        "stranger": make_user(Role.REVIEWER),
        "applicant": applicant,
    }
    reviews = {}
    for name in ("submitted", "drafting", "undeclared", "recused", "unassigned"):
        reviews[name] = assign_ops.assign(application, people[name], actor=None)
    for name in ("submitted", "drafting"):
        ops.declare(application, people[name], conflict=False)
    ops.declare(application, people["recused"], conflict=True, description="Co-author")
    assign_ops.unassign(reviews["unassigned"], actor=None)
    fill(reviews["submitted"], (4, 4, 4))
    ops.submit(reviews["submitted"], actor=people["submitted"])
    fill(reviews["drafting"], (2, 2, 2))
    ops.declare(application, people["steering"], conflict=False)
    ops.declare(application, people["steering_recused"], conflict=True, description="Partner")
    db.session.commit()
    return people, reviews, application


ALL = (
    "convenor", "steering", "steering_undeclared", "steering_recused", "submitted",
    "drafting", "undeclared", "recused", "unassigned", "stranger", "applicant",
)  # fmt: skip
# (permission, on what, who may)
RULES = [
    ("reviews.assign", None, {"convenor"}),
    ("reviews.overview", None, {"convenor", "steering", "steering_undeclared",
                                "steering_recused"}),
    # A recused steering member reads no score of it either (the scores are its reviews).
    ("reviews.read_scores", "application", {"convenor", "steering", "steering_undeclared"}),
    ("reviews.home", None, {"steering", "steering_undeclared", "steering_recused", "submitted",
                            "drafting", "undeclared", "recused", "unassigned", "stranger"}),
    ("reviews.declare", "application", {"steering", "steering_undeclared", "submitted",
                                        "drafting", "undeclared"}),
    ("reviews.read_reviews", "application", {"convenor", "steering", "submitted"}),
    ("reviews.reviewer_names", "application", {"convenor", "steering"}),
    # The submitted review: scores and comment for the applicant ...
    ("reviews.read_review", "submitted", {"convenor", "steering", "submitted"}),
    # ... and its confidential comment: never another reviewer.
    ("reviews.read_confidential", "submitted", {"convenor", "steering", "submitted"}),
    # A draft: its author only (and staff through reviews.assign).
    ("reviews.read_review", "drafting", {"convenor", "drafting"}),
    ("reviews.read_confidential", "drafting", {"convenor", "drafting"}),
    # Recused or unassigned: not even one's own words any more.
    ("reviews.read_review", "recused", {"convenor"}),
    ("reviews.read_confidential", "recused", {"convenor"}),
    ("reviews.read_review", "unassigned", {"convenor"}),
    ("reviews.write", "drafting", {"drafting"}),
    ("reviews.write", "undeclared", set()),
    ("reviews.reach", "undeclared", {"convenor", "undeclared"}),
    ("reviews.reach", "recused", {"convenor", "recused"}),
    ("reviews.reach", "unassigned", {"convenor"}),
    # Beyond the title: only after declaring no conflict.
    ("reviews.read_application", "undeclared", {"convenor"}),
    ("reviews.read_application", "recused", {"convenor"}),
    ("reviews.read_application", "drafting", {"convenor", "drafting"}),
    ("reviews.read_application", "unassigned", {"convenor"}),
]  # fmt: skip


@pytest.mark.parametrize(("permission", "target", "allowed"), RULES)
def test_review_access_rules(cast, permission, target, allowed):
    people, reviews, application = cast
    obj = application if target == "application" else reviews.get(target)
    granted = {name for name in ALL if can(people[name], permission, obj)}
    assert granted == allowed


def test_an_applicant_with_another_role_still_sees_no_scores(cast, make_user):
    people, reviews, application = cast
    applicant = people["applicant"]
    applicant.set_roles([Role.APPLICANT, Role.STEERING, Role.REVIEWER])
    applicant.totp_secret, applicant.totp_enabled_at = "JBSWY3DPEHPK3PXP", NOW
    db.session.flush()
    for permission, obj in [
        ("reviews.read_scores", application),
        ("reviews.read_reviews", application),
        ("reviews.reviewer_names", application),
        ("reviews.declare", application),
        ("reviews.read_review", reviews["submitted"]),
        ("reviews.read_confidential", reviews["submitted"]),
    ]:
        assert not can(applicant, permission, obj), permission


def test_a_steering_reviewer_reads_the_others_after_submitting(app, make_user):
    round_ = make_round()
    application = make_application(round_)
    steering = make_user(Role.STEERING, two_factor=True)
    review = started_review(round_, reviewer=steering, application=application)
    other = submitted_review(round_, application, (3, 3, 3))
    assert not can(steering, "reviews.read_reviews", application)
    assert not can(steering, "reviews.read_confidential", other)
    fill(review, (4, 4, 4))
    ops.submit(review, actor=steering)
    assert can(steering, "reviews.read_reviews", application)
    assert can(steering, "reviews.read_confidential", other)


# -- Reminders and the staff's daily list -----------------------------------------------------


def test_reminders_before_and_after_the_deadline_are_sent_once(app, make_user):
    deadline = NOW + timedelta(days=10)
    round_ = make_round(deadline=deadline)
    pending = started_review(round_)
    waiting = assign_ops.assign(make_application(round_), make_person(), actor=None)
    done = started_review(round_)
    fill(done, (3, 3, 3))
    ops.submit(done, actor=done.reviewer)
    make_round(deadline=NOW + timedelta(days=30))  # not due
    db.session.commit()

    assert ops.send_review_reminders(now=deadline - timedelta(days=4)) == 0
    before = deadline - timedelta(days=2, hours=20)
    assert ops.send_review_reminders(now=before) == 2
    assert ops.send_review_reminders(now=before) == 0
    assert ops.send_review_reminders(now=before + timedelta(days=1)) == 0
    mails = outbox("review_reminder")
    assert sorted(m.recipient for m in mails) == sorted(
        [pending.reviewer.email, waiting.reviewer.email]
    )
    assert all("three days" in m.body_text and "/reviews/" in m.body_text for m in mails)

    # Nothing on the deadline's own day; the reminder after it goes the next day.
    assert ops.send_review_reminders(now=deadline + timedelta(hours=7)) == 0
    after = deadline + timedelta(days=1, hours=7)
    assert ops.send_review_reminders(now=after) == 2
    assert ops.send_review_reminders(now=after + timedelta(hours=1)) == 0
    assert ops.send_review_reminders(now=deadline + timedelta(days=3)) == 0
    late = [m for m in outbox("review_reminder") if "has passed" in m.body_text]
    assert len(late) == 2
    assert done.reviewer.email not in {m.recipient for m in outbox("review_reminder")}


def test_the_scheduler_jobs_run_twice_send_nothing_twice(app, make_user):
    from coalition.scheduler import build_scheduler

    convenors = [make_user(Role.CONVENOR, two_factor=True) for _ in range(2)]
    deadline = NOW - timedelta(days=1, hours=3)
    round_ = make_round(deadline=deadline)
    started_review(round_)
    assign_ops.assign(make_application(round_), make_person(), actor=None)
    db.session.commit()

    scheduler = build_scheduler(app)
    for _ in range(2):
        with time_machine.travel(NOW, tick=False):
            scheduler.get_job("remind_reviewers").func()
            scheduler.get_job("report_overdue_reviews").func()
    db.session.expire_all()
    assert len(outbox("review_reminder")) == 2
    staff = outbox("reviews_overdue_staff")
    assert sorted(m.recipient for m in staff) == sorted(c.email for c in convenors)
    assert "2 reviews overdue" in staff[0].subject
    assert f"/grants/rounds/{round_.id}" in staff[0].body_text
    # The next day, staff hear again; reviewers do not.
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        scheduler.get_job("remind_reviewers").func()
        scheduler.get_job("report_overdue_reviews").func()
    db.session.expire_all()
    assert len(outbox("review_reminder")) == 2
    assert len(outbox("reviews_overdue_staff")) == 4


def test_no_overdue_list_without_overdue_reviews(app, make_user):
    make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(deadline=NOW - timedelta(days=1))
    review = started_review(round_)
    fill(review, (3, 3, 3), now=NOW - timedelta(days=2))
    ops.submit(review, actor=review.reviewer, now=NOW - timedelta(days=2))
    assert ops.send_overdue_reviews_digest(now=NOW) == 0
    assert outbox("reviews_overdue_staff") == []


# -- Races (S32): real threads, committed rows ---------------------------------------------------


def _race(app, review_ids, attempt_for):
    barrier = threading.Barrier(len(review_ids))
    outcomes: list[str] = []

    def attempt(review_id):
        with app.app_context():
            review = db.session.get(Review, review_id)
            _ = review.application.round.criteria, review.scores, review.reviewer
            # End the read before racing, as two separate requests would.
            db.session.commit()
            barrier.wait()
            try:
                attempt_for(review)
                db.session.commit()
                outcomes.append("submitted")
            except DomainError:
                db.session.rollback()
                outcomes.append("refused")
            except Exception as exc:  # a lock error would be a failure of the design
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(rid,)) for rid in review_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


@pytest.mark.committing
def test_a_double_submit_submits_once(app):
    review = started_review()
    fill(review, (4, 4, 4))
    db.session.commit()
    review_id = review.id
    db.session.remove()
    outcomes = _race(app, [review_id, review_id], lambda r: ops.submit(r, actor=r.reviewer))
    assert outcomes == ["refused", "submitted"], outcomes
    entries = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).filter_by(action="review.submitted")
    )
    assert entries == 1


@pytest.mark.committing
def test_two_reviewers_submitting_at_once_both_count(app):
    round_ = make_round()
    application = make_application(round_)
    reviews = [started_review(round_, application=application) for _ in range(2)]
    for review in reviews:
        fill(review, (4, 4, 4))
    db.session.commit()
    ids = [r.id for r in reviews]
    round_id = round_.id
    db.session.remove()
    outcomes = _race(app, ids, lambda r: ops.submit(r, actor=r.reviewer))
    assert outcomes == ["submitted", "submitted"], outcomes
    from coalition.grants.models import Round

    (row,) = round_ranking(db.session.get(Round, round_id)).rows
    assert row.done == 2 and row.mean == 4


@pytest.mark.committing
def test_two_reminder_runs_at_once_send_each_reminder_once(app):
    deadline = NOW + timedelta(days=2)
    round_ = make_round(deadline=deadline)
    emails = [started_review(round_).reviewer.email for _ in range(3)]
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def run():
        with app.app_context():
            barrier.wait()
            try:
                ops.send_review_reminders(now=NOW)
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(m.recipient for m in outbox("review_reminder")) == sorted(emails)
