"""A generated report: what was asked, by whom, and the PDF kept under instance/."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, utcnow
from coalition.extensions import db
from coalition.jobs import Job


class GeneratedReport(db.Model):
    """One report asked for (by a person, or by the scheduler), and its PDF once made.

    ``pending_key`` names the parameters and the person while the report is
    being made, and is unique: the same report asked for twice at once is
    made once (the second request finds the first). It is cleared when the
    job ends. ``schedule_key`` marks the reports the scheduler makes, once
    per period and language.
    """

    __tablename__ = "generated_reports"
    __table_args__ = (sa.Index("ix_generated_reports_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(8))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    confidential: Mapped[bool] = mapped_column(default=False)
    # What a later kind needs besides the period (a round, an application...).
    options: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    pending_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    schedule_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The PDF's random name under the reports folder (never a name a user chose).
    file_name: Mapped[str | None] = mapped_column(sa.String(64))
    size_bytes: Mapped[int | None] = mapped_column()
    page_count: Mapped[int | None] = mapped_column()

    requested_by: Mapped[User | None] = relationship()
    job: Mapped[Job | None] = relationship()

    @property
    def ready(self) -> bool:
        return self.file_name is not None
