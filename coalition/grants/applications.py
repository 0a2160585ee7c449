"""Application operations: drafts, eligibility, submission, withdrawal, screening.

Each operation keeps the rules, writes the status history and the audit row,
and queues the emails; it flushes but never commits. Status changes go only
through ``Application.move_to`` (the one transition table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from coalition import audit
from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    BudgetLine,
    DomainError,
    RegistrationStatus,
    Round,
)
from coalition.mail import queue_email
from coalition.urls import external_url

# Limits kept on every save, draft or not.
TEXT_LIMITS = {
    "org_name": 300,
    "fiscal_host_name": 300,
    "title": 200,
    "summary": 2_000,
    "problem": 6_000,
    "activities": 6_000,
    "outcomes": 4_000,
    "elections": 1_000,
}
MAX_DURATION_MONTHS = 36
MAX_BUDGET_LINES = 40
DRAFT_FIELDS = (
    "member_id",
    "org_name",
    "org_country",
    "org_registration",
    "fiscal_host_name",
    "fiscal_host_country",
    "title",
    "summary",
    "problem",
    "activities",
    "outcomes",
    "elections",
    "duration_months",
    "requested_amount",
)


@dataclass(frozen=True)
class Problem:
    """One thing that stops a submission, and the form field to fix it in."""

    field: str
    message: str


def _record(application: Application, old, new, actor, reason=None) -> None:
    application.status_changes.append(
        ApplicationStatusChange(
            from_status=old,
            to_status=new,
            reason=reason,
            actor_id=getattr(actor, "id", None),
        )
    )


def transition(
    application: Application,
    target: ApplicationStatus,
    *,
    actor: Any,
    reason: str | None = None,
    action: str = "application.status_changed",
    details: dict[str, Any] | None = None,
) -> ApplicationStatus:
    """Move an application along ``APPLICATION_TRANSITIONS``, with its history row and
    audit entry: the one way later stages (the steering vote, decisions, appeals)
    change an application's status. Returns the old status; emails are the caller's."""
    old = application.move_to(target)
    _record(application, old, ApplicationStatus(target), actor, reason)
    audit.record(
        action,
        application,
        actor=actor,
        changes={"status": [old.value, ApplicationStatus(target).value]},
        details=details,
    )
    return old


def _link(application: Application) -> str:
    return external_url("applications.show", application_id=application.id)


def lock_applicant(user: User) -> None:
    """Hold the person's row until the request ends, so that their quotas are
    checked and used by one request at a time (PostgreSQL; SQLite serialises
    every write request already)."""
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())


def start(round_: Round, applicant: User, now: datetime | None = None) -> Application:
    """A new draft in an open round, within the person's ``DRAFTS_PER_ROUND``.

    The count is taken with the applicant's row locked, so parallel starts
    cannot pass it together.
    """
    if not round_.is_open(now):
        raise DomainError(_("This call is not open for applications."))
    lock_applicant(applicant)
    limit = current_app.config["DRAFTS_PER_ROUND"]
    drafts = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Application)
        .where(
            Application.round_id == round_.id,
            Application.applicant_id == applicant.id,
            Application.status == ApplicationStatus.DRAFT,
        )
    )
    if drafts >= limit:
        raise DomainError(
            _(
                "You already have %(n)d drafts in this call: finish or use one of them "
                "rather than starting another.",
                n=drafts,
            ),
            "round",
        )
    application = Application(round=round_, applicant=applicant, status=ApplicationStatus.DRAFT)
    db.session.add(application)
    db.session.flush()
    _record(application, None, ApplicationStatus.DRAFT, applicant)
    audit.record("application.started", application, actor=applicant)
    return application


def drafts_of(applicant: User, round_: Round) -> list[Application]:
    """The applicant's drafts in a round, the last saved first (two projects, two drafts)."""
    return list(
        db.session.scalars(
            sa.select(Application)
            .where(
                Application.applicant_id == applicant.id,
                Application.round_id == round_.id,
                Application.status == ApplicationStatus.DRAFT,
            )
            .order_by(Application.updated_at.desc(), Application.id.desc())
        )
    )


def check_editable(application: Application, now: datetime | None = None) -> None:
    if application.status != ApplicationStatus.DRAFT:
        raise DomainError(_("This application has been submitted and can no longer be changed."))
    if not application.round.is_open(now):
        raise DomainError(_("The call has closed: drafts can no longer be changed."))


def save_draft(
    application: Application,
    *,
    actor: User,
    version: int | None,
    values: dict[str, Any],
    budget_lines: list[dict[str, Any]] | None = None,
    countries: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, list[Any]]:
    """Save a draft with any fields missing; limits still hold. Refuses a stale save."""
    check_editable(application, now)
    if version is not None and int(version) != application.version:
        raise DomainError(
            _(
                "This draft was saved from another window after you opened it. Your changes "
                "are below but not saved: check them, then save again."
            ),
            "version",
        )
    problems = limit_problems(values, budget_lines or [])
    if problems:
        raise DomainError(problems[0].message, problems[0].field)
    before_lines = [(b.category, b.description, b.amount) for b in application.budget_lines]
    before_countries = application.countries
    for field in DRAFT_FIELDS:
        if field in values:
            setattr(application, field, values[field])
    if budget_lines is not None:
        application.budget_lines.clear()
        for position, line in enumerate(budget_lines):
            if not any(
                line.get(k) not in (None, "") for k in ("category", "description", "amount")
            ):
                continue
            application.budget_lines.append(
                BudgetLine(
                    position=position,
                    category=(line.get("category") or "").strip() or None,
                    description=(line.get("description") or "").strip() or None,
                    amount=line.get("amount"),
                )
            )
    if countries is not None:
        application.countries = countries
    changes = audit.changes_of(application, list(DRAFT_FIELDS))
    after_lines = [(b.category, b.description, b.amount) for b in application.budget_lines]
    if after_lines != before_lines:
        changes["budget_lines"] = [len(before_lines), len(after_lines)]
    if application.countries != before_countries:
        changes["countries"] = [before_countries, application.countries]
    if changes:
        application.updated_at = utcnow()
        audit.record("application.saved", application, actor=actor, changes=changes)
    return changes


def limit_problems(values: dict[str, Any], budget_lines: list[dict[str, Any]]) -> list[Problem]:
    """Lengths and ranges, checked on every save."""
    problems = []
    for field, limit in TEXT_LIMITS.items():
        value = values.get(field)
        if value is not None and len(value) > limit:
            problems.append(Problem(field, _("Use at most %(n)d characters here.", n=limit)))
    duration = values.get("duration_months")
    if duration is not None and not 1 <= duration <= MAX_DURATION_MONTHS:
        problems.append(
            Problem(
                "duration_months",
                _("The duration is from 1 to %(n)d months.", n=MAX_DURATION_MONTHS),
            )
        )
    amount = values.get("requested_amount")
    if amount is not None and amount < 0:
        problems.append(Problem("requested_amount", _("The amount cannot be negative.")))
    if len(budget_lines) > MAX_BUDGET_LINES:
        problems.append(
            Problem("budget_lines", _("Use at most %(n)d budget lines.", n=MAX_BUDGET_LINES))
        )
    for line in budget_lines:
        if line.get("amount") is not None and line["amount"] < 0:
            problems.append(Problem("budget_lines", _("A budget line cannot be negative.")))
            break
    return problems


def submission_problems(application: Application, now: datetime | None = None) -> list[Problem]:
    """Everything that stops this draft from being submitted now (empty: it can go).

    The automatic eligibility checks: round open, country eligible, amount
    within the limits, budget adding up, required attachments present.
    """
    round_ = application.round
    problems: list[Problem] = []
    if not round_.is_open(now):
        problems.append(Problem("round", _("The call is not open: it closed or has not opened.")))
    if application.member_id is None:
        if not application.org_name:
            problems.append(Problem("org_name", _("Name the organisation that applies.")))
        if not application.org_country:
            problems.append(Problem("org_country", _("Give the organisation's country.")))
        if application.org_registration is None:
            problems.append(
                Problem("org_registration", _("Say whether the organisation is registered."))
            )
        elif application.org_registration == RegistrationStatus.UNREGISTERED and not (
            application.fiscal_host_name and application.fiscal_host_country
        ):
            problems.append(
                Problem(
                    "fiscal_host_name",
                    _("A group that is not registered applies through a fiscal host: name it."),
                )
            )
    required_text = {
        "title": _("Give the project a title."),
        "summary": _("Write a summary."),
        "problem": _("Describe the problem."),
        "activities": _("Describe the planned activities."),
        "outcomes": _("Describe the expected outcomes."),
    }
    for field, message in required_text.items():
        if not (getattr(application, field) or "").strip():
            problems.append(Problem(field, message))
    if not application.countries:
        problems.append(Problem("countries", _("Choose the countries the project concerns.")))
    if not application.duration_months:
        problems.append(Problem("duration_months", _("Give the duration in months.")))
    country = applicant_country(application)
    eligible = set(round_.fund.eligible_countries)
    if country and eligible and country not in eligible:
        problems.append(
            Problem(
                "org_country",
                _("Organisations based in this country cannot apply to this fund."),
            )
        )
    amount = application.requested_amount
    if amount is None:
        problems.append(Problem("requested_amount", _("Give the amount you request.")))
    elif not round_.min_grant <= amount <= round_.max_grant:
        from coalition.grants.money import format_money

        problems.append(
            Problem(
                "requested_amount",
                _(
                    "Request between %(min)s and %(max)s.",
                    min=format_money(round_.min_grant, round_.currency),
                    max=format_money(round_.max_grant, round_.currency),
                ),
            )
        )
    if not application.budget_lines:
        problems.append(Problem("budget_lines", _("Add the budget lines.")))
    elif amount is not None and application.budget_total != amount:
        from coalition.grants.money import format_money

        problems.append(
            Problem(
                "budget_lines",
                _(
                    "The budget lines add up to %(total)s, not to the %(amount)s requested.",
                    total=format_money(application.budget_total, round_.currency),
                    amount=format_money(amount, round_.currency),
                ),
            )
        )
    have = {a.kind for a in application.attachments}
    for kind in round_.required_kinds:
        if kind not in have:
            problems.append(
                Problem("attachments", _("Attach the %(kind)s.", kind=kind.label.lower()))
            )
    return problems


def applicant_country(application: Application) -> str | None:
    if application.member_id is not None:
        from coalition.members.models import Member

        return db.session.scalar(
            sa.select(Member.country).where(Member.id == application.member_id)
        )
    return application.org_country


def submit(application: Application, *, actor: User, now: datetime | None = None) -> None:
    """Submit once: the server's clock decides, and a second submission is refused.

    The status moves with a compare-and-set UPDATE, so two requests racing
    (a double click, a resent form, two windows) submit once on any database;
    the loser gets a DomainError, never a second submission.
    """
    now = now or utcnow()
    if application.status != ApplicationStatus.DRAFT:
        raise DomainError(_("This application has already been submitted."))
    problems = submission_problems(application, now)
    if problems:
        raise DomainError(problems[0].message, problems[0].field)
    db.session.flush()  # a save in the same request bumps the version first
    result = db.session.execute(
        sa.update(Application)
        .where(
            Application.id == application.id,
            Application.status == ApplicationStatus.DRAFT,
            Application.version == application.version,
        )
        .values(
            status=ApplicationStatus.SUBMITTED,
            submitted_at=now,
            status_changed_at=now,
            version=Application.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise DomainError(_("This application has already been submitted."))
    db.session.refresh(application)
    _record(application, ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED, actor)
    audit.record(
        "application.submitted",
        application,
        actor=actor,
        changes={"status": ["draft", "submitted"]},
    )
    _tell_applicant(application, f"application_submitted:{application.id}", "application_submitted")
    # Staff hear of it in the next daily digest (send_submission_digest).


def _tell_applicant(application: Application, key: str, template: str) -> None:
    """Email the applicant a link, in their language; never the proposal's content."""
    queue_email(
        key=key,
        recipient=application.applicant.email,
        template=template,
        language=application.applicant.language,
        name=application.applicant.name,
        link=_link(application),
    )


def send_submission_digest(now: datetime | None = None) -> int:
    """Tell every active convenor, once, of the applications submitted since the last digest.

    One email per convenor, in their language: per round, its title, how many
    new applications and a link to the round's list. No proposal content
    leaves by email. The pending rows are claimed (``staff_notified_at``) by
    one UPDATE before any email is queued, so two runs never report the same
    application; the email key names the batch's highest application id, so
    re-running a batch queues nothing twice. Flushes only: the caller commits,
    and a rollback leaves both the emails and the claim undone. Returns the
    number of applications reported (0 when nothing is new or nobody is
    there to tell; those wait for the next run).
    """
    now = now or utcnow()
    staff = db.session.scalars(
        sa.select(User)
        .where(User.active.is_(True), User.role_rows.any(role=Role.CONVENOR))
        .order_by(User.id)
    ).all()
    if not staff:
        return 0
    claimed = db.session.execute(
        sa.update(Application)
        .where(Application.submitted_at.is_not(None), Application.staff_notified_at.is_(None))
        .values(staff_notified_at=now)
        .returning(Application.id, Application.round_id)
    ).all()
    if not claimed:
        return 0
    counts: dict[int, int] = {}
    for row in claimed:
        counts[row.round_id] = counts.get(row.round_id, 0) + 1
    rounds = db.session.scalars(
        sa.select(Round).where(Round.id.in_(counts)).order_by(Round.closes_at, Round.id)
    ).all()
    listing = [
        {
            "title": round_.title,
            "count": counts[round_.id],
            "link": external_url("round_applications.index", round_id=round_.id),
        }
        for round_ in rounds
    ]
    batch = max(row.id for row in claimed)
    for person in staff:
        queue_email(
            key=f"submission_digest:{batch}:{person.id}",
            recipient=person.email,
            template="submission_digest_staff",
            language=person.language,
            name=person.name,
            total=len(claimed),
            rounds=listing,
        )
    return len(claimed)


def withdraw(application: Application, *, actor: User, reason: str) -> None:
    """The applicant withdraws, with a reason, any time before a decision."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why you withdraw: it helps the fund."), "reason")
    old = application.move_to(ApplicationStatus.WITHDRAWN)
    application.withdrawal_reason = reason
    _record(application, old, ApplicationStatus.WITHDRAWN, actor, reason)
    audit.record(
        "application.withdrawn",
        application,
        actor=actor,
        changes={"status": [old.value, "withdrawn"]},
    )
    _tell_applicant(application, f"application_withdrawn:{application.id}", "application_withdrawn")


def screen(application: Application, *, actor: User, eligible: bool, reason: str) -> None:
    """Staff confirm eligibility (it moves on to review) or not, with a reason.

    The applicant's email says only that the status changed; the reason is
    shown after sign-in.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for the screening decision."), "reason")
    target = ApplicationStatus.ELIGIBLE if eligible else ApplicationStatus.INELIGIBLE
    old = application.move_to(target)
    application.screening_reason = reason
    _record(application, old, target, actor, reason)
    audit.record(
        "application.screened",
        application,
        actor=actor,
        changes={"status": [old.value, target.value]},
        details={"reason": reason},
    )
    _tell_applicant(
        application,
        f"application_screened:{application.id}:{target.value}",
        "application_status_changed",
    )


@dataclass(frozen=True)
class Room:
    """What an upload may still add: the bytes already kept, per application and per person."""

    application_total: int
    user_total: int


def attachment_room(application: Application, actor: User, size: int) -> Room:
    """Check that ``size`` more bytes fit; raise DomainError("file") otherwise.

    The application's row (locked by the caller, ``load_application(lock=True)``)
    and the person's row are held until the request ends, and the totals are
    summed in SQL under those locks: parallel uploads are counted one after
    the other, never against the same stale total. Limits:
    ``APPLICATION_MAX_BYTES`` per application, ``USER_ATTACHMENTS_MAX_BYTES``
    per person over all their applications.
    """
    from coalition.grants.files import megabytes
    from coalition.grants.models import Attachment

    check_editable(application)
    lock_applicant(actor)
    config = current_app.config
    application_total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0)).where(
            Attachment.application_id == application.id
        )
    )
    user_total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Attachment.size), 0))
        .join(Application, Application.id == Attachment.application_id)
        .where(Application.applicant_id == application.applicant_id)
    )
    if application_total + size > config["APPLICATION_MAX_BYTES"]:
        raise DomainError(
            _(
                "This application's files would exceed %(limit)s in total.",
                limit=megabytes(config["APPLICATION_MAX_BYTES"]),
            ),
            "file",
        )
    if user_total + size > config["USER_ATTACHMENTS_MAX_BYTES"]:
        raise DomainError(
            _(
                "Your files would exceed %(limit)s over all your applications. Remove "
                "files you no longer need, then upload this one again.",
                limit=megabytes(config["USER_ATTACHMENTS_MAX_BYTES"]),
            ),
            "file",
        )
    return Room(application_total=application_total, user_total=user_total)


def add_attachment(application: Application, stored, *, kind, actor: User):
    """Record a file already stored by ``files.store``; the request commits both."""
    from coalition.grants.models import Attachment

    check_editable(application)
    attachment = Attachment(
        kind=kind,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by_id=actor.id,
    )
    application.attachments.append(attachment)
    db.session.flush()
    audit.record(
        "application.attachment_added",
        application,
        actor=actor,
        details={"attachment_id": attachment.id, "kind": kind.value, "size": stored.size},
    )
    return attachment


def remove_attachment(application: Application, attachment, *, actor: User) -> None:
    """Remove a draft's attachment, and its file once the removal is committed.

    Nothing orphaned stays on disk, and a failed commit leaves the file in place
    for the row that still points at it.
    """
    from coalition.grants import files

    check_editable(application)
    stored_name = attachment.stored_name
    application.attachments.remove(attachment)
    db.session.delete(attachment)
    db.session.flush()
    audit.record(
        "application.attachment_removed",
        application,
        actor=actor,
        details={"attachment_id": attachment.id, "name": attachment.original_name},
    )
    sa.event.listen(
        db.session(), "after_commit", lambda _session: files.delete(stored_name), once=True
    )


def record_download(application: Application, attachment, *, reader: User) -> None:
    """Record in the audit log that staff or steering downloaded an applicant's file (S22).

    Who (the actor), when (the row's time) and which file (its id, kind and
    name). The applicant downloading their own file is not recorded: it is
    their own data, reaching nobody else, and the log is there to show who
    else has read it.
    """
    if application.applicant_id == reader.id:
        return
    audit.record(
        "application.attachment_downloaded",
        application,
        actor=reader,
        details={
            "attachment_id": attachment.id,
            "kind": attachment.kind.value,
            "name": attachment.original_name,
        },
    )
