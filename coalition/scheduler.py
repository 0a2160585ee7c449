"""The scheduler process: time-driven work, run by ``flask scheduler`` only (S30).

The web application never starts a scheduler; this module is imported only
by the CLI command. Every job pushes an app context, does its work through
the areas' operations, and commits.
"""

from __future__ import annotations

import logging
import signal

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app

from coalition.extensions import db

log = logging.getLogger("coalition.scheduler")


def _job(app, fn):
    def run():
        with app.app_context():
            try:
                fn()
            except Exception:
                db.session.rollback()
                log.exception("scheduled job failed", extra={"fields": {"job": fn.__name__}})
            finally:
                db.session.remove()

    run.__name__ = fn.__name__
    return run


def deliver_outbox() -> None:
    from coalition.mail import deliver_due

    counts = deliver_due()
    if any(counts.values()):
        log.info("outbox delivered", extra={"fields": counts})


def run_jobs() -> None:
    from coalition.jobs import run_pending

    run_pending()


def lapse_members() -> None:
    """Mark lapsed the members whose yearly confirmation is overdue (idempotent)."""
    from coalition.members.operations import lapse_overdue

    count = lapse_overdue()
    db.session.commit()
    if count:
        log.info("members lapsed", extra={"fields": {"count": count}})


def remove_orphan_files() -> None:
    """The nightly clean-up: uploads no attachment points to (a request that failed
    after storing), and one-time form tokens past their life."""
    from coalition import form_tokens
    from coalition.grants.files import remove_orphans

    removed = remove_orphans()
    if removed:
        log.info("orphan uploads removed", extra={"fields": {"count": len(removed)}})
    expired = form_tokens.expire()
    db.session.commit()
    if expired:
        log.info("form tokens expired", extra={"fields": {"count": expired}})


def send_submission_digests() -> None:
    """Tell the convenors, once a day, of the grant applications submitted since the last time."""
    from coalition.grants.applications import send_submission_digest

    count = send_submission_digest()
    db.session.commit()
    if count:
        log.info("submission digest queued", extra={"fields": {"applications": count}})


def build_scheduler(app) -> BlockingScheduler:
    """Every time-driven job, one at a time each (max_instances=1, missed runs coalesced)."""
    scheduler = BlockingScheduler(timezone="UTC")
    jobs = [
        (deliver_outbox, {"trigger": "interval", "seconds": app.config["OUTBOX_POLL_SECONDS"]}),
        (run_jobs, {"trigger": "interval", "seconds": app.config["JOBS_POLL_SECONDS"]}),
        (lapse_members, {"trigger": "cron", "hour": 2, "minute": 15}),
        (remove_orphan_files, {"trigger": "cron", "hour": 3, "minute": 30}),
        (
            send_submission_digests,
            {"trigger": "cron", "hour": app.config["SUBMISSION_DIGEST_HOUR"], "minute": 0},
        ),
    ]
    for fn, timing in jobs:
        scheduler.add_job(
            _job(app, fn),
            id=fn.__name__,
            name=fn.__name__,
            max_instances=1,
            coalesce=True,
            **timing,
        )
    return scheduler


def run_forever() -> None:
    app = current_app._get_current_object()
    scheduler = build_scheduler(app)

    def _stop(signum, _frame):
        log.info("scheduler stopping", extra={"fields": {"signal": signum}})
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduler started", extra={"fields": {"jobs": [j.id for j in scheduler.get_jobs()]}})
    scheduler.start()
