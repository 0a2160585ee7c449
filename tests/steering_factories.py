"""Seats, sitters and votes for the steering-vote tests: plain functions that flush."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from coalition.accounts.models import Role
from coalition.countries import fold, region_of
from coalition.extensions import db
from coalition.members.models import Member, MemberKind, MemberStatus, OrgType
from coalition.steering import voting
from coalition.steering.models import SteeringSeat
from tests.clock import TODAY
from tests.reviews_factories import NOW, make_application, make_person, make_round

_seq = count(1)


def make_seat_member(
    *,
    steering_from: date | None = TODAY - timedelta(days=100),
    steering_until: date | None = None,
    status: MemberStatus = MemberStatus.ACTIVE,
    name: str | None = None,
) -> Member:
    n = next(_seq)
    name = name or f"Seat organisation {n:03d}"
    member = Member(
        kind=MemberKind.ORGANISATION,
        name=name,
        name_key=fold(name),
        search_text=fold(name),
        org_type=OrgType.NGO,
        country="KE",
        region=region_of("KE"),
        website=f"https://seat{n}.example.org",
        web_domain=f"seat{n}.example.org",
        languages=["en"],
        status=status,
        steering_from=steering_from,
        steering_until=steering_until,
    )
    db.session.add(member)
    db.session.flush()
    return member


def make_sitter(name: str | None = None):
    n = next(_seq)
    return make_person(
        Role.STEERING, email=f"sitter{n}@steering.example.net", name=name or f"Sitter {n}"
    )


def make_seat(*, representative=True, alternate=False, member=None) -> SteeringSeat:
    member = member or make_seat_member()
    seat = SteeringSeat(
        member_id=member.id,
        representative_id=(
            (representative if not isinstance(representative, bool) else make_sitter()).id
            if representative
            else None
        ),
        alternate_id=(
            (alternate if not isinstance(alternate, bool) else make_sitter()).id
            if alternate
            else None
        ),
    )
    db.session.add(seat)
    db.session.flush()
    return seat


def make_vote(
    *,
    seats: int = 3,
    applications: int = 2,
    closes_at=NOW + timedelta(days=5),
    round_=None,
    amounts=None,
):
    """A round in review, ``applications`` eligible ones (ranked by id), ``seats`` seats with
    a representative each, and an open vote on them all."""
    round_ = round_ or make_round()
    amounts = amounts or [1_000_000] * applications
    apps = [make_application(round_, amount=a) for a in amounts]
    seat_rows = [make_seat() for _ in range(seats)]
    vote = voting.open_vote(
        round_,
        closes_at=closes_at,
        actor=None,
        application_ids=[a.id for a in apps],
        now=NOW,
    )
    return vote, apps, seat_rows


def roll_seat(vote, seat: SteeringSeat):
    return next(s for s in voting.load_roll(vote).seats if s.member_id == seat.member_id)


def declare_all_clear(vote, user, now=None):
    voting.declare_all(vote, user, dict.fromkeys(voting.item_ids(vote), (False, None)), now=now)


def vote_as(vote, seat: SteeringSeat, application, choice, *, user=None, now=None, note=None):
    """The seat's representative (or ``user``) declares no conflict if needed, then votes."""
    from coalition.grants.reviews import declaration_of

    user = user or seat.representative
    if declaration_of(user.id, application.id) is None:
        voting.declare(vote, application, user, conflict=False, now=now)
    return voting.cast(
        vote,
        seat_id=roll_seat(vote, seat).id,
        application_id=application.id,
        user=user,
        choice=choice,
        note=note,
        now=now,
    )
