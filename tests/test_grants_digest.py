"""The convenors' daily digest of new grant applications: one email each, per
round a count and a link, no proposal content; each submission reported once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from itertools import count

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger

from coalition.accounts.models import Role
from coalition.config import normalise_db_url
from coalition.db import UTCDateTime
from coalition.extensions import db
from coalition.grants import applications as ops
from coalition.grants.models import (
    Application,
    Attachment,
    AttachmentKind,
    Fund,
    RegistrationStatus,
    Round,
    RoundPhase,
)
from coalition.urls import external_url
from tests.clock import NOW
from tests.conftest import outbox
from tests.test_migrations import ROOT, fresh_database_url

TEMPLATE = "submission_digest_staff"
_seq = count(1)

SECRET_TITLE = "Watching the 2027 vote in secret"
SECRET_SUMMARY = "Monitoring the ruling party's troll farms."


@pytest.fixture
def make_round():
    fund = Fund(name="Africa Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = ["KE", "SN", "NG"]
    db.session.add(fund)

    def make(title: str) -> Round:
        round_ = Round(
            fund=fund,
            title=title,
            description="Research on platform harms.",
            phase=RoundPhase.PUBLISHED,
            opens_at=NOW - timedelta(days=10),
            closes_at=NOW + timedelta(days=10 + next(_seq)),
            budget=20_000_000,
            min_grant=500_000,
            max_grant=5_000_000,
            required_attachments=["budget"],
        )
        db.session.add(round_)
        db.session.commit()
        return round_

    return make


@pytest.fixture
def make_draft(make_user):
    def make(round_: Round, *, complete: bool = True) -> Application:
        applicant = make_user(Role.APPLICANT)
        application = ops.start(round_, applicant)
        if complete:
            ops.save_draft(
                application,
                actor=applicant,
                version=None,
                values={
                    "org_name": "Digital Watch Kenya",
                    "org_country": "KE",
                    "org_registration": RegistrationStatus.REGISTERED,
                    "title": SECRET_TITLE,
                    "summary": SECRET_SUMMARY,
                    "problem": "Disinformation.",
                    "activities": "Research.",
                    "outcomes": "A report.",
                    "duration_months": 12,
                    "requested_amount": 1_000_000,
                },
                budget_lines=[{"category": "Staff", "description": "People", "amount": 1_000_000}],
                countries=["KE"],
            )
            application.attachments.append(
                Attachment(
                    kind=AttachmentKind.BUDGET,
                    original_name="budget.pdf",
                    stored_name=f"{next(_seq):032d}",
                    content_type="application/pdf",
                    size=10,
                    sha256="0" * 64,
                )
            )
        db.session.commit()
        return application

    return make


@pytest.fixture
def submitted(make_draft):
    def make(round_: Round) -> Application:
        application = make_draft(round_)
        ops.submit(application, actor=application.applicant)
        db.session.commit()
        return application

    return make


@pytest.fixture
def staff(make_user):
    """Who should hear, and who should not."""
    return {
        "en": make_user(Role.CONVENOR, two_factor=True, language="en"),
        "fr": make_user(Role.CONVENOR, two_factor=True, language="fr"),
        "inactive": make_user(Role.CONVENOR, two_factor=True, active=False),
        "steering": make_user(Role.STEERING, two_factor=True),
        "reviewer": make_user(Role.REVIEWER),
    }


def digest():
    count_ = ops.send_submission_digest()
    db.session.commit()
    return count_


def round_link(round_: Round) -> str:
    link = external_url("round_applications.index", round_id=round_.id)
    assert link.startswith("http://localhost/")  # absolute, on BASE_URL
    return link


def test_one_digest_per_active_convenor_with_each_round_counted(
    make_round, make_draft, submitted, staff
):
    first, second = make_round("Elections 2027"), make_round("Media freedom 2028")
    a1, a2, b1 = submitted(first), submitted(first), submitted(second)
    draft = make_draft(second)
    empty_draft = make_draft(first, complete=False)
    assert outbox(TEMPLATE) == []  # nothing at submission

    assert digest() == 3

    messages = outbox(TEMPLATE)
    assert sorted(m.recipient for m in messages) == sorted([staff["en"].email, staff["fr"].email])
    [english] = outbox(TEMPLATE, staff["en"].email)
    assert english.language == "en"
    assert english.subject == "3 new grant applications"
    assert "3 applications were submitted since the last notice" in english.body_text
    assert "Round “Elections 2027”: 2 new applications" in english.body_text
    assert "Round “Media freedom 2028”: 1 new application\n" in english.body_text
    assert round_link(first) in english.body_text
    assert round_link(second) in english.body_text
    assert f'href="{round_link(first)}"' in english.body_html
    assert f'href="{round_link(second)}"' in english.body_html
    [french] = outbox(TEMPLATE, staff["fr"].email)
    assert french.language == "fr"  # rendered in the recipient's language
    assert round_link(first) in french.body_text and round_link(second) in french.body_text
    for message in messages:
        for secret in (SECRET_TITLE, SECRET_SUMMARY, "Digital Watch Kenya"):
            assert secret not in message.body_text
            assert secret not in message.body_html
            assert secret not in message.subject
    # Only the two people the digest is for: nobody else got mail about submissions.
    for who in ("inactive", "steering", "reviewer"):
        assert outbox(TEMPLATE, staff[who].email) == []

    for application in (a1, a2, b1):
        db.session.refresh(application)
        assert application.staff_notified_at is not None
    for application in (draft, empty_draft):
        db.session.refresh(application)
        assert application.staff_notified_at is None


def test_round_titles_are_escaped_in_the_html(make_round, submitted, staff):
    round_ = make_round("Votes <b>&</b> voices")
    submitted(round_)
    digest()
    [message] = outbox(TEMPLATE, staff["en"].email)
    assert "Votes &lt;b&gt;&amp;&lt;/b&gt; voices" in message.body_html
    assert "Round “Votes <b>&</b> voices”: 1 new application" in message.body_text


def test_running_again_sends_nothing_new(make_round, submitted, staff):
    submitted(make_round("Elections 2027"))
    assert digest() == 1
    before = [m.id for m in outbox()]
    assert digest() == 0
    assert [m.id for m in outbox()] == before


def test_a_later_submission_goes_into_the_next_digest_only(make_round, submitted, staff):
    first, second = make_round("Elections 2027"), make_round("Media freedom 2028")
    earlier = submitted(first)
    digest()
    later = submitted(second)
    assert digest() == 1

    messages = outbox(TEMPLATE, staff["en"].email)
    assert len(messages) == 2
    assert messages[0].key != messages[1].key
    assert "Elections 2027" in messages[0].body_text
    assert "Media freedom 2028" not in messages[0].body_text
    assert "Round “Media freedom 2028”: 1 new application" in messages[1].body_text
    assert "Elections 2027" not in messages[1].body_text
    db.session.refresh(earlier)
    db.session.refresh(later)
    assert earlier.staff_notified_at <= later.staff_notified_at


def test_the_digest_time_is_recorded(make_round, submitted, staff):
    application = submitted(make_round("Elections 2027"))
    at = NOW + timedelta(hours=6)
    ops.send_submission_digest(now=at)
    db.session.commit()
    db.session.refresh(application)
    assert application.staff_notified_at == at


def test_a_rolled_back_digest_is_sent_again_once(make_round, submitted, staff):
    """A crash before the commit loses nothing and, re-run, duplicates nothing."""
    submitted(make_round("Elections 2027"))
    assert ops.send_submission_digest() == 1
    db.session.rollback()
    assert outbox(TEMPLATE) == []
    assert digest() == 1
    assert digest() == 0
    assert len(outbox(TEMPLATE, staff["en"].email)) == 1


def test_with_nobody_to_tell_the_applications_wait(make_round, submitted, make_user):
    application = submitted(make_round("Elections 2027"))
    make_user(Role.CONVENOR, two_factor=True, active=False)
    assert digest() == 0
    db.session.refresh(application)
    assert application.staff_notified_at is None
    convenor = make_user(Role.CONVENOR, two_factor=True)
    assert digest() == 1
    assert len(outbox(TEMPLATE, convenor.email)) == 1


def test_the_scheduler_runs_the_digest_daily_at_the_configured_hour(
    app, monkeypatch, make_round, submitted, staff
):
    from coalition.scheduler import build_scheduler

    monkeypatch.setitem(app.config, "SUBMISSION_DIGEST_HOUR", 18)
    scheduler = build_scheduler(app)
    job = scheduler.get_job("send_submission_digests")
    assert job is not None
    assert isinstance(job.trigger, CronTrigger)
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("18", "0")
    assert (fields["day"], fields["day_of_week"]) == ("*", "*")
    assert job.max_instances == 1 and job.coalesce is True
    assert not scheduler.running

    application = submitted(make_round("Elections 2027"))
    job.func()
    job.func()  # the same job again: nothing twice
    db.session.expire_all()
    assert db.session.get(Application, application.id).staff_notified_at is not None
    assert len(outbox(TEMPLATE, staff["en"].email)) == 1
    assert len(outbox(TEMPLATE, staff["fr"].email)) == 1


def test_the_digest_hour_defaults_to_six_and_must_be_an_hour(monkeypatch, tmp_path):
    from coalition.config import ConfigError, load_config

    monkeypatch.delenv("SUBMISSION_DIGEST_HOUR", raising=False)
    assert load_config(str(tmp_path))["SUBMISSION_DIGEST_HOUR"] == 6
    monkeypatch.setenv("SUBMISSION_DIGEST_HOUR", "21")
    assert load_config(str(tmp_path))["SUBMISSION_DIGEST_HOUR"] == 21
    monkeypatch.setenv("SUBMISSION_DIGEST_HOUR", "24")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))


def test_the_migration_counts_earlier_submissions_as_notified(tmp_path):
    """Staff were emailed at once before the digest: the first digest must skip those."""
    url = fresh_database_url(tmp_path)
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": url,
        "SECRET_KEY": "migration-test-secret-key-long-enough-to-pass",
        "COALITION_INSTANCE_PATH": str(tmp_path),
    }

    def flask(*args):
        result = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    flask("db", "upgrade", "34ab9fea2afc")
    users = sa.table(
        "users",
        *(sa.column(c) for c in ("id", "email", "name", "language", "timezone")),
        sa.column("active", sa.Boolean),
        sa.column("session_token"),
        sa.column("created_at", UTCDateTime()),
    )
    funds = sa.table(
        "funds",
        *(sa.column(c) for c in ("id", "name", "currency", "total_budget", "version")),
        sa.column("created_at", UTCDateTime()),
    )
    rounds = sa.table(
        "rounds",
        *(
            sa.column(c)
            for c in (
                "id",
                "fund_id",
                "title",
                "description",
                "budget",
                "min_grant",
                "max_grant",
                "reviewers_per_application",
                "phase",
                "version",
            )
        ),
        sa.column("required_attachments", sa.JSON),
        sa.column("blind_review", sa.Boolean),
        *(sa.column(c, UTCDateTime()) for c in ("opens_at", "closes_at", "created_at")),
    )
    applications = sa.table(
        "applications",
        *(sa.column(c) for c in ("id", "round_id", "applicant_id", "status", "version")),
        *(
            sa.column(c, UTCDateTime())
            for c in ("created_at", "updated_at", "status_changed_at", "submitted_at")
        ),
    )
    engine = sa.create_engine(normalise_db_url(url))
    try:
        check_backfill(flask, engine, users, funds, rounds, applications)
    finally:
        engine.dispose()


def check_backfill(flask, engine, users, funds, rounds, applications) -> None:
    submitted_at = NOW - timedelta(days=3)
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                id=1,
                email="old@example.org",
                name="Old",
                language="en",
                timezone="UTC",
                active=True,
                session_token="t" * 32,
                created_at=NOW,
            )
        )
        conn.execute(
            funds.insert().values(
                id=1, name="Fund", currency="USD", total_budget=1, version=1, created_at=NOW
            )
        )
        conn.execute(
            rounds.insert().values(
                id=1,
                fund_id=1,
                title="Round",
                description="",
                budget=1,
                min_grant=0,
                max_grant=1,
                reviewers_per_application=1,
                phase="published",
                version=1,
                required_attachments=[],
                blind_review=False,
                opens_at=NOW - timedelta(days=10),
                closes_at=NOW + timedelta(days=10),
                created_at=NOW,
            )
        )
        common = {"round_id": 1, "applicant_id": 1, "version": 1}
        times = {"created_at": NOW, "updated_at": NOW, "status_changed_at": NOW}
        conn.execute(
            applications.insert(),
            [
                {**common, **times, "id": 1, "status": "submitted", "submitted_at": submitted_at},
                {**common, **times, "id": 2, "status": "draft", "submitted_at": None},
            ],
        )
    flask("db", "upgrade")
    notified = sa.table(
        "applications", sa.column("id"), sa.column("staff_notified_at", UTCDateTime())
    )
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(notified.c.id, notified.c.staff_notified_at)).all())
    assert rows == {1: submitted_at, 2: None}
    flask("db", "downgrade", "34ab9fea2afc")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("applications")}
    assert "staff_notified_at" not in columns
    assert "submitted_at" in columns
