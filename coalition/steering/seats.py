"""The steering group's seats: the member organisations whose steering term
covers the day and whose status is active, each with the representative (and
alternate) staff named for it. Operations audit and flush; none commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from coalition import audit
from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import DomainError
from coalition.members.models import Member, MemberStatus
from coalition.steering.models import SteeringSeat


@dataclass
class Seat:
    """A seat of the day: the member, and who sits for it (if anyone was named)."""

    member: Member
    assignment: SteeringSeat | None

    @property
    def representative(self) -> User | None:
        return self.assignment.representative if self.assignment else None

    @property
    def alternate(self) -> User | None:
        return self.assignment.alternate if self.assignment else None

    @property
    def warnings(self) -> list[str]:
        """What staff should fix: no representative, or a sitter without two-factor sign-in."""
        found = []
        if self.representative is None:
            found.append(_("No representative named."))
        for person in (self.representative, self.alternate):
            if person is not None and not person.two_factor_enabled:
                found.append(_("%(name)s has not set up two-factor sign-in.", name=person.name))
        return found


def seat_condition(on: date):
    """``Member`` rows that hold a seat on ``on``: active, not erased, term covering the day."""
    return sa.and_(
        Member.status == MemberStatus.ACTIVE,
        Member.erased_at.is_(None),
        Member.steering_from.is_not(None),
        Member.steering_from <= on,
        sa.or_(Member.steering_until.is_(None), Member.steering_until >= on),
    )


def current_seats(on: date | None = None) -> list[Seat]:
    """The seats of ``on`` (today by default), by organisation name: two queries."""
    on = on or utcnow().date()
    rows = db.session.execute(
        sa.select(Member, SteeringSeat)
        .outerjoin(SteeringSeat, SteeringSeat.member_id == Member.id)
        .where(seat_condition(on))
        .order_by(Member.name_key, Member.id)
    ).all()
    people_ids = {
        uid
        for _member, seat in rows
        if seat is not None
        for uid in (seat.representative_id, seat.alternate_id)
        if uid is not None
    }
    if people_ids:
        # Load the sitters (and their roles and second factor) in one go.
        list(db.session.scalars(sa.select(User).where(User.id.in_(people_ids))))
    return [Seat(member=member, assignment=seat) for member, seat in rows]


def _sitter(user_id: int | None, field: str) -> User | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or Role.STEERING not in user.roles:
        raise DomainError(_("Choose an active person with the steering role."), field)
    return user


def set_sitters(
    member: Member,
    *,
    representative_id: int | None,
    alternate_id: int | None,
    actor: Any,
) -> SteeringSeat:
    """Staff name the seat's representative and alternate (either may be empty).

    Both must be active accounts with the steering role, and different people.
    Changing them never touches a vote already open: its roll is frozen.
    """
    if not member.is_steering() or member.status != MemberStatus.ACTIVE:
        raise DomainError(_("This organisation holds no steering seat today."))
    representative = _sitter(representative_id, "representative_id")
    alternate = _sitter(alternate_id, "alternate_id")
    if alternate is not None and representative is None:
        raise DomainError(_("Name a representative before an alternate."), "representative_id")
    if representative is not None and alternate is not None and representative.id == alternate.id:
        raise DomainError(
            _("The alternate must be someone other than the representative."), "alternate_id"
        )
    seat = db.session.scalar(
        sa.select(SteeringSeat).where(SteeringSeat.member_id == member.id).with_for_update()
    )
    before = [seat.representative_id, seat.alternate_id] if seat is not None else [None, None]
    if seat is None:
        seat = SteeringSeat(member_id=member.id)
        db.session.add(seat)
    seat.representative_id = representative.id if representative else None
    seat.alternate_id = alternate.id if alternate else None
    db.session.flush()
    audit.record(
        "steering.seat_set",
        seat,
        actor=actor,
        changes={
            "representative_id": [before[0], seat.representative_id],
            "alternate_id": [before[1], seat.alternate_id],
        },
        details={"member_id": member.id},
    )
    return seat


def seats_held_by(user_id: int, on: date | None = None) -> list[Seat]:
    return [
        seat
        for seat in current_seats(on)
        if seat.assignment is not None
        and user_id in (seat.assignment.representative_id, seat.assignment.alternate_id)
    ]
