"""The fund portfolio report: every grant, the tranches paid and due, the grantee
reports accepted, due and overdue, and the money of each round and fund.

Every variant is confidential (the running header says so): it names grantees
and amounts. Steering members and staff may ask for it; the staff variant adds
the payment references, which steering members do not see on the web either
(``awards.payment_details``). The money figures are the awards pages' own
(``awards.round_figures`` and ``awards.fund_figures``, summed in SQL), computed
for the same day, so the report and the web say the same amounts. The whole
report costs a fixed number of queries: two per fund, and one each for the
funds, the grants, their tranches and their reports, however many grants.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from coalition.charts import Bar, bar_rows
from coalition.countries import local_country_name
from coalition.extensions import db
from coalition.grants import awards
from coalition.grants.award_models import (
    OPEN_REPORT,
    Award,
    GranteeReport,
    GrantState,
    GrantStatus,
    ReportKind,
    ReportStatus,
    Tranche,
)
from coalition.grants.models import Fund, Round
from coalition.grants.money import format_money
from coalition.members.figures import number
from coalition.steering.reports.kinds import ReportKind as Kind
from coalition.steering.reports.kinds import ReportRequest, register_kind


@dataclass(frozen=True)
class Money:
    """One line of a money table, as printed (a round, or the fund's total)."""

    label: str
    budget: str
    awarded: str
    paid: str
    still_to_pay: str
    left_to_award: str
    grants: str
    reports_due: str
    reports_overdue: str


@dataclass(frozen=True)
class FundPart:
    key: str
    name: str
    currency: str
    partner: str | None
    rounds: list[Money]
    total: Money
    money_chart: Markup
    rounds_chart: Markup
    figures: awards.MoneyFigures  # as computed, for the tests and the bench
    round_figures: list[awards.RoundFigures]


@dataclass(frozen=True)
class GrantLine:
    grantee: str
    country: str
    fund: str
    round: str
    amount: str
    paid: str
    state: str
    reports: str


@dataclass(frozen=True)
class TrancheLine:
    grantee: str
    round: str
    planned_on: str
    amount: str
    paid_on: str | None
    reference: str | None
    late: bool


@dataclass(frozen=True)
class ReportLine:
    grantee: str
    round: str
    kind: str
    due_on: str
    status: str
    reviewed_on: str | None


@dataclass(frozen=True)
class _Grant:
    """A grant as read from the database, before it is printed."""

    id: int
    fund_id: int
    round: str
    grantee: str
    country: str | None
    amount: int
    status: GrantStatus


def _day(value: date) -> str:
    return format_date(value, "medium")


def _money_line(label: str, f: awards.MoneyFigures, currency: str) -> Money:
    return Money(
        label=label,
        budget=format_money(f.budget, currency),
        awarded=format_money(f.awarded, currency),
        paid=format_money(f.paid, currency),
        still_to_pay=format_money(f.still_to_pay, currency),
        left_to_award=format_money(f.left_to_award, currency),
        grants=number(f.grants),
        reports_due=number(f.reports_due),
        reports_overdue=number(f.reports_overdue),
    )


def _money_chart(key: str, fund: Fund, f: awards.MoneyFigures) -> Markup:
    """The fund's money: budget, awarded, paid, still to pay, left to award."""
    bars = [
        (_("Budget"), f.budget),
        (_("Awarded"), f.awarded),
        (_("Paid"), f.paid),
        (_("Still to pay"), f.still_to_pay),
        (_("Left to award"), f.left_to_award),
    ]
    return bar_rows(
        [Bar(label, max(value, 0), format_money(value, fund.currency)) for label, value in bars],
        chart_id=f"chart-{key}-money",
        title=_("The money of %(fund)s", fund=fund.name),
    )


def _rounds_chart(key: str, fund: Fund, rounds: list[awards.RoundFigures]) -> Markup:
    """Awarded per round, each bar saying how much of the round's budget that is."""
    return bar_rows(
        [
            Bar(
                r.title,
                r.awarded,
                _(
                    "%(awarded)s of %(budget)s",
                    awarded=format_money(r.awarded, fund.currency),
                    budget=format_money(r.budget, fund.currency),
                ),
            )
            for r in rounds
        ],
        chart_id=f"chart-{key}-rounds",
        title=_("Awarded per round, of each round's budget"),
    )


def _grants() -> list[_Grant]:
    """Every grant, by fund, round and grantee: one query (no application loaded)."""
    rows = db.session.execute(
        sa.select(
            Award.id,
            Round.fund_id,
            Round.title,
            Award.payee_name,
            Award.payee_country,
            Award.amount,
            Award.status,
        )
        .join(Round, Round.id == Award.round_id)
        .order_by(Round.fund_id, Round.opens_at, Round.id, Award.payee_name, Award.id)
    ).all()
    return [_Grant(*row) for row in rows]


def _tranches(with_references: bool) -> dict[int, list[tuple]]:
    """Every tranche, by grant, in date order: one query. References only when asked."""
    reference = Tranche.payment_reference if with_references else sa.null()
    rows = db.session.execute(
        sa.select(
            Tranche.award_id, Tranche.planned_on, Tranche.amount, Tranche.paid_on, reference
        ).order_by(Tranche.planned_on, Tranche.position, Tranche.id)
    ).all()
    by_grant: dict[int, list[tuple]] = defaultdict(list)
    for award_id, *rest in rows:
        by_grant[award_id].append(tuple(rest))
    return by_grant


def _reports() -> dict[int, list[tuple]]:
    """Every grantee report, by grant, in due order: one query."""
    rows = db.session.execute(
        sa.select(
            GranteeReport.award_id,
            GranteeReport.kind,
            GranteeReport.due_on,
            GranteeReport.status,
            GranteeReport.reviewed_at,
        ).order_by(GranteeReport.due_on, GranteeReport.position, GranteeReport.id)
    ).all()
    by_grant: dict[int, list[tuple]] = defaultdict(list)
    for award_id, *rest in rows:
        by_grant[award_id].append(tuple(rest))
    return by_grant


def _in_period(moment: datetime | None, start: date, end: date) -> bool:
    if moment is None:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return start <= moment.astimezone(UTC).date() <= end


def gather(request: ReportRequest) -> dict[str, Any]:
    """Everything the template shows, in a fixed number of queries."""
    today = awards.today_utc()  # the awards pages' day: their figures and these agree
    references = request.confidential  # the staff variant (convenors only)
    locale = get_locale()

    funds = db.session.scalars(sa.select(Fund).order_by(Fund.name, Fund.id)).all()
    parts = []
    for position, fund in enumerate(funds):
        key = f"fund-{position + 1}"
        per_round = awards.round_figures(fund, today)
        total = awards.fund_figures(fund, today)
        parts.append(
            FundPart(
                key=key,
                name=fund.name,
                currency=fund.currency,
                partner=fund.partner,
                rounds=[_money_line(r.title, r, fund.currency) for r in per_round],
                total=_money_line(_("The fund"), total, fund.currency),
                money_chart=_money_chart(key, fund, total),
                rounds_chart=_rounds_chart(key, fund, per_round),
                figures=total,
                round_figures=per_round,
            )
        )
    currency = {fund.id: fund.currency for fund in funds}
    fund_name = {fund.id: fund.name for fund in funds}

    grants = _grants()
    tranches = _tranches(references)
    reports = _reports()

    lines: list[GrantLine] = []
    paid_lines: list[TrancheLine] = []
    due_lines: list[TrancheLine] = []
    accepted: list[ReportLine] = []
    overdue: list[ReportLine] = []
    for grant in grants:
        money = currency[grant.fund_id]
        active = grant.status == GrantStatus.ACTIVE
        own_reports = reports.get(grant.id, [])
        paid = 0
        for planned_on, amount, paid_on, reference in tranches.get(grant.id, []):
            if paid_on is not None:
                paid += amount
                if request.start <= paid_on <= request.end:
                    paid_lines.append(
                        TrancheLine(
                            grant.grantee,
                            grant.round,
                            _day(planned_on),
                            format_money(amount, money),
                            _day(paid_on),
                            reference,
                            False,
                        )
                    )
            elif active and planned_on <= request.end:
                due_lines.append(
                    TrancheLine(
                        grant.grantee,
                        grant.round,
                        _day(planned_on),
                        format_money(amount, money),
                        None,
                        None,
                        planned_on < today,
                    )
                )
        late = False
        for kind, due_on, status, reviewed_at in own_reports:
            line = ReportLine(
                grant.grantee,
                grant.round,
                ReportKind(kind).label,
                _day(due_on),
                ReportStatus(status).label,
                None if reviewed_at is None else _day(reviewed_at.date()),
            )
            if status == ReportStatus.ACCEPTED and _in_period(
                reviewed_at, request.start, request.end
            ):
                accepted.append(line)
            elif active and status in OPEN_REPORT and due_on < today:
                late = True
                overdue.append(line)
        state = GrantState.REPORT_OVERDUE if late else GrantState(GrantStatus(grant.status).value)
        done = sum(1 for r in own_reports if r[2] == ReportStatus.ACCEPTED)
        lines.append(
            GrantLine(
                grantee=grant.grantee,
                country=local_country_name(grant.country, locale) if grant.country else "",
                fund=fund_name[grant.fund_id],
                round=grant.round,
                amount=format_money(grant.amount, money),
                paid=format_money(paid, money),
                state=state.label,
                reports=_(
                    "%(accepted)s of %(all)s accepted",
                    accepted=number(done),
                    all=number(len(own_reports)),
                ),
            )
        )
    return {
        "funds": parts,
        "grants": lines,
        "several_funds": len(parts) > 1,
        "tranches_paid": paid_lines,
        "tranches_due": due_lines,
        "references": references,
        "reports_accepted": accepted,
        "reports_overdue": overdue,
        "figures_day": _day(today),
    }


PORTFOLIO = register_kind(
    Kind(
        name="portfolio",
        label=_l("Fund portfolio report"),
        template="portfolio.html",
        permission="reports.portfolio",
        gather=gather,
        confidential_variant=True,  # the staff variant: with the payment references
        always_confidential=True,  # grantees and amounts: the steering group's only
        variants=(
            _l("Steering group (without payment references)"),
            _l("Staff (with payment references)"),
        ),
    )
)
