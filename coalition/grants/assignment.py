"""Who reviews what: the reviewer pool, each reviewer's load, known conflicts
of interest, and assignment by hand or automatically for a whole round.

Operations flush but never commit; each change is audited, and reviewers
are told by email through the outbox (a link, never the proposal).
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from coalition import audit
from coalition.accounts.models import Role, User, UserRole
from coalition.countries import fold
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    DomainError,
    Round,
    RoundPhase,
)
from coalition.grants.review_models import (
    ACTIVE_REVIEW,
    ConflictDeclaration,
    ConflictKind,
    Review,
    ReviewStatus,
)
from coalition.i18n import cached_label
from coalition.mail import queue_email
from coalition.members.models import Member, MemberContact
from coalition.urls import REVIEWER_HOME, external_path

# Who may review: outside experts, and steering members.
REVIEWER_ROLES = (Role.REVIEWER, Role.STEERING)
# Applications that take reviewers: those screened eligible.
ASSIGNABLE = (ApplicationStatus.ELIGIBLE,)


class ConflictReason(enum.StrEnum):
    """Why a reviewer may not review an application, found without asking anyone."""

    APPLICANT = "applicant"
    CONTACT = "contact"
    FISCAL_HOST_CONTACT = "fiscal_host_contact"
    EMAIL_DOMAIN = "email_domain"
    DECLARED = "declared"

    @property
    def label(self) -> str:
        return cached_label(self, CONFLICT_REASONS[self])


CONFLICT_REASONS = {
    ConflictReason.APPLICANT: _l("they made the application"),
    ConflictReason.CONTACT: _l("they are a contact of the applicant organisation"),
    ConflictReason.FISCAL_HOST_CONTACT: _l("they are a contact of the applicant's fiscal host"),
    ConflictReason.EMAIL_DOMAIN: _l(
        "their email address is at the applicant organisation's web domain"
    ),
    ConflictReason.DECLARED: _l("they declared a conflict of interest"),
}


class AssignmentShortfall(DomainError):
    """Too few reviewers (without a conflict) to give every application its reviewers."""

    def __init__(self, message: str, missing: int):
        super().__init__(message)
        self.missing = missing


# -- The pool and its load ---------------------------------------------------------------


def pool_query() -> sa.Select:
    """Active accounts that may review: the reviewer role, or the steering role."""
    return sa.select(User).where(
        User.active.is_(True),
        sa.exists().where(UserRole.user_id == User.id, UserRole.role.in_(REVIEWER_ROLES)),
    )


def reviewer_pool() -> list[User]:
    return list(db.session.scalars(pool_query().order_by(User.name, User.id)))


def in_pool(user: User) -> bool:
    return bool(user.active) and user.has_role(*REVIEWER_ROLES)


@dataclass(frozen=True)
class ReviewerLoad:
    user_id: int
    name: str
    email: str
    assigned: int  # active reviews in the round (to do or done)
    submitted: int
    recused: int


def reviewer_loads(round_id: int) -> list[ReviewerLoad]:
    """Each reviewer of the pool with their load in the round, least loaded first (one query).

    The load counts the reviews that are assigned, in progress or submitted;
    recused and unassigned ones are not work.
    """
    in_round = (
        sa.select(Review.reviewer_id, Review.status)
        .join(Application, Application.id == Review.application_id)
        .where(Application.round_id == round_id)
        .subquery()
    )
    active = sa.func.count().filter(in_round.c.status.in_(ACTIVE_REVIEW))
    query = (
        pool_query()
        .outerjoin(in_round, in_round.c.reviewer_id == User.id)
        .group_by(User.id, User.name, User.email)
        .order_by(active, User.name, User.id)
        .with_only_columns(
            User.id,
            User.name,
            User.email,
            active,
            sa.func.count().filter(in_round.c.status == ReviewStatus.SUBMITTED),
            sa.func.count().filter(in_round.c.status == ReviewStatus.RECUSED),
        )
    )
    return [ReviewerLoad(*row) for row in db.session.execute(query)]


# -- Known conflicts -----------------------------------------------------------------------


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower().rstrip(".") or None


def _same_domain(email_host: str | None, web: str | None) -> bool:
    """The address is at the web domain, or at one of its sub-domains."""
    if not email_host or not web:
        return False
    return email_host == web or email_host.endswith("." + web)


def known_conflicts(application_ids, users: list[User]) -> dict[tuple[int, int], ConflictReason]:
    """{(application_id, user_id): reason} for every known conflict, in four queries.

    Known: the person made the application; they are a contact (by account
    or by email address) of the applicant's member organisation or of its
    fiscal host (found in the register by name and country); their email
    address is at the applicant organisation's web domain; or they declared
    a conflict on it. The steering vote leaves these pairs out of its roll
    as it does declared recusals.
    """
    application_ids = list(application_ids)
    if not application_ids or not users:
        return {}
    apps = db.session.execute(
        sa.select(
            Application.id,
            Application.applicant_id,
            Application.member_id,
            Application.org_name,
            Application.org_country,
            Application.fiscal_host_name,
            Application.fiscal_host_country,
        ).where(Application.id.in_(application_ids))
    ).all()
    # The organisations each application names: applicant side and fiscal-host side.
    member_ids = {a.member_id for a in apps if a.member_id is not None}
    names = {fold(n) for a in apps for n in (a.org_name, a.fiscal_host_name) if n}
    names.discard("")
    members = (
        db.session.execute(
            sa.select(Member.id, Member.name_key, Member.country, Member.web_domain).where(
                Member.erased_at.is_(None),
                sa.or_(Member.id.in_(member_ids), Member.name_key.in_(names)),
            )
        ).all()
        if member_ids or names
        else []
    )
    by_name: dict[str, list[Any]] = {}
    by_id = {}
    for m in members:
        by_name.setdefault(m.name_key, []).append(m)
        by_id[m.id] = m

    def named(name, country):
        if not name:
            return []
        return [m for m in by_name.get(fold(name), []) if not country or m.country == country]

    contacts: dict[int, list[Any]] = {}
    if by_id:
        for c in db.session.execute(
            sa.select(MemberContact.member_id, MemberContact.user_id, MemberContact.email).where(
                MemberContact.member_id.in_(by_id), MemberContact.erased_at.is_(None)
            )
        ):
            contacts.setdefault(c.member_id, []).append(c)
    declared = {
        (row.application_id, row.user_id)
        for row in db.session.execute(
            sa.select(ConflictDeclaration.application_id, ConflictDeclaration.user_id).where(
                ConflictDeclaration.application_id.in_(application_ids),
                ConflictDeclaration.kind == ConflictKind.CONFLICT,
            )
        )
    }

    def is_contact(user, member_rows) -> bool:
        email = (user.email or "").lower()
        return any(
            c.user_id == user.id or (c.email and c.email.strip().lower() == email)
            for m in member_rows
            for c in contacts.get(m.id, [])
        )

    found: dict[tuple[int, int], ConflictReason] = {}
    for a in apps:
        applicant_orgs = [by_id[a.member_id]] if a.member_id in by_id else []
        applicant_orgs += [m for m in named(a.org_name, a.org_country) if m.id != a.member_id]
        hosts = named(a.fiscal_host_name, a.fiscal_host_country)
        for user in users:
            if a.applicant_id == user.id:
                reason = ConflictReason.APPLICANT
            elif is_contact(user, applicant_orgs):
                reason = ConflictReason.CONTACT
            elif is_contact(user, hosts):
                reason = ConflictReason.FISCAL_HOST_CONTACT
            elif any(_same_domain(email_domain(user.email), m.web_domain) for m in applicant_orgs):
                reason = ConflictReason.EMAIL_DOMAIN
            elif (a.id, user.id) in declared:
                reason = ConflictReason.DECLARED
            else:
                continue
            found[(a.id, user.id)] = reason
    return found


def declared_no_conflict(application_ids) -> set[tuple[int, int]]:
    """(application_id, user_id) of every "no conflict" declared on these applications."""
    application_ids = list(application_ids)
    if not application_ids:
        return set()
    return set(
        db.session.execute(
            sa.select(ConflictDeclaration.application_id, ConflictDeclaration.user_id).where(
                ConflictDeclaration.application_id.in_(application_ids),
                ConflictDeclaration.kind == ConflictKind.NONE,
            )
        ).tuples()
    )


def conflict_of(application: Application, user: User) -> ConflictReason | None:
    return known_conflicts([application.id], [user]).get((application.id, user.id))


# -- Assignment by hand --------------------------------------------------------------------


def _check_round(round_: Round) -> None:
    if RoundPhase(round_.phase) != RoundPhase.IN_REVIEW:
        raise DomainError(_("Reviewers are assigned once the round is in review."))


def _lock_round(round_: Round) -> None:
    """Assignments in a round happen one at a time: two staff members assigning at
    the same moment would otherwise both fill the same gaps. PostgreSQL locks the
    round's row until the transaction ends; SQLite's write lock already serialises."""
    db.session.execute(sa.select(Round.id).where(Round.id == round_.id).with_for_update())


def _tell_assigned(reviewer: User, count: int, key: str) -> None:
    queue_email(
        key=key,
        recipient=reviewer.email,
        template="review_assigned",
        language=reviewer.language,
        name=reviewer.name,
        count=count,
        link=external_path(REVIEWER_HOME),
    )


def assign(
    application: Application, reviewer: User, *, actor: Any, now: datetime | None = None
) -> Review:
    """Staff give ``reviewer`` this application to review.

    Refuses: a round not in review, an application not eligible, a person
    outside the reviewer pool, a reviewer already on it, and any known
    conflict of interest (saying which).
    """
    now = now or utcnow()
    _check_round(application.round)
    _lock_round(application.round)
    if application.status not in ASSIGNABLE:
        raise DomainError(_("Only applications screened eligible are reviewed."))
    if not in_pool(reviewer):
        raise DomainError(
            _("%(name)s is not a reviewer or a steering member.", name=reviewer.name), "reviewer"
        )
    reason = conflict_of(application, reviewer)
    if reason is not None:
        raise DomainError(
            _(
                "%(name)s cannot review this application: %(reason)s.",
                name=reviewer.name,
                reason=reason.label,
            ),
            "reviewer",
        )
    review = db.session.scalar(
        sa.select(Review).where(
            Review.application_id == application.id, Review.reviewer_id == reviewer.id
        )
    )
    if review is not None and review.status != ReviewStatus.UNASSIGNED:
        raise DomainError(
            _("%(name)s already reviews this application.", name=reviewer.name), "reviewer"
        )
    if review is None:
        review = Review(application=application, reviewer=reviewer)
        db.session.add(review)
    else:
        # Assigned again: a fresh start.
        review.move_to(ReviewStatus.ASSIGNED)
        review.scores.clear()
        review.recommendation = None
        review.comment_applicant = review.comment_confidential = None
        review.submitted_at = review.reopened_at = None
    review.status = ReviewStatus.ASSIGNED
    review.assigned_at = now
    review.assigned_by_id = getattr(actor, "id", None)
    if (application.id, reviewer.id) in declared_no_conflict([application.id]):
        # They already said so (an earlier assignment, or as a steering member).
        review.move_to(ReviewStatus.IN_PROGRESS)
    db.session.flush()
    audit.record(
        "review.assigned",
        review,
        actor=actor,
        details={"application_id": application.id, "reviewer_id": reviewer.id},
    )
    _tell_assigned(reviewer, 1, f"review_assigned:{review.id}:{review.version}")
    return review


def unassign(review: Review, *, actor: Any) -> None:
    """Staff take back a review that is not submitted; the reviewer is told by email."""
    if review.status == ReviewStatus.SUBMITTED:
        raise DomainError(_("This review is submitted: reopen it rather than unassign it."))
    old = review.move_to(ReviewStatus.UNASSIGNED)
    db.session.flush()
    audit.record(
        "review.unassigned",
        review,
        actor=actor,
        changes={"status": [old.value, ReviewStatus.UNASSIGNED.value]},
        details={"application_id": review.application_id, "reviewer_id": review.reviewer_id},
    )
    reviewer = review.reviewer
    queue_email(
        key=f"review_unassigned:{review.id}:{review.version}",
        recipient=reviewer.email,
        template="review_unassigned",
        language=reviewer.language,
        name=reviewer.name,
        link=external_path(REVIEWER_HOME),
    )


# -- Automatic assignment ------------------------------------------------------------------


@dataclass
class AssignmentPlan:
    """New (application, reviewer) pairs, and every pool member's load once they are made."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    loads: dict[int, int] = field(default_factory=dict)


def plan_assignment(
    gaps: dict[int, int],
    candidates: dict[int, set[int]],
    loads: dict[int, int],
    seed: int = 0,
) -> AssignmentPlan:
    """Fill every application's gap with distinct candidates, balancing the loads.

    ``gaps``: reviewers still needed per application; ``candidates``: who may
    take each (no conflict, not already on it); ``loads``: every reviewer's
    current load. Each application must have at least its gap in candidates.

    The plan is as even as the conflicts allow: a greedy start (least loaded
    first), then moves along alternating paths (a new review passes from one
    reviewer to another, and so on) while one reviewer carries two more than
    another it can pass work to. When no such move is left, the loads are
    the most even possible: the largest is as small, and the smallest as
    large, as any assignment makes them (the load vectors form an M-convex
    set, where this local test is global). Without conflicts they differ by
    at most one. Reviews that already exist never move.
    """
    rng = random.Random(seed)
    load = dict(loads)
    tie = {user_id: rng.random() for user_id in load}
    given: dict[int, set[int]] = {app_id: set() for app_id in gaps}
    # Most constrained applications first.
    for app_id in sorted(gaps, key=lambda a: (len(candidates[a]), a)):
        chosen = sorted(candidates[app_id], key=lambda u: (load[u], tie[u]))[: gaps[app_id]]
        for user_id in chosen:
            given[app_id].add(user_id)
            load[user_id] += 1

    def better_path(start: int):
        """An alternating path from ``start`` to a reviewer with at least two less work."""
        parent: dict[int, tuple[int, int] | None] = {start: None}
        queue = deque([start])
        while queue:
            user_id = queue.popleft()
            for app_id in holding[user_id]:
                for other in candidates[app_id]:
                    if other in parent or other in given[app_id]:
                        continue
                    parent[other] = (user_id, app_id)
                    if load[other] <= load[start] - 2:
                        path = []
                        node = other
                        while parent[node] is not None:
                            previous, moved = parent[node]
                            path.append((previous, moved, node))
                            node = previous
                        return path
                    queue.append(other)
        return None

    improved = True
    while improved:
        improved = False
        holding: dict[int, set[int]] = {user_id: set() for user_id in load}
        for app_id, users in given.items():
            for user_id in users:
                holding[user_id].add(app_id)
        for start in sorted(load, key=lambda u: (-load[u], tie[u])):
            path = better_path(start)
            if path is None:
                continue
            for giver, app_id, taker in path:
                given[app_id].discard(giver)
                given[app_id].add(taker)
            load[start] -= 1
            load[path[0][2]] += 1
            improved = True
            break
    pairs = sorted((app_id, user_id) for app_id, users in given.items() for user_id in users)
    return AssignmentPlan(pairs=pairs, loads=load)


@dataclass
class AssignmentResult:
    created: list[Review]
    loads: dict[int, int]


def auto_assign(round_: Round, *, actor: Any, now: datetime | None = None) -> AssignmentResult:
    """Give every eligible application of the round its number of reviewers.

    Only fills the gaps: a review that exists (whatever its state) stays as
    it is, and a reviewer staff unassigned or who declared a conflict is not
    put back. Never assigns a known conflict. The loads end as even as the
    conflicts allow (within one of each other without conflicts). When the
    pool is too small for some application, says how many reviewers are
    missing and assigns none. Each reviewer with new reviews gets one email.
    """
    now = now or utcnow()
    _check_round(round_)
    _lock_round(round_)
    needed = round_.reviewers_per_application
    pool = reviewer_pool()
    if len(pool) < needed:
        missing = needed - len(pool)
        raise AssignmentShortfall(
            ngettext(
                "Too few reviewers: the round asks for %(needed)d per application and the "
                "pool has %(have)d, so %(num)d more is needed. Nobody was assigned.",
                "Too few reviewers: the round asks for %(needed)d per application and the "
                "pool has %(have)d, so %(num)d more are needed. Nobody was assigned.",
                missing,
                needed=needed,
                have=len(pool),
            ),
            missing,
        )
    applications = db.session.execute(
        sa.select(Application.id, Application.title)
        .where(Application.round_id == round_.id, Application.status.in_(ASSIGNABLE))
        .order_by(Application.id)
    ).all()
    app_ids = [a.id for a in applications]
    existing = db.session.execute(
        sa.select(Review.application_id, Review.reviewer_id, Review.status)
        .join(Application, Application.id == Review.application_id)
        .where(Application.round_id == round_.id)
    ).all()
    pool_ids = {user.id for user in pool}
    loads = dict.fromkeys(pool_ids, 0)
    taken: dict[int, set[int]] = {app_id: set() for app_id in app_ids}
    active: dict[int, int] = dict.fromkeys(app_ids, 0)
    for row in existing:
        if row.status in ACTIVE_REVIEW and row.reviewer_id in loads:
            loads[row.reviewer_id] += 1
        if row.application_id in taken:
            taken[row.application_id].add(row.reviewer_id)
            if row.status in ACTIVE_REVIEW:
                active[row.application_id] += 1
    conflicts = known_conflicts(app_ids, pool)
    gaps = {app_id: needed - active[app_id] for app_id in app_ids if active[app_id] < needed}
    candidates = {
        app_id: {
            user_id
            for user_id in pool_ids
            if user_id not in taken[app_id] and (app_id, user_id) not in conflicts
        }
        for app_id in gaps
    }
    short = {app_id: gaps[app_id] - len(candidates[app_id]) for app_id in gaps}
    short = {app_id: n for app_id, n in short.items() if n > 0}
    if short:
        missing = sum(short.values())
        titles = {a.id: a.title or _("(untitled)") for a in applications}
        named = ", ".join(f"“{titles[app_id]}”" for app_id in sorted(short)[:3])
        raise AssignmentShortfall(
            ngettext(
                "Too few reviewers without a conflict of interest: %(num)d more is needed "
                "(for %(applications)s). Nobody was assigned.",
                "Too few reviewers without a conflict of interest: %(num)d more are needed "
                "(for %(applications)s). Nobody was assigned.",
                missing,
                applications=named,
            ),
            missing,
        )
    plan = plan_assignment(gaps, candidates, loads, seed=round_.id)
    users = {user.id: user for user in pool}
    declared = declared_no_conflict(gaps)
    created = []
    actor_id = getattr(actor, "id", None)
    for app_id, user_id in plan.pairs:
        review = Review(
            application_id=app_id,
            reviewer_id=user_id,
            status=(
                ReviewStatus.IN_PROGRESS if (app_id, user_id) in declared else ReviewStatus.ASSIGNED
            ),
            assigned_at=now,
            assigned_by_id=actor_id,
        )
        db.session.add(review)
        created.append(review)
    db.session.flush()
    for review in created:
        audit.record(
            "review.assigned",
            review,
            actor=actor,
            details={
                "application_id": review.application_id,
                "reviewer_id": review.reviewer_id,
                "automatic": True,
            },
        )
    audit.record(
        "round.reviewers_assigned",
        round_,
        actor=actor,
        details={"reviews": len(created), "per_application": needed},
    )
    per_reviewer: dict[int, list[Review]] = {}
    for review in created:
        per_reviewer.setdefault(review.reviewer_id, []).append(review)
    for user_id, reviews in per_reviewer.items():
        _tell_assigned(
            users[user_id],
            len(reviews),
            f"reviews_assigned:{round_.id}:{user_id}:{max(r.id for r in reviews)}",
        )
    db.session.flush()
    return AssignmentResult(created=created, loads=plan.loads)
