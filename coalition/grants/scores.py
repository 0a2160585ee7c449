"""Scores of a round: per application the weighted mean, reviews done of those
required, the spread and a flag where reviewers disagree strongly; per round
the ranking and the funding line.

Three queries whatever the size of the round (its applications, their
reviews, the review totals computed in SQL), then one pass in Python. A
review's weighted score is ``SUM(score * weight) / SUM(weight)``, kept as an
exact fraction, so that ties and the 1.5 threshold are decided exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import cached_property

import sqlalchemy as sa

from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus, Criterion, Round
from coalition.grants.review_models import (
    ACTIVE_REVIEW,
    Recommendation,
    Review,
    ReviewScore,
    ReviewStatus,
)

# Two submitted reviews this far apart (in weighted score) disagree strongly.
DISAGREEMENT = Fraction(3, 2)
# The applications that were screened eligible and not withdrawn: those ranked.
RANKED = (
    ApplicationStatus.ELIGIBLE,
    ApplicationStatus.IN_VOTE,
    ApplicationStatus.APPROVED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.REJECTED,
    ApplicationStatus.AWARDED,
    ApplicationStatus.REPORTING,
    ApplicationStatus.COMPLETED,
)


@dataclass
class ApplicationScore:
    application_id: int
    title: str | None
    org_name: str | None
    org_country: str | None
    applicant_id: int
    status: ApplicationStatus
    requested_amount: int
    submitted_at: datetime | None
    required: int
    assigned: int
    done: int
    mean: Fraction | None = None
    lowest: Fraction | None = None
    highest: Fraction | None = None
    fund: int = 0
    fund_with_changes: int = 0
    do_not_fund: int = 0
    rank: int = 0
    cumulative: int = 0
    within_budget: bool = False

    @property
    def spread(self) -> Fraction | None:
        if self.lowest is None:
            return None
        return self.highest - self.lowest

    @property
    def disagreement(self) -> bool:
        """Two submitted reviews 1.5 or more apart, or "fund" against "do not fund"."""
        spread = self.spread
        return (spread is not None and spread >= DISAGREEMENT) or bool(
            self.fund and self.do_not_fund
        )

    @property
    def reviews_missing(self) -> int:
        return max(0, self.required - self.done)


@dataclass
class RoundRanking:
    """Kept between page views (``cached_ranking``): what pages ask of all its rows is
    worked out once, on first asking."""

    rows: list[ApplicationScore]
    budget: int

    @cached_property
    def above_line(self) -> list[ApplicationScore]:
        return [row for row in self.rows if row.within_budget]

    @cached_property
    def countries(self) -> frozenset[str]:
        """The applicants' countries, for the overview's filter."""
        return frozenset(row.org_country for row in self.rows if row.org_country)

    @property
    def allocated(self) -> int:
        """What the applications above the funding line request together."""
        above = self.above_line
        return above[-1].cumulative if above else 0


def weighted_score(review: Review) -> Fraction | None:
    """One review's weighted score over the round's rubric (None until fully scored)."""
    scores = review.score_by_criterion
    criteria = review.application.round.criteria
    if not criteria or any(c.id not in scores for c in criteria):
        return None
    return Fraction(sum(scores[c.id] * c.weight for c in criteria), sum(c.weight for c in criteria))


def _rank_key(row: ApplicationScore):
    return (
        row.mean is None,
        -(row.mean or 0),
        -row.fund,
        row.submitted_at is None,
        row.submitted_at.timestamp() if row.submitted_at else 0,
        row.application_id,
    )


def round_ranking(round_: Round) -> RoundRanking:
    """The round's ranked applications, best first, with the funding line.

    Ranked by weighted mean score (applications without a submitted review
    last); ties go to more "fund" recommendations, then to the earlier
    submission. Walking down the ranking, the requested amounts add up; the
    rows whose running total stays within the round's budget are above the
    funding line. Three queries, whatever the number of applications,
    reviews and criteria.
    """
    active = (
        sa.select(Review.application_id, sa.func.count().label("assigned"))
        .join(Application, Application.id == Review.application_id)
        .where(Application.round_id == round_.id, Review.status.in_(ACTIVE_REVIEW))
        .group_by(Review.application_id)
        .subquery()
    )
    applications = db.session.execute(
        sa.select(
            Application.id,
            Application.title,
            Application.org_name,
            Application.org_country,
            Application.applicant_id,
            Application.status,
            Application.requested_amount,
            Application.submitted_at,
            sa.func.coalesce(active.c.assigned, 0).label("assigned"),
        )
        .outerjoin(active, active.c.application_id == Application.id)
        .where(Application.round_id == round_.id, Application.status.in_(RANKED))
    ).all()
    rows = {
        a.id: ApplicationScore(
            application_id=a.id,
            title=a.title,
            org_name=a.org_name,
            org_country=a.org_country,
            applicant_id=a.applicant_id,
            status=a.status,
            requested_amount=a.requested_amount or 0,
            submitted_at=a.submitted_at,
            required=round_.reviewers_per_application,
            assigned=a.assigned,
            done=0,
        )
        for a in applications
    }
    # One row per submitted review: its weighted total and weight total.
    reviews = db.session.execute(
        sa.select(
            Review.application_id,
            Review.recommendation,
            sa.func.sum(ReviewScore.score * Criterion.weight),
            sa.func.sum(Criterion.weight),
        )
        .join(Application, Application.id == Review.application_id)
        .join(ReviewScore, ReviewScore.review_id == Review.id)
        .join(Criterion, Criterion.id == ReviewScore.criterion_id)
        .where(Application.round_id == round_.id, Review.status == ReviewStatus.SUBMITTED)
        .group_by(Review.id, Review.application_id, Review.recommendation)
    ).all()
    totals: dict[int, Fraction] = {}
    for application_id, recommendation, weighted, weights in reviews:
        row = rows.get(application_id)
        if row is None or not weights:
            continue
        score = Fraction(int(weighted), int(weights))
        row.done += 1
        totals[application_id] = totals.get(application_id, Fraction(0)) + score
        row.lowest = score if row.lowest is None else min(row.lowest, score)
        row.highest = score if row.highest is None else max(row.highest, score)
        if recommendation == Recommendation.FUND:
            row.fund += 1
        elif recommendation == Recommendation.FUND_WITH_CHANGES:
            row.fund_with_changes += 1
        elif recommendation == Recommendation.DO_NOT_FUND:
            row.do_not_fund += 1
    for application_id, total in totals.items():
        row = rows[application_id]
        row.mean = total / row.done
    ranked = sorted(rows.values(), key=_rank_key)
    running = 0
    for rank, row in enumerate(ranked, start=1):
        row.rank = rank
        running += row.requested_amount
        row.cumulative = running
        row.within_budget = running <= round_.budget
    return RoundRanking(rows=ranked, budget=round_.budget)


def application_score(round_: Round, application_id: int) -> ApplicationScore | None:
    """One application's figures (as in the round's ranking, with its rank)."""
    for row in round_ranking(round_).rows:
        if row.application_id == application_id:
            return row
    return None


# -- Keeping a round's ranking between page views ------------------------------------------

# How long a worker keeps a ranking it computed (the app setting RANKING_CACHE_SECONDS
# overrides it; 0 computes afresh each time, as the tests do unless they set it).
RANKING_CACHE_SECONDS = 600
_kept: dict = {}


def ranking_fingerprint(round_: Round) -> tuple:
    """What changes whenever a round's ranking may, read from the rows it is drawn
    from: the round's reviews (how many in each state, and the newest change to a
    submitted one), its applications (how many, the newest change of status or
    content), and the round's own settings. A draft review saved, or anything in
    another round, leaves it as it is. Two small queries on the round's rows."""
    in_round = Application.round_id == round_.id
    states = db.session.execute(
        sa.select(Review.status, sa.func.count())
        .join(Application, Application.id == Review.application_id)
        .where(in_round)
        .group_by(Review.status)
    ).all()
    newest = db.session.execute(
        sa.select(
            sa.select(sa.func.max(Review.updated_at))
            .join(Application, Application.id == Review.application_id)
            .where(in_round, Review.status == ReviewStatus.SUBMITTED)
            .scalar_subquery(),
            sa.select(sa.func.count()).select_from(Application).where(in_round).scalar_subquery(),
            sa.select(sa.func.max(Application.status_changed_at)).where(in_round).scalar_subquery(),
            sa.select(sa.func.max(Application.updated_at)).where(in_round).scalar_subquery(),
        )
    ).one()
    return (
        tuple(sorted((str(status), count) for status, count in states)),
        *newest,
        round_.id,
        round_.budget,
        round_.reviewers_per_application,
    )


def cached_ranking(round_: Round) -> RoundRanking:
    """``round_ranking(round_)``, or the one this worker computed last if nothing changed."""
    from flask import current_app

    from coalition.caching import kept

    seconds = current_app.config.get(
        "RANKING_CACHE_SECONDS", 0 if current_app.testing else RANKING_CACHE_SECONDS
    )
    return kept(
        _kept,
        # The round's settings and criteria are loaded with it: part of the key. The
        # fingerprint reads the rows the ranking is drawn from, so the time limit only
        # bounds how long an unviewed ranking is held.
        (
            round_.id,
            round_.budget,
            round_.reviewers_per_application,
            tuple((c.id, c.weight) for c in round_.criteria),
        ),
        seconds=seconds,
        fingerprint=lambda: ranking_fingerprint(round_),
        compute=lambda: round_ranking(round_),
    )


def forget_rankings() -> None:
    _kept.clear()
