"""Award operations: turning an approved application into a grant, amending and
cancelling it, paying its tranches; the money figures of rounds and funds, and
the money left that a cancellation or a reduction frees (the waitlist that it
reaches, and moving up, are ``decisions``').

The budget rule: the amounts committed in a round never exceed the round's
budget, nor those of all the fund's rounds the fund's total budget. What a
grant commits is its amount, or once cancelled what was paid of it. Every
operation that commits more money first locks the fund's row, then the
round's (always in that order), and only then sums what is committed: two
staff members awarding at the same moment take turns on PostgreSQL, and
SQLite serialises writers anyway. Operations on one grant (amending,
cancelling, paying, accepting its reports) also take turns on the grant's row,
so that the last tranche paid and the final report accepted at once still
complete it.

Status changes go only through ``Award.move_to`` and ``Application.move_to``.
Each operation audits and flushes; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from coalition import audit
from coalition.accounts.models import User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.award_models import (
    OPEN_REPORT,
    Award,
    GranteeReport,
    GrantStatus,
    Payee,
    ReportKind,
    ReportStatus,
    Tranche,
)
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    DomainError,
    Fund,
    Round,
)
from coalition.grants.money import format_money
from coalition.mail import queue_email
from coalition.members.models import Member, MemberContact
from coalition.urls import external_url

MAX_TRANCHES = 12
MAX_REPORTS = 12
REASON_MAX = 2_000
CONDITIONS_MAX = 6_000
REFERENCE_MAX = 100


@dataclass(frozen=True)
class TrancheInput:
    """A planned tranche; ``after_report`` is the index, in the grant's reports (by due
    date), of the report that must be accepted before it is paid."""

    planned_on: date
    amount: int
    after_report: int | None = None


@dataclass(frozen=True)
class ReportInput:
    kind: ReportKind
    due_on: date


class StaleAward(DomainError):
    """The grant was changed elsewhere after this form was opened."""


def _stale() -> StaleAward:
    return StaleAward(
        _(
            "This grant was changed from another window after you opened it. Your changes "
            "are below but not saved: check them, then save again."
        ),
        "version",
    )


def today_utc() -> date:
    return utcnow().date()


# -- Checks -----------------------------------------------------------------------


def _reason(text: str | None, message: str, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(message, field)
    if len(text) > REASON_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=REASON_MAX), field)
    return text


def _check_amount(amount: Any, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError(_("Enter the amount in figures."), field)
    if amount <= 0:
        raise DomainError(_("The amount must be more than zero."), field)
    return amount


def _check_tranches(
    tranches: list[TrancheInput], total: int, currency: str, reports: int, *, paid: int = 0
) -> None:
    """The tranches (with ``paid`` already paid) add up to ``total`` exactly."""
    if not tranches and total != paid:
        raise DomainError(_("Plan at least one tranche."), "tranches")
    if len(tranches) > MAX_TRANCHES:
        raise DomainError(_("Plan at most %(n)d tranches.", n=MAX_TRANCHES), "tranches")
    for tranche in tranches:
        _check_amount(tranche.amount, "tranches")
        if not isinstance(tranche.planned_on, date):
            raise DomainError(_("Give each tranche its planned date."), "tranches")
        if tranche.after_report is not None and not 0 <= tranche.after_report < reports:
            raise DomainError(
                _("A tranche can wait only for one of the grant's reports."), "tranches"
            )
    planned = paid + sum(t.amount for t in tranches)
    if planned != total:
        if paid:
            message = _(
                "The tranches add up to %(planned)s with those already paid, not to the "
                "%(amount)s awarded.",
                planned=format_money(planned, currency),
                amount=format_money(total, currency),
            )
        else:
            message = _(
                "The tranches add up to %(planned)s, not to the %(amount)s awarded.",
                planned=format_money(planned, currency),
                amount=format_money(total, currency),
            )
        raise DomainError(message, "tranches")


def split_evenly(amount: int, count: int) -> list[int]:
    """``amount`` cut into ``count`` tranche amounts that add up to it exactly, in
    integer minor units, differing by at most one unit (the larger ones first)."""
    if count < 1 or count > MAX_TRANCHES:
        raise DomainError(_("Plan from 1 to %(n)d tranches.", n=MAX_TRANCHES), "tranches")
    if amount < count:
        raise DomainError(_("The amount is too small for that many tranches."), "tranches")
    base, extra = divmod(amount, count)
    return [base + 1] * extra + [base] * (count - extra)


def _check_reports(reports: list[ReportInput], starts_on: date, ends_on: date) -> None:
    if not reports:
        raise DomainError(_("Set the reports due, with a final report."), "reports")
    if len(reports) > MAX_REPORTS:
        raise DomainError(_("Set at most %(n)d reports.", n=MAX_REPORTS), "reports")
    finals = [r for r in reports if ReportKind(r.kind) == ReportKind.FINAL]
    if len(finals) != 1:
        raise DomainError(_("Set exactly one final report."), "reports")
    for report in reports:
        if not isinstance(report.due_on, date) or report.due_on < starts_on:
            raise DomainError(_("A report falls due after the grant starts."), "reports")
    if any(r.due_on > finals[0].due_on for r in reports):
        raise DomainError(_("The final report is the last one due."), "reports")
    if finals[0].due_on < ends_on:
        raise DomainError(_("The final report falls due on or after the grant's end."), "reports")


def _payee_of(application: Application, payee: Payee) -> tuple[str, str | None]:
    if payee == Payee.FISCAL_HOST:
        if not application.fiscal_host_name:
            raise DomainError(_("This application names no fiscal host."), "payee")
        return application.fiscal_host_name, application.fiscal_host_country
    if application.member_id is not None:
        member = db.session.get(Member, application.member_id)
        return member.name, member.country
    return application.org_name or "", application.org_country


# -- The budget rule --------------------------------------------------------------


def _committed_per_round(rounds):
    """Per round of ``rounds`` (a subquery of round ids): (round_id, committed, paid).

    What a grant commits is its amount, or once cancelled what was paid of it;
    paid is what its paid tranches hold. Two grouped scans, each read through
    an index: the grants by round, and the paid tranches (a partial index holds
    only those) joined to their grant.
    """
    cancelled = Award.status == GrantStatus.CANCELLED
    live = (
        sa.select(
            Award.round_id.label("round_id"),
            sa.func.sum(sa.case((cancelled, 0), else_=Award.amount)).label("live"),
            sa.func.count(Award.id).label("grants"),
        )
        .where(Award.round_id.in_(rounds))
        .group_by(Award.round_id)
        .subquery()
    )
    paid = (
        sa.select(
            Award.round_id.label("round_id"),
            sa.func.sum(Tranche.amount).label("paid"),
            sa.func.sum(sa.case((cancelled, Tranche.amount), else_=0)).label("kept"),
        )
        .join(Award, Award.id == Tranche.award_id)
        .where(Tranche.paid_on.is_not(None), Award.round_id.in_(rounds))
        .group_by(Award.round_id)
        .subquery()
    )
    return live, paid


def committed_in(round_id: int, fund_id: int) -> tuple[int, int]:
    """(committed in the round, committed in the fund), in one query."""
    rounds = sa.select(Round.id).where(Round.fund_id == fund_id)
    live, paid = _committed_per_round(rounds)
    committed = sa.func.coalesce(live.c.live, 0) + sa.func.coalesce(paid.c.kept, 0)
    row = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((Round.id == round_id, committed), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(committed), 0),
        )
        .select_from(Round)
        .outerjoin(live, live.c.round_id == Round.id)
        .outerjoin(paid, paid.c.round_id == Round.id)
        .where(Round.fund_id == fund_id)
    ).one()
    return int(row[0]), int(row[1])


def lock_budgets(round_: Round) -> tuple[int, int]:
    """Lock the fund's row, then the round's (always in this order, by every operation
    that commits money or changes a budget); return the round's budget and the
    fund's total as they stand now."""
    fund_budget = db.session.execute(
        sa.select(Fund.total_budget).where(Fund.id == round_.fund_id).with_for_update()
    ).scalar_one()
    round_budget = db.session.execute(
        sa.select(Round.budget).where(Round.id == round_.id).with_for_update()
    ).scalar_one()
    return int(round_budget), int(fund_budget)


def _check_budget(
    round_: Round, budgets: tuple[int, int], extra: int, *, excluding: int = 0
) -> None:
    """Refuse unless ``extra`` more fits the round's and the fund's budgets.

    ``budgets`` come from ``lock_budgets`` (the rows stay locked until the
    transaction ends); ``excluding`` is what the grant being amended commits now.
    """
    round_budget, fund_budget = budgets
    in_round, in_fund = committed_in(round_.id, round_.fund_id)
    currency = round_.currency
    round_left = round_budget - (in_round - excluding)
    fund_left = fund_budget - (in_fund - excluding)
    if extra > round_left:
        raise DomainError(
            _(
                "This would take the round over its budget: %(left)s is left to award in it.",
                left=format_money(max(round_left, 0), currency),
            ),
            "amount",
        )
    if extra > fund_left:
        raise DomainError(
            _(
                "This would take the fund over its total budget: %(left)s is left to award in it.",
                left=format_money(max(fund_left, 0), currency),
            ),
            "amount",
        )


def lock_award(award: Award) -> None:
    """Take turns on the grant's row, then read it, its application, tranches and
    reports as they stand now (another request may have changed them while this one
    waited). Pending changes to them are lost: flush before."""
    db.session.execute(sa.select(Award.id).where(Award.id == award.id).with_for_update())
    db.session.refresh(award)
    db.session.refresh(award.application)
    for model in (Tranche, GranteeReport):
        db.session.execute(
            sa.select(model)
            .where(model.award_id == award.id)
            .execution_options(populate_existing=True)
        ).all()
    db.session.expire(award, ["tranches", "reports"])


# -- Awarding ---------------------------------------------------------------------


def record_status_change(application: Application, old, new, actor, reason=None) -> None:
    """A step of the application's status history (as ``applications`` writes them)."""
    application.status_changes.append(
        ApplicationStatusChange(
            from_status=old, to_status=new, reason=reason, actor_id=getattr(actor, "id", None)
        )
    )


def make_award(
    application: Application,
    *,
    actor: User | None,
    amount: int,
    starts_on: date,
    ends_on: date,
    payee: Payee | str,
    tranches: list[TrancheInput],
    reports: list[ReportInput],
    conditions: str = "",
    reduction_reason: str | None = None,
) -> Award:
    """Turn an approved application into a grant; the application becomes "awarded".

    Guarantees: the amount is more than zero and at most the amount
    requested, with a reason when less; the tranches add up to it exactly;
    one final report, due last; the round's and the fund's budgets are never
    exceeded, even by awards made at the same moment (the fund's and the
    round's rows are locked before the sums are read). A refusal changes
    nothing. The grantees are told by email (a link, no amounts).
    """
    amount = _check_amount(amount)
    round_ = application.round
    currency = round_.currency
    requested = application.requested_amount or 0
    if amount > requested:
        raise DomainError(
            _(
                "The award cannot be more than the %(requested)s requested.",
                requested=format_money(requested, currency),
            ),
            "amount",
        )
    reduction = None
    if amount < requested:
        reduction = _reason(
            reduction_reason,
            _("Say why less than requested is awarded."),
            "reduction_reason",
        )
    conditions = (conditions or "").strip()
    if len(conditions) > CONDITIONS_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=CONDITIONS_MAX), "conditions")
    if not isinstance(starts_on, date) or not isinstance(ends_on, date) or ends_on < starts_on:
        raise DomainError(_("The grant ends on or after the day it starts."), "ends_on")
    try:
        payee = Payee(payee)
    except ValueError as exc:
        raise DomainError(_("Choose from the list."), "payee") from exc
    payee_name, payee_country = _payee_of(application, payee)
    _check_reports(reports, starts_on, ends_on)
    _check_tranches(tranches, amount, currency, len(reports))
    # Reports are kept in due order; the tranches' conditions follow them there.
    order = sorted(
        range(len(reports)),
        key=lambda i: (reports[i].due_on, ReportKind(reports[i].kind) == ReportKind.FINAL),
    )
    new_index = {old: new for new, old in enumerate(order)}
    reports = [reports[i] for i in order]
    tranches = [
        replace(t, after_report=new_index[t.after_report]) if t.after_report is not None else t
        for t in tranches
    ]

    _check_budget(round_, lock_budgets(round_), amount)
    # Another award of this application may have been committed while we waited.
    db.session.refresh(application)
    if application.status != ApplicationStatus.APPROVED:
        if db.session.scalar(sa.select(Award.id).where(Award.application_id == application.id)):
            raise DomainError(_("This application has already been awarded."))
        application.move_to(ApplicationStatus.AWARDED)  # refuses, saying why
    award = Award(
        application=application,
        round_id=round_.id,
        amount=amount,
        reduction_reason=reduction,
        conditions=conditions,
        starts_on=starts_on,
        ends_on=ends_on,
        payee=payee,
        payee_name=payee_name,
        payee_country=payee_country,
        awarded_by_id=getattr(actor, "id", None),
    )
    report_rows = [
        GranteeReport(position=i, kind=ReportKind(r.kind), due_on=r.due_on)
        for i, r in enumerate(reports)
    ]
    award.reports.extend(report_rows)
    award.tranches.extend(_tranche_rows(tranches, report_rows))
    db.session.add(award)
    old = application.move_to(ApplicationStatus.AWARDED)
    record_status_change(application, old, ApplicationStatus.AWARDED, actor, reduction)
    db.session.flush()
    audit.record(
        "award.made",
        award,
        actor=actor,
        changes={"status": [None, GrantStatus.ACTIVE.value], "amount": [None, amount]},
        details={
            "application_id": application.id,
            "requested": requested,
            "reduction_reason": reduction,
            "payee": payee.value,
            "tranches": _tranche_summary(award.tranches),
            "reports": [[r.kind.value, r.due_on.isoformat()] for r in report_rows],
        },
    )
    _tell_grantees(award, f"grant_awarded:{award.id}", "grant_awarded")
    return award


def _tranche_rows(tranches: list[TrancheInput], reports: list[GranteeReport]) -> list[Tranche]:
    return [
        Tranche(
            position=i,
            planned_on=t.planned_on,
            amount=t.amount,
            condition_report=reports[t.after_report] if t.after_report is not None else None,
        )
        for i, t in enumerate(tranches)
    ]


def _tranche_summary(tranches) -> list[list[Any]]:
    return [
        [t.planned_on.isoformat(), t.amount, t.paid_on.isoformat() if t.paid_on else None]
        for t in tranches
    ]


def amend(
    award: Award,
    *,
    actor: User | None,
    reason: str,
    version: int | None,
    amount: int | None = None,
    conditions: str | None = None,
    tranches: list[TrancheInput] | None = None,
    reduction_reason: str | None = None,
) -> dict[str, list[Any]]:
    """Amend an active grant's amount, conditions or unpaid tranches, with a reason.

    ``tranches`` replaces the unpaid tranches (paid ones stay as they are);
    with those paid they add up to the amount exactly. The amount never goes
    below what was paid, nor above what was requested, and more money is
    checked against the budgets under the same locks as an award. Audited
    field by field. Returns the changes.
    """
    reason = _reason(reason, _("Give the reason for the amendment."))
    if version is not None and int(version) != award.version:
        raise _stale()
    round_ = award.round
    currency = round_.currency
    new_amount = award.amount if amount is None else _check_amount(amount)
    if conditions is not None and len(conditions.strip()) > CONDITIONS_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=CONDITIONS_MAX), "conditions")
    budgets = lock_budgets(round_)  # the fund's row, the round's, then the grant's
    lock_award(award)
    if version is not None and int(version) != award.version:
        raise _stale()
    if award.status != GrantStatus.ACTIVE:
        raise DomainError(_("Only an active grant can be amended."))
    requested = award.application.requested_amount or 0
    if new_amount > requested:
        raise DomainError(
            _(
                "The award cannot be more than the %(requested)s requested.",
                requested=format_money(requested, currency),
            ),
            "amount",
        )
    paid = award.paid_total
    if new_amount < paid:
        raise DomainError(
            _(
                "%(paid)s has already been paid: the award cannot be less.",
                paid=format_money(paid, currency),
            ),
            "amount",
        )
    reduction = award.reduction_reason
    if new_amount < requested:
        reduction = _reason(
            reduction_reason or reduction,
            _("Say why less than requested is awarded."),
            "reduction_reason",
        )
    else:
        reduction = None
    unpaid = [t for t in award.tranches if not t.is_paid]
    if tranches is None:
        tranches = [
            TrancheInput(
                t.planned_on,
                t.amount,
                award.reports.index(t.condition_report) if t.condition_report else None,
            )
            for t in unpaid
        ]
    _check_tranches(tranches, new_amount, currency, len(award.reports), paid=paid)
    if new_amount > award.amount:
        _check_budget(round_, budgets, new_amount, excluding=award.amount)

    before_tranches = _tranche_summary(award.tranches)
    award.amount = new_amount
    award.reduction_reason = reduction
    if conditions is not None:
        award.conditions = conditions.strip()
    changes = audit.changes_of(award, ["amount", "reduction_reason", "conditions"])
    new_rows = _tranche_rows(tranches, award.reports)
    if [(t.planned_on, t.amount, t.condition_report) for t in unpaid] != [
        (t.planned_on, t.amount, t.condition_report) for t in new_rows
    ]:
        for tranche in unpaid:
            award.tranches.remove(tranche)
        award.tranches.extend(new_rows)
        for position, tranche in enumerate(award.tranches):
            tranche.position = position
    after_tranches = _tranche_summary(
        sorted(award.tranches, key=lambda t: (t.planned_on, t.position))
    )
    if after_tranches != before_tranches:
        changes["tranches"] = [before_tranches, after_tranches]
    if not changes:
        return changes
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    audit.record("award.amended", award, actor=actor, changes=changes, details={"reason": reason})
    _tell_grantees(award, f"grant_amended:{award.id}:{award.version}", "grant_changed")
    return changes


def cancel(award: Award, *, actor: User | None, reason: str) -> int:
    """Cancel a grant with a reason: its unpaid tranches are dropped, and what they
    held is free to award again (``waitlist``). A completed grant cannot be
    cancelled. The application keeps its status; the grant's says "cancelled".
    Returns the amount freed.
    """
    reason = _reason(reason, _("Give the reason for cancelling the grant."))
    lock_award(award)
    before = award.committed
    old = award.move_to(GrantStatus.CANCELLED)
    dropped = [t for t in award.tranches if not t.is_paid]
    for tranche in dropped:
        award.tranches.remove(tranche)
    award.cancelled_at = utcnow()
    award.cancellation_reason = reason
    db.session.flush()
    freed = before - award.committed
    audit.record(
        "award.cancelled",
        award,
        actor=actor,
        changes={"status": [old.value, GrantStatus.CANCELLED.value]},
        details={"reason": reason, "dropped_tranches": _tranche_summary(dropped), "freed": freed},
    )
    _tell_grantees(award, f"grant_cancelled:{award.id}", "grant_changed")
    return freed


# -- Tranches ---------------------------------------------------------------------


def mark_paid(
    tranche: Tranche,
    *,
    actor: User | None,
    paid_on: date,
    reference: str,
    override_reason: str | None = None,
    today: date | None = None,
) -> None:
    """Staff record a tranche as paid, once: on a day not in the future, with the
    payment's reference. A tranche waiting for a report that is not accepted yet
    is paid only with a reason (kept, audited). The grant completes when this
    was the last tranche and the final report is accepted.
    """
    today = today or today_utc()
    award = tranche.award
    lock_award(award)
    if award.status != GrantStatus.ACTIVE:
        raise DomainError(_("Only the tranches of an active grant are paid."))
    if tranche.is_paid:
        raise DomainError(_("This tranche has already been paid."))
    if not isinstance(paid_on, date):
        raise DomainError(_("Give the date of payment."), "paid_on")
    if paid_on > today:
        raise DomainError(_("The date of payment cannot be in the future."), "paid_on")
    reference = (reference or "").strip()
    if not reference:
        raise DomainError(_("Give the payment's reference."), "reference")
    if len(reference) > REFERENCE_MAX:
        raise DomainError(_("Use at most %(n)d characters here.", n=REFERENCE_MAX), "reference")
    override = None
    if not tranche.condition_met:
        override = _reason(
            override_reason,
            _(
                "This tranche waits for the %(report)s due on %(due)s to be accepted: give a "
                "reason to pay it anyway.",
                report=tranche.condition_report.kind.label.lower(),
                due=tranche.condition_report.due_on.isoformat(),
            ),
            "override_reason",
        )
    tranche.paid_on = paid_on
    tranche.payment_reference = reference
    tranche.paid_by_id = getattr(actor, "id", None)
    tranche.override_reason = override
    db.session.flush()
    audit.record(
        "award.tranche_paid",
        award,
        actor=actor,
        changes={"paid_on": [None, paid_on.isoformat()]},
        details={
            "tranche_id": tranche.id,
            "amount": tranche.amount,
            "reference": reference,
            "override_reason": override,
        },
    )
    _tell_grantees(award, f"grant_tranche_paid:{tranche.id}", "grant_changed")
    complete_if_done(award, actor=actor)


@dataclass
class PlannedTranche:
    """A tranche as a page shows it; what the reader may not see is None."""

    id: int
    planned_on: date
    amount: int
    waits_for: ReportKind | None
    waits_for_due_on: date | None
    condition_met: bool
    paid_on: date | None
    reference: str | None
    override_reason: str | None


def payment_plan(award: Award, reader: Any) -> list[PlannedTranche]:
    """The grant's tranches in date order. Payment references only for those the
    policy lets see them (``awards.payment_details``: staff and the grantee, not
    steering members); override reasons for staff only (``awards.manage``)."""
    from coalition.policy import can

    references = can(reader, "awards.payment_details", award)
    reasons = can(reader, "awards.manage", award)
    return [
        PlannedTranche(
            id=t.id,
            planned_on=t.planned_on,
            amount=t.amount,
            waits_for=t.condition_report.kind if t.condition_report else None,
            waits_for_due_on=t.condition_report.due_on if t.condition_report else None,
            condition_met=t.condition_met,
            paid_on=t.paid_on,
            reference=t.payment_reference if references else None,
            override_reason=t.override_reason if reasons else None,
        )
        for t in award.tranches
    ]


def complete_if_done(award: Award, *, actor: User | None) -> bool:
    """Complete the grant (and its application) once its final report is accepted and
    every tranche is paid. Call with the grant's row locked."""
    if award.status != GrantStatus.ACTIVE:
        return False
    final_accepted = any(
        r.kind == ReportKind.FINAL and r.status == ReportStatus.ACCEPTED for r in award.reports
    )
    if not final_accepted or any(not t.is_paid for t in award.tranches):
        return False
    old = award.move_to(GrantStatus.COMPLETED)
    award.completed_at = utcnow()
    application = award.application
    if application.status == ApplicationStatus.AWARDED:
        record_status_change(
            application, application.move_to(ApplicationStatus.REPORTING),
            ApplicationStatus.REPORTING, actor,
        )  # fmt: skip
    record_status_change(
        application, application.move_to(ApplicationStatus.COMPLETED),
        ApplicationStatus.COMPLETED, actor,
    )  # fmt: skip
    db.session.flush()
    audit.record(
        "award.completed",
        award,
        actor=actor,
        changes={"status": [old.value, GrantStatus.COMPLETED.value]},
    )
    _tell_grantees(award, f"grant_completed:{award.id}", "grant_changed")
    return True


# -- Grantees ---------------------------------------------------------------------


def grantee_ids(award_ids) -> dict[int, set[int]]:
    """{award_id: ids of the people who report on it}: the applicant, and the accounts
    of the applicant member's contacts. One query."""
    award_ids = list(award_ids)
    if not award_ids:
        return {}
    applicants = (
        sa.select(Award.id, Application.applicant_id)
        .join(Application, Application.id == Award.application_id)
        .where(Award.id.in_(award_ids))
    )
    contacts = (
        sa.select(Award.id, MemberContact.user_id)
        .join(Application, Application.id == Award.application_id)
        .join(MemberContact, MemberContact.member_id == Application.member_id)
        .where(
            Award.id.in_(award_ids),
            MemberContact.user_id.is_not(None),
            MemberContact.erased_at.is_(None),
        )
    )
    out: dict[int, set[int]] = {}
    for award_id, user_id in db.session.execute(sa.union(applicants, contacts)):
        out.setdefault(award_id, set()).add(user_id)
    return out


def grantees(award: Award) -> list[User]:
    ids = grantee_ids([award.id]).get(award.id, set())
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(User).where(User.id.in_(ids), User.active.is_(True)).order_by(User.id)
        )
    )


def grant_link(award: Award) -> str:
    """Where a grantee reads their grant: their application's page, behind sign-in."""
    return external_url("applications.show", application_id=award.application_id)


def _tell_grantees(award: Award, key: str, template: str) -> None:
    """Each grantee hears that something happened, in their language; the details
    (amounts, reasons) are behind sign-in."""
    event = key.split(":", 1)[0]
    for person in grantees(award):
        queue_email(
            key=f"{key}:{person.id}",
            recipient=person.email,
            template=template,
            language=person.language,
            name=person.name,
            event=event,
            link=grant_link(award),
        )


# -- Money figures ----------------------------------------------------------------


@dataclass
class MoneyFigures:
    budget: int
    awarded: int
    paid: int
    grants: int
    reports_due: int
    reports_overdue: int

    @property
    def still_to_pay(self) -> int:
        return self.awarded - self.paid

    @property
    def left_to_award(self) -> int:
        return self.budget - self.awarded


@dataclass
class RoundFigures(MoneyFigures):
    round_id: int = 0
    title: str = ""


def figures_of_funds(funds: list[Fund], today: date | None = None) -> list[FundFigures]:
    """Each fund with its figures and its rounds' (budget, awarded, paid, still to pay,
    left to award; reports due and overdue), in one query whatever the number of
    funds, rounds, grants, tranches and reports: SQL sums them, no row is loaded."""
    today = today or today_utc()
    funds = list(funds)
    if not funds:
        return []
    rounds = sa.select(Round.id).where(Round.fund_id.in_([f.id for f in funds]))
    live, paid = _committed_per_round(rounds)
    open_reports = (
        sa.select(
            Award.round_id.label("round_id"),
            sa.func.sum(sa.case((GranteeReport.due_on >= today, 1), else_=0)).label("due"),
            sa.func.sum(sa.case((GranteeReport.due_on < today, 1), else_=0)).label("overdue"),
        )
        .join(Award, Award.id == GranteeReport.award_id)
        .where(
            GranteeReport.status.in_(OPEN_REPORT),
            Award.status == GrantStatus.ACTIVE,
            Award.round_id.in_(rounds),
        )
        .group_by(Award.round_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(
            Round.fund_id,
            Round.id,
            Round.title,
            Round.budget,
            sa.func.coalesce(live.c.live, 0) + sa.func.coalesce(paid.c.kept, 0),
            sa.func.coalesce(paid.c.paid, 0),
            sa.func.coalesce(live.c.grants, 0),
            sa.func.coalesce(open_reports.c.due, 0),
            sa.func.coalesce(open_reports.c.overdue, 0),
        )
        .outerjoin(live, live.c.round_id == Round.id)
        .outerjoin(paid, paid.c.round_id == Round.id)
        .outerjoin(open_reports, open_reports.c.round_id == Round.id)
        .where(Round.fund_id.in_([f.id for f in funds]))
        .order_by(Round.opens_at, Round.id)
    ).all()
    per_fund: dict[int, list[RoundFigures]] = {f.id: [] for f in funds}
    for r in rows:
        per_fund[r[0]].append(
            RoundFigures(
                round_id=r[1],
                title=r[2],
                budget=int(r[3]),
                awarded=int(r[4]),
                paid=int(r[5]),
                grants=int(r[6]),
                reports_due=int(r[7]),
                reports_overdue=int(r[8]),
            )
        )
    return [
        FundFigures(
            fund_id=fund.id,
            name=fund.name,
            currency=fund.currency,
            total=_sum_of(fund.total_budget, per_fund[fund.id]),
            rounds=per_fund[fund.id],
        )
        for fund in funds
    ]


@dataclass
class FundFigures:
    """A fund's figures and its rounds', as the money page shows them."""

    fund_id: int
    name: str
    currency: str
    total: MoneyFigures
    rounds: list[RoundFigures]


def _sum_of(budget: int, rounds: list[RoundFigures]) -> MoneyFigures:
    """The fund's figures: the sum of its rounds' (every grant is in one), with its own
    total budget."""
    return MoneyFigures(
        budget=int(budget),
        awarded=sum(r.awarded for r in rounds),
        paid=sum(r.paid for r in rounds),
        grants=sum(r.grants for r in rounds),
        reports_due=sum(r.reports_due for r in rounds),
        reports_overdue=sum(r.reports_overdue for r in rounds),
    )


def round_figures(fund: Fund, today: date | None = None) -> list[RoundFigures]:
    """Every round of the fund with its money and reports, computed in one query."""
    return figures_of_funds([fund], today)[0].rounds


def fund_figures(fund: Fund, today: date | None = None) -> MoneyFigures:
    """The fund's total budget, and across its rounds what is awarded, paid, still to
    pay and left to award, with the reports due and overdue. One query."""
    return figures_of_funds([fund], today)[0].total


# -- Keeping the money figures between page views ----------------------------------------

# How long a worker keeps the figures it summed (the app setting MONEY_CACHE_SECONDS
# overrides it; 0 sums afresh each time, as the tests do unless they set it).
MONEY_CACHE_SECONDS = 600


def money_fingerprint(funds: list[Fund], today: date) -> tuple:
    """What changes whenever the figures may: the day (a report falls overdue as it
    passes), the funds' budgets, and the audit rows about grants, grantee reports,
    rounds and funds (``coalition.caching.typed_audit_marker``: it notices a row
    committed out of order too). Every change that moves a figure (an award, an
    amendment, a cancellation, a tranche paid, a report submitted, accepted or
    sent back, a round's budget edited or a round added) goes through an
    operation that writes one of them in the same transaction; a draft saved or
    a vote cast leaves the figures as they are. One query."""
    from coalition.caching import typed_audit_marker

    return (
        today,
        typed_audit_marker("Award", "GranteeReport", "Round", "Fund"),
        tuple((f.id, f.total_budget, f.name, f.currency) for f in funds),
    )


def cached_figures_of_funds(funds: list[Fund], today: date | None = None) -> list[FundFigures]:
    """``figures_of_funds``, or the figures this app instance (a worker) summed last if
    nothing changed since: a change made in another worker shows on the next view
    here too, as it writes the audit row this compares. A change made behind the
    operations' back is seen within ``MONEY_CACHE_SECONDS``."""
    from flask import current_app

    from coalition.caching import kept

    today = today or today_utc()
    funds = list(funds)
    seconds = current_app.config.get(
        "MONEY_CACHE_SECONDS", 0 if current_app.testing else MONEY_CACHE_SECONDS
    )
    return kept(
        current_app.extensions.setdefault("coalition.money_figures", {}),
        # The day and the funds' budgets are known without a query: part of the key.
        (today, tuple((f.id, f.total_budget, f.name, f.currency) for f in funds)),
        seconds=seconds,
        fingerprint=lambda: money_fingerprint(funds, today),
        compute=lambda: figures_of_funds(funds, today),
    )


def forget_money_figures(app=None) -> None:
    from flask import current_app

    (app or current_app).extensions.pop("coalition.money_figures", None)


# -- The money left -------------------------------------------------------------


def money_left(round_: Round) -> int:
    """What can still be awarded in the round: its budget and the fund's, less what is committed."""
    in_round, in_fund = committed_in(round_.id, round_.fund_id)
    return max(0, min(round_.budget - in_round, round_.fund.total_budget - in_fund))
