"""Demo steering votes: ten seats (one without a representative, one with an
alternate), a closed vote with its result (a tie, a recusal, an override, an
appeal) and an open vote, on the demo round in review. Fictional people only."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from coalition.accounts import operations as account_ops
from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.demo import DEMO_DOMAIN
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.models import Application, ApplicationStatus, Round, RoundPhase
from coalition.grants.review_models import ConflictKind
from coalition.grants.reviews import declaration_of
from coalition.steering import voting
from coalition.steering.models import Choice, SteeringSeat
from coalition.steering.seats import current_seats

DEMO_STEERING_EMAIL = f"steering@{DEMO_DOMAIN}"
SITTER_NAMES = [
    "Fatou Sarr", "Tendai Moyo", "Abebe Girma", "Nia Okafor", "Samir Haddad",
    "Ruth Achieng", "Kofi Boateng", "Leila Mansour", "Thandiwe Dube", "Idrissa Keita",
]  # fmt: skip


def _conflicted(person: User, application: Application) -> bool:
    """The person declared a conflict on it (in the reviews, or on this vote)."""
    declared = declaration_of(person.id, application.id)
    return declared is not None and declared.kind == ConflictKind.CONFLICT


def _sitters(count: int) -> list[User]:
    """The demo steering account first, then fictional steering members without a password."""
    people = []
    demo = account_ops.find_by_email(DEMO_STEERING_EMAIL)
    if demo is not None:
        people.append(demo)
    for n, name in enumerate(SITTER_NAMES):
        if len(people) >= count:
            break
        user = User(
            email=f"sitter{n + 1}@steering.{DEMO_DOMAIN}",
            name=name,
            password_hash=None,
            email_confirmed_at=utcnow(),
            language="en",
            timezone="Africa/Nairobi",
        )
        user.set_roles([Role.STEERING])
        db.session.add(user)
        people.append(user)
    db.session.flush()
    return people


def seed_votes(rng: random.Random) -> dict[str, Any] | None:
    """Seats and two votes on the round in review; nothing without seats or applications."""
    now = utcnow().replace(microsecond=0)
    round_ = db.session.scalar(
        sa.select(Round).where(Round.phase == RoundPhase.IN_REVIEW).order_by(Round.id).limit(1)
    )
    seats = current_seats(now.date())
    if round_ is None or len(seats) < 3:
        return None
    eligible = list(
        db.session.scalars(
            sa.select(Application)
            .where(
                Application.round_id == round_.id,
                Application.status == ApplicationStatus.ELIGIBLE,
            )
            .order_by(Application.submitted_at, Application.id)
        )
    )
    if len(eligible) < 8:
        return None
    sitters = _sitters(len(seats))
    # The last seat names nobody; the first has an alternate too.
    spare = sitters[len(seats) - 1] if len(sitters) >= len(seats) else None
    for index, seat in enumerate(seats):
        row = SteeringSeat(member_id=seat.member.id)
        if index < len(seats) - 1 and index < len(sitters):
            row.representative_id = sitters[index].id
        if index == 0 and spare is not None:
            row.alternate_id = spare.id
        db.session.add(row)
    db.session.flush()
    convenor = account_ops.find_by_email(f"convenor@{DEMO_DOMAIN}")

    # The closed vote: six applications, ten days ago to three days ago.
    closed_apps = eligible[:6]
    opened_at = now - timedelta(days=10)
    closed = voting.open_vote(
        round_,
        closes_at=now - timedelta(days=3),
        actor=convenor,
        application_ids=[a.id for a in closed_apps],
        now=opened_at,
    )
    roll = voting.load_roll(closed)
    voters = [(seat, seat.representative) for seat in roll.seats if seat.representative]
    # A recusal: the second seat's representative declares a conflict on the first application.
    conflicted = voters[1][1]
    voting.declare(
        closed,
        closed_apps[0],
        conflicted,
        conflict=True,
        description="A former employer of mine.",
        now=opened_at + timedelta(hours=2),
    )
    # Per application, each voter's choice by their place on the roll: the third is a
    # tie (approve and reject in turn, the odd one out abstains), the last rejected.
    count = len(voters)

    def planned(index: int, position: int) -> Choice:
        if index == 2:
            if position == count - 1 and count % 2:
                return Choice.ABSTAIN
            return Choice.APPROVE if position % 2 == 0 else Choice.REJECT
        if index == 5:
            return Choice.APPROVE if position == 0 else Choice.REJECT
        if index == 3 and position < 2:
            return Choice.REJECT
        return Choice.APPROVE

    cast_at = opened_at + timedelta(days=2)
    for position, (seat, person) in enumerate(voters):
        for index, application in enumerate(closed_apps):
            if roll.seat_recused(seat, application.id) or _conflicted(person, application):
                continue
            if declaration_of(person.id, application.id) is None:
                voting.declare(closed, application, person, conflict=False, now=cast_at)
            choice = planned(index, position)
            voting.cast(
                closed,
                seat_id=seat.id,
                application_id=application.id,
                user=person,
                choice=choice,
                note="Strong local partners." if choice == Choice.APPROVE and index == 1 else None,
                now=cast_at,
            )
    voting.close(closed, now=closed.closes_at)
    # An override, then the rejection appealed.
    items = {i.application_id: i for i in closed.items}
    target = next(
        (a for a in closed_apps if items[a.id].outcome.value == "approved"), closed_apps[1]
    )
    decisions.apply_result(
        closed,
        actor=convenor,
        overrides={
            target.id: (
                ApplicationStatus.WAITLISTED,
                "The partner asked to hold this grant until its audit is done.",
            )
        },
        now=now - timedelta(days=2),
    )
    rejected = next((a for a in closed_apps if a.status == ApplicationStatus.REJECTED), None)
    if rejected is not None:
        decisions.lodge_appeal(
            rejected,
            actor=rejected.applicant,
            reasons="The reviewers read our budget in the wrong currency; please look again.",
            now=now - timedelta(days=1),
        )

    # The open vote: the next six, closing in five days, some votes already in.
    open_apps = eligible[6:12]
    opened = voting.open_vote(
        round_,
        closes_at=now + timedelta(days=5),
        actor=convenor,
        application_ids=[a.id for a in open_apps],
        now=now - timedelta(days=1),
    )
    open_roll = voting.load_roll(opened)
    for seat in open_roll.seats[2:5]:
        person = seat.representative
        if person is None:
            continue
        for application in open_apps[:3]:
            if open_roll.seat_recused(seat, application.id) or _conflicted(person, application):
                continue
            if declaration_of(person.id, application.id) is None:
                voting.declare(opened, application, person, conflict=False, now=now)
            voting.cast(
                opened,
                seat_id=seat.id,
                application_id=application.id,
                user=person,
                choice=Choice.APPROVE if rng.random() < 0.7 else Choice.REJECT,
                now=now - timedelta(hours=3),
            )
    db.session.flush()
    return {"closed": closed, "open": opened}
