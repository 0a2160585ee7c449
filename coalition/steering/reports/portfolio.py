"""The fund portfolio report: the money of each round and fund, the grants counted
per round and state, the grants that need attention listed by name (a report
overdue, a tranche due and not paid), the tranches paid in the period, and the
grantee reports accepted in it, counted per round.

A board reads the money, the counts and what needs doing: the grants that are
on track are counted, not listed one per row. This keeps the document short
and WeasyPrint's layout small (its memory grows with the number of boxes: a
2,000-grant portfolio listing every grant took 515 MB to draw, see
bench/README.md).

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

from coalition.charts import Bar, TableRow, continued, describe, table_bars
from coalition.config import RTL_LANGUAGES
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
    money_chart: list[TableRow]  # the rows of the chart's table, its bars beside them
    rounds_chart: list[TableRow]
    figures: awards.MoneyFigures  # as computed, for the tests and the bench
    round_figures: list[awards.RoundFigures]
    states: list[StateRow]  # the grants of each round, counted by state
    states_total: StateRow
    accepted: list[AcceptedRow]  # reports accepted in the period, rounds with any
    accepted_total: AcceptedRow


@dataclass(frozen=True)
class StateRow:
    """One round's grants counted by state (or the fund's total), as printed."""

    label: str
    counts: list[str]  # in the order of ``STATES``
    total: str


@dataclass(frozen=True)
class AttentionLine:
    """A grant that needs attention: its open reports past due, its tranches due."""

    grantee: str
    country: str
    fund: str
    round: str
    paid_of_amount: str
    needs: list[str]


@dataclass(frozen=True)
class AcceptedRow:
    """The grantee reports accepted in the period, in one round, counted by kind."""

    label: str
    counts: list[str]  # in the order of ``ReportKind``
    total: str


STATES = (GrantState.ACTIVE, GrantState.REPORT_OVERDUE, GrantState.COMPLETED, GrantState.CANCELLED)


@dataclass(frozen=True)
class TrancheLine:
    grantee: str
    country: str
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
    round_id: int
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


def _money_chart(key: str, fund: Fund, f: awards.MoneyFigures, rtl: bool) -> list[TableRow]:
    """The fund's money: budget, awarded, paid, still to pay, left to award."""
    bars = [
        (_("Budget"), f.budget),
        (_("Awarded"), f.awarded),
        (_("Paid"), f.paid),
        (_("Still to pay"), f.still_to_pay),
        (_("Left to award"), f.left_to_award),
    ]
    return table_bars(
        [Bar(label, max(value, 0), format_money(value, fund.currency)) for label, value in bars],
        chart_id=f"chart-{key}-money",
        title=_("The money of %(fund)s", fund=fund.name),
        describe=describe,
        continued=continued,
        rtl=rtl,
    )


def _rounds_chart(
    key: str, fund: Fund, rounds: list[awards.RoundFigures], rtl: bool
) -> list[TableRow]:
    """Awarded per round, each bar saying how much of the round's budget that is."""
    return table_bars(
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
        describe=describe,
        continued=continued,
        rtl=rtl,
    )


def _grants() -> list[_Grant]:
    """Every grant, by fund, round and grantee: one query (no application loaded)."""
    rows = db.session.execute(
        sa.select(
            Award.id,
            Round.fund_id,
            Round.id,
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


def _state_row(label: str, counts: dict[GrantState, int]) -> StateRow:
    return StateRow(
        label=label,
        counts=[number(counts.get(state, 0)) for state in STATES],
        total=number(sum(counts.values())),
    )


def _accepted_row(label: str, counts: dict[ReportKind, int]) -> AcceptedRow:
    return AcceptedRow(
        label=label,
        counts=[number(counts.get(kind, 0)) for kind in ReportKind],
        total=number(sum(counts.values())),
    )


def gather(request: ReportRequest) -> dict[str, Any]:
    """Everything the template shows, in a fixed number of queries."""
    today = awards.today_utc()  # the awards pages' day: their figures and these agree
    references = request.confidential  # the staff variant (convenors only)
    locale = get_locale()
    rtl = request.language in RTL_LANGUAGES

    funds = db.session.scalars(sa.select(Fund).order_by(Fund.name, Fund.id)).all()
    per_fund: dict[int, tuple[str, list[awards.RoundFigures], awards.MoneyFigures]] = {}
    for position, fund in enumerate(funds):
        per_fund[fund.id] = (
            f"fund-{position + 1}",
            awards.round_figures(fund, today),
            awards.fund_figures(fund, today),
        )
    currency = {fund.id: fund.currency for fund in funds}
    fund_name = {fund.id: fund.name for fund in funds}

    grants = _grants()
    tranches = _tranches(references)
    reports = _reports()

    states: dict[int, dict[GrantState, int]] = defaultdict(lambda: defaultdict(int))
    accepted_counts: dict[int, dict[ReportKind, int]] = defaultdict(lambda: defaultdict(int))
    attention: list[AttentionLine] = []
    paid_lines: list[TrancheLine] = []
    due_lines: list[TrancheLine] = []
    overdue: list[ReportLine] = []
    countries: dict[str, str] = {}
    for grant in grants:
        money = currency[grant.fund_id]
        active = grant.status == GrantStatus.ACTIVE
        needs: list[str] = []
        country = ""
        if grant.country:
            if grant.country not in countries:
                countries[grant.country] = local_country_name(grant.country, locale)
            country = countries[grant.country]
        late = False
        for kind, due_on, status, reviewed_at in reports.get(grant.id, []):
            if status == ReportStatus.ACCEPTED and _in_period(
                reviewed_at, request.start, request.end
            ):
                accepted_counts[grant.round_id][ReportKind(kind)] += 1
            elif active and status in OPEN_REPORT and due_on < today:
                late = True
                line = ReportLine(
                    grant.grantee,
                    grant.round,
                    ReportKind(kind).label,
                    _day(due_on),
                    ReportStatus(status).label,
                    None,
                )
                overdue.append(line)
                needs.append(
                    _(
                        "%(report)s due on %(day)s: overdue (%(status)s)",
                        report=line.kind,
                        day=line.due_on,
                        status=line.status,
                    )
                )
        paid = 0
        for planned_on, amount, paid_on, reference in tranches.get(grant.id, []):
            if paid_on is not None:
                paid += amount
                if request.start <= paid_on <= request.end:
                    paid_lines.append(
                        TrancheLine(
                            grant.grantee,
                            country,
                            grant.round,
                            _day(planned_on),
                            format_money(amount, money),
                            _day(paid_on),
                            reference,
                            False,
                        )
                    )
            elif active and planned_on <= request.end:
                line = TrancheLine(
                    grant.grantee,
                    country,
                    grant.round,
                    _day(planned_on),
                    format_money(amount, money),
                    None,
                    None,
                    planned_on < today,
                )
                due_lines.append(line)
                text = _(
                    "Tranche of %(amount)s planned on %(day)s",
                    amount=line.amount,
                    day=line.planned_on,
                )
                needs.append(_("%(tranche)s: late", tranche=text) if line.late else text)
        state = GrantState.REPORT_OVERDUE if late else GrantState(GrantStatus(grant.status).value)
        states[grant.round_id][state] += 1
        if needs:
            attention.append(
                AttentionLine(
                    grantee=grant.grantee,
                    country=country,
                    fund=fund_name[grant.fund_id],
                    round=grant.round,
                    paid_of_amount=_(
                        "%(paid)s of %(amount)s",
                        paid=format_money(paid, money),
                        amount=format_money(grant.amount, money),
                    ),
                    needs=needs,
                )
            )

    parts = []
    for fund in funds:
        key, per_round, total = per_fund[fund.id]
        fund_states: dict[GrantState, int] = defaultdict(int)
        fund_accepted: dict[ReportKind, int] = defaultdict(int)
        for r in per_round:
            for state, n in states[r.round_id].items():
                fund_states[state] += n
            for kind, n in accepted_counts[r.round_id].items():
                fund_accepted[kind] += n
        parts.append(
            FundPart(
                key=key,
                name=fund.name,
                currency=fund.currency,
                partner=fund.partner,
                rounds=[_money_line(r.title, r, fund.currency) for r in per_round],
                total=_money_line(_("The fund"), total, fund.currency),
                money_chart=_money_chart(key, fund, total, rtl),
                rounds_chart=_rounds_chart(key, fund, per_round, rtl),
                figures=total,
                round_figures=per_round,
                states=[_state_row(r.title, states[r.round_id]) for r in per_round],
                states_total=_state_row(_("The fund"), fund_states),
                accepted=[
                    _accepted_row(r.title, accepted_counts[r.round_id])
                    for r in per_round
                    if accepted_counts[r.round_id]
                ],
                accepted_total=_accepted_row(_("The fund"), fund_accepted),
            )
        )
    return {
        "funds": parts,
        "states": [state.label for state in STATES],
        "report_kinds": [kind.label for kind in ReportKind],
        "attention": attention,
        "several_funds": len(parts) > 1,
        "tranches_paid": paid_lines,
        "tranches_due": due_lines,
        "references": references,
        "reports_accepted": sum(sum(c.values()) for c in accepted_counts.values()),
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
