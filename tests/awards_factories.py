"""Approved applications and their grants, for the award tests.

Applications reach "approved" through the one transition table (the steering
vote that approves them in real life is built separately).
"""

from __future__ import annotations

from datetime import timedelta

from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants.award_models import ReportKind
from coalition.grants.models import ApplicationStatus, BudgetLine
from tests.reviews_factories import NOW, make_application

TODAY = NOW.date()


def approved(round_, *, amount=1_000_000, waitlisted=False, **values):
    """An application through the vote: in vote, then approved (or waitlisted)."""
    application = make_application(
        round_, status=ApplicationStatus.IN_VOTE, amount=amount, **values
    )
    application.budget_lines.append(
        BudgetLine(position=0, category="Staff", description="Researchers", amount=amount)
    )
    application.move_to(ApplicationStatus.WAITLISTED if waitlisted else ApplicationStatus.APPROVED)
    db.session.flush()
    return application


def plan(amount, parts=2, *, after_interim=False):
    """Tranches that add up to ``amount``: the first now, the others later; the last
    may wait for the interim report (index 0)."""
    amounts = ops.split_evenly(amount, parts)
    return [
        ops.TrancheInput(
            planned_on=TODAY + timedelta(days=90 * i),
            amount=a,
            after_report=0 if after_interim and i == parts - 1 else None,
        )
        for i, a in enumerate(amounts)
    ]


REPORTS = [
    ops.ReportInput(ReportKind.INTERIM, TODAY + timedelta(days=120)),
    ops.ReportInput(ReportKind.FINAL, TODAY + timedelta(days=400)),
]


def award(application, *, actor=None, amount=None, **overrides):
    amount = application.requested_amount if amount is None else amount
    values = {
        "amount": amount,
        "starts_on": TODAY,
        "ends_on": TODAY + timedelta(days=365),
        "payee": "organisation",
        "tranches": plan(amount) if isinstance(amount, int) and amount > 1 else [],
        "reports": REPORTS,
        "conditions": "Acknowledge the fund in publications.",
    }
    if amount != application.requested_amount:
        values["reduction_reason"] = "The travel budget is not eligible."
    values.update(overrides)
    return ops.make_award(application, actor=actor, **values)
