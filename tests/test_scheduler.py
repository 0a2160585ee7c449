"""One scheduler (S30) and an idempotent outbox job (S31).

The web application never starts a scheduler; only ``flask scheduler``
builds one, and its job delivers the outbox.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading

from apscheduler.triggers.interval import IntervalTrigger

from coalition.extensions import db
from coalition.mail import queue_email
from coalition.mail.models import OutboxMessage, OutboxStatus


def scheduler_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if "apscheduler" in t.name.lower()]


def test_serving_requests_starts_no_scheduler_thread(app, client):
    # ``app`` was built by create_app; serve a few pages with it.
    for path in ("/", "/sign-in", "/healthz", "/sign-up", "/password/forgot"):
        assert client.get(path).status_code == 200
    assert scheduler_threads() == []


def test_create_app_does_not_import_the_scheduler(tmp_path):
    """In a clean interpreter: building the app and serving requests never loads APScheduler."""
    script = textwrap.dedent(
        """
        import json, sys, threading
        from coalition import create_app

        app = create_app()
        client = app.test_client()
        statuses = [client.get(p).status_code for p in ("/", "/sign-in", "/healthz")]
        print(json.dumps({
            "statuses": statuses,
            "scheduler_module": "coalition.scheduler" in sys.modules,
            "apscheduler": any(m == "apscheduler" or m.startswith("apscheduler.")
                               for m in sys.modules),
            "threads": [t.name for t in threading.enumerate()],
            "cli_has_scheduler": "scheduler" in app.cli.commands,
        }))
        """
    )
    env = {
        **os.environ,
        "COALITION_ENV": "development",
        "COALITION_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "subprocess-secret-key-that-is-long-enough-for-checks",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 200]
    assert report["scheduler_module"] is False
    assert report["apscheduler"] is False
    assert not [t for t in report["threads"] if "apscheduler" in t.lower()]
    # The scheduler is reachable only through its own command.
    assert report["cli_has_scheduler"] is True


def test_build_scheduler_registers_the_outbox_job_without_starting(app):
    from coalition.scheduler import build_scheduler

    scheduler = build_scheduler(app)
    assert not scheduler.running
    job = scheduler.get_job("deliver_outbox")
    assert job is not None
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval.total_seconds() == app.config["OUTBOX_POLL_SECONDS"]
    assert job.max_instances == 1
    assert job.coalesce is True
    assert scheduler_threads() == []


def test_outbox_job_delivers_due_mail_once(app, caplog, monkeypatch):
    from coalition.scheduler import build_scheduler

    monkeypatch.setitem(app.config, "MAIL_BACKEND", "log")
    caplog.set_level(logging.INFO, logger="coalition.mail")
    message = queue_email(
        key="confirm:scheduler:1",
        recipient="job@example.org",
        template="confirm_email",
        language="en",
        name="Job",
        link="http://localhost/confirm/xyz",
        hours=48,
    )
    db.session.commit()

    run = build_scheduler(app).get_job("deliver_outbox").func
    run()
    run()  # the same job again: nothing is sent twice

    db.session.expire_all()
    row = db.session.get(OutboxMessage, message.id)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1
    sent = [r for r in caplog.records if r.name == "coalition.mail" and r.fields.get("to")]
    assert [r.fields["to"] for r in sent] == ["job@example.org"]
