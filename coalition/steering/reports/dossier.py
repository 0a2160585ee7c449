"""The application dossier: the application, its budget, its submitted reviews (scores
and both comments), its vote (seat by seat) and its decision.

Confidential. Only those allowed to see every part ask for it or read it
(``reports.dossier_of`` in ``coalition/policy.py``): staff, and steering members
neither recused from the application nor its applicant; a reviewer who is not
on the steering group gets none. In a blind round the applicant is named only
once the application is decided, as in the round report. The score is the
ranked overview's own (``scores.round_ranking``); the vote's figures are the
result page's stored counts. A fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, lazyload, selectinload

from coalition.countries import local_country_name
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus
from coalition.grants.money import format_money
from coalition.grants.review_models import Review, ReviewScore, ReviewStatus
from coalition.grants.scores import round_ranking
from coalition.members.figures import number
from coalition.steering import voting
from coalition.steering.models import SeatVote, Vote, VoteItem
from coalition.steering.reports.kinds import ReportKind, ReportRequest, register_kind
from coalition.steering.reports.rendering import ReportError
from coalition.steering.reports.round_report import application_label, named, score_text


@dataclass(frozen=True)
class ReviewPart:
    reviewer: str
    recommendation: str
    score: str
    scores: list[tuple[str, str]]
    comment_applicant: str
    comment_confidential: str


def load_application(request: ReportRequest) -> Application:
    application_id = request.options.get("application_id")
    application = (
        db.session.get(Application, application_id) if isinstance(application_id, int) else None
    )
    if application is None or application.status == ApplicationStatus.DRAFT:
        raise ReportError(_("There is no such application."), "application_id")
    return application


def vote_item_of(application_id: int) -> VoteItem | None:
    """The application's place on its round's latest vote (None if never shortlisted)."""
    return vote_items_of([application_id]).get(application_id)


def vote_items_of(application_ids: list[int]) -> dict[int, VoteItem]:
    """{application_id: its place on the latest vote it was shortlisted on}, in one query."""
    latest = (
        sa.select(VoteItem.application_id, sa.func.max(VoteItem.vote_id).label("vote_id"))
        .where(VoteItem.application_id.in_(application_ids))
        .group_by(VoteItem.application_id)
        .subquery()
    )
    items = db.session.scalars(
        sa.select(VoteItem)
        .join(
            latest,
            sa.and_(
                latest.c.application_id == VoteItem.application_id,
                latest.c.vote_id == VoteItem.vote_id,
            ),
        )
        # The applications are the caller's, already loaded; the vote comes along.
        .options(
            lazyload(VoteItem.application),
            joinedload(VoteItem.vote).options(lazyload(Vote.round)),
        )
    )
    return {item.application_id: item for item in items}


def gather(request: ReportRequest) -> dict[str, Any]:
    application = load_application(request)
    round_ = application.round
    currency = round_.fund.currency
    locale = get_locale()
    show_name = named(round_, application.status)
    criteria = list(round_.criteria)

    budget = [
        (line.category or "", line.description or "", format_money(line.amount, currency))
        for line in application.budget_lines
    ]
    reviews = list(
        db.session.scalars(
            sa.select(Review)
            .where(
                Review.application_id == application.id,
                Review.status == ReviewStatus.SUBMITTED,
            )
            .options(
                selectinload(Review.reviewer),
                selectinload(Review.scores).selectinload(ReviewScore.criterion),
            )
            .order_by(Review.submitted_at, Review.id)
        )
    )
    parts = []
    weights = sum(c.weight for c in criteria)
    for review in reviews:
        given = review.score_by_criterion
        total = (
            sum(given[c.id] * c.weight for c in criteria) / weights
            if weights and all(c.id in given for c in criteria)
            else None
        )
        parts.append(
            ReviewPart(
                reviewer=review.reviewer.name,
                recommendation=review.recommendation.label if review.recommendation else "—",
                score=score_text(total),
                scores=[(c.name, number(given[c.id]) if c.id in given else "—") for c in criteria],
                comment_applicant=review.comment_applicant or "",
                comment_confidential=review.comment_confidential or "",
            )
        )
    ranked = next(
        (row for row in round_ranking(round_).rows if row.application_id == application.id), None
    )

    item = vote_item_of(application.id)
    seat_lines: list[tuple[str, str, str]] = []
    if item is not None:
        roll = voting.load_roll(item.vote)
        cast = {
            v.vote_seat_id: v
            for v in db.session.scalars(
                sa.select(SeatVote).where(
                    SeatVote.vote_id == item.vote_id, SeatVote.application_id == application.id
                )
            )
        }
        for seat in roll.seats:
            vote = cast.get(seat.id)
            if roll.seat_recused(seat, application.id):
                text = _("Recused")
            elif vote is None:
                text = _("Did not vote")
            else:
                text = vote.choice.label
            seat_lines.append((seat.seat_name, text, vote.note or "" if vote else ""))
    overridden = bool(item is not None and item.is_override)
    return {
        "application": application,
        "heading": application_label(application.id, application.title),
        "organisation": application.org_name if show_name else None,
        "applicant": application.applicant.name if show_name else None,
        "country": (
            local_country_name(application.org_country, locale)
            if application.org_country and show_name
            else ""
        ),
        "blind_hidden": not show_name,
        "round": round_,
        "status": ApplicationStatus(application.status).label,
        "requested": format_money(application.requested_amount, currency),
        "budget_lines": budget,
        "reviews": parts,
        "mean": score_text(ranked.mean) if ranked else "—",
        "rank": ranked.rank if ranked else None,
        "above_line": bool(ranked and ranked.within_budget),
        "ranked": ranked,
        "item": item,
        "seat_votes": seat_lines,
        "outcome": item.outcome.label if item is not None and item.outcome else None,
        "rule": item.rule.label if item is not None and item.rule else None,
        "decision": (
            ApplicationStatus(item.decision).label if item is not None and item.decision else None
        ),
        "overridden": overridden,
        "override_reason": item.override_reason if overridden else None,
    }


DOSSIER = register_kind(
    ReportKind(
        name="dossier",
        label=_l("Application dossier"),
        template="dossier.html",
        permission="reports.dossier",
        gather=gather,
        subject_option="application_id",
        load_subject=lambda application_id: db.session.get(Application, application_id),
        subject_rule="reports.dossier_of",
        always_confidential=True,
    )
)
