"""The grant fund: funds, rounds (calls for proposals), applications with
their budget lines and attachments, and the history of their status."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, sync_rows, utcnow
from coalition.extensions import db
from coalition.i18n import cached_label


class DomainError(Exception):
    """A refused change, with a message for the person and the form field it concerns."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# -- Funds ----------------------------------------------------------------------


fund_countries = sa.Table(
    "fund_countries",
    db.metadata,
    sa.Column("fund_id", sa.ForeignKey("funds.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("country", sa.String(2), primary_key=True),
)


class FundCountry(db.Model):
    __table__ = fund_countries


class Fund(db.Model):
    __tablename__ = "funds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    partner: Mapped[str | None] = mapped_column(sa.String(200))
    # ISO 4217; amounts are integers in the currency's minor unit.
    currency: Mapped[str] = mapped_column(sa.String(3))
    total_budget: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    country_rows: Mapped[list[FundCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    rounds: Mapped[list[Round]] = relationship(back_populates="fund", order_by="Round.opens_at")

    @property
    def eligible_countries(self) -> list[str]:
        return sorted(r.country for r in self.country_rows)

    @eligible_countries.setter
    def eligible_countries(self, codes) -> None:
        sync_rows(
            self.country_rows,
            {c.upper() for c in codes},
            key="country",
            make=lambda code: FundCountry(country=code),
        )


# -- Rounds ---------------------------------------------------------------------


class RoundPhase(enum.StrEnum):
    """What staff set. Open and closed are not set: they follow the clock."""

    DRAFT = "draft"
    PUBLISHED = "published"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    ARCHIVED = "archived"


class RoundStatus(enum.StrEnum):
    """What a person sees: the phase, with the clock applied to a published round."""

    DRAFT = "draft"
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    ARCHIVED = "archived"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                RoundStatus.DRAFT: _l("Draft"),
                RoundStatus.UPCOMING: _l("Announced"),
                RoundStatus.OPEN: _l("Open"),
                RoundStatus.CLOSED: _l("Closed"),
                RoundStatus.IN_REVIEW: _l("In review"),
                RoundStatus.DECIDED: _l("Decided"),
                RoundStatus.ARCHIVED: _l("Archived"),
            }[self],
        )


# The moves staff make, in one place. DRAFT -> PUBLISHED opens the round at
# its opening time; a published round goes to review only once it has closed.
ROUND_MOVES: dict[RoundPhase, frozenset[RoundPhase]] = {
    RoundPhase.DRAFT: frozenset({RoundPhase.PUBLISHED}),
    RoundPhase.PUBLISHED: frozenset({RoundPhase.DRAFT, RoundPhase.IN_REVIEW}),
    RoundPhase.IN_REVIEW: frozenset({RoundPhase.DECIDED}),
    RoundPhase.DECIDED: frozenset({RoundPhase.ARCHIVED}),
    RoundPhase.ARCHIVED: frozenset(),
}


class AttachmentKind(enum.StrEnum):
    PROPOSAL = "proposal"
    BUDGET = "budget"
    REGISTRATION = "registration"
    CV = "cv"
    LETTER = "letter"
    OTHER = "other"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                AttachmentKind.PROPOSAL: _l("Full proposal"),
                AttachmentKind.BUDGET: _l("Detailed budget"),
                AttachmentKind.REGISTRATION: _l("Registration certificate"),
                AttachmentKind.CV: _l("CVs of the team"),
                AttachmentKind.LETTER: _l("Letter of support"),
                AttachmentKind.OTHER: _l("Other document"),
            }[self],
        )


class Round(db.Model):
    __tablename__ = "rounds"
    __table_args__ = (
        sa.CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        sa.CheckConstraint("min_grant <= max_grant", name="min_below_max"),
        sa.CheckConstraint("reviewers_per_application >= 1", name="some_reviewers"),
        sa.CheckConstraint("appeal_days >= 0", name="appeal_days_positive"),
        sa.Index("ix_rounds_phase_times", "phase", "opens_at", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fund_id: Mapped[int] = mapped_column(sa.ForeignKey("funds.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    review_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    budget: Mapped[int] = mapped_column(sa.BigInteger)
    min_grant: Mapped[int] = mapped_column(sa.BigInteger)
    max_grant: Mapped[int] = mapped_column(sa.BigInteger)
    required_attachments: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    reviewers_per_application: Mapped[int] = mapped_column(default=2)
    blind_review: Mapped[bool] = mapped_column(default=False)
    # Days a rejected applicant has to lodge an appeal, from the decision.
    appeal_days: Mapped[int] = mapped_column(default=14, server_default="14")
    phase: Mapped[RoundPhase] = mapped_column(enum_column(RoundPhase), default=RoundPhase.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    fund: Mapped[Fund] = relationship(back_populates="rounds", lazy="joined")
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="round",
        cascade="all, delete-orphan",
        order_by="Criterion.position",
        lazy="selectin",
    )

    def status_at(self, now: datetime) -> RoundStatus:
        if self.phase != RoundPhase.PUBLISHED:
            return RoundStatus(self.phase.value)
        if now < self.opens_at:
            return RoundStatus.UPCOMING
        if now < self.closes_at:
            return RoundStatus.OPEN
        return RoundStatus.CLOSED

    @property
    def status(self) -> RoundStatus:
        return self.status_at(utcnow())

    def is_open(self, now: datetime | None = None) -> bool:
        """Open to submissions: the server's clock decides, to the second."""
        return self.status_at(now or utcnow()) == RoundStatus.OPEN

    @property
    def currency(self) -> str:
        return self.fund.currency

    @property
    def required_kinds(self) -> list[AttachmentKind]:
        return [AttachmentKind(k) for k in self.required_attachments or []]

    def move_to(self, target: RoundPhase, now: datetime | None = None) -> RoundPhase:
        """Move the round along its lifecycle; refuse any other move."""
        from flask_babel import gettext as _

        now = now or utcnow()
        current = RoundPhase(self.phase)
        target = RoundPhase(target)
        if target not in ROUND_MOVES[current]:
            raise DomainError(
                _(
                    "A round that is %(current)s cannot move to %(target)s.",
                    current=self.status_at(now).label.lower(),
                    target=(
                        _("published")
                        if target == RoundPhase.PUBLISHED
                        else RoundStatus(target.value).label.lower()
                    ),
                )
            )
        if target == RoundPhase.IN_REVIEW and now < self.closes_at:
            raise DomainError(_("The round is still open: it goes to review after it closes."))
        if target == RoundPhase.DRAFT and now >= self.opens_at:
            raise DomainError(_("The round has opened: it can no longer go back to draft."))
        self.phase = target
        return current


class Criterion(db.Model):
    """One criterion of a round's review rubric; scores are weighted by ``weight``."""

    __tablename__ = "criteria"
    __table_args__ = (sa.CheckConstraint("weight > 0", name="positive_weight"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rounds.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    weight: Mapped[int] = mapped_column(default=1)

    round: Mapped[Round] = relationship(back_populates="criteria")


# -- Applications ---------------------------------------------------------------


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    IN_VOTE = "in_vote"
    APPROVED = "approved"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    AWARDED = "awarded"
    REPORTING = "reporting"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return cached_label(self, APPLICATION_STATUS_LABELS[self])


APPLICATION_STATUS_LABELS = {
    ApplicationStatus.DRAFT: _l("Draft"),
    ApplicationStatus.SUBMITTED: _l("Submitted"),
    ApplicationStatus.SCREENING: _l("Being screened"),
    ApplicationStatus.ELIGIBLE: _l("Eligible, in review"),
    ApplicationStatus.INELIGIBLE: _l("Not eligible"),
    ApplicationStatus.IN_VOTE: _l("Steering vote"),
    ApplicationStatus.APPROVED: _l("Approved"),
    ApplicationStatus.WAITLISTED: _l("Waitlisted"),
    ApplicationStatus.REJECTED: _l("Not funded"),
    ApplicationStatus.AWARDED: _l("Awarded"),
    ApplicationStatus.REPORTING: _l("Reporting"),
    ApplicationStatus.COMPLETED: _l("Completed"),
    ApplicationStatus.WITHDRAWN: lazy_pgettext("application status", "Withdrawn"),
}

# Every status change of an application, in one place.
_S = ApplicationStatus
APPLICATION_TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED}),
    _S.SUBMITTED: frozenset({_S.SCREENING, _S.ELIGIBLE, _S.INELIGIBLE, _S.WITHDRAWN}),
    _S.SCREENING: frozenset({_S.ELIGIBLE, _S.INELIGIBLE, _S.WITHDRAWN}),
    _S.ELIGIBLE: frozenset({_S.IN_VOTE, _S.REJECTED, _S.WITHDRAWN}),
    _S.INELIGIBLE: frozenset(),
    _S.IN_VOTE: frozenset({_S.APPROVED, _S.WAITLISTED, _S.REJECTED, _S.WITHDRAWN}),
    _S.APPROVED: frozenset({_S.AWARDED}),
    _S.WAITLISTED: frozenset({_S.APPROVED, _S.REJECTED}),
    # An upheld appeal sends a rejected application back to a new vote.
    _S.REJECTED: frozenset({_S.IN_VOTE}),
    _S.AWARDED: frozenset({_S.REPORTING}),
    _S.REPORTING: frozenset({_S.COMPLETED}),
    _S.COMPLETED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}
# Before a decision, the applicant may withdraw.
WITHDRAWABLE = frozenset(
    s for s, targets in APPLICATION_TRANSITIONS.items() if _S.WITHDRAWN in targets
)


class RegistrationStatus(enum.StrEnum):
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                RegistrationStatus.REGISTERED: _l("Legally registered"),
                RegistrationStatus.UNREGISTERED: _l(
                    "Not registered (applying through a fiscal host)"
                ),
            }[self],
        )


application_countries = sa.Table(
    "application_countries",
    db.metadata,
    sa.Column(
        "application_id", sa.ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("country", sa.String(2), primary_key=True, index=True),
)


class ApplicationCountry(db.Model):
    __table__ = application_countries


class Application(db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        sa.Index("ix_applications_round_status", "round_id", "status"),
        sa.Index("ix_applications_round_submitted", "round_id", "submitted_at"),
        sa.Index("ix_applications_round_country", "round_id", "org_country"),
        sa.Index("ix_applications_applicant", "applicant_id", "created_at"),
        # The daily staff digest looks for submitted rows staff have not heard of.
        sa.Index("ix_applications_staff_notified", "staff_notified_at", "submitted_at"),
        sa.CheckConstraint(
            "requested_amount IS NULL OR requested_amount >= 0", name="amount_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("rounds.id"), index=True)
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus), default=ApplicationStatus.DRAFT
    )
    # Who applies: a member of the register, or an organisation described here.
    member_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    org_name: Mapped[str | None] = mapped_column(sa.String(300))
    org_country: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    org_registration: Mapped[RegistrationStatus | None] = mapped_column(
        enum_column(RegistrationStatus)
    )
    fiscal_host_name: Mapped[str | None] = mapped_column(sa.String(300))
    fiscal_host_country: Mapped[str | None] = mapped_column(sa.String(2))
    # The proposal.
    title: Mapped[str | None] = mapped_column(sa.String(200))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    problem: Mapped[str | None] = mapped_column(sa.Text)
    activities: Mapped[str | None] = mapped_column(sa.Text)
    outcomes: Mapped[str | None] = mapped_column(sa.Text)
    elections: Mapped[str | None] = mapped_column(sa.Text)
    duration_months: Mapped[int | None] = mapped_column()
    # Integer minor units of the fund's currency.
    requested_amount: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the convenors' daily digest counted this submission (null: not yet).
    staff_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(sa.Text)
    screening_reason: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    round: Mapped[Round] = relationship(lazy="joined", innerjoin=True)
    applicant: Mapped[User] = relationship()
    budget_lines: Mapped[list[BudgetLine]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="BudgetLine.position",
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", order_by="Attachment.id"
    )
    country_rows: Mapped[list[ApplicationCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    status_changes: Mapped[list[ApplicationStatusChange]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationStatusChange.created_at.desc()",
    )

    @property
    def countries(self) -> list[str]:
        return sorted(r.country for r in self.country_rows)

    @countries.setter
    def countries(self, codes) -> None:
        sync_rows(
            self.country_rows,
            {c.upper() for c in codes},
            key="country",
            make=lambda code: ApplicationCountry(country=code),
        )

    @property
    def budget_total(self) -> int:
        return sum(line.amount or 0 for line in self.budget_lines)

    @property
    def is_draft(self) -> bool:
        return self.status == ApplicationStatus.DRAFT

    def can_move_to(self, target: ApplicationStatus) -> bool:
        return ApplicationStatus(target) in APPLICATION_TRANSITIONS[ApplicationStatus(self.status)]

    def move_to(self, target: ApplicationStatus) -> ApplicationStatus:
        """Change status along the lifecycle; refuse any other move. Returns the old status."""
        from flask_babel import gettext as _

        target = ApplicationStatus(target)
        current = ApplicationStatus(self.status)
        if target not in APPLICATION_TRANSITIONS[current]:
            raise DomainError(
                _(
                    "An application that is %(current)s cannot become %(target)s.",
                    current=current.label.lower(),
                    target=target.label.lower(),
                )
            )
        self.status = target
        self.status_changed_at = utcnow()
        return current


class BudgetLine(db.Model):
    __tablename__ = "budget_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    category: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    amount: Mapped[int | None] = mapped_column(sa.BigInteger)

    application: Mapped[Application] = relationship(back_populates="budget_lines")


class Attachment(db.Model):
    """An uploaded file: stored outside the web root under a random name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(enum_column(AttachmentKind))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="attachments")


class ApplicationStatusChange(db.Model):
    __tablename__ = "application_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ApplicationStatus | None] = mapped_column(
        enum_column(ApplicationStatus, name="from_status")
    )
    to_status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus, name="to_status")
    )
    reason: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="status_changes")
    actor: Mapped[User | None] = relationship()
