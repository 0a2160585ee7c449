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
    """Delete uploads no attachment points to (a request that failed after storing)."""
    from coalition.grants.files import remove_orphans

    removed = remove_orphans()
    if removed:
        log.info("orphan uploads removed", extra={"fields": {"count": len(removed)}})


def send_submission_digests() -> None:
    """Tell the convenors, once a day, of the grant applications submitted since the last time."""
    from coalition.grants.applications import send_submission_digest

    count = send_submission_digest()
    db.session.commit()
    if count:
        log.info("submission digest queued", extra={"fields": {"applications": count}})


def remind_reviewers() -> None:
    """Remind reviewers of pending reviews 3 days before the review deadline and the day after."""
    from coalition.grants.reviews import send_review_reminders

    count = send_review_reminders()
    db.session.commit()
    if count:
        log.info("review reminders queued", extra={"fields": {"count": count}})


def report_overdue_reviews() -> None:
    """Tell the convenors, once a day, of the reviews past their round's deadline."""
    from coalition.grants.reviews import send_overdue_reviews_digest

    count = send_overdue_reviews_digest()
    db.session.commit()
    if count:
        log.info("overdue reviews reported", extra={"fields": {"reviews": count}})


def close_due_votes() -> None:
    """Close the steering votes whose closing time has come, storing their result."""
    from coalition.steering.voting import close_due_votes as close_due

    count = close_due()
    db.session.commit()
    if count:
        log.info("steering votes closed", extra={"fields": {"count": count}})


def remind_voters() -> None:
    """Remind steering seats that have not voted on everything, 48 h and 24 h before closing."""
    from coalition.steering.voting import send_vote_reminders

    count = send_vote_reminders()
    db.session.commit()
    if count:
        log.info("vote reminders queued", extra={"fields": {"count": count}})


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
        (remind_reviewers, {"trigger": "cron", "hour": 7, "minute": 0}),
        (report_overdue_reviews, {"trigger": "cron", "hour": 7, "minute": 15}),
        # A vote closes at its closing time: looked for every few seconds.
        (close_due_votes, {"trigger": "interval", "seconds": app.config["JOBS_POLL_SECONDS"]}),
        # Reminders are keyed, so the quarter-hourly run sends each once.
        (remind_voters, {"trigger": "cron", "minute": "*/15"}),
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
