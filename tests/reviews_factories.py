"""Rounds in review, eligible applications and people, for the review tests.

Plain functions that flush (the caller commits when it needs to), fast
enough to run inside Hypothesis examples: accounts get no password hash.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from coalition.accounts.models import Role, User
from coalition.extensions import db
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    Criterion,
    Fund,
    RegistrationStatus,
    Round,
    RoundPhase,
)
from tests.clock import NOW

_seq = count(1)

# Relevance counts three times, feasibility twice, value for money once.
RUBRIC = (("Relevance", 3), ("Feasibility", 2), ("Value for money", 1))


def make_round(
    *,
    reviewers: int = 2,
    budget: int = 10_000_000,
    deadline=None,
    rubric=RUBRIC,
    phase: RoundPhase = RoundPhase.IN_REVIEW,
) -> Round:
    deadline = NOW + timedelta(days=10) if deadline is None else deadline
    n = next(_seq)
    fund = Fund(name=f"Fund {n}", partner="Partner", currency="USD", total_budget=10 * budget)
    fund.eligible_countries = ["KE", "SN", "NG"]
    round_ = Round(
        fund=fund,
        title=f"Round {n}",
        description="Research on platform harms.",
        phase=phase,
        opens_at=NOW - timedelta(days=40),
        closes_at=NOW - timedelta(days=20),
        review_deadline=deadline,
        budget=budget,
        min_grant=100_000,
        max_grant=budget,
        required_attachments=[],
        reviewers_per_application=reviewers,
    )
    for position, (name, weight) in enumerate(rubric):
        round_.criteria.append(Criterion(position=position, name=name, weight=weight))
    db.session.add(round_)
    db.session.flush()
    return round_


def make_person(*roles: Role, email: str | None = None, name: str | None = None) -> User:
    n = next(_seq)
    user = User(
        email=email or f"reviewer{n}@reviewers.example.net",
        name=name or f"Reviewer {n}",
        password_hash=None,
        email_confirmed_at=NOW,
        language="en",
        timezone="UTC",
    )
    user.set_roles(roles or [Role.REVIEWER])
    db.session.add(user)
    db.session.flush()
    return user


def make_application(
    round_: Round,
    applicant: User | None = None,
    *,
    status: ApplicationStatus = ApplicationStatus.ELIGIBLE,
    amount: int = 1_000_000,
    submitted_at=None,
    **values,
) -> Application:
    n = next(_seq)
    applicant = applicant or make_person(Role.APPLICANT, email=f"applicant{n}@apply.example.org")
    base = {
        "title": f"Project {n}",
        "org_name": f"Applicant organisation {n}",
        "org_country": "KE",
        "org_registration": RegistrationStatus.REGISTERED,
    }
    base.update(values)
    application = Application(
        round=round_,
        applicant=applicant,
        status=status,
        requested_amount=amount,
        submitted_at=submitted_at or NOW - timedelta(days=25, minutes=-n),
        **base,
    )
    db.session.add(application)
    db.session.flush()
    return application
