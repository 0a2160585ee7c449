"""The scheduler process: time-driven work, run by ``flask scheduler`` only (S30).

The web application never starts a scheduler; this module is imported only
by the CLI command. Every job pushes an app context, does its work through
the areas' operations, and commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
from pathlib import Path

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


# -- Steering reports --------------------------------------------------------------


def send_monthly_reports() -> None:
    """On the first of the month: last month's membership report to the steering group."""
    from coalition.steering.reports.operations import send_monthly_reports as queue_reports

    count = queue_reports()
    db.session.commit()
    if count:
        log.info("monthly membership reports queued", extra={"fields": {"reports": count}})


def remove_old_reports() -> None:
    """Delete the stored reports older than REPORTS_KEEP_DAYS."""
    from coalition.steering.reports.operations import remove_old_reports as remove

    count = remove()
    db.session.commit()
    if count:
        log.info("old reports removed", extra={"fields": {"count": count}})


def remind_grantees() -> None:
    """Remind grantees of reports due in 14 and in 3 days, then weekly while overdue."""
    from coalition.grants.grantee_reports import send_report_reminders

    count = send_report_reminders()
    db.session.commit()
    if count:
        log.info("grantee report reminders queued", extra={"fields": {"count": count}})


def report_grants_due() -> None:
    """Tell the convenors, once a week, of tranches due this week and reports overdue."""
    from coalition.grants.grantee_reports import send_staff_digest

    count = send_staff_digest()
    db.session.commit()
    if count:
        log.info("grants digest queued", extra={"fields": {"convenors": count}})


def backup_nightly() -> None:
    """Tonight's backup archive in BACKUP_FOLDER (once per night), keeping the last BACKUP_KEEP."""
    from coalition.backup import nightly_backup

    written = nightly_backup()
    if written is not None:
        log.info("backup written", extra={"fields": {"path": str(written)}})


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
        # Grants: daily runs, each reminder and each week's digest sent once (outbox keys).
        (remind_grantees, {"trigger": "cron", "hour": 7, "minute": 30}),
        (report_grants_due, {"trigger": "cron", "hour": 7, "minute": 45}),
        # A vote closes at its closing time: looked for every few seconds.
        (close_due_votes, {"trigger": "interval", "seconds": app.config["JOBS_POLL_SECONDS"]}),
        # Reminders are keyed, so the quarter-hourly run sends each once.
        (remind_voters, {"trigger": "cron", "minute": "*/15"}),
    ]
    # Steering reports, and the nightly backup.
    jobs += [
        (send_monthly_reports, {"trigger": "cron", "day": 1, "hour": 4, "minute": 0}),
        (remove_old_reports, {"trigger": "cron", "hour": 3, "minute": 45}),
        (backup_nightly, {"trigger": "cron", "hour": app.config["BACKUP_HOUR"], "minute": 45}),
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


class SchedulerAlreadyRunning(RuntimeError):
    """Another scheduler holds this installation's lock."""


# A number of our own for PostgreSQL's advisory lock: "coalition scheduler".
ADVISORY_LOCK_KEY = 0x636F616C


def hold_scheduler_lock(app):
    """Take the installation's scheduler lock for the life of the process, or raise.

    PostgreSQL: a session advisory lock on a connection kept open (released by
    the server when the process dies, however it dies). SQLite: an exclusive
    ``flock`` on a file beside the database (released by the kernel). Returns
    what must stay referenced while the lock is held.
    """
    engine = db.engine
    if engine.dialect.name == "postgresql":
        connection = engine.connect()
        got = connection.exec_driver_sql(
            f"SELECT pg_try_advisory_lock({ADVISORY_LOCK_KEY})"
        ).scalar()
        connection.commit()
        if not got:
            connection.close()
            raise SchedulerAlreadyRunning("another scheduler runs for this database")
        return connection
    database = engine.url.database
    lock_path = (
        Path(f"{database}-scheduler.lock")
        if database and database != ":memory:"
        else Path(app.instance_path) / "scheduler.lock"
    )
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise SchedulerAlreadyRunning(f"another scheduler holds {lock_path}") from None
    return descriptor


def release_scheduler_lock(held) -> None:
    with contextlib.suppress(Exception):
        if isinstance(held, int):
            os.close(held)
        else:
            held.close()


def recover_interrupted_work() -> int:
    """What a killed scheduler left half-done: jobs left running are marked failed (their
    data untouched), emails left in flight are marked failed (they may have arrived)."""
    from coalition.jobs import fail_interrupted
    from coalition.mail import fail_interrupted_sends

    try:
        return fail_interrupted() + fail_interrupted_sends()
    finally:
        db.session.remove()


def run_forever() -> None:
    app = current_app._get_current_object()
    held = hold_scheduler_lock(app)
    interrupted = recover_interrupted_work()
    if interrupted:
        log.warning("interrupted work marked failed", extra={"fields": {"count": interrupted}})
    scheduler = build_scheduler(app)

    def _stop(signum, _frame):
        log.info("scheduler stopping", extra={"fields": {"signal": signum}})
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduler started", extra={"fields": {"jobs": [j.id for j in scheduler.get_jobs()]}})
    try:
        scheduler.start()
    finally:
        release_scheduler_lock(held)
