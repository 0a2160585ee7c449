"""Approved applications and their grants, for the award tests.

Applications reach "approved" through the one transition table (the steering
vote that approves them in real life is built separately).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants import grantee_reports as report_ops
from coalition.grants.award_models import Award, ReportKind, Tranche
from coalition.grants.models import Application, ApplicationStatus, BudgetLine, DomainError
from coalition.mail.models import OutboxMessage
from tests.clock import TODAY
from tests.reviews_factories import make_application


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


def count(model, **where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).filter_by(**where))


def snapshot():
    """What a refused operation must leave as it was."""
    return (
        count(Award),
        count(Tranche),
        count(AuditEntry),
        count(OutboxMessage),
        sorted(db.session.execute(sa.select(Application.id, Application.status)).all()),
        sorted(
            db.session.execute(
                sa.select(Award.id, Award.amount, Award.status, Award.conditions, Award.version)
            ).all()
        ),
        sorted(
            db.session.execute(
                sa.select(Tranche.id, Tranche.amount, Tranche.planned_on, Tranche.paid_on)
            ).all()
        ),
    )


def refused(fn, *args, **kwargs) -> str:
    """Run an operation that must be refused; check that nothing changed; return its message."""
    db.session.flush()
    before = snapshot()
    with pytest.raises(DomainError) as info, db.session.begin_nested():
        fn(*args, **kwargs)
    db.session.expire_all()
    assert snapshot() == before
    return info.value.message


def pay_all(grant, **kwargs):
    for tranche in list(grant.tranches):
        if not tranche.is_paid:
            ops.mark_paid(
                tranche, actor=None, paid_on=TODAY, reference=f"TX-{tranche.id}", **kwargs
            )


def file_and_submit(report, *, actor=None):
    actor = actor or report.award.application.applicant
    report_ops.save_draft(
        report,
        actor=actor,
        version=report.version,
        values={
            "activities": "Monitored 40 channels.",
            "results": "Two briefs published.",
            "problems": "None.",
            "spending_note": "As planned.",
        },
    )
    report_ops.submit(report, actor=actor)
