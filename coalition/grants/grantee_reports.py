"""Grantee reports: drafts, attachments, one submission, staff's answer, and the
reminders the scheduler sends (grantees of reports due and overdue; staff of
tranches due this week and reports overdue).

A report moves only through ``GranteeReport.move_to``; the submission is a
compare-and-set UPDATE, so a double click submits once. Accepting the final
report completes the grant when every tranche is paid (``awards.complete_if_done``).
Each operation audits and flushes; none commits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from coalition import audit
from coalition.accounts.models import User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import awards as award_ops
from coalition.grants import files
from coalition.grants.award_models import (
    OPEN_REPORT,
    Award,
    GranteeReport,
    GrantStatus,
    ReportAttachment,
    ReportSpending,
    ReportStatus,
    ReportSubmission,
    Tranche,
)
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    BudgetLine,
    DomainError,
    Round,
)
from coalition.mail import queue_email
from coalition.mail.models import OutboxMessage
from coalition.urls import external_url

SECTIONS = ("activities", "results", "problems", "spending_note")
SECTION_MAX = 8_000
COMMENT_MAX = 4_000
MAX_ATTACHMENTS = 10
# Grantees hear of a report due in 14 days, in 3 days, then weekly once it is late.
REMIND_BEFORE = (14, 3)
REMIND_EVERY_LATE = 7


def _stale() -> DomainError:
    return DomainError(
        _(
            "This report was saved from another window after you opened it. Your changes "
            "are below but not saved: check them, then save again."
        ),
        "version",
    )


def check_editable(report: GranteeReport, actor: User | None = None) -> None:
    """Refuse unless the grantee (``actor``, when given) may still change this report."""
    from coalition.policy import is_grantee

    if actor is not None and not is_grantee(actor, report.award):
        raise DomainError(_("Only the grantee of this grant files its reports."))
    if report.award.status != GrantStatus.ACTIVE:
        raise DomainError(_("This grant is no longer active: its reports are closed."))
    if report.status == ReportStatus.ACCEPTED:
        raise DomainError(_("This report has been accepted and can no longer be changed."))
    if report.status == ReportStatus.SUBMITTED:
        raise DomainError(_("This report is submitted: it waits for the staff's answer."))


def save_draft(
    report: GranteeReport,
    *,
    actor: User,
    version: int | None,
    values: dict[str, str | None],
    spending: dict[int, int | None] | None = None,
) -> dict[str, Any]:
    """Save the report as a draft, sections missing or not; refuses a stale save.

    ``spending`` maps the application's budget lines to what was spent on each
    so far (integer minor units, zero or more); a line left out or None is cleared.
    """
    check_editable(report, actor)
    if version is not None and int(version) != report.version:
        raise _stale()
    for field in SECTIONS:
        text = values.get(field)
        if text is not None and len(text) > SECTION_MAX:
            raise DomainError(_("Use at most %(n)d characters here.", n=SECTION_MAX), field)
    wanted: dict[int, int] = {}
    if spending is not None:
        lines = set(
            db.session.scalars(
                sa.select(BudgetLine.id).where(
                    BudgetLine.application_id == report.award.application_id
                )
            )
        )
        for line_id, spent in spending.items():
            if line_id not in lines:
                raise DomainError(
                    _("Report spending only on this grant's budget lines."), "spending"
                )
            if spent is None:
                continue
            if isinstance(spent, bool) or not isinstance(spent, int) or spent < 0:
                raise DomainError(_("Each amount spent is zero or more."), "spending")
            wanted[line_id] = spent
    # Read before changing anything: a lazy load would flush (and version) a half-done save.
    before = {row.budget_line_id: row.spent for row in report.spending}
    for field in SECTIONS:
        if field in values:
            setattr(report, field, (values[field] or "").strip() or None)
    changes = audit.changes_of(report, list(SECTIONS))
    # The grantee's words: the audit says which sections changed, not what they say.
    changes = {key: ["…", "…"] for key in changes}
    if spending is not None and before != wanted:
        for row in list(report.spending):
            if row.budget_line_id not in wanted:
                report.spending.remove(row)
            else:
                row.spent = wanted[row.budget_line_id]
        for line_id in sorted(set(wanted) - set(before)):
            report.spending.append(ReportSpending(budget_line_id=line_id, spent=wanted[line_id]))
        changes["spending"] = [_plain(before), _plain(wanted)]
    if changes:
        report.updated_at = utcnow()
        try:
            db.session.flush()
        except StaleDataError as exc:
            raise _stale() from exc
        audit.record("grant_report.saved", report, actor=actor, changes=changes)
    return changes


def _plain(spending: dict[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(spending.items())}


def add_attachment(
    report: GranteeReport, data: bytes, *, original_name: str, actor: User
) -> ReportAttachment:
    """Check and keep a file for the report, through the application files' store
    (content types, active content, sizes; a report's files share one report's
    allowance, ``APPLICATION_MAX_BYTES``). A refused file keeps nothing and says why.
    A file stored by a transaction that then fails is removed by the orphan sweep."""
    check_editable(report, actor)
    if len(report.attachments) >= MAX_ATTACHMENTS:
        raise DomainError(_("Attach at most %(n)d files.", n=MAX_ATTACHMENTS), "attachment")
    try:
        stored = files.store(
            data,
            original_name=original_name,
            current_total=sum(a.size for a in report.attachments),
        )
    except files.UploadRefused as exc:
        raise DomainError(exc.message, "attachment") from exc
    attachment = ReportAttachment(
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by_id=actor.id,
    )
    report.attachments.append(attachment)
    db.session.flush()
    audit.record(
        "grant_report.attachment_added",
        report,
        actor=actor,
        details={"attachment_id": attachment.id, "size": stored.size},
    )
    return attachment


def remove_attachment(report: GranteeReport, attachment: ReportAttachment, *, actor: User) -> None:
    """Remove a file from an open report; the file goes once the removal is committed."""
    check_editable(report, actor)
    if attachment.report_id != report.id:
        raise DomainError(_("This file belongs to another report."))
    stored_name = attachment.stored_name
    report.attachments.remove(attachment)
    db.session.delete(attachment)
    db.session.flush()
    audit.record(
        "grant_report.attachment_removed",
        report,
        actor=actor,
        details={"attachment_id": attachment.id, "name": attachment.original_name},
    )
    sa.event.listen(
        db.session(), "after_commit", lambda _session: files.delete(stored_name), once=True
    )


def record_download(report: GranteeReport, attachment: ReportAttachment, *, reader: User) -> None:
    """Record that staff or steering downloaded a grantee's file (S22), as for an
    application's files; a grantee reading their own grant's files is not recorded."""
    from coalition.policy import is_grantee

    if is_grantee(reader, report.award):
        return
    audit.record(
        "grant_report.attachment_downloaded",
        report,
        actor=reader,
        details={"attachment_id": attachment.id, "name": attachment.original_name},
    )


def submission_problems(report: GranteeReport) -> list[tuple[str, str]]:
    required = {
        "activities": _("Say what was done."),
        "results": _("Describe the results."),
        "problems": _("Describe the problems met, or say there were none."),
        "spending_note": _("Describe the spending against the budget."),
    }
    return [
        (field, message)
        for field, message in required.items()
        if not (getattr(report, field) or "").strip()
    ]


def submit(report: GranteeReport, *, actor: User, now: datetime | None = None) -> None:
    """Submit once (again after staff ask for changes). A compare-and-set UPDATE on the
    status and the version: of two submissions racing, one wins, the other is refused.
    Each submission is kept as submitted (``ReportSubmission``), with the staff's
    answer to it. The first report submitted moves the application to "reporting".
    Staff are told."""
    now = now or utcnow()
    if report.status == ReportStatus.SUBMITTED:
        raise DomainError(_("This report has already been submitted."))
    check_editable(report, actor)
    problems = submission_problems(report)
    if problems:
        raise DomainError(problems[0][1], problems[0][0])
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    # Submissions take turns with the grant's other changes (a second report submitted
    # at once, staff answering): the first moves the application to "reporting" once.
    award_ops.lock_award(report.award)
    old = ReportStatus(report.status)
    result = db.session.execute(
        sa.update(GranteeReport)
        .where(
            GranteeReport.id == report.id,
            GranteeReport.status.in_(OPEN_REPORT),
            GranteeReport.version == report.version,
        )
        .values(
            status=ReportStatus.SUBMITTED,
            submitted_at=now,
            submitted_by_id=actor.id,
            updated_at=now,
            submissions=GranteeReport.submissions + 1,
            version=GranteeReport.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise DomainError(_("This report has already been submitted, or changed elsewhere."))
    db.session.refresh(report)
    report.history.append(
        ReportSubmission(
            number=report.submissions,
            submitted_at=now,
            submitted_by_id=actor.id,
            content={
                "sections": {field: getattr(report, field) for field in SECTIONS},
                "spending": _plain({row.budget_line_id: row.spent for row in report.spending}),
                "files": [[a.original_name, a.sha256] for a in report.attachments],
            },
        )
    )
    application = report.award.application
    if application.status == ApplicationStatus.AWARDED:
        award_ops.record_status_change(
            application,
            application.move_to(ApplicationStatus.REPORTING),
            ApplicationStatus.REPORTING,
            actor,
        )
        db.session.flush()
    audit.record(
        "grant_report.submitted",
        report,
        actor=actor,
        changes={"status": [old.value, ReportStatus.SUBMITTED.value]},
        details={"award_id": report.award_id, "submission": report.submissions},
    )
    round_ = application.round
    for person in _convenors():
        queue_email(
            key=f"grant_report_submitted:{report.id}:{report.submissions}:{person.id}",
            recipient=person.email,
            template="grant_report_submitted_staff",
            language=person.language,
            name=person.name,
            round_title=round_.title,
            link=external_url("grants.show_round", round_id=round_.id),
        )


def _convenors() -> list[User]:
    from coalition.grants.reviews import convenors

    return convenors()


def _staff_answer(report: GranteeReport, target: ReportStatus, actor, comment) -> ReportStatus:
    award_ops.lock_award(report.award)
    if report.award.status != GrantStatus.ACTIVE:
        raise DomainError(_("This grant is no longer active: its reports are closed."))
    old = report.move_to(target)
    report.reviewed_at = utcnow()
    report.reviewed_by_id = getattr(actor, "id", None)
    report.staff_comment = comment
    latest = report.history[-1]
    latest.outcome = target
    latest.comment = comment
    latest.answered_at = report.reviewed_at
    latest.answered_by_id = report.reviewed_by_id
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    return old


def accept(report: GranteeReport, *, actor: User | None, comment: str | None = None) -> None:
    """Staff accept a submitted report. The final report accepted with every tranche
    paid completes the grant (and the application)."""
    comment = (comment or "").strip() or None
    old = _staff_answer(report, ReportStatus.ACCEPTED, actor, comment)
    audit.record(
        "grant_report.accepted",
        report,
        actor=actor,
        changes={"status": [old.value, ReportStatus.ACCEPTED.value]},
    )
    _tell_grantees(report, "accepted")
    award_ops.complete_if_done(report.award, actor=actor)


def request_changes(report: GranteeReport, *, actor: User | None, comment: str) -> None:
    """Staff send a submitted report back with a comment; the grantee resubmits it."""
    comment = (comment or "").strip()
    if not comment:
        raise DomainError(_("Say what should change in the report."), "comment")
    if len(comment) > COMMENT_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=COMMENT_MAX), "comment")
    old = _staff_answer(report, ReportStatus.CHANGES_REQUESTED, actor, comment)
    audit.record(
        "grant_report.changes_requested",
        report,
        actor=actor,
        changes={"status": [old.value, ReportStatus.CHANGES_REQUESTED.value]},
        details={"comment": comment},
    )
    _tell_grantees(report, "changes")


def _tell_grantees(report: GranteeReport, outcome: str) -> None:
    award = report.award
    for person in award_ops.grantees(award):
        queue_email(
            key=f"grant_report_{outcome}:{report.id}:{report.version}:{person.id}",
            recipient=person.email,
            template="grant_report_answered",
            language=person.language,
            name=person.name,
            accepted=outcome == "accepted",
            link=award_ops.grant_link(award),
        )


# -- Reminders (the scheduler) ------------------------------------------------------


def _moment(due_on: date, today: date) -> str | None:
    """Which reminder a report owes today: 'due14', 'due3', 'late<week>' or none."""
    days = (due_on - today).days
    if days < 0:
        return f"late{(-days - 1) // REMIND_EVERY_LATE}"
    if days <= REMIND_BEFORE[1]:
        return "due3"
    if days <= REMIND_BEFORE[0]:
        return "due14"
    return None


def send_report_reminders(today: date | None = None) -> int:
    """Remind grantees of their open reports: within 14 days of the due date, within
    3 days, then once a week while late. Each reminder is keyed by report, moment and
    person, so a second run (or a run after a crash) sends nothing twice. A report
    first met inside the 3-day window gets that reminder only. Flushes only; returns
    the number of reminders queued by this run.
    """
    today = today or award_ops.today_utc()
    reports = db.session.execute(
        sa.select(
            GranteeReport.id, GranteeReport.award_id, GranteeReport.kind, GranteeReport.due_on
        )
        .join(Award, Award.id == GranteeReport.award_id)
        .where(
            Award.status == GrantStatus.ACTIVE,
            GranteeReport.status.in_(OPEN_REPORT),
            GranteeReport.due_on <= today + timedelta(days=REMIND_BEFORE[0]),
        )
        .order_by(GranteeReport.due_on, GranteeReport.id)
    ).all()
    if not reports:
        return 0
    people_of = award_ops.grantee_ids({r.award_id for r in reports})
    people = {
        user.id: user
        for user in db.session.scalars(
            sa.select(User).where(
                User.id.in_({u for ids in people_of.values() for u in ids}),
                User.active.is_(True),
            )
        )
    }
    application_of = dict(
        db.session.execute(
            sa.select(Award.id, Award.application_id).where(
                Award.id.in_({r.award_id for r in reports})
            )
        ).all()
    )
    due = []
    for report in reports:
        moment = _moment(report.due_on, today)
        if moment is None:
            continue
        for person_id in sorted(people_of.get(report.award_id, ())):
            if person_id in people:
                key = f"grant_report_reminder:{report.id}:{moment}:{person_id}"
                due.append((key, people[person_id], report, moment))
    sent = set(
        db.session.scalars(
            sa.select(OutboxMessage.key).where(OutboxMessage.key.in_([d[0] for d in due]))
        )
    )
    queued = 0
    for key, person, report, moment in due:
        if key in sent:
            continue
        queue_email(
            key=key,
            recipient=person.email,
            template="grant_report_reminder",
            language=person.language,
            name=person.name,
            final=report.kind.value == "final",
            days=(report.due_on - today).days,
            overdue=moment.startswith("late"),
            link=external_url("applications.show", application_id=application_of[report.award_id]),
        )
        queued += 1
    db.session.flush()
    return queued


def staff_week(today: date) -> tuple[int, int, list[dict[str, Any]]]:
    """(tranches to pay this week, reports overdue, per round) of active grants,
    the week running Monday to Sunday. Two queries."""
    monday = today - timedelta(days=today.weekday())
    sunday = monday + timedelta(days=6)
    tranches = db.session.execute(
        sa.select(Award.round_id, sa.func.count())
        .select_from(Tranche)
        .join(Award, Award.id == Tranche.award_id)
        .where(
            Award.status == GrantStatus.ACTIVE,
            Tranche.paid_on.is_(None),
            Tranche.planned_on <= sunday,
        )
        .group_by(Award.round_id)
    ).all()
    overdue = db.session.execute(
        sa.select(Award.round_id, sa.func.count())
        .select_from(GranteeReport)
        .join(Award, Award.id == GranteeReport.award_id)
        .where(
            Award.status == GrantStatus.ACTIVE,
            GranteeReport.status.in_(OPEN_REPORT),
            GranteeReport.due_on < today,
        )
        .group_by(Award.round_id)
    ).all()
    per_round: dict[int, dict[str, int]] = {}
    for round_id, count in tranches:
        per_round.setdefault(round_id, {"tranches": 0, "reports": 0})["tranches"] = count
    for round_id, count in overdue:
        per_round.setdefault(round_id, {"tranches": 0, "reports": 0})["reports"] = count
    if not per_round:
        return 0, 0, []
    titles = dict(
        db.session.execute(
            sa.select(Round.id, Round.title)
            .where(Round.id.in_(per_round))
            .order_by(Round.closes_at, Round.id)
        ).all()
    )
    listing = [
        {
            "title": titles[round_id],
            "tranches": counts["tranches"],
            "reports": counts["reports"],
            "link": external_url("grants.show_round", round_id=round_id),
        }
        for round_id, counts in sorted(per_round.items(), key=lambda kv: titles[kv[0]])
    ]
    return sum(r["tranches"] for r in listing), sum(r["reports"] for r in listing), listing


def send_staff_digest(today: date | None = None) -> int:
    """Tell every convenor, once a week (keyed by ISO week and person), of the tranches
    due by the end of this week (late ones too) and the reports overdue. The daily run
    sends the week's digest at its first run with something to say, and nothing more
    that week. Returns the number of digests queued."""
    today = today or award_ops.today_utc()
    tranches, reports, listing = staff_week(today)
    if not listing:
        return 0
    year, week, _day = today.isocalendar()
    queued = 0
    for person in _convenors():
        key = f"grants_due_staff:{year}-W{week:02d}:{person.id}"
        if db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.key == key)):
            continue
        queue_email(
            key=key,
            recipient=person.email,
            template="grants_due_staff",
            language=person.language,
            name=person.name,
            tranches=tranches,
            reports=reports,
            rounds=listing,
        )
        queued += 1
    return queued


def reports_of(user: User) -> list[GranteeReport]:
    """The open reports a person owes, across their grants, soonest due first."""
    from coalition.policy import visible_awards

    return list(
        db.session.scalars(
            sa.select(GranteeReport)
            .join(Award, Award.id == GranteeReport.award_id)
            .join(Application, Application.id == Award.application_id)
            .where(
                visible_awards(user, grantee_only=True),
                Award.status == GrantStatus.ACTIVE,
                GranteeReport.status.in_(OPEN_REPORT),
            )
            .order_by(GranteeReport.due_on, GranteeReport.id)
        )
    )
