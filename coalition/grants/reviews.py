"""Review operations: conflict-of-interest declarations, drafts, submission,
reopening, and the reminders the scheduler sends.

Conflict of interest comes first: a reviewer declares before seeing more than
the title and the round, and a declared conflict recuses them. Status changes
go only through ``Review.move_to``. Each operation audits and flushes; none
commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.exc import StaleDataError

from coalition import audit
from coalition.accounts.models import Role, User, UserRole
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.assignment import conflict_of
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    DomainError,
    Round,
    RoundPhase,
)
from coalition.grants.review_models import (
    ACTIVE_REVIEW,
    PENDING_REVIEW,
    SCORE_MAX,
    SCORE_MIN,
    ConflictDeclaration,
    ConflictKind,
    Recommendation,
    Review,
    ReviewScore,
    ReviewStatus,
)
from coalition.mail import queue_email
from coalition.mail.models import OutboxMessage
from coalition.urls import REVIEWER_HOME, external_path, external_url

DESCRIPTION_MAX = 500
COMMENT_MAX = 6_000
# The applications a steering member declares on for a round's vote.
VOTE_LIST = (ApplicationStatus.ELIGIBLE, ApplicationStatus.IN_VOTE)
REMIND_BEFORE = timedelta(days=3)
# The reminder after the deadline goes the day after it, at the first daily
# run from one day to two days after it.
REMIND_AFTER = timedelta(days=1)
REMIND_AFTER_WITHIN = timedelta(days=2)


class StaleReview(DomainError):
    """The review was saved elsewhere after this form was opened."""


# -- Conflict of interest ------------------------------------------------------------------


def declaration_of(user_id: int, application_id: int) -> ConflictDeclaration | None:
    return db.session.scalar(
        sa.select(ConflictDeclaration).where(
            ConflictDeclaration.user_id == user_id,
            ConflictDeclaration.application_id == application_id,
        )
    )


def active_reviews_of(user_id: int, application_ids) -> dict[int, Review]:
    """{application_id: review} of one reviewer's active reviews, in one query (the
    rules' input, as ``active_review_of``)."""
    return {
        review.application_id: review
        for review in db.session.scalars(
            sa.select(Review)
            .where(
                Review.reviewer_id == user_id,
                Review.application_id.in_(list(application_ids)),
                Review.status.in_(ACTIVE_REVIEW),
            )
            .options(lazyload(Review.application), lazyload(Review.scores))
        )
    }


def active_review_of(user_id: int, application_id: int) -> Review | None:
    return active_reviews_of(user_id, [application_id]).get(application_id)


def on_vote_list(user: User, application: Application) -> bool:
    """A steering member declares on the round's applications in review or in vote."""
    return Role.STEERING in user.roles and application.status in VOTE_LIST


def declare(
    application: Application,
    user: User,
    *,
    conflict: bool,
    description: str | None = None,
    now: datetime | None = None,
) -> ConflictDeclaration:
    """Record ``user``'s declaration on ``application``: no conflict, or a conflict.

    Only an assigned reviewer or a steering member (for an application on a
    vote list) declares. "No conflict" may become a conflict, never the
    other way; "no conflict" is refused where a conflict is already known.
    A conflict recuses: the review (if any) is recused and staff are told by
    email so they can reassign it. Audited either way.
    """
    now = now or utcnow()
    existing = declaration_of(user.id, application.id)
    if existing is not None and existing.kind == ConflictKind.CONFLICT:
        raise DomainError(_("You declared a conflict of interest: it stays."))
    review = active_review_of(user.id, application.id)
    if review is None and not on_vote_list(user, application):
        raise DomainError(_("You are not asked to review or vote on this application."))
    description = (description or "").strip() or None
    kind = ConflictKind.CONFLICT if conflict else ConflictKind.NONE
    if existing is not None and kind == ConflictKind.NONE:
        raise DomainError(_("You already declared no conflict of interest."))
    if kind == ConflictKind.CONFLICT:
        if not description:
            raise DomainError(_("Describe the conflict in a few words."), "description")
        if len(description) > DESCRIPTION_MAX:
            raise DomainError(
                _("Use at most %(n)d characters here.", n=DESCRIPTION_MAX), "description"
            )
    else:
        description = None
        reason = conflict_of(application, user)
        if reason is not None:
            raise DomainError(
                _(
                    "A conflict of interest is known (%(reason)s): declare it.",
                    reason=reason.label,
                ),
                "kind",
            )
    before = existing.kind.value if existing is not None else None
    try:
        with db.session.begin_nested():
            if existing is None:
                existing = ConflictDeclaration(
                    user_id=user.id, application_id=application.id, kind=kind
                )
                db.session.add(existing)
            existing.kind = kind
            existing.description = description
            existing.declared_at = now
            db.session.flush()
    except IntegrityError as exc:
        # The same person declared in another window at the same moment.
        raise DomainError(_("You already declared on this application.")) from exc
    audit.record(
        "conflict.declared",
        existing,
        actor=user,
        changes={"kind": [before, kind.value]},
        details={"application_id": application.id, "description": description},
    )
    if review is not None:
        if kind == ConflictKind.NONE and review.status == ReviewStatus.ASSIGNED:
            review.move_to(ReviewStatus.IN_PROGRESS)
            db.session.flush()
        elif kind == ConflictKind.CONFLICT:
            old = review.move_to(ReviewStatus.RECUSED)
            db.session.flush()
            audit.record(
                "review.recused",
                review,
                actor=user,
                changes={"status": [old.value, ReviewStatus.RECUSED.value]},
            )
            _tell_staff_of_recusal(review)
    return existing


def _tell_staff_of_recusal(review: Review) -> None:
    """Every active convenor hears that a review needs another reviewer (no details)."""
    round_ = review.application.round
    for person in convenors():
        queue_email(
            key=f"review_recused:{review.id}:{person.id}",
            recipient=person.email,
            template="review_recused_staff",
            language=person.language,
            name=person.name,
            round_title=round_.title,
            link=external_url("grants.show_round", round_id=round_.id),
        )


def convenors() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.active.is_(True),
                sa.exists().where(UserRole.user_id == User.id, UserRole.role == Role.CONVENOR),
            )
            .order_by(User.id)
        )
    )


def vote_list(round_: Round) -> list[Application]:
    return list(
        db.session.scalars(
            sa.select(Application)
            .where(Application.round_id == round_.id, Application.status.in_(VOTE_LIST))
            .order_by(Application.submitted_at, Application.id)
        )
    )


def declarations_for(user_id: int, application_ids) -> dict[int, ConflictDeclaration]:
    """{application_id: declaration} of one person, in one query."""
    application_ids = list(application_ids)
    if not application_ids:
        return {}
    rows = db.session.scalars(
        sa.select(ConflictDeclaration).where(
            ConflictDeclaration.user_id == user_id,
            ConflictDeclaration.application_id.in_(application_ids),
        )
    )
    return {row.application_id: row for row in rows}


def declare_for_round(
    round_: Round,
    user: User,
    answers: dict[int, tuple[bool, str | None]],
    *,
    now: datetime | None = None,
) -> list[ConflictDeclaration]:
    """A steering member's declarations on the round's vote list, all or none.

    ``answers`` maps application ids to (conflict, description). Applications
    already declared on may be left out; "no conflict" may become a conflict.
    Any refusal leaves every declaration of this call unrecorded.
    """
    if Role.STEERING not in user.roles:
        raise DomainError(_("Only steering members declare on a round's vote list."))
    applications = vote_list(round_)
    known = declarations_for(user.id, [a.id for a in applications])
    unknown = set(answers) - {a.id for a in applications}
    if unknown:
        raise DomainError(_("Declare only on the applications of this round's vote list."))
    missing = [a for a in applications if a.id not in known and a.id not in answers]
    if missing:
        raise DomainError(
            _("Declare on every application, including “%(title)s”.", title=missing[0].title)
        )
    recorded = []
    with db.session.begin_nested():
        for application in applications:
            if application.id not in answers:
                continue
            conflict, description = answers[application.id]
            before = known.get(application.id)
            if before is not None and before.kind == ConflictKind.NONE and not conflict:
                continue  # unchanged
            try:
                recorded.append(
                    declare(application, user, conflict=conflict, description=description, now=now)
                )
            except DomainError as exc:
                raise DomainError(
                    _("“%(title)s”: %(message)s", title=application.title, message=exc.message),
                    exc.field,
                ) from exc
    return recorded


def round_conflicts(round_id: int) -> list[ConflictDeclaration]:
    """Every declared conflict on the round's applications, oldest first: the recusals
    a vote freezes into its roll."""
    return list(
        db.session.scalars(
            sa.select(ConflictDeclaration)
            .join(Application, Application.id == ConflictDeclaration.application_id)
            .where(
                Application.round_id == round_id,
                ConflictDeclaration.kind == ConflictKind.CONFLICT,
            )
            .order_by(ConflictDeclaration.declared_at, ConflictDeclaration.id)
        )
    )


# -- Writing a review ----------------------------------------------------------------------


def deadline_passed(round_: Round, now: datetime) -> bool:
    return round_.review_deadline is not None and now >= round_.review_deadline


def check_writable(review: Review, now: datetime | None = None) -> None:
    """Refuse unless the reviewer may change this review now."""
    now = now or utcnow()
    status = ReviewStatus(review.status)
    if status == ReviewStatus.ASSIGNED:
        raise DomainError(_("Declare whether you have a conflict of interest first."))
    if status == ReviewStatus.SUBMITTED:
        raise DomainError(_("This review is submitted and can no longer be changed."))
    if status != ReviewStatus.IN_PROGRESS:
        raise DomainError(_("This review is no longer yours to write."))
    round_ = review.application.round
    if RoundPhase(round_.phase) != RoundPhase.IN_REVIEW:
        raise DomainError(_("The round is no longer in review."))
    if deadline_passed(round_, now) and not (
        review.reopened_at is not None and review.reopened_at >= round_.review_deadline
    ):
        raise DomainError(
            _("The review deadline has passed: only staff can reopen the review now.")
        )


def _check_stale(review: Review, version: int | None) -> None:
    if version is not None and int(version) != review.version:
        raise _stale()


def _stale() -> StaleReview:
    return StaleReview(
        _(
            "This review was saved from another window after you opened it. Your changes "
            "are below but not saved: check them, then save again."
        ),
        "version",
    )


def save_draft(
    review: Review,
    *,
    actor: User,
    version: int | None,
    scores: dict[int, int | None],
    comment_applicant: str | None,
    comment_confidential: str | None,
    recommendation: Recommendation | str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Save the review as a draft, with scores or fields still missing.

    Each given score is 1 to 5 and belongs to the round's rubric. A save
    made from a form opened before another save is refused (optimistic
    locking on the version), never silently overwriting it.
    """
    now = now or utcnow()
    check_writable(review, now)
    _check_stale(review, version)
    criteria = {c.id for c in review.application.round.criteria}
    wanted: dict[int, int] = {}
    for key, score in scores.items():
        criterion_id = _whole_number(key)
        if criterion_id not in criteria:
            raise DomainError(_("Score only the round's criteria."), "scores")
        if score is None or score == "":
            continue
        value = _whole_number(score)
        if value is None or not SCORE_MIN <= value <= SCORE_MAX:
            raise DomainError(_("Each score is a whole number from 1 to 5."), "scores")
        wanted[criterion_id] = value
    for name, text in (
        ("comment_applicant", comment_applicant),
        ("comment_confidential", comment_confidential),
    ):
        if text is not None and len(text) > COMMENT_MAX:
            raise DomainError(_("Use at most %(n)d characters here.", n=COMMENT_MAX), name)
    if recommendation not in (None, ""):
        try:
            recommendation = Recommendation(recommendation)
        except ValueError as exc:
            raise DomainError(_("Choose from the list."), "recommendation") from exc
    else:
        recommendation = None
    before_scores = review.score_by_criterion
    for row in list(review.scores):
        if row.criterion_id not in wanted:
            review.scores.remove(row)
        elif row.score != wanted[row.criterion_id]:
            row.score = wanted[row.criterion_id]
    for criterion_id in sorted(set(wanted) - set(before_scores)):
        review.scores.append(ReviewScore(criterion_id=criterion_id, score=wanted[criterion_id]))
    review.comment_applicant = (comment_applicant or "").strip() or None
    review.comment_confidential = (comment_confidential or "").strip() or None
    review.recommendation = recommendation
    changes = audit.changes_of(
        review, ["comment_applicant", "comment_confidential", "recommendation"]
    )
    # Comments are the reviewer's words: the audit says that they changed, not what they say.
    for key in ("comment_applicant", "comment_confidential"):
        if key in changes:
            changes[key] = ["…", "…"]
    if wanted != before_scores:
        changes["scores"] = [_plain(before_scores), _plain(wanted)]
    if changes:
        review.updated_at = now
        try:
            db.session.flush()
        except StaleDataError as exc:
            raise _stale() from exc
        audit.record("review.saved", review, actor=actor, changes=changes)
    return changes


def _whole_number(value) -> int | None:
    """An int from a form's text or a number; None for anything else (2.5, "five", True)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _plain(scores: dict[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(scores.items())}


def submission_problems(review: Review) -> list[tuple[str, str]]:
    """What stops the review from being submitted: (field, message) pairs."""
    problems = []
    scores = review.score_by_criterion
    for criterion in review.application.round.criteria:
        value = scores.get(criterion.id)
        if value is None:
            problems.append(
                ("scores", _("Score “%(criterion)s” from 1 to 5.", criterion=criterion.name))
            )
        elif not SCORE_MIN <= value <= SCORE_MAX:
            problems.append(("scores", _("Each score is a whole number from 1 to 5.")))
    if not (review.comment_applicant or "").strip():
        problems.append(("comment_applicant", _("Write a comment for the applicant.")))
    if review.recommendation is None:
        problems.append(("recommendation", _("Give your recommendation.")))
    return problems


def submit(review: Review, *, actor: User, now: datetime | None = None) -> None:
    """Submit once, before the review deadline; the review is then locked.

    The status moves with a compare-and-set UPDATE on the status and the
    version, so two submissions racing (a double click, two windows) submit
    once on any database; the loser gets a DomainError.
    """
    now = now or utcnow()
    if review.status == ReviewStatus.SUBMITTED:
        raise DomainError(_("This review has already been submitted."))
    check_writable(review, now)
    problems = submission_problems(review)
    if problems:
        raise DomainError(problems[0][1], problems[0][0])
    try:
        db.session.flush()  # a save in the same request bumps the version first
    except StaleDataError as exc:
        raise _stale() from exc
    result = db.session.execute(
        sa.update(Review)
        .where(
            Review.id == review.id,
            Review.status == ReviewStatus.IN_PROGRESS,
            Review.version == review.version,
        )
        .values(
            status=ReviewStatus.SUBMITTED,
            submitted_at=now,
            updated_at=now,
            version=Review.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise DomainError(_("This review has already been submitted, or changed elsewhere."))
    db.session.refresh(review)
    audit.record(
        "review.submitted",
        review,
        actor=actor,
        changes={"status": [ReviewStatus.IN_PROGRESS.value, ReviewStatus.SUBMITTED.value]},
    )


def reopen(review: Review, *, actor: Any, reason: str, now: datetime | None = None) -> None:
    """Staff reopen a review, with a reason (audited); the reviewer is told by email.

    A submitted review becomes a draft again. A review reopened after the
    review deadline may be submitted once more, deadline or not.
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for reopening the review."), "reason")
    if RoundPhase(review.application.round.phase) != RoundPhase.IN_REVIEW:
        raise DomainError(_("The round is no longer in review."))
    status = ReviewStatus(review.status)
    if status == ReviewStatus.SUBMITTED:
        review.move_to(ReviewStatus.IN_PROGRESS)
        review.submitted_at = None
    elif status not in PENDING_REVIEW or not deadline_passed(review.application.round, now):
        raise DomainError(_("Only a submitted or overdue review can be reopened."))
    review.reopened_at = now
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    audit.record(
        "review.reopened",
        review,
        actor=actor,
        changes={"status": [status.value, ReviewStatus(review.status).value]},
        details={"reason": reason},
    )
    reviewer = review.reviewer
    queue_email(
        key=f"review_reopened:{review.id}:{review.version}",
        recipient=reviewer.email,
        template="review_reopened",
        language=reviewer.language,
        name=reviewer.name,
        link=external_path(REVIEWER_HOME),
    )


# -- Reminders (the scheduler) -------------------------------------------------------------


def _pending_by_round(round_ids) -> dict[int, dict[int, int]]:
    """{round_id: {reviewer_id: pending reviews}} in one query."""
    out: dict[int, dict[int, int]] = {}
    if not round_ids:
        return out
    rows = db.session.execute(
        sa.select(Application.round_id, Review.reviewer_id, sa.func.count())
        .join(Application, Application.id == Review.application_id)
        .where(Application.round_id.in_(round_ids), Review.status.in_(PENDING_REVIEW))
        .group_by(Application.round_id, Review.reviewer_id)
    )
    for round_id, reviewer_id, count in rows:
        out.setdefault(round_id, {})[reviewer_id] = count
    return out


def send_review_reminders(now: datetime | None = None) -> int:
    """Remind reviewers of pending reviews: within 3 days before the review deadline,
    and the day after it (from one to two days after it). Each reminder is keyed by
    round, moment and reviewer, so a second run (or a run after a crash) sends
    nothing twice. Flushes only. Returns the number of reminders queued by this run.
    """
    now = now or utcnow()
    rounds = db.session.scalars(
        sa.select(Round).where(
            Round.phase == RoundPhase.IN_REVIEW,
            Round.review_deadline.is_not(None),
            Round.review_deadline > now - REMIND_AFTER_WITHIN,
            Round.review_deadline <= now + REMIND_BEFORE,
        )
    ).all()
    if not rounds:
        return 0
    pending = _pending_by_round([r.id for r in rounds])
    people = {
        user.id: user
        for user in db.session.scalars(
            sa.select(User).where(
                User.id.in_({u for counts in pending.values() for u in counts}),
                User.active.is_(True),
            )
        )
    }
    due = []
    for round_ in rounds:
        if now < round_.review_deadline:
            moment = "before"
        elif now >= round_.review_deadline + REMIND_AFTER:
            moment = "after"
        else:
            continue  # the deadline's own day: the reminder after it goes tomorrow
        for reviewer_id, count in sorted(pending.get(round_.id, {}).items()):
            if reviewer_id in people:
                key = f"review_reminder:{moment}:{round_.id}:{reviewer_id}"
                due.append((key, people[reviewer_id], count, moment))
    sent = set(
        db.session.scalars(
            sa.select(OutboxMessage.key).where(OutboxMessage.key.in_([d[0] for d in due]))
        )
    )
    queued = 0
    for key, person, count, moment in due:
        if key in sent:
            continue
        queue_email(
            key=key,
            recipient=person.email,
            template="review_reminder",
            language=person.language,
            name=person.name,
            count=count,
            overdue=moment == "after",
            link=external_path(REVIEWER_HOME),
        )
        queued += 1
    db.session.flush()
    return queued


def send_overdue_reviews_digest(now: datetime | None = None) -> int:
    """Email every convenor, once a day, the rounds whose review deadline has passed with
    reviews still pending: per round, how many and a link. Keyed by day and person, so
    running twice the same day sends nothing twice. Returns the number of overdue reviews.
    """
    now = now or utcnow()
    rounds = db.session.scalars(
        sa.select(Round)
        .where(
            Round.phase == RoundPhase.IN_REVIEW,
            Round.review_deadline.is_not(None),
            Round.review_deadline <= now,
        )
        .order_by(Round.review_deadline, Round.id)
    ).all()
    pending = _pending_by_round([r.id for r in rounds])
    listing = [
        {
            "title": round_.title,
            "count": sum(pending[round_.id].values()),
            "link": external_url("grants.show_round", round_id=round_.id),
        }
        for round_ in rounds
        if pending.get(round_.id)
    ]
    total = sum(row["count"] for row in listing)
    if not total:
        return 0
    day = now.date().isoformat()
    for person in convenors():
        queue_email(
            key=f"reviews_overdue:{day}:{person.id}",
            recipient=person.email,
            template="reviews_overdue_staff",
            language=person.language,
            name=person.name,
            total=total,
            rounds=listing,
        )
    return total
