"""Decisions on applications: applying a steering vote's result (with overrides
given a written reason), moving a waitlisted application up, the feedback the
applicant reads, and appeals.

Status changes go through ``applications.transition`` (the one transition
table). The applicant's email says only that a decision exists, with a link;
they read it after signing in, with the reviewers' comments meant for them,
unsigned. Scores, votes and confidential comments never reach them. Each
operation audits and flushes; none commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from coalition import audit
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.applications import transition
from coalition.grants.awards import lock_budgets, money_left
from coalition.grants.decision_models import Appeal, AppealOutcome
from coalition.grants.models import Application, ApplicationStatus, DomainError, Round
from coalition.grants.review_models import Review, ReviewStatus
from coalition.grants.scores import round_ranking
from coalition.mail import queue_email
from coalition.steering.models import Outcome, Vote, VoteItem, VoteStatus
from coalition.urls import external_url

REASON_MAX = 4_000
# What staff may record for a shortlisted application.
DECISIONS = (ApplicationStatus.APPROVED, ApplicationStatus.WAITLISTED, ApplicationStatus.REJECTED)
# Statuses an applicant reads a decision for.
DECIDED = (
    ApplicationStatus.APPROVED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.REJECTED,
    ApplicationStatus.AWARDED,
    ApplicationStatus.REPORTING,
    ApplicationStatus.COMPLETED,
)
FUNDED = (
    ApplicationStatus.APPROVED,
    ApplicationStatus.AWARDED,
    ApplicationStatus.REPORTING,
    ApplicationStatus.COMPLETED,
)


def _reason(text: str | None, field: str = "reason") -> str | None:
    text = (text or "").strip() or None
    if text is not None and len(text) > REASON_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=REASON_MAX), field)
    return text


def _tell_decided(application: Application, key: str) -> None:
    applicant = application.applicant
    queue_email(
        key=key,
        recipient=applicant.email,
        template="application_decided",
        language=applicant.language,
        name=applicant.name,
        link=external_url("applications.show", application_id=application.id),
    )


# -- Applying a vote's result --------------------------------------------------------------


def apply_result(
    vote: Vote,
    *,
    actor: Any,
    overrides: dict[int, tuple[ApplicationStatus | str, str]] | None = None,
    now: datetime | None = None,
) -> list[VoteItem]:
    """Staff record the closed vote's result on its applications in one step.

    ``overrides`` maps application ids to (decision, written reason) where staff
    record something other than the result; an override needs its reason.
    Approved, waitlisted and rejected applications move accordingly; "no
    decision" ones stay in the vote, for a new one (unless overridden).
    Once only: a conditional UPDATE claims the vote, so two staff applying
    at once move each application once. Returns the items decided.
    """
    now = now or utcnow()
    overrides = dict(overrides or {})
    if vote.status != VoteStatus.CLOSED:
        raise DomainError(_("The vote is still open: its result is not known yet."))
    items = list(
        db.session.scalars(
            sa.select(VoteItem).where(VoteItem.vote_id == vote.id).order_by(VoteItem.rank)
        )
    )
    by_app = {item.application_id: item for item in items}
    checked: dict[int, tuple[ApplicationStatus, str]] = {}
    for application_id, (decision, reason) in overrides.items():
        item = by_app.get(int(application_id))
        if item is None:
            raise DomainError(_("This application is not on the vote's shortlist."))
        try:
            decision = ApplicationStatus(decision)
        except ValueError as exc:
            raise DomainError(_("Choose approved, waitlisted or rejected."), "decision") from exc
        if decision not in DECISIONS:
            raise DomainError(_("Choose approved, waitlisted or rejected."), "decision")
        if decision == Outcome(item.outcome).status:
            continue  # the same as the result: not an override
        reason = _reason(reason)
        if not reason:
            raise DomainError(
                _("Give the reason for recording a decision other than the vote's result."),
                "reason",
            )
        checked[item.application_id] = (decision, reason)
    claimed = db.session.execute(
        sa.update(Vote)
        .where(Vote.id == vote.id, Vote.applied_at.is_(None))
        .values(applied_at=now, applied_by_id=getattr(actor, "id", None))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise DomainError(_("This result has already been recorded."))
    db.session.refresh(vote)
    decided = []
    for item in items:
        override = checked.get(item.application_id)
        target = override[0] if override else Outcome(item.outcome).status
        if target is None:
            continue
        application = item.application
        if application.status != ApplicationStatus.IN_VOTE:
            continue  # withdrawn during the vote
        transition(
            application,
            target,
            actor=actor,
            reason=override[1] if override else None,
            action="application.decided",
            details={
                "vote_id": vote.id,
                "result": Outcome(item.outcome).value,
                "override": bool(override),
            },
        )
        item.decision = target
        item.override_reason = override[1] if override else None
        item.decided_at = now
        item.decided_by_id = getattr(actor, "id", None)
        decided.append(item)
        _tell_decided(application, f"application_decided:{application.id}:{item.id}")
    db.session.flush()
    audit.record(
        "steering.result_applied",
        vote,
        actor=actor,
        details={
            "decided": {str(i.application_id): i.decision.value for i in decided},
            "overrides": sorted(checked),
        },
    )
    return decided


# -- Overrides ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OverrideMark:
    """A decision staff recorded against a vote's result, with its written reason."""

    vote_id: int
    application_id: int
    decision: ApplicationStatus
    result: Outcome
    reason: str
    decided_at: datetime


def overrides_for(application_ids) -> dict[int, list[OverrideMark]]:
    """{application_id: its overridden decisions, oldest first} (one query). For the
    pages that show a decision to staff and the steering group; never to the applicant."""
    ids = [i for i in application_ids if i is not None]
    if not ids:
        return {}
    out: dict[int, list[OverrideMark]] = {}
    for row in db.session.execute(
        sa.select(
            VoteItem.vote_id,
            VoteItem.application_id,
            VoteItem.decision,
            VoteItem.outcome,
            VoteItem.override_reason,
            VoteItem.decided_at,
        )
        .where(VoteItem.application_id.in_(ids), VoteItem.override_reason.is_not(None))
        .order_by(VoteItem.decided_at, VoteItem.id)
    ):
        out.setdefault(row[1], []).append(
            OverrideMark(
                vote_id=row[0],
                application_id=row[1],
                decision=ApplicationStatus(row[2]),
                result=Outcome(row[3]),
                reason=row[4],
                decided_at=row[5],
            )
        )
    return out


# -- The waitlist --------------------------------------------------------------------------


def budget_left(round_: Round, *, excluding: Iterable[int] = ()) -> int:
    """What the round can still give to approved applications: the money its grants
    leave in the round and in the fund (``awards.money_left``: what is awarded, or
    what was paid of a cancelled grant), less what the applications approved but not
    yet awarded asked for (those in ``excluding`` aside).

    The one rule for the budget left: the vote's funding line, the waitlist and
    moving up all read it.
    """
    pending = sa.select(sa.func.coalesce(sa.func.sum(Application.requested_amount), 0)).where(
        Application.round_id == round_.id, Application.status == ApplicationStatus.APPROVED
    )
    excluding = list(excluding)
    if excluding:
        pending = pending.where(Application.id.not_in(excluding))
    return max(0, money_left(round_) - int(db.session.scalar(pending) or 0))


@dataclass(frozen=True)
class WaitlistEntry:
    """A waitlisted application, in ranking order, and whether the budget left covers
    it after those above it that it covers."""

    application_id: int
    title: str | None
    rank: int
    requested_amount: int
    fits: bool


def waitlist(round_: Round) -> tuple[list[WaitlistEntry], int]:
    """The round's waitlisted applications in ranking order, and the budget left.

    Walking down the ranking, an application fits when its request is within what
    those above it that fit have left: so staff see everything freed money reaches.
    """
    left = budget_left(round_)
    remaining = left
    entries = []
    for row in round_ranking(round_).rows:
        if row.status != ApplicationStatus.WAITLISTED:
            continue
        requested = row.requested_amount or 0
        fits = 0 < requested <= remaining
        if fits:
            remaining -= requested
        entries.append(
            WaitlistEntry(
                application_id=row.application_id,
                title=row.title,
                rank=row.rank,
                requested_amount=requested,
                fits=fits,
            )
        )
    return entries, left


@dataclass(frozen=True)
class WaitlistHead:
    """The waitlisted application that moves up next, and whether the budget left covers it."""

    application_id: int
    title: str | None
    rank: int
    requested_amount: int
    budget_left: int
    fits: bool


def waitlist_head(round_: Round) -> WaitlistHead | None:
    """The one waitlisted application that may move up now: the best-ranked one that
    the budget left covers (one whose request is larger is passed over, not blocked
    on), or, when none fits, the best-ranked one, marked as not covered. None when
    nothing is waitlisted."""
    return head_of(*waitlist(round_))


def head_of(entries: list[WaitlistEntry], left: int) -> WaitlistHead | None:
    """``waitlist_head`` of a waitlist already read (``waitlist(round_)``)."""
    if not entries:
        return None
    head = next((entry for entry in entries if entry.fits), entries[0])
    return WaitlistHead(
        application_id=head.application_id,
        title=head.title,
        rank=head.rank,
        requested_amount=head.requested_amount,
        budget_left=left,
        fits=head.fits,
    )


def move_up(
    application: Application, *, actor: Any, reason: str, now: datetime | None = None
) -> None:
    """Staff approve a waitlisted application once budget frees, with a reason: the
    best-ranked one that the budget left covers (``waitlist_head``), one at a time.
    The fund's and the round's rows are locked first, as every operation that
    commits money does, so two staff moving up at once approve within the budget."""
    reason = _reason(reason)
    if not reason:
        raise DomainError(_("Give the reason for moving this application up."), "reason")
    if application.status != ApplicationStatus.WAITLISTED:
        raise DomainError(_("Only a waitlisted application moves up."))
    round_ = application.round
    lock_budgets(round_)
    head = waitlist_head(round_)
    if head is None or not head.fits or (application.requested_amount or 0) > head.budget_left:
        raise DomainError(_("The round's budget left does not cover this application."))
    if head.application_id != application.id:
        raise DomainError(_("Waitlisted applications move up in ranking order."))
    transition(
        application,
        ApplicationStatus.APPROVED,
        actor=actor,
        reason=reason,
        action="application.moved_up",
    )
    db.session.flush()
    _tell_decided(application, f"application_moved_up:{application.id}")


# -- What the applicant reads --------------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    status: ApplicationStatus  # the decision: approved, waitlisted or rejected
    comments: list[str]  # the reviewers' comments meant for the applicant, unsigned
    appeal: Appeal | None
    appeal_until: datetime | None


def appeal_deadline(application: Application) -> datetime | None:
    if application.status != ApplicationStatus.REJECTED:
        return None
    return application.status_changed_at + timedelta(days=application.round.appeal_days)


def feedback_for(application: Application) -> Feedback | None:
    """The decision and the reviewers' comments for the applicant (None before a decision).

    Only the comments meant for the applicant, without names, in a fixed
    order; never scores, votes, recommendations or confidential comments.
    """
    if application.status not in DECIDED and appeal_of(application) is None:
        return None
    comments = [
        text.strip()
        for text in db.session.scalars(
            sa.select(Review.comment_applicant)
            .where(
                Review.application_id == application.id,
                Review.status == ReviewStatus.SUBMITTED,
                Review.comment_applicant.is_not(None),
            )
            .order_by(Review.submitted_at, Review.id)
        )
        if text and text.strip()
    ]
    status = ApplicationStatus(application.status)
    return Feedback(
        # The decision, not where the grant has got to since: a grant in its
        # reporting period was approved.
        status=ApplicationStatus.APPROVED if status in FUNDED else status,
        comments=comments,
        appeal=appeal_of(application),
        appeal_until=appeal_deadline(application),
    )


# -- Appeals -------------------------------------------------------------------------------


def appeal_of(application: Application) -> Appeal | None:
    return db.session.scalar(sa.select(Appeal).where(Appeal.application_id == application.id))


def lodge_appeal(
    application: Application, *, actor: Any, reasons: str, now: datetime | None = None
) -> Appeal:
    """A rejected applicant appeals once, with reasons, within the round's appeal period."""
    now = now or utcnow()
    reasons = _reason(reasons, "reasons")
    if getattr(actor, "id", None) != application.applicant_id:
        raise DomainError(_("Only the applicant appeals a decision."))
    if appeal_of(application) is not None:
        raise DomainError(_("You have already appealed this decision: one appeal is allowed."))
    if application.status != ApplicationStatus.REJECTED:
        raise DomainError(_("Only a rejected application can be appealed."))
    deadline = appeal_deadline(application)
    if deadline is None or now >= deadline:
        raise DomainError(_("The period for an appeal has ended."))
    if not reasons:
        raise DomainError(_("Give the reasons for your appeal."), "reasons")
    appeal = Appeal(
        application_id=application.id,
        reasons=reasons,
        lodged_at=now,
        lodged_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(appeal)
            db.session.flush()
    except IntegrityError as exc:
        raise DomainError(
            _("You have already appealed this decision: one appeal is allowed.")
        ) from exc
    audit.record(
        "application.appealed", appeal, actor=actor, details={"application_id": application.id}
    )
    from coalition.grants.reviews import convenors

    for person in convenors():
        queue_email(
            key=f"appeal_lodged:{appeal.id}:{person.id}",
            recipient=person.email,
            template="appeal_lodged_staff",
            language=person.language,
            name=person.name,
            round_title=application.round.title,
            link=external_url("applications.show", application_id=application.id),
        )
    return appeal


def decide_appeal(
    appeal: Appeal, *, actor: Any, upheld: bool, reasons: str, now: datetime | None = None
) -> Appeal:
    """Staff record the outcome with reasons; upheld sends the application back to a new vote.
    Once only (a conditional UPDATE)."""
    now = now or utcnow()
    reasons = _reason(reasons, "reasons")
    if not reasons:
        raise DomainError(_("Give the reasons for the appeal's outcome."), "reasons")
    outcome = AppealOutcome.UPHELD if upheld else AppealOutcome.DISMISSED
    claimed = db.session.execute(
        sa.update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.outcome.is_(None))
        .values(
            outcome=outcome,
            outcome_reasons=reasons,
            decided_at=now,
            decided_by_id=getattr(actor, "id", None),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise DomainError(_("This appeal has already been decided."))
    db.session.refresh(appeal)
    application = appeal.application
    audit.record(
        "application.appeal_decided",
        appeal,
        actor=actor,
        changes={"outcome": [None, outcome.value]},
        details={"application_id": application.id, "reasons": reasons},
    )
    if upheld:
        transition(
            application,
            ApplicationStatus.IN_VOTE,
            actor=actor,
            reason=reasons,
            action="application.appeal_upheld",
        )
    db.session.flush()
    applicant = application.applicant
    queue_email(
        key=f"appeal_decided:{appeal.id}",
        recipient=applicant.email,
        template="appeal_decided",
        language=applicant.language,
        name=applicant.name,
        link=external_url("applications.show", application_id=application.id),
    )
    return appeal
