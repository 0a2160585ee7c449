"""Grants in bulk, for the portfolio report's bench and its tests.

One fund, a few rounds, and ``grants`` grants spread over them, inserted in a
handful of statements (the awards' own operations audit and write mail for
each grant: right for one, far too slow for thousands). The grants vary as a
real portfolio does: most active with a first tranche paid and an interim
report due, some with it overdue or accepted, some completed (all paid, all
reports accepted), some cancelled after their first tranche.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.award_models import (
    Award,
    GranteeReport,
    GrantStatus,
    Payee,
    ReportKind,
    ReportStatus,
    Tranche,
)
from coalition.grants.models import Application, ApplicationStatus, Fund, Round, RoundPhase

COUNTRIES = ("KE", "SN", "NG", "GH", "ZA", "TN", "EG")
NAMES = ("Digital Rights Lab", "جمعية الحقوق الرقمية", "Réseau des médias libres", "Open Data Hub")
AMOUNT = 1_200_000  # minor units: 12,000.00


def seed_portfolio_in_bulk(
    grants: int, *, rounds: int = 4, today: date | None = None, fund: Fund | None = None
) -> Fund:
    """A fund (or ``fund``) with ``rounds`` new rounds and ``grants`` grants over them;
    flushed, not committed."""
    today = today or utcnow().date()
    now = utcnow()
    per_round = max(1, -(-grants // rounds))
    serial = db.session.scalar(sa.select(sa.func.count()).select_from(Round)) + 1
    if fund is None:
        fund = Fund(
            name=f"Africa Fund {serial}",
            partner="Partner Foundation",
            currency="USD",
            total_budget=AMOUNT * per_round * rounds * 2,
        )
    else:
        fund.total_budget += AMOUNT * per_round * rounds * 2
    round_rows = [
        Round(
            fund=fund,
            title=f"Round {serial}.{n + 1}",
            phase=RoundPhase.DECIDED,
            opens_at=now - timedelta(days=400 - 30 * n),
            closes_at=now - timedelta(days=370 - 30 * n),
            budget=AMOUNT * per_round + AMOUNT * (n + 1),
            min_grant=100_000,
            max_grant=AMOUNT * 10,
        )
        for n in range(rounds)
    ]
    applicant = User(email=f"portfolio{serial}@grantees.example.org", name="Grantee", active=True)
    applicant.set_roles([Role.APPLICANT])
    db.session.add_all([*round_rows, applicant])
    db.session.flush()

    applications = []
    for i in range(grants):
        round_ = round_rows[i % rounds]
        applications.append(
            {
                "round_id": round_.id,
                "applicant_id": applicant.id,
                "status": ApplicationStatus.REPORTING,
                "org_name": f"{NAMES[i % len(NAMES)]} {serial}-{i}",
                "org_country": COUNTRIES[i % len(COUNTRIES)],
                "title": f"Project {serial}-{i}",
                "summary": "A funded project.",
                "requested_amount": AMOUNT,
                "created_at": now,
                "updated_at": now,
                "submitted_at": now - timedelta(days=380),
                "status_changed_at": now,
                "version": 1,
            }
        )
    db.session.execute(sa.insert(Application), applications)
    ids = db.session.execute(
        sa.select(
            Application.id, Application.round_id, Application.org_name, Application.org_country
        )
        .where(Application.applicant_id == applicant.id)
        .order_by(Application.id)
    ).all()
    award_rows = []
    for i, (application_id, round_id, name, country) in enumerate(ids):
        status = _status(i)
        award_rows.append(
            {
                "application_id": application_id,
                "round_id": round_id,
                "status": status,
                "amount": AMOUNT,
                "conditions": "",
                "starts_on": today - timedelta(days=200),
                "ends_on": today + timedelta(days=165),
                "payee": Payee.ORGANISATION,
                "payee_name": name,
                "payee_country": country,
                "awarded_at": now - timedelta(days=200),
                "completed_at": now if status == GrantStatus.COMPLETED else None,
                "cancelled_at": now if status == GrantStatus.CANCELLED else None,
                "cancellation_reason": "Closed down." if status == GrantStatus.CANCELLED else None,
                "version": 1,
            }
        )
    db.session.execute(sa.insert(Award), award_rows)
    awards = db.session.execute(
        sa.select(Award.id, Award.status)
        .join(Application, Application.id == Award.application_id)
        .where(Application.applicant_id == applicant.id)
        .order_by(Award.id)
    ).all()
    reports, tranches = [], []
    for i, (award_id, status) in enumerate(awards):
        done = status == GrantStatus.COMPLETED
        interim = ReportStatus.DUE
        if done or i % 5 == 1:
            interim = ReportStatus.ACCEPTED
        elif i % 5 == 2:
            interim = ReportStatus.SUBMITTED
        interim_due = today - timedelta(days=20) if i % 3 == 0 else today + timedelta(days=30)
        reviewed = now - timedelta(days=5) if interim == ReportStatus.ACCEPTED else None
        reports.append(
            {
                "award_id": award_id,
                "position": 0,
                "kind": ReportKind.INTERIM,
                "due_on": interim_due,
                "status": interim,
                "updated_at": now,
                "reviewed_at": reviewed,
                "submissions": 0 if interim == ReportStatus.DUE else 1,
                "version": 1,
            }
        )
        reports.append(
            {
                "award_id": award_id,
                "position": 1,
                "kind": ReportKind.FINAL,
                "due_on": today + timedelta(days=200),
                "status": ReportStatus.ACCEPTED if done else ReportStatus.DUE,
                "updated_at": now,
                "reviewed_at": now - timedelta(days=2) if done else None,
                "submissions": 1 if done else 0,
                "version": 1,
            }
        )
        first_paid = today - timedelta(days=190)
        tranches.append(
            {
                "award_id": award_id,
                "position": 0,
                "planned_on": first_paid,
                "amount": AMOUNT // 2,
                "paid_on": first_paid,
                "payment_reference": f"TX-{award_id}-1",
            }
        )
        if status != GrantStatus.CANCELLED:
            second = today - timedelta(days=10) if i % 4 == 0 else today + timedelta(days=60)
            tranches.append(
                {
                    "award_id": award_id,
                    "position": 1,
                    "planned_on": second,
                    "amount": AMOUNT - AMOUNT // 2,
                    "paid_on": min(second, today) if done else None,
                    "payment_reference": f"TX-{award_id}-2" if done else None,
                }
            )
    db.session.execute(sa.insert(GranteeReport), reports)
    db.session.execute(sa.insert(Tranche), tranches)
    db.session.flush()
    return fund


def _status(i: int) -> GrantStatus:
    if i % 17 == 5:
        return GrantStatus.CANCELLED
    if i % 11 == 3:
        return GrantStatus.COMPLETED
    return GrantStatus.ACTIVE
