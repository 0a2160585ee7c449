"""The round report: the applications by status and country, the ranking with its
scores and funding line, the vote (roll, recusals, quorum, results with the rule
that produced each and the overrides) and the budget awarded and left.

Confidential in every variant. In a blind round an application is named (its
organisation) only once decided; before that it is its number and title. The
figures are the web's own: the ranking is ``scores.round_ranking`` (the ranked
overview), the results are the vote's stored items (the result page), the money
left is ``decisions.budget_left``. A fixed number of queries, whatever the size
of the round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from coalition.countries import local_country_name
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.models import Application, ApplicationStatus, Round
from coalition.grants.money import format_money
from coalition.grants.scores import round_ranking
from coalition.members.figures import number
from coalition.steering import voting
from coalition.steering.models import Vote, VoteItem
from coalition.steering.reports.kinds import ReportKind, ReportRequest, register_kind
from coalition.steering.reports.rendering import ReportError

# An application is decided (and, in a blind round, named) from these statuses on.
DECIDED = (
    ApplicationStatus.APPROVED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.REJECTED,
    ApplicationStatus.AWARDED,
    ApplicationStatus.REPORTING,
    ApplicationStatus.COMPLETED,
)


def score_text(value) -> str:
    """A weighted mean as the overview prints it (two decimals), or a dash."""
    if value is None:
        return "—"
    return format_decimal(float(value), format="0.00")


def application_label(application_id: int, title: str | None) -> str:
    return _("No. %(number)s: %(title)s", number=application_id, title=title or _("Untitled"))


def application_labels(pairs) -> list[str]:
    """``application_label`` of many (id, title) pairs, translated once (a list of 300)."""
    pattern = _("No. %(number)s: %(title)s")
    untitled = _("Untitled")
    return [pattern % {"number": number, "title": title or untitled} for number, title in pairs]


def named(round_: Round, status: ApplicationStatus) -> bool:
    """Whether the report may name the applicant (always, unless blind and undecided)."""
    return not round_.blind_review or ApplicationStatus(status) in DECIDED


@dataclass(frozen=True)
class RankLine:
    rank: int
    application: str
    organisation: str | None
    country: str
    status: str
    mean: str
    done: str
    requested: str
    cumulative: str
    above_line: bool


@dataclass(frozen=True)
class ResultLine:
    application: str
    organisation: str | None
    eligible: str
    voted: str
    approvals: str
    rejections: str
    abstentions: str
    quorum: bool
    outcome: str
    rule: str
    decision: str
    overridden: bool
    override_reason: str | None


def load_round(request: ReportRequest) -> Round:
    round_id = request.options.get("round_id")
    round_ = db.session.get(Round, round_id) if isinstance(round_id, int) else None
    if round_ is None:
        raise ReportError(_("There is no such round."), "round_id")
    return round_


def latest_vote(round_: Round) -> Vote | None:
    return db.session.scalar(
        sa.select(Vote).where(Vote.round_id == round_.id).order_by(Vote.id.desc()).limit(1)
    )


def gather(request: ReportRequest) -> dict[str, Any]:
    round_ = load_round(request)
    currency = round_.fund.currency
    locale = get_locale()
    ranking = round_ranking(round_)

    # The applications by status and by country (every submitted one: not the drafts).
    counted = db.session.execute(
        sa.select(Application.status, Application.org_country, sa.func.count())
        .where(Application.round_id == round_.id, Application.status != ApplicationStatus.DRAFT)
        .group_by(Application.status, Application.org_country)
    ).all()
    by_status: dict[ApplicationStatus, int] = {}
    by_country: dict[str, int] = {}
    for status, country, n in counted:
        by_status[ApplicationStatus(status)] = by_status.get(ApplicationStatus(status), 0) + n
        key = country or ""
        by_country[key] = by_country.get(key, 0) + n
    statuses = [(s.label, number(by_status[s])) for s in ApplicationStatus if s in by_status]
    countries = sorted(
        (
            (local_country_name(code, locale) if code else _("Not given"), number(n))
            for code, n in by_country.items()
        ),
        key=lambda pair: pair[0],
    )

    ranks = [
        RankLine(
            rank=row.rank,
            application=application_label(row.application_id, row.title),
            organisation=row.org_name if named(round_, row.status) else None,
            country=(
                local_country_name(row.org_country, locale)
                if row.org_country and named(round_, row.status)
                else ""
            ),
            status=ApplicationStatus(row.status).label,
            mean=score_text(row.mean),
            done=_("%(done)s of %(required)s", done=row.done, required=row.required),
            requested=format_money(row.requested_amount, currency),
            cumulative=format_money(row.cumulative, currency),
            above_line=row.within_budget,
        )
        for row in ranking.rows
    ]

    vote = latest_vote(round_)
    roll_lines: list[tuple[str, str]] = []
    recusal_lines: list[tuple[str, str, str]] = []
    results: list[ResultLine] = []
    if vote is not None:
        roll = voting.load_roll(vote)
        items = list(
            db.session.scalars(
                sa.select(VoteItem).where(VoteItem.vote_id == vote.id).order_by(VoteItem.rank)
            )
        )
        titles = {i.application_id: i.application for i in items}
        for seat in roll.seats:
            people = [p.name for p in (seat.representative, seat.alternate) if p is not None]
            roll_lines.append((seat.seat_name, ", ".join(people) or "—"))
        seat_names = {s.id: s.seat_name for s in roll.seats}
        for recusal in roll.recusals:
            application = titles.get(recusal.application_id)
            recusal_lines.append(
                (
                    seat_names.get(recusal.vote_seat_id, ""),
                    recusal.user.name if recusal.user is not None else _("The whole seat"),
                    application_label(
                        recusal.application_id, application.title if application else None
                    ),
                )
            )
        for item in items:
            application = item.application
            overridden = item.is_override
            results.append(
                ResultLine(
                    application=application_label(application.id, application.title),
                    organisation=(
                        application.org_name if named(round_, application.status) else None
                    ),
                    eligible=_count(item.seats_eligible),
                    voted=_count(item.seats_voted),
                    approvals=_count(item.approvals),
                    rejections=_count(item.rejections),
                    abstentions=_count(item.abstentions),
                    quorum=bool(item.quorum),
                    outcome=item.outcome.label if item.outcome else _("Not counted yet"),
                    rule=item.rule.label if item.rule else "",
                    decision=(
                        ApplicationStatus(item.decision).label
                        if item.decision
                        else _("Not recorded yet")
                    ),
                    overridden=overridden,
                    override_reason=item.override_reason if overridden else None,
                )
            )

    left = decisions.budget_left(round_)
    return {
        "round": round_,
        "blind": round_.blind_review,
        "statuses": statuses,
        "countries": countries,
        "total_applications": number(sum(by_status.values())),
        "ranking": ranks,
        "ranking_figures": ranking,
        "allocated": format_money(ranking.allocated, currency),
        "vote": vote,
        "vote_status": vote.status.label if vote is not None else None,
        "roll": roll_lines,
        "recusals": recusal_lines,
        "results": results,
        "budget": format_money(round_.budget, currency),
        "awarded": format_money(round_.budget - left, currency),
        "left": format_money(left, currency),
        "budget_left": left,
    }


def _count(value: int | None) -> str:
    return "—" if value is None else number(value)


ROUND = register_kind(
    ReportKind(
        name="round",
        label=_l("Round report"),
        template="round.html",
        permission="reports.round",
        gather=gather,
        subject_option="round_id",
        load_subject=lambda round_id: db.session.get(Round, round_id),
        subject_rule="reports.round_of",
        always_confidential=True,  # scores, votes and (once decided) names
    )
)
