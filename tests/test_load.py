"""The load run's tooling (``make load``, bench/load.py and bench/locustfile.py) kept working.

The checks after a run are tried on synthetic cases in the test database: a
draft made twice, a save audited twice, a report missing are each caught. Then
a short run (a quarter of a minute, a few people of each kind, a small seed)
goes through the whole of it, on PostgreSQL (in a database of its own beside the
test database): seeding, gunicorn with 4 workers and the
scheduler, Locust's users signing in and sending every form, and the checks,
which must all pass with no error.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest

from coalition.audit import record
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import ApplicationStatus
from tests.reviews_factories import make_application, make_round

ROOT = Path(__file__).resolve().parent.parent


def _load_module():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load = _load_module()


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


def test_exactly_once_catches_missing_doubled_and_extra():
    from collections import Counter

    assert load._exactly_once("x", ["a", "b"], Counter({"a": 1, "b": 1})).passed
    doubled = load._exactly_once("x", ["a", "b"], Counter({"a": 2, "b": 1}))
    assert not doubled.passed and "twice or more ['a']" in doubled.detail
    missing = load._exactly_once("x", ["a", "b"], Counter({"a": 1}))
    assert not missing.passed and "missing ['b']" in missing.detail
    extra = load._exactly_once("x", ["a"], Counter({"a": 1, "z": 1}))
    assert not extra.passed and "1 not sent by anyone" in extra.detail


def _ledger_of_one_draft(application, marker):
    return [
        {"kind": "start", "application_id": application.id, "twice": True, "at": 1.0},
        {"kind": "save", "application_id": application.id, "marker": marker, "at": 2.0},
    ]


def _started_and_saved(application, applicant, marker):
    record("application.started", application, actor=applicant)
    application.summary = marker
    record("application.saved", application, actor=applicant, changes={"summary": [None, marker]})


def test_verify_passes_what_was_done_once(make_user):
    since = utcnow() - timedelta(seconds=1)
    applicant = make_user()
    draft = make_application(make_round(), applicant, status=ApplicationStatus.DRAFT)
    _started_and_saved(draft, applicant, "load-summary-1")
    db.session.flush()
    checks = by_name(
        load.verify(
            _ledger_of_one_draft(draft, "load-summary-1"),
            since,
            {"applicant": [{"id": applicant.id}]},
        )
    )
    failed = [c for c in checks.values() if not c.passed]
    assert not failed, failed
    assert checks["drafts started (a third sent twice)"].detail == "1 sent, 1 in the database"


def test_verify_catches_a_draft_made_twice_and_a_save_audited_twice(make_user):
    since = utcnow() - timedelta(seconds=1)
    applicant = make_user()
    round_ = make_round()
    draft = make_application(round_, applicant, status=ApplicationStatus.DRAFT)
    # The same start made a second draft, and the same save was audited twice.
    make_application(round_, applicant, status=ApplicationStatus.DRAFT)
    _started_and_saved(draft, applicant, "load-summary-2")
    record(
        "application.saved", draft, actor=applicant, changes={"summary": [None, "load-summary-2"]}
    )
    db.session.flush()
    checks = by_name(
        load.verify(
            _ledger_of_one_draft(draft, "load-summary-2"),
            since,
            {"applicant": [{"id": applicant.id}]},
        )
    )
    assert not checks["drafts started (a third sent twice)"].passed
    assert "1 not sent by anyone" in checks["drafts started (a third sent twice)"].detail
    assert not checks["drafts saved (audit)"].passed
    assert not checks["audit log: one entry per change"].passed
    assert "application.saved: 1 expected, 2 found" in (
        checks["audit log: one entry per change"].detail
    )


def test_verify_catches_an_unready_report_and_a_lost_save(make_user):
    since = utcnow() - timedelta(seconds=1)
    applicant = make_user()
    draft = make_application(make_round(), applicant, status=ApplicationStatus.DRAFT)
    _started_and_saved(draft, applicant, "load-summary-3")
    db.session.flush()
    ledger = [
        *_ledger_of_one_draft(draft, "load-summary-3"),
        # A later save the users saw succeed, which the database does not hold.
        {"kind": "save", "application_id": draft.id, "marker": "load-summary-4", "at": 3.0},
        {"kind": "report", "report_id": 999_999, "ready": False, "seconds": 180, "at": 4.0},
    ]
    checks = by_name(load.verify(ledger, since, {"applicant": [{"id": applicant.id}]}))
    assert not checks["each draft holds its last save"].passed
    assert not checks["drafts saved (audit)"].passed
    assert not checks["reports requested"].passed
    assert not checks["every report requested was made"].passed
    assert db.session.query(AuditEntry).count() >= 2


def test_table_marks_pages_against_the_bare_page():
    times = {
        load.BARE: [10.0, 10.0, 10.0],
        "GET /fast": [20.0, 25.0, 30.0],
        "GET /slow": [40.0, 40.0, 40.0],
        "GET /broken": [5.0],
        "POST /form": [100.0],
        load.EXPORT: [6000.0],
    }
    rows = {
        r.page: r
        for r in load.table_rows(times, {"GET /broken": ["answered 500"]}, {"GET /fast": 2})
    }
    assert rows[load.BARE].result == "PASS" and rows[load.BARE].ratio == "1.0x"
    assert (rows["GET /fast"].result, rows["GET /fast"].ratio) == ("PASS", "2.5x")
    assert rows["GET /fast"].requests == 5  # the warm-up's requests counted, not timed
    assert (rows["GET /slow"].result, rows["GET /slow"].ratio) == ("FAIL", "4.0x")
    assert rows["GET /broken"].result == "FAIL" and rows["GET /broken"].failures == 1
    assert rows["POST /form"].result == "-"
    assert rows[load.EXPORT].result == "FAIL"  # over 5 s


def test_server_log_errors_are_found():
    log = (
        '{"level": "info", "message": "outbox delivered"}\n'
        "[2026-12-01 17:00:00 +0000] [1] [INFO] Booting worker with pid: 2\n"
        '{"level": "error", "message": "Exception on /x [GET]"}\n'
        "Traceback (most recent call last):\n"
        "[2026-12-01 17:00:01 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:2)\n"
    )
    found = load.log_errors(log)
    assert len(found) == 3 and "WORKER TIMEOUT" in found[-1]


def _load_database_url() -> str:
    """A database of the load run's own: never the test database, which it drops."""
    url = os.environ["TEST_DATABASE_URL"]
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_loadrun"))


@pytest.mark.committing
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="the load run is against PostgreSQL, as in production (TEST_DATABASE_URL)",
)
def test_a_short_load_run_passes_every_check(tmp_path):
    env = {
        **os.environ,
        "LOAD_RATELIMIT_STORAGE_URI": "memory://",
        "LOAD_WARM_UP_SECONDS": "0",
        "LOAD_EVERY_FORM_AT_START": "1",
        "LOAD_VISITORS": "1",
        "LOAD_APPLICANTS": "2",
        "LOAD_REVIEWERS": "1",
        "LOAD_STEERING": "1",
        "LOAD_STAFF": "1",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--minutes",
            "0.3",
            "--small",
            "--members",
            "60",
            "--database-url",
            _load_database_url(),
            "--results",
            str(tmp_path / "results.md"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    table = (tmp_path / "results.md").read_text()
    assert "Errors: none" in table
    assert "| FAIL |" not in table.split("| check after the run |")[1]
    # Every kind of form was sent and found in the database.
    for check in (
        "drafts started (a third sent twice)",
        "drafts saved (audit)",
        "attachments uploaded",
        "votes cast (changes kept)",
        "reports requested",
        "sign-ups (accounts made by the job)",
        "sign-ups: one confirmation email each",
    ):
        sent = re.search(rf"\| {re.escape(check)} \| PASS \| (\d+) sent", table)
        assert sent and int(sent.group(1)) >= 1, (check, table)
    assert re.search(r"\| review drafts saved \(audit\) \| PASS \| [1-9]\d* saves", table)
    assert "| bare page (base layout only) |" in table
