"""What the vote's two big pages read, in few light queries.

The voting page and the result page list a shortlist of hundreds of
applications against a roll of seats. They read plain rows (no ORM objects,
no eager loads they do not show) in a fixed number of queries whatever the
shortlist or the roll (``tests/test_steering_vote_queries.py``).

A closed vote's result never changes: its roll, recusals, each application's
count and outcome, and every seat's vote are read once into a ``ResultSheet``
that each worker keeps (``cached_result_sheet``). What may still change on a
closed vote (the decisions staff record, appeals, the waitlist) is read on
every request.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from coalition.accounts.models import User
from coalition.extensions import db
from coalition.grants.models import Application
from coalition.page_memo import read_once
from coalition.steering.models import (
    Choice,
    Outcome,
    RecusalReason,
    ResultRule,
    SeatVote,
    Vote,
    VoteItem,
    VoteRecusal,
    VoteSeat,
)
from coalition.steering.voting import Roll

# How long a worker keeps a closed vote's sheet, and how many it keeps.
RESULT_CACHE_SECONDS = 600
RESULT_CACHE_VOTES = 8


@dataclass(frozen=True)
class SeatLine:
    """A seat of the frozen roll, as the pages show it (duck-types ``VoteSeat`` for ``Roll``)."""

    id: int
    position: int
    seat_name: str
    representative_id: int | None
    alternate_id: int | None
    representative_name: str | None = None
    alternate_name: str | None = None

    @property
    def voter_ids(self) -> tuple[int, ...]:
        return tuple(u for u in (self.representative_id, self.alternate_id) if u is not None)


@dataclass(frozen=True)
class ItemLine:
    """A shortlisted application: its rank, amount, title and organisation."""

    application_id: int
    rank: int
    requested_amount: int
    title: str | None
    org_name: str | None


@dataclass(frozen=True)
class ListPage:
    """One page of a list already read (what ``_pagination.html`` needs)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def paged(rows: list, page: int, per_page: int) -> ListPage:
    start = (page - 1) * per_page
    return ListPage(
        items=rows[start : start + per_page], page=page, per_page=per_page, total=len(rows)
    )


def seat_lines(vote_id: int, *, names: bool = False) -> list[SeatLine]:
    """The roll's seats in order (one query; two with the sitters' names)."""
    rows = db.session.execute(
        sa.select(
            VoteSeat.id,
            VoteSeat.position,
            VoteSeat.seat_name,
            VoteSeat.representative_id,
            VoteSeat.alternate_id,
        )
        .where(VoteSeat.vote_id == vote_id)
        .order_by(VoteSeat.position, VoteSeat.id)
    ).all()
    people: dict[int, str] = {}
    if names:
        people = user_names({uid for r in rows for uid in (r[3], r[4]) if uid is not None})
    return [
        SeatLine(
            id=r[0],
            position=r[1],
            seat_name=r[2],
            representative_id=r[3],
            alternate_id=r[4],
            representative_name=people.get(r[3]),
            alternate_name=people.get(r[4]),
        )
        for r in rows
    ]


def user_names(ids) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def light_roll(vote_id: int, seats: list[SeatLine] | None = None) -> Roll:
    """The frozen roll and who is recused where, as plain rows (two queries; one when the
    seats are given): enough for ``Roll``'s questions (who sits, who is recused), not for
    listing the recusals."""
    roll = Roll(seats=seat_lines(vote_id) if seats is None else list(seats))
    for seat_id, application_id, user_id in db.session.execute(
        sa.select(VoteRecusal.vote_seat_id, VoteRecusal.application_id, VoteRecusal.user_id).where(
            VoteRecusal.vote_id == vote_id
        )
    ):
        roll.recused.setdefault((seat_id, application_id), set()).add(user_id)
    return roll


def page_roll(vote: Vote) -> Roll:
    """The roll the rules and pages ask who sits and who is recused: the frozen seats
    (``frozen_lines``) and the recusals, read once a page view (on every form post)."""
    return read_once(("roll", vote.id), lambda: light_roll(vote.id, frozen_lines(vote)[0]))


def item_lines(vote_id: int) -> list[ItemLine]:
    """The whole shortlist in ranking order, with the application's title (one query)."""
    return [
        ItemLine(*row)
        for row in db.session.execute(
            sa.select(
                VoteItem.application_id,
                VoteItem.rank,
                VoteItem.requested_amount,
                Application.title,
                Application.org_name,
            )
            .join(Application, Application.id == VoteItem.application_id)
            .where(VoteItem.vote_id == vote_id)
            .order_by(VoteItem.rank, VoteItem.application_id)
        )
    ]


def funding_line(items: list[ItemLine], budget: int) -> dict[int, bool]:
    """{application_id: above the funding line}: the running total of the amounts in
    ranking order within the budget."""
    running, above = 0, {}
    for item in items:
        running += item.requested_amount
        above[item.application_id] = running <= budget
    return above


@dataclass(frozen=True)
class Cast:
    """A seat's current vote on one application, as the pages show it."""

    seat_id: int
    application_id: int
    choice: Choice
    note: str | None
    cast_by_id: int | None


def casts(vote_id: int, application_ids=None, seat_ids=None) -> list[Cast]:
    """The seats' current votes (on these applications, of these seats, when given);
    one query."""
    query = sa.select(
        SeatVote.vote_seat_id,
        SeatVote.application_id,
        SeatVote.choice,
        SeatVote.note,
        SeatVote.cast_by_id,
    ).where(SeatVote.vote_id == vote_id)
    if application_ids is not None:
        query = query.where(SeatVote.application_id.in_(list(application_ids)))
    if seat_ids is not None:
        query = query.where(SeatVote.vote_seat_id.in_(list(seat_ids)))
    return [Cast(r[0], r[1], Choice(r[2]), r[3], r[4]) for r in db.session.execute(query)]


def seats_voted(vote_id: int, application_ids) -> dict[int, int]:
    """{application_id: how many seats have voted on it} for these applications (one query):
    what every reader of an open vote sees, never how they voted."""
    return dict(
        db.session.execute(
            sa.select(SeatVote.application_id, sa.func.count())
            .where(
                SeatVote.vote_id == vote_id,
                SeatVote.application_id.in_(list(application_ids)),
            )
            .group_by(SeatVote.application_id)
        ).all()
    )


# -- What a vote froze when it opened ------------------------------------------------------

# How long a worker keeps an open vote's frozen roll and shortlist (they never change;
# the titles shown beside them are the applications' own, read afresh after this).
FROZEN_CACHE_SECONDS = 60
_frozen: dict[int, tuple[tuple, float, tuple[list[SeatLine], list[ItemLine]]]] = {}


def frozen_lines(vote: Vote) -> tuple[list[SeatLine], list[ItemLine]]:
    """The vote's roll (seats, without recusals) and shortlist in ranking order: frozen
    when it opened, so each worker reads them once a minute at most
    (``VOTE_FROZEN_CACHE_SECONDS``; 0 turns it off, as in tests unless a test sets it).
    Recusals and votes, which change while the vote is open, are never kept."""
    from flask import current_app

    seconds = current_app.config.get(
        "VOTE_FROZEN_CACHE_SECONDS", 0 if current_app.testing else FROZEN_CACHE_SECONDS
    )
    if not seconds:
        # Still once a page view: the rules' roll and the page both ask for them.
        return read_once(("frozen", vote.id), lambda: (seat_lines(vote.id), item_lines(vote.id)))
    fingerprint = (vote.opened_at, vote.round_id)
    kept = _frozen.get(vote.id)
    if kept is not None and kept[0] == fingerprint and kept[1] > time.monotonic():
        return kept[2]
    lines = (seat_lines(vote.id), item_lines(vote.id))
    while len(_frozen) >= RESULT_CACHE_VOTES:
        _frozen.pop(min(_frozen, key=lambda k: _frozen[k][1]))
    _frozen[vote.id] = (fingerprint, time.monotonic() + seconds, lines)
    return lines


# -- A closed vote's result ----------------------------------------------------------------


@dataclass(frozen=True)
class RecusalLine:
    seat_name: str
    application_id: int
    title: str | None
    who: str | None  # the person's name; None: the seat itself
    reason: RecusalReason
    recorded_at: datetime
    after_opening: bool


@dataclass(frozen=True)
class ResultLine:
    """One application's result as stored when the vote closed."""

    application_id: int
    rank: int
    requested_amount: int
    title: str | None
    seats_eligible: int
    seats_voted: int
    approvals: int
    rejections: int
    abstentions: int
    quorum: bool
    outcome: Outcome
    rule: ResultRule


@dataclass(frozen=True)
class Cell:
    """One seat's line under an application: recused, did not vote, or its vote."""

    seat_name: str
    recused: bool
    choice: Choice | None
    by_alternate: bool
    note: str | None


@dataclass
class ResultSheet:
    """Everything of a closed vote's result that never changes."""

    vote_id: int
    seats: list[SeatLine]
    recusals: list[RecusalLine]
    items: list[ResultLine]
    cells: dict[int, list[Cell]] = field(default_factory=dict)


def result_sheet(vote: Vote) -> ResultSheet:
    """Read a closed vote's result in six queries, whatever the shortlist or the roll."""
    seats = seat_lines(vote.id, names=True)
    seat_by_id = {s.id: s for s in seats}
    roll = Roll(seats=seats)
    recusal_rows = db.session.execute(
        sa.select(
            VoteRecusal.vote_seat_id,
            VoteRecusal.application_id,
            VoteRecusal.user_id,
            VoteRecusal.reason,
            VoteRecusal.recorded_at,
            VoteRecusal.after_opening,
        )
        .where(VoteRecusal.vote_id == vote.id)
        .order_by(VoteRecusal.recorded_at, VoteRecusal.id)
    ).all()
    for r in recusal_rows:
        roll.recused.setdefault((r[0], r[1]), set()).add(r[2])
    items = [
        ResultLine(*row)
        for row in db.session.execute(
            sa.select(
                VoteItem.application_id,
                VoteItem.rank,
                VoteItem.requested_amount,
                Application.title,
                VoteItem.seats_eligible,
                VoteItem.seats_voted,
                VoteItem.approvals,
                VoteItem.rejections,
                VoteItem.abstentions,
                VoteItem.quorum,
                VoteItem.outcome,
                VoteItem.rule,
            )
            .join(Application, Application.id == VoteItem.application_id)
            .where(VoteItem.vote_id == vote.id)
            .order_by(VoteItem.rank, VoteItem.application_id)
        )
    ]
    titles = {i.application_id: i.title for i in items}
    people = user_names({r[2] for r in recusal_rows})
    recusals = [
        RecusalLine(
            seat_name=seat_by_id[r[0]].seat_name,
            application_id=r[1],
            title=titles.get(r[1]),
            who=people.get(r[2]) if r[2] is not None else None,
            reason=RecusalReason(r[3]),
            recorded_at=r[4],
            after_opening=bool(r[5]),
        )
        for r in recusal_rows
        if r[0] in seat_by_id
    ]
    by_cell = {(c.seat_id, c.application_id): c for c in casts(vote.id)}
    cells: dict[int, list[Cell]] = {}
    for item in items:
        line = []
        for seat in seats:
            if roll.seat_recused(seat, item.application_id):
                line.append(Cell(seat.seat_name, True, None, False, None))
                continue
            cast = by_cell.get((seat.id, item.application_id))
            if cast is None:
                line.append(Cell(seat.seat_name, False, None, False, None))
            else:
                line.append(
                    Cell(
                        seat.seat_name,
                        False,
                        cast.choice,
                        cast.cast_by_id is not None and cast.cast_by_id == seat.alternate_id,
                        cast.note,
                    )
                )
        cells[item.application_id] = line
    return ResultSheet(vote_id=vote.id, seats=seats, recusals=recusals, items=items, cells=cells)


_kept: dict[int, tuple[tuple, float, ResultSheet]] = {}


def cached_result_sheet(vote: Vote) -> ResultSheet:
    """``result_sheet(vote)``, or the one this worker read last for this closed vote.

    Nothing in it changes once the vote is closed; the entry is keyed by the
    vote's opening and closing times as well as its id, and kept at most
    ``RESULT_CACHE_SECONDS`` (``VOTE_RESULT_CACHE_SECONDS``; 0 turns it off,
    as in tests unless a test sets it).
    """
    from flask import current_app

    seconds = current_app.config.get(
        "VOTE_RESULT_CACHE_SECONDS", 0 if current_app.testing else RESULT_CACHE_SECONDS
    )
    if not seconds or not vote.is_closed:
        return result_sheet(vote)
    fingerprint = (vote.opened_at, vote.closed_at, vote.round_id)
    kept = _kept.get(vote.id)
    if kept is not None and kept[0] == fingerprint and kept[1] > time.monotonic():
        return kept[2]
    sheet = result_sheet(vote)
    while len(_kept) >= RESULT_CACHE_VOTES:
        _kept.pop(min(_kept, key=lambda k: _kept[k][1]))
    _kept[vote.id] = (fingerprint, time.monotonic() + seconds, sheet)
    return sheet


def forget_result_sheets() -> None:
    """Drop every kept sheet (tests roll back, so ids and times come round again)."""
    _kept.clear()
    _frozen.clear()
