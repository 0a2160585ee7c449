"""The steering vote: opening with a frozen roll, conflicts, votes, closing and
the result, and the reminders the scheduler sends.

Who is recused (decided here, documented in DESIGN terms): a conflict belongs
to a person. When a seat's representative has a conflict on an application,
the seat's alternate casts the seat's vote on it, and the other way round;
the seat itself is recused when its organisation is the applicant, or when
nobody named on it is free of conflict. A recused seat leaves the count for
that application entirely: it is not in the quorum's base and its vote (if
one was cast before the conflict was declared) is set aside, kept in the
history. A person's conflict found after opening is added to the roll with
its time, and sets aside the seat's vote on that application if that person
cast it.

Every operation audits and flushes; none commits. The server's clock
decides whether the vote is open, to the second (``Vote.is_open``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from coalition import audit
from coalition.accounts.models import User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants import reviews as review_ops
from coalition.grants.applications import transition
from coalition.grants.assignment import ConflictReason, known_conflicts
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    DomainError,
    Round,
    RoundPhase,
)
from coalition.grants.review_models import ConflictDeclaration, ConflictKind
from coalition.grants.scores import round_ranking
from coalition.mail import queue_email
from coalition.mail.models import OutboxMessage
from coalition.steering.models import (
    Choice,
    Outcome,
    RecusalReason,
    ResultRule,
    SeatVote,
    SeatVoteChange,
    Vote,
    VoteItem,
    VoteRecusal,
    VoteSeat,
    VoteStatus,
)
from coalition.steering.seats import current_seats
from coalition.urls import external_path

NOTE_MAX = 2_000
REASON_MAX = 2_000
# Reminders go to seats that have not voted on everything, at these times before closing.
REMINDERS = (("48h", timedelta(hours=48)), ("24h", timedelta(hours=24)))


def closing_text(closes_at: datetime, zone: str | None, language: str) -> str:
    """The closing time in a person's time zone and language, the zone named (for emails)."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    zone = zone or "UTC"
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        zone, tz = "UTC", ZoneInfo("UTC")
    text = format_datetime(closes_at.astimezone(tz), "medium", locale=language or "en")
    if zone == "UTC":
        return f"{text} UTC"
    return f"{text} {zone} ({closes_at.astimezone(ZoneInfo('UTC')).strftime('%H:%M')} UTC)"


def vote_path(vote_id: int) -> str:
    return f"/steering/votes/{vote_id}"


def result_path(vote_id: int) -> str:
    return f"/steering/votes/{vote_id}/result"


# -- The rules, as pure functions ----------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """One application's count: the seats not recused, those that voted, and the choices."""

    eligible: int
    voted: int
    approvals: int
    rejections: int
    abstentions: int

    @property
    def quorum(self) -> bool:
        """A majority of the seats not recused voted (abstaining is voting)."""
        return self.eligible > 0 and 2 * self.voted > self.eligible

    @property
    def rule(self) -> ResultRule | None:
        """The rule deciding before the funding line: None when approvals win."""
        if not self.quorum:
            return ResultRule.NO_QUORUM
        if self.approvals == self.rejections:
            return ResultRule.TIE
        if self.rejections > self.approvals:
            return ResultRule.MORE_REJECTIONS
        return None


def tally(eligible: int, choices: Iterable[Choice]) -> Tally:
    counts = Counter(Choice(c) for c in choices)
    voted = sum(counts.values())
    if voted > eligible:
        raise ValueError("more votes than seats not recused")
    return Tally(
        eligible=eligible,
        voted=voted,
        approvals=counts[Choice.APPROVE],
        rejections=counts[Choice.REJECT],
        abstentions=counts[Choice.ABSTAIN],
    )


@dataclass(frozen=True)
class ItemResult:
    application_id: int
    tally: Tally
    outcome: Outcome
    rule: ResultRule


def decide(
    items: Iterable[tuple[int, int, int]], tallies: dict[int, Tally], budget: int
) -> dict[int, ItemResult]:
    """Each application's outcome. ``items``: (application_id, rank, requested amount).

    No quorum or a tie: no decision; more rejections: rejected. The approved
    ones are taken in ranking order against ``budget``: while their running
    total stays within it they are approved (above the funding line), from
    the first that passes it on they are waitlisted.
    """
    results: dict[int, ItemResult] = {}
    running = 0
    for application_id, _rank, amount in sorted(items, key=lambda i: (i[1], i[0])):
        count = tallies[application_id]
        rule = count.rule
        if rule is None:
            running += amount
            if running <= budget:
                outcome, rule = Outcome.APPROVED, ResultRule.WITHIN_BUDGET
            else:
                outcome, rule = Outcome.WAITLISTED, ResultRule.BELOW_FUNDING_LINE
        elif rule == ResultRule.MORE_REJECTIONS:
            outcome = Outcome.REJECTED
        else:
            outcome = Outcome.NO_DECISION
        results[application_id] = ItemResult(application_id, count, outcome, rule)
    return results


# -- The roll ------------------------------------------------------------------------------


@dataclass
class Roll:
    """A vote's frozen roll with its recusals, loaded in two queries."""

    seats: list[VoteSeat]
    # (seat id, application id) -> people recused (None: the seat itself).
    recused: dict[tuple[int, int], set[int | None]] = field(default_factory=dict)
    recusals: list[VoteRecusal] = field(default_factory=list)

    def voters(self, seat: VoteSeat) -> tuple[int, ...]:
        """The seat's representative and alternate ids (kept: pages ask thousands of times)."""
        cache = self.__dict__.setdefault("_voters", {})
        if seat.id not in cache:
            cache[seat.id] = seat.voter_ids
        return cache[seat.id]

    def seat_recused(self, seat: VoteSeat, application_id: int) -> bool:
        out = self.recused.get((seat.id, application_id))
        if not out:
            return False
        if None in out:
            return True
        voters = self.voters(seat)
        return bool(voters) and all(uid in out for uid in voters)

    def person_recused(self, seat: VoteSeat, application_id: int, user_id: int) -> bool:
        out = self.recused.get((seat.id, application_id))
        return bool(out) and (None in out or user_id in out)

    def may_cast(self, seat: VoteSeat, application_id: int, user_id: int) -> bool:
        if user_id not in self.voters(seat):
            return False
        return not self.person_recused(seat, application_id, user_id)

    def seats_of(self, user_id: int) -> list[VoteSeat]:
        return [seat for seat in self.seats if user_id in self.voters(seat)]

    def eligible(self, application_id: int) -> list[VoteSeat]:
        return [s for s in self.seats if not self.seat_recused(s, application_id)]

    def recused_from(self, user_id: int, application_id: int) -> bool:
        """The person may not see this application: recused on every seat they sit for,
        or holding no seat on the roll."""
        seats = self.seats_of(user_id)
        return not seats or all(self.person_recused(s, application_id, user_id) for s in seats)


def load_roll(vote: Vote) -> Roll:
    seats = list(
        db.session.scalars(
            sa.select(VoteSeat)
            .where(VoteSeat.vote_id == vote.id)
            .options(selectinload(VoteSeat.representative), selectinload(VoteSeat.alternate))
            .order_by(VoteSeat.position)
        )
    )
    recusals = list(
        db.session.scalars(
            sa.select(VoteRecusal)
            .where(VoteRecusal.vote_id == vote.id)
            .options(selectinload(VoteRecusal.user))
            .order_by(VoteRecusal.recorded_at, VoteRecusal.id)
        )
    )
    roll = Roll(seats=seats, recusals=recusals)
    for r in recusals:
        roll.recused.setdefault((r.vote_seat_id, r.application_id), set()).add(r.user_id)
    return roll


def item_ids(vote: Vote) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(VoteItem.application_id)
            .where(VoteItem.vote_id == vote.id)
            .order_by(VoteItem.rank)
        )
    )


def voter_ids(vote: Vote) -> set[int]:
    return {uid for seat in load_roll(vote).seats for uid in seat.voter_ids}


# -- Opening -------------------------------------------------------------------------------


def _lock_round(round_: Round) -> None:
    db.session.execute(sa.select(Round.id).where(Round.id == round_.id).with_for_update())


def open_votes_of(round_id: int) -> list[Vote]:
    return list(
        db.session.scalars(
            sa.select(Vote)
            .where(Vote.round_id == round_id, Vote.status == VoteStatus.OPEN)
            .order_by(Vote.id)
        )
    )


def awaiting_vote(round_: Round) -> list[int]:
    """Applications in vote but on no open vote: no decision last time, or an upheld appeal."""
    on_open = sa.select(VoteItem.application_id).join(Vote).where(Vote.status == VoteStatus.OPEN)
    return list(
        db.session.scalars(
            sa.select(Application.id).where(
                Application.round_id == round_.id,
                Application.status == ApplicationStatus.IN_VOTE,
                Application.id.not_in(on_open),
            )
        )
    )


def default_shortlist(round_: Round) -> list[int]:
    """Every eligible application with all its reviews done, and those awaiting a new vote,
    in ranking order."""
    waiting = set(awaiting_vote(round_))
    return [
        row.application_id
        for row in round_ranking(round_).rows
        if row.application_id in waiting
        or (row.status == ApplicationStatus.ELIGIBLE and row.done >= row.required)
    ]


def open_vote(
    round_: Round,
    *,
    closes_at: datetime,
    actor: Any,
    application_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> Vote:
    """Staff open a vote on a round in review: the shortlist (by default every eligible
    application with all its reviews done) and the closing time.

    The roll is frozen now: the day's seats with their representative and
    alternate, and every conflict known for them on the shortlist (declared
    during the reviews or found in the register). Eligible applications go to
    the vote (``in_vote``). Each voter is told by email.
    """
    now = now or utcnow()
    if RoundPhase(round_.phase) != RoundPhase.IN_REVIEW:
        raise DomainError(_("A vote is opened on a round in review."))
    if closes_at.tzinfo is None:
        raise DomainError(_("Give the closing time with its time zone."), "closes_at")
    if closes_at <= now:
        raise DomainError(_("The closing time must be in the future."), "closes_at")
    _lock_round(round_)
    ranking = {row.application_id: row for row in round_ranking(round_).rows}
    waiting = set(awaiting_vote(round_))
    if application_ids is None:
        shortlist = default_shortlist(round_)
    else:
        shortlist = list(dict.fromkeys(int(a) for a in application_ids))
        allowed = {
            a for a, row in ranking.items() if row.status == ApplicationStatus.ELIGIBLE
        } | waiting
        if any(a not in allowed for a in shortlist):
            raise DomainError(
                _("Put on the shortlist only eligible applications of this round."),
                "application_ids",
            )
    if not shortlist:
        raise DomainError(_("The shortlist is empty: there is nothing to vote on."))
    seats = current_seats(now.date())
    if not seats:
        raise DomainError(_("There are no steering seats today: nobody could vote."))
    if not any(seat.representative is not None for seat in seats):
        raise DomainError(_("No steering seat has a representative: nobody could vote."))
    vote = Vote(
        round_id=round_.id,
        status=VoteStatus.OPEN,
        opened_at=now,
        opened_by_id=getattr(actor, "id", None),
        closes_at=closes_at,
    )
    db.session.add(vote)
    db.session.flush()
    roll = []
    for position, seat in enumerate(seats):
        row = VoteSeat(
            vote_id=vote.id,
            member_id=seat.member.id,
            position=position,
            seat_name=seat.member.name,
            representative_id=seat.representative.id if seat.representative else None,
            alternate_id=seat.alternate.id if seat.alternate else None,
        )
        db.session.add(row)
        roll.append(row)
    applications = {
        a.id: a
        for a in db.session.scalars(sa.select(Application).where(Application.id.in_(shortlist)))
    }
    for application_id in shortlist:
        row = ranking[application_id]
        db.session.add(
            VoteItem(
                vote_id=vote.id,
                application_id=application_id,
                rank=row.rank,
                requested_amount=row.requested_amount,
            )
        )
    db.session.flush()
    people = {
        u.id: u
        for u in db.session.scalars(
            sa.select(User).where(User.id.in_({uid for s in roll for uid in s.voter_ids}))
        )
    }
    conflicts = known_conflicts(shortlist, list(people.values()))
    for seat in roll:
        for application_id in shortlist:
            if applications[application_id].member_id == seat.member_id:
                db.session.add(
                    VoteRecusal(
                        vote_id=vote.id,
                        vote_seat_id=seat.id,
                        application_id=application_id,
                        user_id=None,
                        reason=RecusalReason.APPLICANT_MEMBER,
                        recorded_at=now,
                    )
                )
            for uid in seat.voter_ids:
                reason = conflicts.get((application_id, uid))
                if reason is None:
                    continue
                db.session.add(
                    VoteRecusal(
                        vote_id=vote.id,
                        vote_seat_id=seat.id,
                        application_id=application_id,
                        user_id=uid,
                        reason=(
                            RecusalReason.DECLARED
                            if reason == ConflictReason.DECLARED
                            else RecusalReason.KNOWN
                        ),
                        recorded_at=now,
                    )
                )
    for application_id in shortlist:
        application = applications[application_id]
        if application.status == ApplicationStatus.ELIGIBLE:
            transition(
                application,
                ApplicationStatus.IN_VOTE,
                actor=actor,
                action="application.put_to_vote",
                details={"vote_id": vote.id},
            )
    db.session.flush()
    audit.record(
        "steering.vote_opened",
        vote,
        actor=actor,
        details={
            "round_id": round_.id,
            "closes_at": closes_at.isoformat(),
            "applications": shortlist,
            "seats": [s.member_id for s in roll],
        },
    )
    for person in sorted(people.values(), key=lambda p: p.id):
        if person.active:
            queue_email(
                key=f"vote_opened:{vote.id}:{person.id}",
                recipient=person.email,
                template="steering_vote_opened",
                language=person.language,
                name=person.name,
                round_title=round_.title,
                count=len(shortlist),
                closes=closing_text(closes_at, person.timezone, person.language),
                link=external_path(vote_path(vote.id)),
            )
    return vote


# -- Conflicts while the vote is open ------------------------------------------------------


def record_late_conflicts(vote: Vote, *, until: datetime | None = None) -> list[VoteRecusal]:
    """Add to the roll every conflict a roll member declared on a shortlisted application
    since the vote opened (and before ``until``), with its time; set aside the seat's
    vote on it where that person cast it or the seat is now recused. Two queries when
    there is nothing new."""
    roll = load_roll(vote)
    people = {uid for seat in roll.seats for uid in seat.voter_ids}
    if not people:
        return []
    query = (
        sa.select(ConflictDeclaration)
        .join(VoteItem, VoteItem.application_id == ConflictDeclaration.application_id)
        .where(
            VoteItem.vote_id == vote.id,
            ConflictDeclaration.kind == ConflictKind.CONFLICT,
            ConflictDeclaration.user_id.in_(people),
        )
    )
    if until is not None:
        query = query.where(ConflictDeclaration.declared_at < until)
    added = []
    for declaration in db.session.scalars(query):
        for seat in roll.seats:
            uid = declaration.user_id
            if uid not in seat.voter_ids:
                continue
            key = (seat.id, declaration.application_id)
            if uid in roll.recused.get(key, set()):
                continue
            recusal = VoteRecusal(
                vote_id=vote.id,
                vote_seat_id=seat.id,
                application_id=declaration.application_id,
                user_id=uid,
                reason=RecusalReason.DECLARED,
                recorded_at=max(declaration.declared_at, vote.opened_at),
                after_opening=True,
            )
            try:
                with db.session.begin_nested():
                    db.session.add(recusal)
            except IntegrityError:
                continue  # recorded by a request at the same moment
            roll.recused.setdefault(key, set()).add(uid)
            added.append(recusal)
            audit.record(
                "steering.recusal_added",
                vote,
                actor=declaration.user,
                details={
                    "seat_id": seat.id,
                    "application_id": declaration.application_id,
                    "user_id": uid,
                },
            )
            cast = db.session.scalar(
                sa.select(SeatVote).where(
                    SeatVote.vote_seat_id == seat.id,
                    SeatVote.application_id == declaration.application_id,
                )
            )
            if cast is not None and (
                cast.cast_by_id == uid or roll.seat_recused(seat, declaration.application_id)
            ):
                db.session.add(
                    SeatVoteChange(
                        vote_id=vote.id,
                        vote_seat_id=seat.id,
                        application_id=declaration.application_id,
                        choice=None,
                        note=None,
                        cast_by_id=uid,
                        created_at=recusal.recorded_at,
                    )
                )
                db.session.delete(cast)
    db.session.flush()
    return added


def declare(
    vote: Vote,
    application: Application,
    user: User,
    *,
    conflict: bool,
    description: str | None = None,
    now: datetime | None = None,
) -> ConflictDeclaration:
    """A steering member declares on a shortlisted application (``reviews.declare``);
    a conflict declared while the vote is open recuses them from then on."""
    now = now or utcnow()
    if application.id not in item_ids(vote):
        raise DomainError(_("This application is not on the vote's shortlist."))
    declaration = review_ops.declare(
        application, user, conflict=conflict, description=description, now=now
    )
    if conflict and vote.is_open(now):
        record_late_conflicts(vote)
    return declaration


def declare_all(
    vote: Vote,
    user: User,
    answers: dict[int, tuple[bool, str | None]],
    *,
    now: datetime | None = None,
) -> list[ConflictDeclaration]:
    """One form for the whole shortlist: every answer recorded, or none."""
    now = now or utcnow()
    shortlist = set(item_ids(vote))
    if set(answers) - shortlist:
        raise DomainError(_("This application is not on the vote's shortlist."))
    known = review_ops.declarations_for(user.id, shortlist)
    missing = [a for a in shortlist if a not in known and a not in answers]
    if missing:
        raise DomainError(_("Declare on every application of the shortlist."))
    applications = {
        a.id: a
        for a in db.session.scalars(sa.select(Application).where(Application.id.in_(answers)))
    }
    out = []
    with db.session.begin_nested():
        for application_id, (conflict, description) in sorted(answers.items()):
            existing = known.get(application_id)
            if existing is not None and (existing.kind == ConflictKind.CONFLICT or not conflict):
                continue  # nothing new
            out.append(
                review_ops.declare(
                    applications[application_id],
                    user,
                    conflict=conflict,
                    description=description,
                    now=now,
                )
            )
    if vote.is_open(now):
        record_late_conflicts(vote)
    return out


# -- Voting --------------------------------------------------------------------------------


class StaleVote(DomainError):
    """The seat's vote changed in another window since this form was opened."""


def _locked_vote(vote: Vote) -> VoteStatus:
    """Hold the vote row against closing while this vote is cast (shared lock on PostgreSQL)."""
    return db.session.scalar(
        sa.select(Vote.status).where(Vote.id == vote.id).with_for_update(read=True)
    )


def cast(
    vote: Vote,
    *,
    seat_id: int,
    application_id: int,
    user: User,
    choice: Choice | str,
    note: str | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> SeatVote | None:
    """Record ``user``'s vote for their seat on one application; changeable until closing.

    ``expected_version``: the version of the seat's vote the form showed (0:
    none yet); a vote changed elsewhere since is refused, unless the same
    vote arrives twice (a double submission), which changes nothing. Every
    change is kept. Returns the seat's vote.
    """
    try:
        choice = Choice(choice)
    except ValueError as exc:
        raise DomainError(_("Choose approve, reject or abstain."), "choice") from exc
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=NOTE_MAX), "note")
    status = _locked_vote(vote)
    now = now or utcnow()
    if status != VoteStatus.OPEN or now >= vote.closes_at:
        raise DomainError(_("The vote has closed: votes are no longer accepted."))
    if application_id not in item_ids(vote):
        raise DomainError(_("This application is not on the vote's shortlist."))
    record_late_conflicts(vote)
    roll = load_roll(vote)
    seat = next((s for s in roll.seats if s.id == seat_id), None)
    if seat is None or user.id not in seat.voter_ids:
        raise DomainError(_("You do not sit for this seat on the vote's roll."))
    if roll.seat_recused(seat, application_id) or roll.person_recused(
        seat, application_id, user.id
    ):
        raise DomainError(_("You are recused from this application: you cannot vote on it."))
    declaration = review_ops.declaration_of(user.id, application_id)
    if declaration is None:
        raise DomainError(_("Declare whether you have a conflict of interest first."))
    existing = db.session.scalar(
        sa.select(SeatVote)
        .where(SeatVote.vote_seat_id == seat.id, SeatVote.application_id == application_id)
        .with_for_update()
    )
    if existing is None:
        try:
            with db.session.begin_nested():
                existing = SeatVote(
                    vote_id=vote.id,
                    vote_seat_id=seat.id,
                    application_id=application_id,
                    choice=choice,
                    note=note,
                    cast_by_id=user.id,
                    cast_at=now,
                )
                db.session.add(existing)
                db.session.flush()
        except IntegrityError:
            # The seat's other sitter, or another window, voted at the same moment.
            existing = db.session.scalar(
                sa.select(SeatVote)
                .where(SeatVote.vote_seat_id == seat.id, SeatVote.application_id == application_id)
                .with_for_update()
            )
            if existing.choice == choice and existing.note == note:
                return existing
            raise StaleVote(
                _("The seat's vote changed in another window: look at it again.")
            ) from None
        before = None
    else:
        if existing.choice == choice and existing.note == note:
            return existing  # the same vote again: nothing changes
        if expected_version is not None and existing.version != expected_version:
            raise StaleVote(_("The seat's vote changed in another window: look at it again."))
        before = existing.choice.value
        existing.choice = choice
        existing.note = note
        existing.cast_by_id = user.id
        existing.cast_at = now
    db.session.add(
        SeatVoteChange(
            vote_id=vote.id,
            vote_seat_id=seat.id,
            application_id=application_id,
            choice=choice,
            note=note,
            cast_by_id=user.id,
            created_at=now,
        )
    )
    db.session.flush()
    audit.record(
        "steering.vote_cast",
        vote,
        actor=user,
        changes={"choice": [before, choice.value]},
        details={"seat_id": seat.id, "application_id": application_id},
    )
    return existing


def cast_many(
    vote: Vote,
    *,
    user: User,
    ballots: dict[tuple[int, int], tuple[str, str | None]],
    now: datetime | None = None,
) -> int:
    """One form for the whole shortlist: {(seat_id, application_id): (choice, note)}.
    All recorded or none. Returns how many votes changed."""
    changed = 0
    with db.session.begin_nested():
        for (seat_id, application_id), (choice, note) in sorted(ballots.items()):
            before = db.session.scalar(
                sa.select(SeatVote.version).where(
                    SeatVote.vote_seat_id == seat_id, SeatVote.application_id == application_id
                )
            )
            row = cast(
                vote,
                seat_id=seat_id,
                application_id=application_id,
                user=user,
                choice=choice,
                note=note,
                now=now,
            )
            if row is not None and row.version != before:
                changed += 1
    return changed


def seat_votes(vote: Vote) -> list[SeatVote]:
    return list(db.session.scalars(sa.select(SeatVote).where(SeatVote.vote_id == vote.id)))


def seats_voted(vote: Vote, application_ids=None) -> dict[int, int]:
    """{application_id: how many seats have voted} (what voters see before closing), for
    these applications only when given."""
    query = sa.select(SeatVote.application_id, sa.func.count()).where(SeatVote.vote_id == vote.id)
    if application_ids is not None:
        query = query.where(SeatVote.application_id.in_(list(application_ids)))
    rows = db.session.execute(query.group_by(SeatVote.application_id))
    return {row[0]: row[1] for row in rows}


def own_votes(
    vote: Vote, user: User, roll: Roll | None = None, application_ids=None
) -> dict[tuple[int, int], SeatVote]:
    """{(seat_id, application_id): vote} of the seats ``user`` sits for (on these
    applications only, when given)."""
    seat_ids = [s.id for s in (roll or load_roll(vote)).seats_of(user.id)]
    if not seat_ids:
        return {}
    query = sa.select(SeatVote).where(
        SeatVote.vote_id == vote.id, SeatVote.vote_seat_id.in_(seat_ids)
    )
    if application_ids is not None:
        query = query.where(SeatVote.application_id.in_(list(application_ids)))
    return {(r.vote_seat_id, r.application_id): r for r in db.session.scalars(query)}


@dataclass(frozen=True)
class Progress:
    seat: VoteSeat
    voted: int
    due: int  # applications this seat may vote on (not recused)

    @property
    def done(self) -> bool:
        return self.voted >= self.due


def progress(
    vote: Vote, user_id: int, roll: Roll | None = None, shortlist: list[int] | None = None
) -> list[Progress]:
    """Per seat ``user_id`` sits for: how many of its votes are cast, of how many due."""
    roll = roll or load_roll(vote)
    mine = roll.seats_of(user_id)
    if not mine:
        return []
    shortlist = item_ids(vote) if shortlist is None else shortlist
    cast_by_seat = dict(
        db.session.execute(
            sa.select(SeatVote.vote_seat_id, sa.func.count())
            .where(SeatVote.vote_id == vote.id, SeatVote.vote_seat_id.in_([s.id for s in mine]))
            .group_by(SeatVote.vote_seat_id)
        ).all()
    )
    listed = set(shortlist)
    return [
        Progress(
            seat=seat,
            voted=cast_by_seat.get(seat.id, 0),
            # The shortlist less the applications this seat is recused from.
            due=len(listed)
            - sum(
                1
                for seat_id, application_id in roll.recused
                if seat_id == seat.id
                and application_id in listed
                and roll.seat_recused(seat, application_id)
            ),
        )
        for seat in mine
    ]


# -- Closing and the result ----------------------------------------------------------------


def compute_results(
    roll: Roll,
    items: list[tuple[int, int, int]],
    votes: Iterable[tuple[int, int, Choice]],
    budget: int,
) -> dict[int, ItemResult]:
    """The result of every shortlisted application (``items``: id, rank, amount) from the
    roll and the seats' votes (seat id, application id, choice). A recused seat counts
    neither in the quorum's base nor in the tally."""
    choices: dict[int, list[Choice]] = {}
    seat_by_id = {s.id: s for s in roll.seats}
    for seat_id, application_id, choice in votes:
        seat = seat_by_id[seat_id]
        if not roll.seat_recused(seat, application_id):
            choices.setdefault(application_id, []).append(Choice(choice))
    tallies = {
        application_id: tally(len(roll.eligible(application_id)), choices.get(application_id, []))
        for application_id, _rank, _amount in items
    }
    return decide(items, tallies, budget)


def close(
    vote: Vote,
    *,
    actor: Any = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Vote:
    """Close the vote and store its result; once only (a conditional UPDATE).

    At or after the closing time anyone may close it (the scheduler does);
    before it, only staff, with a reason. Voters hear that it closed, with a
    link to the result, and staff that it closed.
    """
    now = now or utcnow()
    reason = (reason or "").strip() or None
    early = now < vote.closes_at
    if early and actor is None:
        raise DomainError(_("The vote closes at its closing time."))
    if early and not reason:
        raise DomainError(_("Say why the vote closes before its closing time."), "reason")
    if reason is not None and len(reason) > REASON_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=REASON_MAX), "reason")
    claimed = db.session.execute(
        sa.update(Vote)
        .where(Vote.id == vote.id, Vote.status == VoteStatus.OPEN)
        .values(
            status=VoteStatus.CLOSED,
            closed_at=now,
            closed_by_id=getattr(actor, "id", None),
            close_reason=reason if early else None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise DomainError(_("This vote is already closed."))
    db.session.refresh(vote)
    record_late_conflicts(vote, until=now)
    roll = load_roll(vote)
    items = list(db.session.scalars(sa.select(VoteItem).where(VoteItem.vote_id == vote.id)))
    # The budget left beside the shortlist: the one rule, in the decisions.
    budget = decisions.budget_left(vote.round, excluding=[i.application_id for i in items])
    results = compute_results(
        roll,
        [(i.application_id, i.rank, i.requested_amount) for i in items],
        [(v.vote_seat_id, v.application_id, v.choice) for v in seat_votes(vote)],
        budget,
    )
    vote.budget_available = budget
    for item in items:
        result = results[item.application_id]
        item.seats_eligible = result.tally.eligible
        item.seats_voted = result.tally.voted
        item.approvals = result.tally.approvals
        item.rejections = result.tally.rejections
        item.abstentions = result.tally.abstentions
        item.quorum = result.tally.quorum
        item.outcome = result.outcome
        item.rule = result.rule
    db.session.flush()
    audit.record(
        "steering.vote_closed",
        vote,
        actor=actor,
        details={
            "early": early,
            "reason": reason if early else None,
            "results": {str(a): r.outcome.value for a, r in sorted(results.items())},
        },
    )
    _tell_closed(vote, roll)
    return vote


def _tell_closed(vote: Vote, roll: Roll) -> None:
    ids = {uid for seat in roll.seats for uid in seat.voter_ids}
    people = (
        list(db.session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.id)))
        if ids
        else []
    )
    for person in people:
        if person.active:
            queue_email(
                key=f"vote_closed:{vote.id}:{person.id}",
                recipient=person.email,
                template="steering_vote_closed",
                language=person.language,
                name=person.name,
                round_title=vote.round.title,
                link=external_path(result_path(vote.id)),
            )
    for person in review_ops.convenors():
        queue_email(
            key=f"vote_closed_staff:{vote.id}:{person.id}",
            recipient=person.email,
            template="steering_vote_closed_staff",
            language=person.language,
            name=person.name,
            round_title=vote.round.title,
            link=external_path(result_path(vote.id)),
        )


def close_due_votes(now: datetime | None = None) -> int:
    """Close every open vote whose closing time has come (the scheduler). Flushes only."""
    now = now or utcnow()
    due = db.session.scalars(
        sa.select(Vote)
        .where(Vote.status == VoteStatus.OPEN, Vote.closes_at <= now)
        .order_by(Vote.closes_at, Vote.id)
    ).all()
    closed = 0
    for vote in due:
        try:
            with db.session.begin_nested():
                close(vote, now=now)
            closed += 1
        except DomainError:
            continue  # staff closed it at the same moment
    return closed


# -- Reminders (the scheduler) -------------------------------------------------------------


def send_vote_reminders(now: datetime | None = None) -> int:
    """Remind the sitters of seats that have not voted on everything, 48 and 24 hours
    before closing. Keyed by vote, moment and person: a second run sends nothing twice.
    A person on two seats gets one reminder. Returns the number queued."""
    now = now or utcnow()
    horizon = max(delta for _m, delta in REMINDERS)
    votes = db.session.scalars(
        sa.select(Vote).where(
            Vote.status == VoteStatus.OPEN,
            Vote.closes_at > now,
            Vote.closes_at <= now + horizon,
        )
    ).all()
    due: list[tuple[str, int, Vote]] = []
    for vote in votes:
        left = vote.closes_at - now
        # The latest reminder moment reached: 24 h once within a day, else 48 h.
        moment = next(m for m, delta in reversed(REMINDERS) if left <= delta)
        roll = load_roll(vote)
        shortlist = item_ids(vote)
        done = set(
            db.session.execute(
                sa.select(SeatVote.vote_seat_id, SeatVote.application_id).where(
                    SeatVote.vote_id == vote.id
                )
            ).tuples()
        )
        owing: set[int] = set()
        for seat in roll.seats:
            for application_id in shortlist:
                if roll.seat_recused(seat, application_id) or (seat.id, application_id) in done:
                    continue
                owing.update(
                    uid
                    for uid in seat.voter_ids
                    if not roll.person_recused(seat, application_id, uid)
                )
        for uid in sorted(owing):
            due.append((f"vote_reminder:{moment}:{vote.id}:{uid}", uid, vote))
    if not due:
        return 0
    sent = set(
        db.session.scalars(
            sa.select(OutboxMessage.key).where(OutboxMessage.key.in_([d[0] for d in due]))
        )
    )
    people = {
        u.id: u
        for u in db.session.scalars(
            sa.select(User).where(User.id.in_({d[1] for d in due}), User.active.is_(True))
        )
    }
    queued = 0
    for key, uid, vote in due:
        if key in sent or uid not in people:
            continue
        person = people[uid]
        queue_email(
            key=key,
            recipient=person.email,
            template="steering_vote_reminder",
            language=person.language,
            name=person.name,
            round_title=vote.round.title,
            closes=closing_text(vote.closes_at, person.timezone, person.language),
            link=external_path(vote_path(vote.id)),
        )
        queued += 1
    db.session.flush()
    return queued
