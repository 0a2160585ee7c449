"""Reviews of grant applications: who reviews what, their conflict-of-interest
declarations, and the reviews themselves with one score per rubric criterion.

A conflict declaration belongs to a person and an application, whatever
their capacity (reviewer or steering member): the steering vote reads the
same rows to leave recused seats out of its frozen roll.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db
from coalition.grants.models import Application, Criterion, DomainError
from coalition.i18n import cached_label

SCORE_MIN, SCORE_MAX = 1, 5


class ConflictKind(enum.StrEnum):
    NONE = "none"
    CONFLICT = "conflict"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                ConflictKind.NONE: _l("No conflict of interest"),
                ConflictKind.CONFLICT: _l("Conflict of interest"),
            }[self],
        )


class ConflictDeclaration(db.Model):
    """What one person declared about one application: no conflict, or a conflict.

    "No conflict" may later become a conflict, never the other way; a
    conflict recuses the person from the application (its review, its
    reviews, its vote). ``declared_at`` is the time of the current kind.
    """

    __tablename__ = "conflict_declarations"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "application_id"),
        sa.Index("ix_conflict_declarations_application_kind", "application_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE")
    )
    kind: Mapped[ConflictKind] = mapped_column(enum_column(ConflictKind))
    description: Mapped[str | None] = mapped_column(sa.Text)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
    application: Mapped[Application] = relationship()

    @property
    def is_conflict(self) -> bool:
        return self.kind == ConflictKind.CONFLICT


class ReviewStatus(enum.StrEnum):
    ASSIGNED = "assigned"  # waiting for the reviewer's conflict declaration
    IN_PROGRESS = "in_progress"  # no conflict declared: a draft, saved any number of times
    SUBMITTED = "submitted"  # locked
    RECUSED = "recused"  # the reviewer declared a conflict
    UNASSIGNED = "unassigned"  # staff took the application back from this reviewer

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                ReviewStatus.ASSIGNED: _l("Conflict declaration due"),
                ReviewStatus.IN_PROGRESS: _l("In progress"),
                ReviewStatus.SUBMITTED: _l("Submitted"),
                ReviewStatus.RECUSED: _l("Recused"),
                ReviewStatus.UNASSIGNED: _l("Unassigned"),
            }[self],
        )


# Every status change of a review, in one place.
_R = ReviewStatus
REVIEW_TRANSITIONS: dict[ReviewStatus, frozenset[ReviewStatus]] = {
    _R.ASSIGNED: frozenset({_R.IN_PROGRESS, _R.RECUSED, _R.UNASSIGNED}),
    _R.IN_PROGRESS: frozenset({_R.SUBMITTED, _R.RECUSED, _R.UNASSIGNED}),
    # Staff reopen a submitted review; a conflict found late still recuses.
    _R.SUBMITTED: frozenset({_R.IN_PROGRESS, _R.RECUSED}),
    _R.RECUSED: frozenset(),
    # Staff assign the same reviewer again.
    _R.UNASSIGNED: frozenset({_R.ASSIGNED}),
}
# Reviews that count: towards an application's reviewers and a reviewer's load.
ACTIVE_REVIEW = frozenset({_R.ASSIGNED, _R.IN_PROGRESS, _R.SUBMITTED})
# Reviews still owed by their reviewer.
PENDING_REVIEW = frozenset({_R.ASSIGNED, _R.IN_PROGRESS})


class Recommendation(enum.StrEnum):
    FUND = "fund"
    FUND_WITH_CHANGES = "fund_with_changes"
    DO_NOT_FUND = "do_not_fund"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                Recommendation.FUND: lazy_pgettext("recommendation", "Fund"),
                Recommendation.FUND_WITH_CHANGES: _l("Fund with changes"),
                Recommendation.DO_NOT_FUND: _l("Do not fund"),
            }[self],
        )


class Review(db.Model):
    """One reviewer's review of one application."""

    __tablename__ = "reviews"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "reviewer_id"),
        sa.Index("ix_reviews_reviewer_status", "reviewer_id", "status"),
        sa.Index("ix_reviews_application_status", "application_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE")
    )
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[ReviewStatus] = mapped_column(
        enum_column(ReviewStatus), default=ReviewStatus.ASSIGNED
    )
    recommendation: Mapped[Recommendation | None] = mapped_column(enum_column(Recommendation))
    # Shown to the applicant with the decision.
    comment_applicant: Mapped[str | None] = mapped_column(sa.Text)
    # For staff and the steering group only.
    comment_confidential: Mapped[str | None] = mapped_column(sa.Text)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    assigned_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when staff reopen the review; a reopening after the review deadline
    # lets the reviewer submit once more.
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    application: Mapped[Application] = relationship(lazy="joined", innerjoin=True)
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    scores: Mapped[list[ReviewScore]] = relationship(
        back_populates="review", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def score_by_criterion(self) -> dict[int, int]:
        return {s.criterion_id: s.score for s in self.scores}

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_REVIEW

    def can_move_to(self, target: ReviewStatus) -> bool:
        return ReviewStatus(target) in REVIEW_TRANSITIONS[ReviewStatus(self.status)]

    def move_to(self, target: ReviewStatus) -> ReviewStatus:
        """Change status along the lifecycle; refuse any other move. Returns the old status."""
        from flask_babel import gettext as _

        target = ReviewStatus(target)
        current = ReviewStatus(self.status)
        if target not in REVIEW_TRANSITIONS[current]:
            raise DomainError(
                _(
                    "A review that is %(current)s cannot become %(target)s.",
                    current=current.label.lower(),
                    target=target.label.lower(),
                )
            )
        self.status = target
        return current


class ReviewScore(db.Model):
    """One criterion's score in a review, 1 to 5."""

    __tablename__ = "review_scores"
    __table_args__ = (
        sa.CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="score_range"),
    )

    review_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    criterion_id: Mapped[int] = mapped_column(
        sa.ForeignKey("criteria.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[int] = mapped_column()

    review: Mapped[Review] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()
