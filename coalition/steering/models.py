"""The steering group's seats and votes.

A seat is a member organisation whose steering term covers the day and whose
status is active (``Member.steering_from``/``steering_until``); ``SteeringSeat``
keeps who sits for it: one representative and, if any, one alternate.

A vote freezes its roll when it opens: ``VoteSeat`` rows copy each seat with
its representative and alternate, ``VoteRecusal`` rows each conflict known
then. Neither is recomputed; a conflict declared while the vote is open only
adds a recusal, with its time. ``SeatVote`` is a seat's current vote on one
application (one per seat and application), ``SeatVoteChange`` every change of
it. When the vote closes, each ``VoteItem`` keeps its result: counts, quorum,
outcome and the rule that produced it; then nothing in the vote changes.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus, Round
from coalition.i18n import cached_label
from coalition.members.models import Member


class SteeringSeat(db.Model):
    """Who sits for a member organisation on the steering group (staff set both)."""

    __tablename__ = "steering_seats"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("members.id", ondelete="CASCADE"), unique=True
    )
    representative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    alternate_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship()
    representative: Mapped[User | None] = relationship(foreign_keys=[representative_id])
    alternate: Mapped[User | None] = relationship(foreign_keys=[alternate_id])


class VoteStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return cached_label(
            self, {VoteStatus.OPEN: _l("Open"), VoteStatus.CLOSED: _l("Closed")}[self]
        )


class Vote(db.Model):
    """A steering vote on a shortlist of one round's applications."""

    __tablename__ = "steering_votes"
    __table_args__ = (sa.Index("ix_steering_votes_status_closes", "status", "closes_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("rounds.id"), index=True)
    status: Mapped[VoteStatus] = mapped_column(enum_column(VoteStatus), default=VoteStatus.OPEN)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Given when staff close before the closing time.
    close_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The budget left for this vote when it closed (the round's, less what
    # earlier decisions of the round approved).
    budget_available: Mapped[int | None] = mapped_column(sa.BigInteger)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    round: Mapped[Round] = relationship(lazy="joined", innerjoin=True)
    items: Mapped[list[VoteItem]] = relationship(
        back_populates="vote", order_by="VoteItem.rank", cascade="all, delete-orphan"
    )
    seats: Mapped[list[VoteSeat]] = relationship(
        back_populates="vote", order_by="VoteSeat.position", cascade="all, delete-orphan"
    )

    def is_open(self, now: datetime | None = None) -> bool:
        """Open to votes: the server's clock decides, to the second."""
        return self.status == VoteStatus.OPEN and (now or utcnow()) < self.closes_at

    @property
    def is_closed(self) -> bool:
        return self.status == VoteStatus.CLOSED


class VoteSeat(db.Model):
    """One seat of a vote's frozen roll, as it was when the vote opened."""

    __tablename__ = "steering_vote_seats"
    __table_args__ = (sa.UniqueConstraint("vote_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_votes.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    seat_name: Mapped[str] = mapped_column(sa.String(300))
    representative_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    alternate_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    vote: Mapped[Vote] = relationship(back_populates="seats")
    representative: Mapped[User | None] = relationship(foreign_keys=[representative_id])
    alternate: Mapped[User | None] = relationship(foreign_keys=[alternate_id])

    @property
    def voter_ids(self) -> tuple[int, ...]:
        return tuple(u for u in (self.representative_id, self.alternate_id) if u is not None)


class RecusalReason(enum.StrEnum):
    """Why a seat, or one person of it, is recused from an application."""

    APPLICANT_MEMBER = "applicant_member"  # the seat's organisation applies
    KNOWN = "known"  # a conflict found without asking (assignment.known_conflicts)
    DECLARED = "declared"  # a declared conflict of interest

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                RecusalReason.APPLICANT_MEMBER: _l("the seat's organisation is the applicant"),
                RecusalReason.KNOWN: _l("a known conflict of interest"),
                RecusalReason.DECLARED: _l("a declared conflict of interest"),
            }[self],
        )


class VoteRecusal(db.Model):
    """A recusal on a vote's roll: the seat's (``user_id`` empty) or one person's.

    A person's recusal passes the seat's vote on that application to the
    other person of the seat; the seat is recused when its organisation
    applies or when nobody named on it is free of conflict.
    """

    __tablename__ = "steering_vote_recusals"
    __table_args__ = (
        sa.UniqueConstraint("vote_seat_id", "application_id", "user_id"),
        sa.Index("ix_steering_vote_recusals_vote", "vote_id", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_votes.id", ondelete="CASCADE"))
    vote_seat_id: Mapped[int] = mapped_column(
        sa.ForeignKey("steering_vote_seats.id", ondelete="CASCADE")
    )
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[RecusalReason] = mapped_column(enum_column(RecusalReason))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Declared while the vote was open (not frozen at opening).
    after_opening: Mapped[bool] = mapped_column(default=False)

    seat: Mapped[VoteSeat] = relationship()
    user: Mapped[User | None] = relationship()


class Outcome(enum.StrEnum):
    """A vote's result for one application."""

    APPROVED = "approved"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    NO_DECISION = "no_decision"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                Outcome.APPROVED: _l("Approved"),
                Outcome.WAITLISTED: _l("Waitlisted"),
                Outcome.REJECTED: _l("Rejected"),
                Outcome.NO_DECISION: _l("No decision — back to the steering group"),
            }[self],
        )

    @property
    def status(self) -> ApplicationStatus | None:
        """The application status this outcome records (none for no decision)."""
        return {
            Outcome.APPROVED: ApplicationStatus.APPROVED,
            Outcome.WAITLISTED: ApplicationStatus.WAITLISTED,
            Outcome.REJECTED: ApplicationStatus.REJECTED,
        }.get(self)


class ResultRule(enum.StrEnum):
    """The rule that produced an application's outcome."""

    NO_QUORUM = "no_quorum"
    TIE = "tie"
    MORE_REJECTIONS = "more_rejections"
    WITHIN_BUDGET = "within_budget"
    BELOW_FUNDING_LINE = "below_funding_line"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                ResultRule.NO_QUORUM: _l("No quorum: at most half the seats not recused voted."),
                ResultRule.TIE: _l("A tie: as many approvals as rejections."),
                ResultRule.MORE_REJECTIONS: _l("More rejections than approvals."),
                ResultRule.WITHIN_BUDGET: _l(
                    "More approvals than rejections, and above the funding line."
                ),
                ResultRule.BELOW_FUNDING_LINE: _l(
                    "More approvals than rejections, but below the funding line."
                ),
            }[self],
        )


class VoteItem(db.Model):
    """One shortlisted application of a vote, and its result once the vote closes."""

    __tablename__ = "steering_vote_items"
    __table_args__ = (sa.UniqueConstraint("vote_id", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_votes.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    # The round's ranking when the vote opened, and the amount requested then.
    rank: Mapped[int] = mapped_column()
    requested_amount: Mapped[int] = mapped_column(sa.BigInteger)
    # The result (set when the vote closes).
    seats_eligible: Mapped[int | None] = mapped_column()
    seats_voted: Mapped[int | None] = mapped_column()
    approvals: Mapped[int | None] = mapped_column()
    rejections: Mapped[int | None] = mapped_column()
    abstentions: Mapped[int | None] = mapped_column()
    quorum: Mapped[bool | None] = mapped_column()
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome))
    rule: Mapped[ResultRule | None] = mapped_column(enum_column(ResultRule))
    # The decision staff recorded (set when the result is applied).
    decision: Mapped[ApplicationStatus | None] = mapped_column(
        enum_column(ApplicationStatus, name="decision")
    )
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    vote: Mapped[Vote] = relationship(back_populates="items")
    application: Mapped[Application] = relationship(lazy="joined", innerjoin=True)

    @property
    def is_override(self) -> bool:
        return self.override_reason is not None


class Choice(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ABSTAIN = "abstain"

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                Choice.APPROVE: _l("Approve"),
                Choice.REJECT: _l("Reject"),
                Choice.ABSTAIN: _l("Abstain"),
            }[self],
        )


class SeatVote(db.Model):
    """A seat's current vote on one application: one per seat and application."""

    __tablename__ = "steering_seat_votes"
    __table_args__ = (
        sa.UniqueConstraint("vote_seat_id", "application_id"),
        sa.Index("ix_steering_seat_votes_vote_application", "vote_id", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(sa.ForeignKey("steering_votes.id", ondelete="CASCADE"))
    vote_seat_id: Mapped[int] = mapped_column(
        sa.ForeignKey("steering_vote_seats.id", ondelete="CASCADE")
    )
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    choice: Mapped[Choice] = mapped_column(enum_column(Choice))
    # For the steering group only.
    note: Mapped[str | None] = mapped_column(sa.Text)
    cast_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    seat: Mapped[VoteSeat] = relationship()
    cast_by: Mapped[User | None] = relationship()


class SeatVoteChange(db.Model):
    """Every change of a seat's vote; ``choice`` empty: the vote was set aside by a recusal."""

    __tablename__ = "steering_seat_vote_changes"
    __table_args__ = (
        sa.Index("ix_steering_seat_vote_changes_seat", "vote_seat_id", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(
        sa.ForeignKey("steering_votes.id", ondelete="CASCADE"), index=True
    )
    vote_seat_id: Mapped[int] = mapped_column(
        sa.ForeignKey("steering_vote_seats.id", ondelete="CASCADE")
    )
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    choice: Mapped[Choice | None] = mapped_column(enum_column(Choice))
    note: Mapped[str | None] = mapped_column(sa.Text)
    cast_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
