"""Grantee reports: drafts with optimistic locking, spending per budget line,
attachments through the file checks, one submission, staff's answer, the grant's
completion, and the reminders to grantees and staff (each sent once)."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import awards as award_ops
from coalition.grants import files
from coalition.grants import grantee_reports as ops
from coalition.grants.award_models import (
    GranteeReport,
    GrantStatus,
    ReportAttachment,
    ReportStatus,
)
from coalition.grants.models import ApplicationStatus, DomainError
from tests import sample_files
from tests.awards_factories import TODAY, approved, award, file_and_submit, pay_all, refused
from tests.conftest import outbox
from tests.reviews_factories import make_round

SECTIONS = {
    "activities": "Monitored 40 channels in three languages.",
    "results": "Two briefs; one platform policy changed.",
    "problems": "An internet shutdown for four days.",
    "spending_note": "Travel under budget, staff as planned.",
}


@pytest.fixture
def grant(app):
    return award(approved(make_round()))


def grantee_of(grant):
    return grant.application.applicant


# -- Drafts ----------------------------------------------------------------------------


def test_a_draft_saves_any_number_of_times_and_refuses_a_stale_save(grant):
    report = grant.reports[0]
    person = grantee_of(grant)
    line = grant.application.budget_lines[0]
    opened = report.version
    changes = ops.save_draft(
        report, actor=person, version=opened, values={"activities": "Half done."},
        spending={line.id: 250_000},
    )  # fmt: skip
    assert changes == {"activities": ["…", "…"], "spending": [{}, {str(line.id): 250_000}]}
    assert report.version == opened + 1
    ops.save_draft(report, actor=person, version=report.version, values=SECTIONS)
    message = refused(
        ops.save_draft, report, actor=person, version=opened, values={"activities": "Old tab"}
    )
    assert "saved from another window" in message
    assert report.activities == SECTIONS["activities"]
    assert [(s.budget_line_id, s.spent) for s in report.spending] == [(line.id, 250_000)]
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="grant_report.saved"))
    assert "Half done" not in str(entry.changes)


def test_spending_is_only_on_the_grant_s_budget_lines_and_never_negative(grant, app):
    report = grant.reports[0]
    person = grantee_of(grant)
    foreign = approved(make_round()).budget_lines[0]
    own = grant.application.budget_lines[0]
    assert "budget lines" in refused(
        ops.save_draft, report, actor=person, version=None, values={}, spending={foreign.id: 1}
    )
    assert "zero or more" in refused(
        ops.save_draft, report, actor=person, version=None, values={}, spending={own.id: -1}
    )
    assert "at most" in refused(
        ops.save_draft, report, actor=person, version=None, values={"results": "x" * 8_001}
    )


# -- Attachments -----------------------------------------------------------------------


def test_a_refused_attachment_keeps_nothing(grant, app):
    report = grant.reports[0]
    person = grantee_of(grant)
    folder = files.upload_folder()
    before_files = set(folder.iterdir())
    message = refused(
        ops.add_attachment, report, sample_files.pdf_with_open_action_javascript(),
        original_name="report.pdf", actor=person,
    )  # fmt: skip
    assert "JavaScript" in message
    assert "not one of the allowed types" in refused(
        ops.add_attachment, report, b"MZ\x90\x00 not a document", original_name="r.pdf",
        actor=person,
    )  # fmt: skip
    assert set(folder.iterdir()) == before_files
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportAttachment)) == 0


def test_an_attachment_is_stored_checked_and_not_an_orphan(grant, app):
    report = grant.reports[0]
    person = grantee_of(grant)
    attachment = ops.add_attachment(
        report, sample_files.pdf(), original_name="../../Interim report.pdf", actor=person
    )
    assert attachment.original_name == "Interim report.pdf"
    assert files.path_of(attachment.stored_name).is_file()
    assert attachment.stored_name not in files.orphans()
    stranger = approved(make_round()).applicant
    assert "Only the grantee" in refused(
        ops.add_attachment, report, sample_files.pdf(), original_name="x.pdf", actor=stranger
    )
    ops.remove_attachment(report, attachment, actor=person)
    assert report.attachments == []


# -- Submission and staff's answer -----------------------------------------------------


def test_submit_once_then_staff_answer(grant, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    report = grant.reports[0]
    person = grantee_of(grant)
    assert refused(ops.submit, report, actor=person) == "Say what was done."
    ops.save_draft(report, actor=person, version=report.version, values=SECTIONS)
    ops.submit(report, actor=person)
    assert (report.status, report.submissions) == (ReportStatus.SUBMITTED, 1)
    assert grant.application.status == ApplicationStatus.REPORTING
    assert [m.recipient for m in outbox("grant_report_submitted_staff")] == [staff.email]
    assert refused(ops.submit, report, actor=person) == "This report has already been submitted."
    assert "waits for the staff" in refused(
        ops.save_draft, report, actor=person, version=None, values={"results": "More"}
    )

    assert "Say what should change" in refused(ops.request_changes, report, actor=staff, comment="")
    ops.request_changes(report, actor=staff, comment="Add the spending per line.")
    assert (report.status, report.staff_comment) == (
        ReportStatus.CHANGES_REQUESTED,
        "Add the spending per line.",
    )
    (mail,) = outbox("grant_report_answered")
    assert "ask for changes" in mail.body_text and "spending per line" not in mail.body_text
    assert "changes requested cannot become accepted" in refused(ops.accept, report, actor=staff)

    ops.save_draft(report, actor=person, version=report.version, values={"spending_note": "Table"})
    ops.submit(report, actor=person)
    assert report.submissions == 2
    ops.accept(report, actor=staff)
    assert report.status == ReportStatus.ACCEPTED
    assert "accepted" in refused(ops.save_draft, report, actor=person, version=None, values={})
    assert "accepted cannot become changes requested" in refused(
        ops.request_changes, report, actor=staff, comment="Late thought"
    )
    assert grant.status == GrantStatus.ACTIVE  # the final report is still due
    # Each submission stays as it was sent, with the answer it got.
    first, second = report.history
    assert (first.number, first.outcome, first.comment) == (
        1,
        ReportStatus.CHANGES_REQUESTED,
        "Add the spending per line.",
    )
    assert first.content["sections"]["spending_note"] == SECTIONS["spending_note"]
    assert second.content["sections"]["spending_note"] == "Table"
    assert (second.number, second.outcome, second.answered_by_id) == (
        2,
        ReportStatus.ACCEPTED,
        staff.id,
    )


def test_the_grant_completes_once_the_final_report_is_accepted_and_all_is_paid(grant):
    for report in grant.reports:
        file_and_submit(report)
        ops.accept(report, actor=None)
    assert grant.status == GrantStatus.ACTIVE  # tranches still to pay
    assert grant.application.status == ApplicationStatus.REPORTING
    pay_all(grant)
    assert grant.status == GrantStatus.COMPLETED and grant.completed_at is not None
    assert grant.application.status == ApplicationStatus.COMPLETED
    assert sorted(c.to_status for c in grant.application.status_changes) == sorted(
        [ApplicationStatus.AWARDED, ApplicationStatus.REPORTING, ApplicationStatus.COMPLETED]
    )
    assert outbox("grant_changed")[-1].subject == "Your grant is completed"


def test_reports_of_a_cancelled_grant_are_closed(grant):
    award_ops.cancel(grant, actor=None, reason="Stopped")
    report = grant.reports[0]
    assert "no longer active" in refused(
        ops.save_draft, report, actor=grantee_of(grant), version=None, values=SECTIONS
    )


# -- Reminders -------------------------------------------------------------------------


def test_grantees_are_reminded_at_14_and_3_days_then_weekly_once_each(grant, make_user):
    interim, final = grant.reports
    due = interim.due_on
    person = grantee_of(grant)
    other = award(approved(make_round()))
    award_ops.cancel(other, actor=None, reason="Stopped")  # a cancelled grant owes nothing
    runs = [
        (due - timedelta(days=15), 0),
        (due - timedelta(days=14), 1),
        (due - timedelta(days=14), 0),
        (due - timedelta(days=10), 0),
        (due - timedelta(days=3), 1),
        (due, 0),
        (due + timedelta(days=1), 1),
        (due + timedelta(days=7), 0),
        (due + timedelta(days=8), 1),
        (due + timedelta(days=8), 0),
    ]
    for today, expected in runs:
        assert ops.send_report_reminders(today=today) == expected, today
    mails = outbox("grant_report_reminder")
    assert {m.recipient for m in mails} == {person.email}
    assert [m.subject for m in mails] == [
        "Your report is due in 14 days",
        "Your report is due in 3 days",
        "Your report is overdue",
        "Your report is overdue",
    ]
    assert all(f"/applications/{grant.application_id}" in m.body_text for m in mails)
    assert "interim report" in mails[0].body_text
    # Submitted: no more reminders for it.
    file_and_submit(interim)
    assert ops.send_report_reminders(today=due + timedelta(days=15)) == 0
    assert final.due_on > due + timedelta(days=15 + 14)


def test_staff_hear_weekly_of_tranches_due_and_reports_overdue(grant, make_user):
    staff = [make_user(Role.CONVENOR, two_factor=True) for _ in range(2)]
    first, second = grant.tranches  # planned today and in 90 days
    monday = TODAY - timedelta(days=TODAY.weekday())
    assert ops.staff_week(monday)[:2] == (1, 0)
    assert ops.send_staff_digest(today=monday) == 2
    assert ops.send_staff_digest(today=monday + timedelta(days=3)) == 0
    mails = outbox("grants_due_staff")
    assert sorted(m.recipient for m in mails) == sorted(s.email for s in staff)
    assert "1 tranche is due" in mails[0].body_text
    assert f"/grants/rounds/{grant.round_id}" in mails[0].body_text
    award_ops.mark_paid(first, actor=None, paid_on=TODAY, reference="T1")
    # Nothing due the next week; the interim report is overdue later on.
    next_week = monday + timedelta(days=7)
    assert second.planned_on > next_week + timedelta(days=6)
    assert ops.send_staff_digest(today=next_week) == 0
    late = grant.reports[0].due_on + timedelta(days=1)
    tranches, reports, _rounds = ops.staff_week(late)
    assert reports == 1 and tranches == 1  # the second tranche is late by then too
    assert ops.send_staff_digest(today=late) == 2
    assert "1 grantee report is overdue" in outbox("grants_due_staff")[-1].body_text


def test_the_scheduler_jobs_run_twice_send_nothing_twice(app, make_user):
    from coalition.scheduler import build_scheduler

    make_user(Role.CONVENOR, two_factor=True)
    grant = award(approved(make_round()))
    db.session.commit()
    scheduler = build_scheduler(app)
    moment = datetime.combine(grant.reports[0].due_on - timedelta(days=2), time(7, 30))
    for _ in range(2):
        with time_machine.travel(moment.isoformat() + "Z", tick=False):
            scheduler.get_job("remind_grantees").func()
            scheduler.get_job("report_grants_due").func()
    db.session.expire_all()
    assert len(outbox("grant_report_reminder")) == 1
    assert len(outbox("grants_due_staff")) == 1


# -- Races -----------------------------------------------------------------------------


@pytest.mark.committing
def test_a_double_submit_submits_once(app):
    grant = award(approved(make_round()))
    report = grant.reports[0]
    ops.save_draft(report, actor=grantee_of(grant), version=None, values=SECTIONS)
    report_id = report.id
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt():
        with app.app_context():
            report = db.session.get(GranteeReport, report_id)
            person = report.award.application.applicant
            db.session.commit()
            barrier.wait()
            try:
                ops.submit(report, actor=person)
                db.session.commit()
                outcomes.append("submitted")
            except DomainError:
                db.session.rollback()
                outcomes.append("refused")
            except Exception as exc:
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "submitted"], outcomes
    report = db.session.get(GranteeReport, report_id)
    assert report.submissions == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .filter_by(action="grant_report.submitted")
        )
        == 1
    )


@pytest.mark.committing
def test_two_reports_submitted_at_once_move_the_application_once(app):
    grant = award(approved(make_round()))
    for report in grant.reports:
        ops.save_draft(report, actor=grantee_of(grant), version=None, values=SECTIONS)
    ids = [r.id for r in grant.reports]
    application_id = grant.application_id
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(report_id):
        with app.app_context():
            report = db.session.get(GranteeReport, report_id)
            person = report.award.application.applicant
            db.session.commit()
            barrier.wait()
            try:
                ops.submit(report, actor=person)
                db.session.commit()
                outcomes.append("submitted")
            except Exception as exc:
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == ["submitted", "submitted"], outcomes
    from coalition.grants.models import Application, ApplicationStatusChange

    assert db.session.get(Application, application_id).status == ApplicationStatus.REPORTING
    steps = db.session.scalars(
        sa.select(ApplicationStatusChange.to_status).where(
            ApplicationStatusChange.application_id == application_id
        )
    ).all()
    assert sorted(steps) == sorted([ApplicationStatus.AWARDED, ApplicationStatus.REPORTING])


@pytest.mark.committing
def test_two_reminder_runs_at_once_send_each_reminder_once(app):
    grants = [award(approved(make_round())) for _ in range(3)]
    today = grants[0].reports[0].due_on - timedelta(days=3)
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def run():
        with app.app_context():
            barrier.wait()
            try:
                ops.send_report_reminders(today=today)
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
    assert len(outbox("grant_report_reminder")) == 3
