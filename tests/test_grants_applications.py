"""Application rules: drafts, the automatic eligibility checks, submission to
the second, once only, withdrawal and screening; the applicant's pages."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import applications as ops
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    Attachment,
    AttachmentKind,
    DomainError,
    Fund,
    RegistrationStatus,
    Round,
    RoundPhase,
)
from tests.clock import NOW
from tests.conftest import outbox


@pytest.fixture
def open_round():
    fund = Fund(name="Africa Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = ["KE", "SN", "NG"]
    round_ = Round(
        fund=fund,
        title="Elections 2027",
        description="Research on platform harms.",
        phase=RoundPhase.PUBLISHED,
        opens_at=NOW - timedelta(days=10),
        closes_at=NOW + timedelta(days=10),
        budget=20_000_000,
        min_grant=500_000,
        max_grant=5_000_000,
        required_attachments=["budget"],
    )
    db.session.add(round_)
    db.session.commit()
    return round_


COMPLETE = {
    "org_name": "Digital Watch Kenya",
    "org_country": "KE",
    "org_registration": RegistrationStatus.REGISTERED,
    "title": "Watching the 2027 vote",
    "summary": "Monitoring.",
    "problem": "Disinformation.",
    "activities": "Research.",
    "outcomes": "A report.",
    "duration_months": 12,
    "requested_amount": 1_000_000,
}
LINES = [
    {"category": "Staff", "description": "Researchers", "amount": 700_000},
    {"category": "Travel", "description": "Field work", "amount": 300_000},
]


@pytest.fixture
def draft(open_round, make_user):
    applicant = make_user(Role.APPLICANT)
    application = ops.start(open_round, applicant)
    db.session.commit()
    return application


def complete(application, **changes):
    ops.save_draft(
        application,
        actor=application.applicant,
        version=None,
        values={**COMPLETE, **changes},
        budget_lines=LINES,
        countries=["KE"],
    )
    application.attachments.append(
        Attachment(
            kind=AttachmentKind.BUDGET,
            original_name="budget.pdf",
            stored_name="0" * 31 + str(application.id)[-1],
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
        )
    )
    db.session.commit()
    return application


def test_start_needs_an_open_round(open_round, make_user):
    open_round.phase = RoundPhase.DRAFT
    with pytest.raises(DomainError):
        ops.start(open_round, make_user())


def test_a_draft_saves_with_fields_missing(draft):
    ops.save_draft(
        draft, actor=draft.applicant, version=draft.version, values={"title": "Only a title"}
    )
    db.session.commit()
    assert draft.title == "Only a title" and draft.status == ApplicationStatus.DRAFT
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="application.saved"))


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "x" * 201}, "title"),
        ({"summary": "x" * 2001}, "summary"),
        ({"duration_months": 0}, "duration_months"),
        ({"duration_months": 37}, "duration_months"),
        ({"requested_amount": -1}, "requested_amount"),
    ],
)
def test_limits_hold_on_every_save(draft, values, field):
    with pytest.raises(DomainError) as refused:
        ops.save_draft(draft, actor=draft.applicant, version=None, values=values)
    assert refused.value.field == field
    assert draft.title is None


def test_stale_save_is_refused(draft):
    version = draft.version
    ops.save_draft(draft, actor=draft.applicant, version=version, values={"title": "First window"})
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        ops.save_draft(draft, actor=draft.applicant, version=version, values={"title": "Second"})
    assert refused.value.field == "version"
    assert draft.title == "First window"


def test_every_missing_item_is_named(draft):
    fields = {p.field for p in ops.submission_problems(draft)}
    assert {
        "org_name",
        "org_country",
        "org_registration",
        "title",
        "summary",
        "problem",
        "activities",
        "outcomes",
        "countries",
        "duration_months",
        "requested_amount",
        "budget_lines",
        "attachments",
    } <= fields


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"org_country": "BR"}, "org_country", "cannot apply"),
        ({"requested_amount": 100}, "requested_amount", "Request between"),
        ({"requested_amount": 6_000_000}, "requested_amount", "Request between"),
        ({"requested_amount": 1_000_001}, "budget_lines", "add up to"),
        ({"org_registration": RegistrationStatus.UNREGISTERED}, "fiscal_host_name", "fiscal host"),
    ],
)
def test_eligibility_checks(draft, changes, field, words):
    complete(draft, **changes)
    problems = [p for p in ops.submission_problems(draft) if p.field == field]
    assert problems and words in problems[0].message


def test_complete_draft_has_no_problem(draft):
    complete(draft)
    assert ops.submission_problems(draft) == []


def test_submission_to_the_second(draft, open_round):
    complete(draft)
    with time_machine.travel(open_round.closes_at, tick=False):
        with pytest.raises(DomainError):
            ops.submit(draft, actor=draft.applicant)
        with pytest.raises(DomainError):
            ops.save_draft(draft, actor=draft.applicant, version=None, values={"title": "late"})
    with time_machine.travel(open_round.closes_at - timedelta(seconds=1), tick=False):
        ops.submit(draft, actor=draft.applicant)
    db.session.commit()
    assert draft.status == ApplicationStatus.SUBMITTED
    assert draft.submitted_at == open_round.closes_at - timedelta(seconds=1)


def test_submits_once_and_tells_people(draft, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    complete(draft)
    ops.submit(draft, actor=draft.applicant)
    db.session.commit()
    with pytest.raises(DomainError):
        ops.submit(draft, actor=draft.applicant)
    assert [s.to_status for s in draft.status_changes][:2] == [
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.DRAFT,
    ]
    [receipt] = outbox("application_submitted")
    assert receipt.recipient == draft.applicant.email
    assert "Watching the 2027 vote" not in receipt.body_text  # no proposal content by email
    # Staff hear of it in the daily digest, not at once (tests/test_grants_digest.py).
    assert outbox(recipient=staff.email) == []


def test_withdraw_with_a_reason_before_a_decision(draft):
    complete(draft)
    ops.submit(draft, actor=draft.applicant)
    with pytest.raises(DomainError):
        ops.withdraw(draft, actor=draft.applicant, reason=" ")
    ops.withdraw(draft, actor=draft.applicant, reason="We found other funding")
    db.session.commit()
    assert draft.status == ApplicationStatus.WITHDRAWN
    assert outbox("application_withdrawn")


def test_no_withdrawal_after_a_decision(draft):
    complete(draft)
    ops.submit(draft, actor=draft.applicant)
    draft.status = ApplicationStatus.REJECTED
    with pytest.raises(DomainError):
        ops.withdraw(draft, actor=draft.applicant, reason="Too late")


@pytest.mark.parametrize("eligible", [True, False])
def test_screening(draft, make_user, eligible):
    staff = make_user(Role.CONVENOR, two_factor=True)
    complete(draft)
    ops.submit(draft, actor=draft.applicant)
    ops.screen(draft, actor=staff, eligible=eligible, reason="Checked the registration")
    db.session.commit()
    assert draft.status == (
        ApplicationStatus.ELIGIBLE if eligible else ApplicationStatus.INELIGIBLE
    )
    [message] = outbox("application_status_changed")
    assert "registration" not in message.body_text.lower()  # the reason stays behind sign-in
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="application.screened"))
    assert entry.actor_id == staff.id and entry.details["reason"] == "Checked the registration"


def test_a_draft_cannot_be_screened(draft, make_user):
    with pytest.raises(DomainError):
        ops.screen(draft, actor=make_user(Role.CONVENOR), eligible=True, reason="x")


# -- Pages --------------------------------------------------------------------------------


def test_dashboard_lists_own_applications(client, login, draft, make_user, open_round):
    login(draft.applicant)
    other = ops.start(open_round, make_user())
    other.title = "Someone else's"
    draft.title = "Mine"
    db.session.commit()
    page = client.get("/applications/").get_data(as_text=True)
    assert "Mine" in page and "Someone else" not in page
    assert "Finish and submit it before" in page


def test_who_reads_an_application(client, login, draft, make_user):
    complete(draft)
    path = f"/applications/{draft.id}"
    login(make_user(Role.APPLICANT))
    assert client.get(path).status_code == 404
    login(make_user(Role.STEERING, two_factor=True))
    assert client.get(path).status_code == 404  # steering sees no drafts
    ops.submit(draft, actor=draft.applicant)
    db.session.commit()
    assert client.get(path).status_code == 200
    login(draft.applicant)
    assert "Watching the 2027 vote" in client.get(path).get_data(as_text=True)


# -- Submissions at once (S32) ------------------------------------------------------------
# Through the pages, with every loser's answer: tests/test_issue8_findings.py (finding 4).

RACERS = 10


@pytest.mark.committing
def test_ten_simultaneous_submissions_give_one(app, open_round, make_user):
    applicant = make_user(Role.APPLICANT)
    application = ops.start(open_round, applicant)
    db.session.commit()
    complete(application)
    application_id = application.id
    db.session.remove()

    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def attempt():
        with app.app_context():
            target = db.session.get(Application, application_id)
            # On SQLite a write transaction holds the lock from its start:
            # end the read before racing, as two separate requests would.
            db.session.commit()
            barrier.wait()
            try:
                ops.submit(target, actor=target.applicant)
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

    threads = [threading.Thread(target=attempt) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused"] * (RACERS - 1) + ["submitted"], outcomes
    changes = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).filter_by(action="application.submitted")
    )
    assert changes == 1
