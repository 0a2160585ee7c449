"""Asking for a report, making it in the background, keeping, serving and removing it.

``request_report`` checks the request and queues one job (the same report
asked for twice while the first is being made gives the first); the job
runner calls ``run_report_job``, which draws the PDF (``rendering``) and
stores it under ``REPORTS_FOLDER`` with a random name, readable by the
application's user only (0600). The monthly membership report and the
removal of old reports are the scheduler's (``send_monthly_reports``,
``remove_old_reports``). Operations flush; the request, the job or the
command commits.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app, g
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from coalition import audit, jobs
from coalition.accounts.models import Role, User
from coalition.config import LANGUAGES
from coalition.db import utcnow
from coalition.extensions import db
from coalition.mail import queue_email
from coalition.steering.reports.kinds import ReportRequest, get_kind
from coalition.steering.reports.models import GeneratedReport
from coalition.steering.reports.rendering import ReportError, build_html, render_pdf
from coalition.urls import external_url

log = logging.getLogger("coalition.reports")

JOB_KIND = "steering.report"
# Stored reports are removed after this many days (REPORTS_KEEP_DAYS overrides it).
KEEP_DAYS = 365
# The longest period a report may cover.
LONGEST_PERIOD_DAYS = 366 * 10


def reports_folder() -> Path:
    folder = Path(
        current_app.config.get("REPORTS_FOLDER") or Path(current_app.instance_path) / "reports"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def check_period(start: date | None, end: date | None) -> None:
    if start is None or end is None:
        raise ReportError(_("Give the first and the last day of the period."), "start")
    if end < start:
        raise ReportError(
            _("The period ends before it starts: the last day must be on or after the first."),
            "end",
        )
    if (end - start).days > LONGEST_PERIOD_DAYS:
        raise ReportError(_("A report covers at most ten years."), "start")


def language_or_english(language: str | None) -> tuple[str, bool]:
    """(the language to use, whether it was changed to English because it is unknown)."""
    if language in LANGUAGES:
        return language, False
    return "en", True


def _pending_key(request: ReportRequest, person: User | None) -> str:
    options = json.dumps(request.options, sort_keys=True, separators=(",", ":"))
    who = f"user{person.id}" if person is not None else "scheduler"
    key = (
        f"{request.kind}|{request.start}|{request.end}|{request.language}|"
        f"{int(request.confidential)}|{request.timezone}|{options}|{who}"
    )
    return key[:200]


def request_report(
    request: ReportRequest, *, person: User | None, schedule_key: str | None = None
) -> tuple[GeneratedReport, bool]:
    """Queue the report (the caller commits); returns (the report, whether it is new).

    The same parameters asked for by the same person while that report is
    still being made give the report already under way, never a second job:
    its ``pending_key`` is unique, so even two requests at the same moment
    insert one row (the loser's savepoint rolls back and it reads the
    winner's). The access rule is the caller's to check.
    """
    kind = get_kind(request.kind)
    if kind is None:
        raise ReportError(_("There is no report of that kind."), "kind")
    check_period(request.start, request.end)
    if request.confidential and not kind.confidential_variant:
        raise ReportError(_("This report has no confidential variant."), "confidential")
    key = _pending_key(request, person)
    existing = db.session.scalar(
        sa.select(GeneratedReport).where(GeneratedReport.pending_key == key)
    )
    if existing is not None:
        return existing, False
    try:
        with db.session.begin_nested():
            job = jobs.enqueue(JOB_KIND, created_by=person, params={})
            report = GeneratedReport(
                kind=request.kind,
                language=request.language,
                period_start=request.start,
                period_end=request.end,
                confidential=request.confidential,
                options={**request.options, "timezone": request.timezone},
                requested_by=person,
                job=job,
                pending_key=key,
                schedule_key=schedule_key,
            )
            db.session.add(report)
            db.session.flush()
            job.params = {"report_id": report.id}
    except IntegrityError:
        existing = db.session.scalar(
            sa.select(GeneratedReport).where(
                sa.or_(
                    GeneratedReport.pending_key == key,
                    GeneratedReport.schedule_key == schedule_key if schedule_key else sa.false(),
                )
            )
        )
        if existing is None:
            raise
        return existing, False
    audit.record(
        "report.requested",
        report,
        actor=person,
        details={
            "kind": report.kind,
            "period": [str(report.period_start), str(report.period_end)],
            "language": report.language,
            "confidential": report.confidential,
        },
    )
    return report, True


def request_of(report: GeneratedReport) -> ReportRequest:
    options = dict(report.options or {})
    timezone = options.pop("timezone", "UTC")
    return ReportRequest(
        kind=report.kind,
        start=report.period_start,
        end=report.period_end,
        language=report.language,
        confidential=report.confidential,
        timezone=timezone,
        requested_by=report.requested_by.name if report.requested_by else None,
        options=options,
    )


def store_pdf(data: bytes) -> str:
    """Write the PDF under a random name, readable by this user only; returns the name."""
    name = secrets.token_hex(16) + ".pdf"
    path = reports_folder() / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return name


def file_path(report: GeneratedReport) -> Path | None:
    if not report.file_name:
        return None
    return reports_folder() / report.file_name


def generate(report: GeneratedReport, progress=None) -> None:
    """Draw the report's PDF and keep it (flushes; the caller commits)."""
    request = request_of(report)
    html = build_html(request)
    if progress:
        progress(1, 3)
    rendered = render_pdf(html)
    if progress:
        progress(2, 3)
    report.file_name = store_pdf(rendered.pdf)
    report.size_bytes = len(rendered.pdf)
    report.page_count = rendered.pages
    report.generated_at = utcnow()
    report.pending_key = None
    audit.record(
        "report.generated",
        report,
        actor=report.requested_by,
        details={
            "pages": rendered.pages,
            "bytes": len(rendered.pdf),
            "seconds": round(rendered.seconds, 2),
        },
    )
    if report.schedule_key:
        _tell_steering(report)


def run_report_job(job: jobs.Job) -> dict[str, Any]:
    """The job runner's handler: make the report, or leave it failed and free to ask again."""
    report_id = (job.params or {}).get("report_id")
    report = db.session.get(GeneratedReport, report_id) if report_id else None
    if report is None:
        raise RuntimeError("the report of this job no longer exists")
    try:
        generate(report, progress=job.report_progress)
    except Exception:
        db.session.rollback()
        report = db.session.get(GeneratedReport, report_id)
        if report is not None:
            report.pending_key = None
            db.session.commit()
        raise
    return {"report_id": report.id, "pages": report.page_count, "bytes": report.size_bytes}


def delete_report(report: GeneratedReport, *, actor: User) -> None:
    """Remove a report and its file (audited). The file goes at once: should the request
    then fail, the row left behind answers 404 to a download, and can be deleted again."""
    path = file_path(report)
    audit.record(
        "report.deleted",
        report,
        actor=actor,
        details={"kind": report.kind, "period": [str(report.period_start), str(report.period_end)]},
    )
    db.session.delete(report)
    db.session.flush()
    if path is not None:
        path.unlink(missing_ok=True)


def remove_old_reports(now: datetime | None = None) -> int:
    """Delete the finished reports older than REPORTS_KEEP_DAYS, files and rows. Idempotent."""
    now = now or utcnow()
    days = current_app.config.get("REPORTS_KEEP_DAYS", KEEP_DAYS)
    old = db.session.scalars(
        sa.select(GeneratedReport).where(
            GeneratedReport.created_at < now - timedelta(days=days),
            GeneratedReport.pending_key.is_(None),
        )
    ).all()
    for report in old:
        path = file_path(report)
        db.session.delete(report)
        if path is not None:
            path.unlink(missing_ok=True)
    db.session.flush()
    return len(old)


# -- The monthly membership report for the steering group -------------------------------------


def previous_month(today: date) -> tuple[date, date]:
    first_this = today.replace(day=1)
    last = first_this - timedelta(days=1)
    return last.replace(day=1), last


def _steering_members() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.active.is_(True), User.role_rows.any(role=Role.STEERING))
            .order_by(User.id)
        )
    )


def send_monthly_reports(now: datetime | None = None) -> int:
    """Queue last month's membership report once in each steering member's language.

    Each report's ``schedule_key`` (kind, month, language) is unique, so a
    second run in the month queues nothing; the email to each member (a link,
    never the PDF) is queued when its report is made, keyed by report and
    person. Returns how many reports were queued.
    """
    now = now or utcnow()
    start, end = previous_month(now.date())
    languages = sorted({language_or_english(u.language)[0] for u in _steering_members()})
    queued = 0
    for language in languages:
        schedule_key = f"membership:{start:%Y-%m}:{language}"
        exists = db.session.scalar(
            sa.select(GeneratedReport.id).where(GeneratedReport.schedule_key == schedule_key)
        )
        if exists is not None:
            continue
        request = ReportRequest(kind="membership", start=start, end=end, language=language)
        _report, new = request_report(request, person=None, schedule_key=schedule_key)
        queued += int(new)
    return queued


def _tell_steering(report: GeneratedReport) -> None:
    link = external_url("reports.show", report_id=report.id)
    g.setdefault("_report_language", report.language)
    with force_locale(report.language):
        month = format_date(report.period_start, "MMMM yyyy")
    for person in _steering_members():
        if language_or_english(person.language)[0] != report.language:
            continue
        queue_email(
            key=f"monthly_report:{report.schedule_key}:{person.id}",
            recipient=person.email,
            template="monthly_membership_report",
            language=report.language,
            name=person.name,
            month=month,
            link=link,
        )
