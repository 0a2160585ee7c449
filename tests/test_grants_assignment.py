"""Reviewer assignment: the pool and its load, known conflicts of interest, by
hand and automatically (balanced, never a conflict, gaps only on a re-run),
and unassignment."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import assignment as assign_ops
from coalition.grants import reviews as review_ops
from coalition.grants.assignment import (
    AssignmentShortfall,
    ConflictReason,
    auto_assign,
    known_conflicts,
    plan_assignment,
    reviewer_loads,
)
from coalition.grants.models import Application, ApplicationStatus, DomainError, RoundPhase
from coalition.grants.review_models import ACTIVE_REVIEW, Review, ReviewStatus
from coalition.members.models import MemberContact
from tests.conftest import outbox
from tests.reviews_factories import make_application, make_person, make_round

# -- The plan, on its own: balanced as well as any assignment can be -------------------


def brute_force_extremes(gaps, candidates, loads):
    """(smallest possible largest load, largest possible smallest load), by trying all."""
    apps = sorted(gaps)
    choices = [list(itertools.combinations(sorted(candidates[a]), gaps[a])) for a in apps]
    best_max, best_min = None, None
    for combo in itertools.product(*choices):
        load = dict(loads)
        for users in combo:
            for user in users:
                load[user] += 1
        high, low = max(load.values()), min(load.values())
        best_max = high if best_max is None else min(best_max, high)
        best_min = low if best_min is None else max(best_min, low)
    return best_max, best_min


@st.composite
def instances(draw, max_apps=4, max_reviewers=4, conflicts=True, existing=True):
    reviewers = list(range(1, draw(st.integers(1, max_reviewers)) + 1))
    apps = list(range(100, 100 + draw(st.integers(1, max_apps))))
    loads = {u: (draw(st.integers(0, 3)) if existing else 0) for u in reviewers}
    gaps, candidates = {}, {}
    for app in apps:
        if conflicts:
            allowed = draw(st.sets(st.sampled_from(reviewers), min_size=1))
        else:
            allowed = set(reviewers)
        gaps[app] = draw(st.integers(1, len(allowed)))
        candidates[app] = allowed
    return gaps, candidates, loads


def check_plan(plan, gaps, candidates, loads):
    given_to = {app: [u for a, u in plan.pairs if a == app] for app in gaps}
    for app, users in given_to.items():
        assert len(users) == gaps[app] == len(set(users))
        assert set(users) <= candidates[app]  # never a conflict
    expected = dict(loads)
    for _app, user in plan.pairs:
        expected[user] += 1
    assert plan.loads == expected


@settings(max_examples=300, deadline=None)
@given(instances())
def test_the_plan_is_as_even_as_the_conflicts_allow(instance):
    gaps, candidates, loads = instance
    plan = plan_assignment(gaps, candidates, loads, seed=7)
    check_plan(plan, gaps, candidates, loads)
    best_max, best_min = brute_force_extremes(gaps, candidates, loads)
    # The largest load as small, and the smallest as large, as any assignment allows.
    assert max(plan.loads.values()) == best_max
    assert min(plan.loads.values()) == best_min


@settings(max_examples=200, deadline=None)
@given(instances(max_apps=30, max_reviewers=12, conflicts=False, existing=False))
def test_without_conflicts_loads_differ_by_at_most_one(instance):
    gaps, candidates, loads = instance
    plan = plan_assignment(gaps, candidates, loads, seed=3)
    check_plan(plan, gaps, candidates, loads)
    assert max(plan.loads.values()) - min(plan.loads.values()) <= 1


def test_a_large_round_is_planned_quickly():
    import time

    reviewers = set(range(40))
    gaps = dict.fromkeys(range(400), 3)
    candidates = {app: reviewers - {app % 40, (app * 7) % 40} for app in gaps}
    started = time.perf_counter()
    plan = plan_assignment(gaps, candidates, dict.fromkeys(reviewers, 0))
    assert time.perf_counter() - started < 5
    assert max(plan.loads.values()) - min(plan.loads.values()) <= 1
    assert len(plan.pairs) == 1200


# -- Automatic assignment on random rounds in the database ------------------------------------


def active_pairs(round_):
    return set(
        db.session.execute(
            sa.select(Review.application_id, Review.reviewer_id)
            .join(Application)
            .where(Application.round_id == round_.id, Review.status.in_(ACTIVE_REVIEW))
        ).tuples()
    )


def round_loads(round_) -> dict[int, int]:
    return {row.user_id: row.assigned for row in reviewer_loads(round_.id)}


CONFLICT_KINDS = ("applicant", "contact", "fiscal_host", "domain", "declared")


@st.composite
def rounds(draw):
    return {
        "reviewers": draw(st.integers(1, 5)),
        "applications": draw(st.integers(1, 4)),
        "per_application": draw(st.integers(1, 3)),
        # (application index, reviewer index, kind of conflict)
        "conflicts": draw(
            st.lists(
                st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from(CONFLICT_KINDS)),
                max_size=5,
            )
        ),
        # Reviews staff gave by hand before the automatic run (application, reviewer).
        "by_hand": draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), max_size=3)),
        "started": draw(st.booleans()),
    }


def plant_conflict(app, reviewer, kind, make_member):
    """Make ``reviewer`` conflicted with ``app`` in one of the known ways."""
    if kind == "applicant":
        app.applicant = reviewer
    elif kind == "contact":
        member = make_member(commit=False, contacts=[{"name": "C", "email": reviewer.email}])
        app.member_id = member.id
    elif kind == "fiscal_host":
        member = make_member(
            commit=False, country="SN", contacts=[{"name": "C", "email": "x@host.example.net"}]
        )
        member.contacts[0].user_id = reviewer.id
        app.fiscal_host_name = member.name.upper()  # found by its folded name
        app.fiscal_host_country = "SN"
    elif kind == "domain":
        domain = reviewer.email.split("@")[1]
        member = make_member(commit=False, website=f"https://www.{domain}/about", contacts=[])
        app.member_id = member.id
    else:
        review_ops.declare(app, reviewer, conflict=True, description="My cousin runs it.")
    db.session.flush()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=rounds())
def test_automatic_assignment_on_random_rounds(app, make_member, case):
    savepoint = db.session.begin_nested()
    try:
        _random_round(case, make_member)
    finally:
        savepoint.rollback()
        db.session.expire_all()


def _random_round(case, make_member):
    round_ = make_round(reviewers=case["per_application"])
    people = [
        make_person(Role.STEERING if i % 3 == 2 else Role.REVIEWER, email=f"p{i}@d{i}.example.net")
        for i in range(case["reviewers"])
    ]
    apps = [make_application(round_) for _ in range(case["applications"])]
    make_application(round_, status=ApplicationStatus.INELIGIBLE)  # never reviewed
    planted = set()
    used = set()  # (application, way): an application has one applicant, member, host
    for a, r, kind in case["conflicts"]:
        if a >= len(apps) or r >= len(people) or (apps[a].id, people[r].id) in planted:
            continue
        way = "member" if kind in ("contact", "domain") else kind
        if way != "declared" and (a, way) in used:
            continue
        used.add((a, way))
        if kind == "declared":
            # Only someone asked may declare: a steering member on the vote list.
            people[r].set_roles([Role.STEERING])
            db.session.flush()
        plant_conflict(apps[a], people[r], kind, make_member)
        planted.add((apps[a].id, people[r].id))
    expected = known_conflicts([a.id for a in apps], people)
    assert planted <= set(expected)
    hand = {}
    for a, r in case["by_hand"]:
        if a < len(apps) and r < len(people) and (apps[a].id, people[r].id) not in expected:
            try:
                review = assign_ops.assign(apps[a], people[r], actor=None)
            except DomainError:
                continue  # already on it
            if case["started"]:
                review_ops.declare(apps[a], people[r], conflict=False)
            hand[review.id] = (review.status, review.application_id, review.reviewer_id)

    before = round_loads(round_)
    k = case["per_application"]
    gaps = {}
    candidates = {}
    pairs_before = active_pairs(round_)
    for a in apps:
        have = {u for x, u in pairs_before if x == a.id}
        if len(have) < k:
            gaps[a.id] = k - len(have)
            candidates[a.id] = {
                p.id for p in people if p.id not in have and (a.id, p.id) not in expected
            }
    feasible = all(len(candidates[a]) >= gaps[a] for a in gaps)
    event(f"feasible={feasible} conflicts={len(planted)} by_hand={len(hand)}")
    if not feasible:
        with pytest.raises(AssignmentShortfall) as refused:
            auto_assign(round_, actor=None)
        missing = sum(max(0, gaps[a] - len(candidates[a])) for a in gaps)
        assert refused.value.missing == (k - len(people) if len(people) < k else missing)
        assert active_pairs(round_) == pairs_before  # nobody assigned
        return

    result = auto_assign(round_, actor=None)
    pairs = active_pairs(round_)
    for a in apps:
        # Staff may have given one more than the round asks for by hand.
        before_count = len({u for x, u in pairs_before if x == a.id})
        assert len({u for x, u in pairs if x == a.id}) == max(k, before_count)
    assert not pairs & set(expected), "a known conflict was assigned"
    assert pairs_before <= pairs  # nothing moved
    for review_id, (status, app_id, reviewer_id) in hand.items():
        review = db.session.get(Review, review_id)
        assert (review.status, review.application_id, review.reviewer_id) == (
            status,
            app_id,
            reviewer_id,
        )
    loads = round_loads(round_)
    assert loads == result.loads
    best_max, best_min = brute_force_extremes(gaps, candidates, before)
    assert max(loads.values()) == best_max
    assert min(loads.values()) == best_min
    if not expected and not hand:
        assert max(loads.values()) - min(loads.values()) <= 1

    # Running it again only fills gaps: there are none now.
    again = auto_assign(round_, actor=None)
    assert again.created == []
    assert active_pairs(round_) == pairs


# -- Known cases ----------------------------------------------------------------------------


@pytest.fixture
def review_round(app):
    round_ = make_round(reviewers=2)
    db.session.commit()
    return round_


def test_balanced_round_and_a_rerun_that_fills_gaps(review_round):
    reviewers = [make_person() for _ in range(5)]
    steering = make_person(Role.STEERING)
    make_person(Role.APPLICANT)  # not in the pool
    gone = make_person(Role.REVIEWER)
    gone.active = False  # nor is a deactivated account
    apps = [make_application(review_round) for _ in range(9)]
    result = auto_assign(review_round, actor=None)
    assert len(result.created) == 18
    loads = round_loads(review_round)
    assert set(loads) == {r.id for r in [*reviewers, steering]}
    assert sorted(loads.values()) == [3, 3, 3, 3, 3, 3]
    assert all(r.status == ReviewStatus.ASSIGNED for r in result.created)
    # One email per reviewer, with the link to their reviews and nothing of the proposals.
    mails = outbox("review_assigned")
    assert len(mails) == 6
    assert all("http://localhost/reviews/" in m.body_text for m in mails)
    assert not any(apps[0].title in m.body_text for m in mails)

    # One reviewer starts, another is recused, staff unassign a third.
    started = result.created[0]
    review_ops.declare(started.application, started.reviewer, conflict=False)
    recused = next(r for r in result.created if r.application_id != started.application_id)
    review_ops.declare(recused.application, recused.reviewer, conflict=True, description="Ex-boss")
    dropped = next(
        r
        for r in result.created
        if r.application_id not in (started.application_id, recused.application_id)
    )
    assign_ops.unassign(dropped, actor=None)
    snapshot = {
        r.id: (r.status, r.application_id, r.reviewer_id)
        for r in db.session.scalars(sa.select(Review))
    }
    again = auto_assign(review_round, actor=None)
    assert len(again.created) == 2  # the recused and the unassigned places
    for review_id, state in snapshot.items():
        review = db.session.get(Review, review_id)
        assert (review.status, review.application_id, review.reviewer_id) == state
    new_pairs = {(r.application_id, r.reviewer_id) for r in again.created}
    assert (recused.application_id, recused.reviewer_id) not in new_pairs
    assert (dropped.application_id, dropped.reviewer_id) not in new_pairs
    loads = round_loads(review_round)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_too_few_reviewers_says_how_many_and_assigns_none(app):
    round_ = make_round(reviewers=3)
    make_person()
    make_application(round_)
    with pytest.raises(AssignmentShortfall, match="2 more are needed") as refused:
        auto_assign(round_, actor=None)
    assert refused.value.missing == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0


def test_too_few_reviewers_without_a_conflict_names_the_application(app):
    round_ = make_round(reviewers=2)
    one, two = make_person(), make_person()
    fine = make_application(round_)
    conflicted = make_application(round_, applicant=two, title="Watching the vote")
    with pytest.raises(AssignmentShortfall, match="1 more is needed") as refused:
        auto_assign(round_, actor=None)
    assert "Watching the vote" in refused.value.message
    assert refused.value.missing == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0
    assert fine and one and conflicted


def test_assignment_waits_for_the_review_phase(app):
    round_ = make_round(phase=RoundPhase.PUBLISHED)
    reviewer = make_person()
    application = make_application(round_)
    with pytest.raises(DomainError, match="once the round is in review"):
        auto_assign(round_, actor=None)
    with pytest.raises(DomainError, match="once the round is in review"):
        assign_ops.assign(application, reviewer, actor=None)


@pytest.mark.parametrize("kind", CONFLICT_KINDS)
def test_assigning_a_known_conflict_is_refused_with_the_reason(app, make_member, kind):
    round_ = make_round()
    reviewer = make_person(Role.STEERING if kind == "declared" else Role.REVIEWER)
    application = make_application(round_)
    plant_conflict(application, reviewer, kind, make_member)
    reason = {
        "applicant": ConflictReason.APPLICANT,
        "contact": ConflictReason.CONTACT,
        "fiscal_host": ConflictReason.FISCAL_HOST_CONTACT,
        "domain": ConflictReason.EMAIL_DOMAIN,
        "declared": ConflictReason.DECLARED,
    }[kind]
    with pytest.raises(DomainError) as refused:
        assign_ops.assign(application, reviewer, actor=None)
    assert refused.value.message == (
        f"{reviewer.name} cannot review this application: {reason.label}."
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0


def test_conflict_rules_in_detail(app, make_member):
    round_ = make_round()
    by_account = make_person()
    by_email = make_person(email="Amina@Watch.example.org")
    sub_domain = make_person(email="someone@mail.watchdog.example.org")
    other_domain = make_person(email="someone@notwatchdog.example.org")
    host_contact = make_person()
    bystander = make_person()
    member = make_member(
        commit=False,
        website="https://www.watchdog.example.org",
        contacts=[{"name": "Amina", "email": "amina@watch.example.org"}],
    )
    member.contacts.append(MemberContact(name="Staffer", user_id=by_account.id))
    host = make_member(commit=False, name="Fiscal Host Trust", country="SN", contacts=[])
    host.contacts.append(MemberContact(name="Host", user_id=host_contact.id))
    namesake = make_member(commit=False, name="Fiscal Host Trust", country="NG", contacts=[])
    namesake.contacts.append(MemberContact(name="Other", user_id=bystander.id))
    db.session.flush()
    application = make_application(
        round_,
        member_id=member.id,
        fiscal_host_name="  fiscal host trust ",
        fiscal_host_country="SN",
    )
    people = [by_account, by_email, sub_domain, other_domain, host_contact, bystander]
    found = known_conflicts([application.id], people)
    assert found == {
        (application.id, by_account.id): ConflictReason.CONTACT,
        (application.id, by_email.id): ConflictReason.CONTACT,
        (application.id, sub_domain.id): ConflictReason.EMAIL_DOMAIN,
        (application.id, host_contact.id): ConflictReason.FISCAL_HOST_CONTACT,
    }


def test_an_applicant_organisation_found_by_name_counts(app, make_member):
    round_ = make_round()
    contact = make_person()
    member = make_member(commit=False, name="Digital Watch Kenya", country="KE", contacts=[])
    member.contacts.append(MemberContact(name="Contact", user_id=contact.id))
    db.session.flush()
    application = make_application(round_, org_name="DIGITAL WATCH KENYA", org_country="KE")
    assert known_conflicts([application.id], [contact]) == {
        (application.id, contact.id): ConflictReason.CONTACT
    }


def test_hand_assignment_rules(review_round):
    reviewer = make_person()
    applicant_only = make_person(Role.APPLICANT)
    application = make_application(review_round)
    review = assign_ops.assign(application, reviewer, actor=None)
    assert review.status == ReviewStatus.ASSIGNED
    with pytest.raises(DomainError, match="already reviews"):
        assign_ops.assign(application, reviewer, actor=None)
    with pytest.raises(DomainError, match="not a reviewer or a steering member"):
        assign_ops.assign(application, applicant_only, actor=None)
    ineligible = make_application(review_round, status=ApplicationStatus.INELIGIBLE)
    with pytest.raises(DomainError, match="screened eligible"):
        assign_ops.assign(ineligible, reviewer, actor=None)
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.object_type == "Review")
    ).all()
    assert actions == ["review.assigned"]


def test_unassign_tells_the_reviewer_and_never_takes_a_submitted_review(review_round):
    from tests.test_grants_reviews import fill

    reviewer = make_person()
    application = make_application(review_round)
    review = assign_ops.assign(application, reviewer, actor=None)
    assign_ops.unassign(review, actor=None)
    assert review.status == ReviewStatus.UNASSIGNED
    (mail,) = outbox("review_unassigned", reviewer.email)
    assert "http://localhost/reviews/" in mail.body_text
    assert application.title not in mail.body_text
    # Assigned again by hand: a fresh start.
    again = assign_ops.assign(application, reviewer, actor=None)
    assert again.id == review.id and again.status == ReviewStatus.ASSIGNED
    review_ops.declare(application, reviewer, conflict=False)
    fill(again, (5, 5, 5))
    review_ops.submit(again, actor=reviewer)
    with pytest.raises(DomainError, match="reopen it rather"):
        assign_ops.unassign(again, actor=None)


def test_reviewer_loads_per_round(review_round):
    first, second, idle = make_person(), make_person(), make_person(Role.STEERING)
    other_round = make_round()
    apps = [make_application(review_round) for _ in range(3)]
    elsewhere = make_application(other_round)
    for a in apps:
        assign_ops.assign(a, first, actor=None)
    assign_ops.assign(apps[0], second, actor=None)
    assign_ops.assign(elsewhere, second, actor=None)
    review_ops.declare(apps[1], first, conflict=True, description="Former employer")
    loads = {row.user_id: row for row in reviewer_loads(review_round.id)}
    assert (loads[first.id].assigned, loads[first.id].recused) == (2, 1)
    assert loads[second.id].assigned == 1
    assert loads[idle.id].assigned == 0
    assert reviewer_loads(review_round.id)[0].user_id == idle.id


# -- Two staff members at once (S32) ----------------------------------------------------------


@pytest.mark.committing
def test_two_automatic_assignments_at_once_fill_each_gap_once(app):
    import threading

    from coalition.grants.models import Round

    round_ = make_round(reviewers=2)
    for _ in range(4):
        make_person()
    for _ in range(6):
        make_application(round_)
    db.session.commit()
    round_id = round_.id
    db.session.remove()

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt():
        with app.app_context():
            target = db.session.get(Round, round_id)
            db.session.commit()  # end the read, as a separate request would
            barrier.wait()
            try:
                result = auto_assign(target, actor=None)
                db.session.commit()
                outcomes.append(f"created {len(result.created)}")
            except Exception as exc:  # a lock error or a duplicate would be a failure
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["created 0", "created 12"], outcomes
    round_ = db.session.get(Round, round_id)
    loads = round_loads(round_)
    assert sorted(loads.values()) == [3, 3, 3, 3]
