"""The steering vote (coalition/steering/votes.py): seats, votes, results, decisions, appeals.

The world (``add_steering_votes``): a round in review; the steering and the
conflicted steering members each sit for a seat; an open vote on two of the
applicant's applications, the conflicted member recused from the first; a
closed vote whose result rejected a third application, under appeal.
"""

from tests.access_table import (
    APPLICANT,
    CONFLICTED_STEERING,
    CONVENOR,
    CONVENOR_ONLY,
    STEERING,
    STEERING_GROUP,
    object_id,
)

ON_THE_ROLL = frozenset({STEERING, CONFLICTED_STEERING})

ENTRIES = {
    "votes.seats": {"GET": STEERING_GROUP},
    "votes.set_seat": {"url": {"member_id": object_id("seat_member")}, "POST": CONVENOR_ONLY},
    "votes.new_vote": {
        "url": {"round_id": object_id("vote_round")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    # A vote's page: staff and the sitters on its roll; its existence is private.
    "votes.show": {
        "url": {"vote_id": object_id("open_vote")},
        "GET": ON_THE_ROLL | {CONVENOR},
        "denied": 404,
    },
    # One application: nothing for the recused sitter.
    "votes.application": {
        "url": {
            "vote_id": object_id("open_vote"),
            "application_id": object_id("vote_application"),
        },
        "GET": frozenset({STEERING, CONVENOR}),
        "denied": 404,
    },
    # Declaring and voting: the sitters on the roll only (staff hold no seat here).
    "votes.declare": {
        "url": {"vote_id": object_id("open_vote")},
        "POST": ON_THE_ROLL,
        "denied": 404,
    },
    "votes.ballot": {
        "url": {"vote_id": object_id("open_vote")},
        "POST": ON_THE_ROLL,
        "denied": 404,
    },
    "votes.close": {"url": {"vote_id": object_id("open_vote")}, "POST": CONVENOR_ONLY},
    "votes.result": {
        "url": {"vote_id": object_id("closed_vote")},
        "GET": STEERING_GROUP,
        "denied": 404,
    },
    "votes.apply": {"url": {"vote_id": object_id("closed_vote")}, "POST": CONVENOR_ONLY},
    "votes.move_up": {
        "url": {"application_id": object_id("rejected_application")},
        "POST": CONVENOR_ONLY,
    },
    # The applicant's own decision: they appeal (staff reach it too, and are refused by
    # the rule of one appeal by the applicant).
    "votes.appeal": {
        "url": {"application_id": object_id("rejected_application")},
        "POST": frozenset({APPLICANT, CONVENOR}),
        "denied": 404,
    },
    "votes.decide_appeal": {"url": {"appeal_id": object_id("appeal")}, "POST": CONVENOR_ONLY},
}


def add_steering_votes(world) -> None:
    """The objects above, committed."""
    from datetime import timedelta

    from coalition.countries import fold, region_of
    from coalition.db import utcnow
    from coalition.extensions import db
    from coalition.grants import decisions
    from coalition.grants import reviews as review_ops
    from coalition.grants.models import (
        Application,
        ApplicationStatus,
        Fund,
        RegistrationStatus,
        Round,
        RoundPhase,
    )
    from coalition.members.models import Member, MemberKind, MemberStatus, OrgType
    from coalition.steering import voting
    from coalition.steering.models import SteeringSeat

    now = utcnow().replace(microsecond=0)
    users = world.users
    fund = Fund(name="Vote Fund", partner="Partner", currency="USD", total_budget=10_000_000)
    round_ = Round(
        fund=fund,
        title="Round in review",
        description="A round.",
        phase=RoundPhase.IN_REVIEW,
        opens_at=now - timedelta(days=40),
        closes_at=now - timedelta(days=20),
        budget=5_000_000,
        min_grant=100_000,
        max_grant=2_000_000,
        required_attachments=[],
    )
    db.session.add(round_)
    applications = [
        Application(
            round=round_,
            applicant=users[APPLICANT],
            status=ApplicationStatus.ELIGIBLE,
            title=f"Vote application {n}",
            org_name=f"Vote applicant {n}",
            org_country="KE",
            org_registration=RegistrationStatus.REGISTERED,
            requested_amount=1_000_000,
            submitted_at=now - timedelta(days=25, minutes=-n),
        )
        for n in range(3)
    ]
    db.session.add_all(applications)
    for n, person in enumerate((STEERING, CONFLICTED_STEERING)):
        name = f"Seat organisation {n}"
        member = Member(
            kind=MemberKind.ORGANISATION,
            name=name,
            name_key=fold(name),
            search_text=fold(name),
            org_type=OrgType.NGO,
            country="KE",
            region=region_of("KE"),
            languages=["en"],
            status=MemberStatus.ACTIVE,
            steering_from=now.date() - timedelta(days=100),
        )
        db.session.add(member)
        db.session.flush()
        db.session.add(SteeringSeat(member_id=member.id, representative_id=users[person].id))
        world.objects["seat_member"] = member
    db.session.flush()
    first, second, third = applications
    review_ops.declare(first, users[CONFLICTED_STEERING], conflict=True, description="Related")
    closed = voting.open_vote(
        round_, closes_at=now + timedelta(days=1), actor=None, application_ids=[third.id], now=now
    )
    voting.close(closed, actor=users[CONVENOR], reason="For the access table.", now=now)
    decisions.apply_result(
        closed, actor=users[CONVENOR], overrides={third.id: ("rejected", "Out of scope.")}
    )
    appeal = decisions.lodge_appeal(third, actor=users[APPLICANT], reasons="Please look again.")
    opened = voting.open_vote(
        round_,
        closes_at=now + timedelta(days=7),
        actor=None,
        application_ids=[first.id, second.id],
        now=now,
    )
    world.objects.update(
        vote_round=round_,
        open_vote=opened,
        closed_vote=closed,
        vote_application=first,
        rejected_application=third,
        appeal=appeal,
    )
    db.session.commit()
