"""Background jobs: long work (big imports, big PDFs) runs in the scheduler
process, never in a web request, and shows its progress. Account requests
whose time must not depend on the address typed (sign-up, password reset,
a new confirmation link) are finished here too (``accounts.operations``).

Each area registers the handlers of its kinds when the app starts
(``register(kind, handler)``, called from ``create_app``): this module never
imports an area. A view calls ``enqueue(kind, ...)``; the scheduler's
``run_pending`` claims queued jobs one at a time and calls the handler
registered for the kind.
A handler gets the job and reports ``job.report_progress(done, total)``;
progress is committed as it goes, so pages polling the job see it. The
handler's result (JSON) is kept on the job. A handler that raises leaves the
job failed with the error, and the data as it was.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db

log = logging.getLogger("coalition.jobs")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.QUEUED)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # An uploaded file the job works on (kept in the database, never on a web path).
    payload: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, deferred=True)
    error: Mapped[str | None] = mapped_column(sa.Text)

    created_by: Mapped[User | None] = relationship()

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(99, int(100 * self.progress_done / self.progress_total))

    def report_progress(self, done: int, total: int | None = None) -> None:
        """Record progress and commit it, so that pages see it now.

        Call it only between units of work that hold no open write: on
        SQLite a commit ends the job's transaction.
        """
        self.progress_done = done
        if total is not None:
            self.progress_total = total
        db.session.commit()


Handler = Callable[[Job], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}


def register(kind: str, fn: Handler) -> None:
    """Run ``fn`` for the jobs of ``kind`` (once per kind; the same again is fine)."""
    known = _HANDLERS.get(kind)
    if known is not None and known is not fn:
        raise ValueError(f"job kind {kind!r} already has a handler")
    _HANDLERS[kind] = fn


def enqueue(
    kind: str,
    *,
    created_by: User | None,
    params: dict[str, Any] | None = None,
    payload: bytes | None = None,
) -> Job:
    """Queue a job (the request commits it; the scheduler runs it)."""
    if kind not in _HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    job = Job(kind=kind, created_by=created_by, params=params or {}, payload=payload)
    db.session.add(job)
    db.session.flush()
    return job


def claim_next() -> Job | None:
    """Take the oldest queued job and mark it running (committed)."""
    job = db.session.scalar(
        sa.select(Job)
        .where(Job.status == JobStatus.QUEUED)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job is None:
        db.session.rollback()
        return None
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    db.session.commit()
    return job


def run(job: Job) -> None:
    """Run one claimed job to the end; never raises."""
    fn = _HANDLERS.get(job.kind)
    job_id = job.id
    try:
        if fn is None:
            raise RuntimeError(f"no handler for job kind {job.kind!r}")
        result = fn(job)
    except Exception as exc:
        db.session.rollback()
        job = db.session.get(Job, job_id)
        job.status = JobStatus.FAILED
        job.error = f"{type(exc).__name__}: {exc}"[:4000]
        job.finished_at = utcnow()
        db.session.commit()
        log.exception("job failed", extra={"fields": {"job_id": job_id, "kind": job.kind}})
        return
    job.result = result
    job.status = JobStatus.DONE
    job.finished_at = utcnow()
    db.session.commit()


INTERRUPTED = "Interrupted: the scheduler stopped while this job ran; nothing it did was kept."


def fail_interrupted() -> int:
    """Mark failed the jobs left running by a scheduler that died (killed, machine down).

    Called once when the scheduler starts, while it holds the installation's
    scheduler lock (``coalition.scheduler``), so no other scheduler runs them.
    A handler writes in the job's final transaction, which never committed:
    the data is as it was, and an import can be started again. Returns how many.
    """
    stale = db.session.scalars(
        sa.select(Job).where(Job.status == JobStatus.RUNNING).with_for_update()
    ).all()
    for job in stale:
        job.status = JobStatus.FAILED
        job.error = INTERRUPTED
        job.finished_at = utcnow()
        log.warning("job interrupted", extra={"fields": {"job_id": job.id, "kind": job.kind}})
    db.session.commit()
    return len(stale)


def run_pending(limit: int = 10) -> int:
    """Run queued jobs, oldest first, up to ``limit``. Returns how many ran."""
    ran = 0
    for _ in range(limit):
        job = claim_next()
        if job is None:
            break
        run(job)
        ran += 1
    return ran
