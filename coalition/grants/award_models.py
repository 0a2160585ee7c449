"""Grants: an approved application turned into an award, with its disbursement
tranches and the reports its grantee owes.

Amounts are integers in the fund currency's minor unit. A grant's state moves
only through ``Award.move_to`` (``GRANT_TRANSITIONS``), a report's only
through ``GranteeReport.move_to`` (``REPORT_TRANSITIONS``). "Report overdue"
is not stored: it is derived from the reports' due dates (``GrantState``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db
from coalition.grants.models import Application, BudgetLine, DomainError, Round
from coalition.i18n import cached_label


class GrantStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return cached_label(self, GRANT_STATE_LABELS[GrantState(self.value)])


class GrantState(enum.StrEnum):
    """What a person sees: the stored status, with "report overdue" derived from the dates."""

    ACTIVE = "active"
    REPORT_OVERDUE = "report_overdue"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return cached_label(self, GRANT_STATE_LABELS[self])


GRANT_STATE_LABELS = {
    GrantState.ACTIVE: _l("Active"),
    GrantState.REPORT_OVERDUE: _l("Report overdue"),
    GrantState.COMPLETED: _l("Completed"),
    GrantState.CANCELLED: _l("Cancelled"),
}

# Every change of a grant's status, in one place. A completed grant is final:
# it cannot be cancelled.
_G = GrantStatus
GRANT_TRANSITIONS: dict[GrantStatus, frozenset[GrantStatus]] = {
    _G.ACTIVE: frozenset({_G.COMPLETED, _G.CANCELLED}),
    _G.COMPLETED: frozenset(),
    _G.CANCELLED: frozenset(),
}


class Payee(enum.StrEnum):
    ORGANISATION = "organisation"
    FISCAL_HOST = "fiscal_host"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                Payee.ORGANISATION: _l("The organisation"),
                Payee.FISCAL_HOST: _l("Its fiscal host"),
            }[self],
        )


class Award(db.Model):
    """The grant made on one application."""

    __tablename__ = "awards"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        sa.Index("ix_awards_round_status", "round_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    # The application's round, kept here for the budget sums.
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("rounds.id"))
    status: Mapped[GrantStatus] = mapped_column(
        enum_column(GrantStatus), default=GrantStatus.ACTIVE
    )
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    # Why less than requested was awarded (required then).
    reduction_reason: Mapped[str | None] = mapped_column(sa.Text)
    conditions: Mapped[str] = mapped_column(sa.Text, default="")
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    payee: Mapped[Payee] = mapped_column(enum_column(Payee))
    # The payee's name and country when the award was made.
    payee_name: Mapped[str] = mapped_column(sa.String(300))
    payee_country: Mapped[str | None] = mapped_column(sa.String(2))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    awarded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancellation_reason: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    application: Mapped[Application] = relationship(lazy="joined", innerjoin=True)
    round: Mapped[Round] = relationship()
    tranches: Mapped[list[Tranche]] = relationship(
        back_populates="award",
        cascade="all, delete-orphan",
        order_by=lambda: [Tranche.planned_on, Tranche.position],
    )
    reports: Mapped[list[GranteeReport]] = relationship(
        back_populates="award",
        cascade="all, delete-orphan",
        order_by=lambda: [GranteeReport.due_on, GranteeReport.position],
    )

    @property
    def paid_total(self) -> int:
        return sum(t.amount for t in self.tranches if t.paid_on is not None)

    @property
    def committed(self) -> int:
        """What counts against the budgets: the amount, or what was paid once cancelled."""
        if self.status == GrantStatus.CANCELLED:
            return self.paid_total
        return self.amount

    def state_on(self, today: date) -> GrantState:
        if self.status == GrantStatus.ACTIVE and any(r.is_overdue(today) for r in self.reports):
            return GrantState.REPORT_OVERDUE
        return GrantState(GrantStatus(self.status).value)

    def can_move_to(self, target: GrantStatus) -> bool:
        return GrantStatus(target) in GRANT_TRANSITIONS[GrantStatus(self.status)]

    def move_to(self, target: GrantStatus) -> GrantStatus:
        """Change status along the lifecycle; refuse any other move. Returns the old status."""
        from flask_babel import gettext as _

        target = GrantStatus(target)
        current = GrantStatus(self.status)
        if target not in GRANT_TRANSITIONS[current]:
            raise DomainError(
                _(
                    "A grant that is %(current)s cannot become %(target)s.",
                    current=current.label.lower(),
                    target=target.label.lower(),
                )
            )
        self.status = target
        return current


class Tranche(db.Model):
    """One disbursement: planned, then paid (with the date and the payment's reference)."""

    __tablename__ = "award_tranches"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(paid_on IS NULL) = (payment_reference IS NULL)", name="paid_with_reference"
        ),
        sa.Index("ix_award_tranches_award_planned", "award_id", "planned_on"),
        sa.Index("ix_award_tranches_planned_paid", "planned_on", "paid_on"),
        # The paid tranches alone, with what the money figures sum: what was paid
        # per grant is read from this index, not from every tranche.
        sa.Index(
            "ix_award_tranches_paid",
            "award_id",
            "amount",
            sqlite_where=sa.text("paid_on IS NOT NULL"),
            postgresql_where=sa.text("paid_on IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("awards.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    planned_on: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    # Paid only once this report is accepted (or with an override reason).
    condition_report_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("grantee_reports.id", ondelete="SET NULL"), index=True
    )
    paid_on: Mapped[date | None] = mapped_column(sa.Date)
    payment_reference: Mapped[str | None] = mapped_column(sa.String(100))
    paid_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Why it was paid although its condition was not met.
    override_reason: Mapped[str | None] = mapped_column(sa.Text)

    award: Mapped[Award] = relationship(back_populates="tranches")
    condition_report: Mapped[GranteeReport | None] = relationship(
        foreign_keys=[condition_report_id]
    )

    @property
    def is_paid(self) -> bool:
        return self.paid_on is not None

    @property
    def condition_met(self) -> bool:
        report = self.condition_report
        return report is None or report.status == ReportStatus.ACCEPTED


class ReportKind(enum.StrEnum):
    INTERIM = "interim"
    FINAL = "final"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {ReportKind.INTERIM: _l("Interim report"), ReportKind.FINAL: _l("Final report")}[self],
        )


class ReportStatus(enum.StrEnum):
    DUE = "due"  # not submitted yet: a draft, saved any number of times
    SUBMITTED = "submitted"  # waiting for staff
    CHANGES_REQUESTED = "changes_requested"  # back with the grantee, with staff's comment
    ACCEPTED = "accepted"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                ReportStatus.DUE: _l("Due"),
                ReportStatus.SUBMITTED: _l("Submitted"),
                ReportStatus.CHANGES_REQUESTED: _l("Changes requested"),
                ReportStatus.ACCEPTED: _l("Accepted"),
            }[self],
        )


_RS = ReportStatus
REPORT_TRANSITIONS: dict[ReportStatus, frozenset[ReportStatus]] = {
    _RS.DUE: frozenset({_RS.SUBMITTED}),
    _RS.SUBMITTED: frozenset({_RS.ACCEPTED, _RS.CHANGES_REQUESTED}),
    _RS.CHANGES_REQUESTED: frozenset({_RS.SUBMITTED}),
    _RS.ACCEPTED: frozenset(),
}
# Reports the grantee still owes (and may edit).
OPEN_REPORT = frozenset({_RS.DUE, _RS.CHANGES_REQUESTED})


class GranteeReport(db.Model):
    """An interim or final report a grantee owes by a set date."""

    __tablename__ = "grantee_reports"
    # Open reports by due date with their grant: the reminders, the "report overdue"
    # filter and the money figures' counts read this index alone.
    __table_args__ = (
        sa.Index("ix_grantee_reports_status_due_award", "status", "due_on", "award_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(
        sa.ForeignKey("awards.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind))
    due_on: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus), default=ReportStatus.DUE
    )
    # The grantee's sections.
    activities: Mapped[str | None] = mapped_column(sa.Text)
    results: Mapped[str | None] = mapped_column(sa.Text)
    problems: Mapped[str | None] = mapped_column(sa.Text)
    spending_note: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    submissions: Mapped[int] = mapped_column(default=0)
    # Staff's answer: accepted, or changes asked for with a comment.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    staff_comment: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    award: Mapped[Award] = relationship(back_populates="reports")
    history: Mapped[list[ReportSubmission]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="ReportSubmission.number",
    )
    spending: Mapped[list[ReportSpending]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportSpending.id"
    )
    attachments: Mapped[list[ReportAttachment]] = relationship(
        back_populates="report", order_by="ReportAttachment.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REPORT

    def is_overdue(self, today: date) -> bool:
        return self.status in OPEN_REPORT and self.due_on < today

    def move_to(self, target: ReportStatus) -> ReportStatus:
        from flask_babel import gettext as _

        target = ReportStatus(target)
        current = ReportStatus(self.status)
        if target not in REPORT_TRANSITIONS[current]:
            raise DomainError(
                _(
                    "A report that is %(current)s cannot become %(target)s.",
                    current=current.label.lower(),
                    target=target.label.lower(),
                )
            )
        self.status = target
        return current


class ReportSubmission(db.Model):
    """What the grantee submitted, as submitted, and the staff's answer to it.

    One row per submission: after staff ask for changes, the report is edited
    and submitted again, and the earlier text, spending and list of files stay
    readable here beside the comment that sent them back.
    """

    __tablename__ = "grantee_report_submissions"
    __table_args__ = (sa.UniqueConstraint("report_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("grantee_reports.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    # {"sections": {...}, "spending": {budget_line_id: spent}, "files": [[name, sha256]]}
    content: Mapped[dict] = mapped_column(sa.JSON)
    outcome: Mapped[ReportStatus | None] = mapped_column(
        enum_column(ReportStatus, name="submission_outcome")
    )
    comment: Mapped[str | None] = mapped_column(sa.Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    report: Mapped[GranteeReport] = relationship(back_populates="history")


class ReportSpending(db.Model):
    """What was spent so far on one budget line of the application."""

    __tablename__ = "grantee_report_spending"
    __table_args__ = (
        sa.UniqueConstraint("report_id", "budget_line_id"),
        sa.CheckConstraint("spent >= 0", name="spent_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("grantee_reports.id", ondelete="CASCADE"))
    budget_line_id: Mapped[int] = mapped_column(
        sa.ForeignKey("budget_lines.id", ondelete="CASCADE"), index=True
    )
    spent: Mapped[int] = mapped_column(sa.BigInteger)

    report: Mapped[GranteeReport] = relationship(back_populates="spending")
    budget_line: Mapped[BudgetLine] = relationship()


class ReportAttachment(db.Model):
    """A file attached to a report: checked and stored like an application's (``files``)."""

    __tablename__ = "grantee_report_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("grantee_reports.id"), index=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    report: Mapped[GranteeReport] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User | None] = relationship()
