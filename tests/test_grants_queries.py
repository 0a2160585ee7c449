"""The grant pages' SQL query count does not grow with applications or budget lines."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    BudgetLine,
    Fund,
    Round,
    RoundPhase,
)
from tests.test_members_queries import counting_queries


def _round() -> Round:
    now = utcnow()
    round_ = Round(
        fund=Fund(name="Fund", currency="USD", total_budget=10**12),
        title="Round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        budget=10**11,
        min_grant=1,
        max_grant=10**9,
    )
    db.session.add(round_)
    db.session.commit()
    return round_


def _add(round_: Round, applicant, n: int, lines: int) -> None:
    rows = []
    for i in range(n):
        application = Application(
            round=round_,
            applicant=applicant,
            title=f"Application {i}",
            org_name=f"Org {i}",
            org_country="KE",
            requested_amount=1000 * lines,
            status=ApplicationStatus.SUBMITTED if i % 2 else ApplicationStatus.DRAFT,
            submitted_at=utcnow(),
        )
        application.budget_lines = [
            BudgetLine(position=j, category="c", description="d", amount=1000) for j in range(lines)
        ]
        rows.append(application)
    db.session.add_all(rows)
    db.session.commit()


def count(client, path: str) -> int:
    client.get(path)
    with counting_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


def test_grant_pages_cost_the_same_for_few_and_many(client, make_user, login):
    round_ = _round()
    applicant = make_user(Role.APPLICANT)
    staff = make_user(Role.CONVENOR, two_factor=True)
    _add(round_, applicant, 3, lines=2)
    first = db.session.scalar(sa.select(Application.id).order_by(Application.id))
    pages = {
        "round list": f"/grants/rounds/{round_.id}/applications",
        "round page": f"/grants/rounds/{round_.id}",
        "screening": f"/grants/rounds/{round_.id}/screening",
        "application": f"/applications/{first}",
    }
    login(staff)
    small = {name: count(client, path) for name, path in pages.items()}
    login(applicant)
    small["dashboard"] = count(client, "/applications/")

    _add(round_, applicant, 200, lines=2)
    extra = db.session.get(Application, first)
    extra.budget_lines.extend(
        BudgetLine(position=10 + j, category="c", description="d", amount=1) for j in range(30)
    )
    db.session.commit()
    login(staff)
    large = {name: count(client, path) for name, path in pages.items()}
    login(applicant)
    large["dashboard"] = count(client, "/applications/")
    assert large == small
