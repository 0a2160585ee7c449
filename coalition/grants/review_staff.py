"""Staff and steering pages of a round's review: the reviewer pool with each
reviewer's load, assignment by hand and automatically, unassigning and
reopening, an application's reviews, and the ranked overview with its funding
line and its export.

Views stay thin: the rules are in ``assignment``, ``reviews`` and ``scores``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from coalition import audit
from coalition.accounts.models import Role, User, UserRole
from coalition.accounts.session import fresh_required
from coalition.countries import country_name
from coalition.extensions import db
from coalition.grants import assignment
from coalition.grants import reviews as review_ops
from coalition.grants.awards import committed_in
from coalition.grants.models import Application, DomainError, Round, RoundPhase
from coalition.grants.money import to_major
from coalition.grants.review_models import (
    PENDING_REVIEW,
    Recommendation,
    Review,
    ReviewStatus,
)
from coalition.grants.scores import (
    ApplicationScore,
    cached_ranking,
    round_ranking,
    weighted_score,
)
from coalition.inputs import bounded_int, page_number
from coalition.listing import Listing
from coalition.policy import authorize, can, permission_required, scores_hidden_from
from coalition.spreadsheets import MEDIA_TYPES, to_csv, to_xlsx

bp = Blueprint("review_staff", __name__)

PER_PAGE = 50


def me():
    return current_user._get_current_object()


def load_round(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    return round_


def load_application(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    return application


def load_review(review_id: int) -> Review:
    review = db.session.get(Review, review_id)
    if review is None:
        abort(404)
    return review


# -- The reviewer pool -------------------------------------------------------------------


@bp.route("/rounds/<int:round_id>/reviewers")
@permission_required("reviews.assign")
def reviewers(round_id: int):
    """Each reviewer of the pool with their load in the round; automatic assignment."""
    round_ = load_round(round_id)
    loads = assignment.reviewer_loads(round_.id)
    steering = set(
        db.session.scalars(
            sa.select(UserRole.user_id).where(
                UserRole.role == Role.STEERING,
                UserRole.user_id.in_([load.user_id for load in loads]),
            )
        )
    )
    return render_template(
        "reviews/reviewers.html",
        round=round_,
        loads=loads,
        steering=steering,
        in_review=RoundPhase(round_.phase) == RoundPhase.IN_REVIEW,
    )


@bp.route("/rounds/<int:round_id>/reviewers/assign", methods=["POST"])
@permission_required("reviews.assign")
def auto_assign(round_id: int):
    round_ = load_round(round_id)
    try:
        result = assignment.auto_assign(round_, actor=me())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        if result.created:
            flash(
                _(
                    "%(num)d reviews assigned; each reviewer is told by email.",
                    num=len(result.created),
                ),
                "success",
            )
        else:
            flash(_("Every eligible application already has its reviewers."), "info")
    return redirect(url_for("review_staff.reviewers", round_id=round_.id))


# -- An application's reviews ---------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    load: int
    conflict: str | None


@bp.route("/applications/<int:application_id>/reviews")
@permission_required("grants.area")
def application_reviews(application_id: int):
    """Staff: every review of the application, assign, unassign, reopen. Steering members
    not recused (and reviewers once theirs is submitted): the submitted reviews."""
    application = load_application(application_id)
    authorize("reviews.read_reviews", application, hide=True)
    staff = can(current_user, "reviews.assign")
    query = (
        sa.select(Review)
        .where(Review.application_id == application.id)
        .options(joinedload(Review.reviewer))
        .order_by(Review.assigned_at, Review.id)
    )
    if not staff:
        query = query.where(Review.status == ReviewStatus.SUBMITTED)
    found = list(db.session.scalars(query))
    theirs = [r for r in found if r.reviewer_id != current_user.id]
    candidates: list[Candidate] = []
    if staff and RoundPhase(application.round.phase) == RoundPhase.IN_REVIEW:
        loads = assignment.reviewer_loads(application.round_id)
        pool = db.session.scalars(
            sa.select(User).where(User.id.in_([load.user_id for load in loads]))
        ).all()
        conflicts = assignment.known_conflicts([application.id], list(pool))
        taken = {r.reviewer_id for r in found if r.status != ReviewStatus.UNASSIGNED}
        candidates = [
            Candidate(
                load.user_id,
                load.name,
                load.assigned,
                reason.label if (reason := conflicts.get((application.id, load.user_id))) else None,
            )
            for load in sorted(loads, key=lambda x: (x.name.lower(), x.user_id))
            if load.user_id not in taken
        ]
    return render_template(
        "reviews/application_reviews.html",
        application=application,
        round=application.round,
        reviews=found,
        staff=staff,
        candidates=candidates,
        names=can(current_user, "reviews.reviewer_names", application),
        # The same answer for every other person's submitted review of the application:
        # asked once (one's own confidential comment is one's own).
        confidential=staff
        or (bool(theirs) and can(current_user, "reviews.read_confidential", theirs[0])),
        pending=PENDING_REVIEW,
        weighted=weighted_score,
    )


@bp.route("/applications/<int:application_id>/reviewers", methods=["POST"])
@permission_required("reviews.assign")
def assign(application_id: int):
    application = load_application(application_id)
    back = redirect(url_for("review_staff.application_reviews", application_id=application.id))
    reviewer_id = bounded_int(request.form.get("reviewer_id"), minimum=1)
    reviewer = db.session.get(User, reviewer_id) if reviewer_id else None
    if reviewer is None:
        flash(_("Choose a reviewer."), "error")
        return back
    try:
        assignment.assign(application, reviewer, actor=me())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("%(name)s is assigned and told by email.", name=reviewer.name), "success")
    return back


@bp.route("/reviews/<int:review_id>/unassign", methods=["POST"])
@permission_required("reviews.assign")
def unassign(review_id: int):
    review = load_review(review_id)
    try:
        assignment.unassign(review, actor=me())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(
            _(
                "%(name)s no longer reviews this application and is told by email.",
                name=review.reviewer.name,
            ),
            "success",
        )
    return redirect(
        url_for("review_staff.application_reviews", application_id=review.application_id)
    )


@bp.route("/reviews/<int:review_id>/reopen", methods=["POST"])
@permission_required("reviews.assign")
def reopen(review_id: int):
    review = load_review(review_id)
    try:
        review_ops.reopen(review, actor=me(), reason=request.form.get("reason", ""))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("The review is reopened; the reviewer is told by email."), "success")
    return redirect(
        url_for("review_staff.application_reviews", application_id=review.application_id)
    )


# -- The ranked overview and the funding line --------------------------------------------------


@dataclass
class OverviewFilters:
    country: str = ""
    recommendation: str = ""
    incomplete: bool = False
    disagreement: bool = False

    @classmethod
    def from_args(cls, args) -> OverviewFilters:
        recommendation = args.get("recommendation", "")
        return cls(
            country=(args.get("country") or "").upper()[:2],
            recommendation=recommendation
            if recommendation in {r.value for r in Recommendation}
            else "",
            incomplete=args.get("incomplete") == "1",
            disagreement=args.get("disagreement") == "1",
        )

    def as_args(self) -> dict[str, str]:
        out = {
            "country": self.country,
            "recommendation": self.recommendation,
            "incomplete": "1" if self.incomplete else "",
            "disagreement": "1" if self.disagreement else "",
        }
        return {k: v for k, v in out.items() if v}

    def keep(self, row: ApplicationScore, hidden: set[int]) -> bool:
        if self.country and row.org_country != self.country:
            return False
        if self.incomplete and not row.reviews_missing:
            return False
        if row.application_id in hidden and (self.recommendation or self.disagreement):
            return False
        if self.disagreement and not row.disagreement:
            return False
        if self.recommendation:
            count = {
                Recommendation.FUND.value: row.fund,
                Recommendation.FUND_WITH_CHANGES.value: row.fund_with_changes,
                Recommendation.DO_NOT_FUND.value: row.do_not_fund,
            }[self.recommendation]
            if not count:
                return False
        return True


def overview_of(round_: Round, filters: OverviewFilters, *, fresh: bool = False):
    ranking = round_ranking(round_) if fresh else cached_ranking(round_)
    hidden = scores_hidden_from(me(), ranking.rows)
    rows = (
        [row for row in ranking.rows if filters.keep(row, hidden)]
        if filters.as_args()
        else ranking.rows
    )
    return ranking, rows, hidden


@bp.route("/rounds/<int:round_id>/review")
@permission_required("reviews.overview")
def overview(round_id: int):
    round_ = load_round(round_id)
    filters = OverviewFilters.from_args(request.args)
    ranking, rows, hidden = overview_of(round_, filters)
    number = page_number()
    page = Listing(
        items=rows[(number - 1) * PER_PAGE : number * PER_PAGE],
        page=number,
        per_page=PER_PAGE,
        total=len(rows),
    )
    # The funding line goes above the first row past the budget (the rows inside it
    # come first, as the running total only grows).
    line_before = next((row.application_id for row in rows if not row.within_budget), None)
    countries = sorted(
        ((code, country_name(code)) for code in ranking.countries),
        key=lambda pair: pair[1],
    )
    return render_template(
        "reviews/overview.html",
        round=round_,
        ranking=ranking,
        page=page,
        line_before=line_before,
        above=len(ranking.above_line),
        allocated=ranking.allocated,
        # Each row's link, built once: url_for for 50 rows costs more than the rows.
        reviews_base=url_for("review_staff.application_reviews", application_id=0).removesuffix(
            "0/reviews"
        ),
        hidden=hidden,
        filters=filters,
        countries=countries,
        recommendations=list(Recommendation),
        blind=round_.blind_review,
        staff=can(current_user, "reviews.assign"),
        # What the round's grants hold, against the funding line (one query).
        awarded=committed_in(round_.id, round_.fund_id)[0]
        if can(current_user, "awards.figures")
        else None,
    )


def score_text(value) -> str:
    return "" if value is None else f"{float(value):.2f}"


@bp.route("/rounds/<int:round_id>/review.<any(csv, xlsx):fmt>", methods=["POST"])
@permission_required("reviews.overview")
@fresh_required
def export(round_id: int, fmt: str):
    """The ranking as a spreadsheet (POST, audited, fresh sign-in). In a blind round it
    names no applicant organisation; hidden scores stay hidden."""
    round_ = load_round(round_id)
    filters = OverviewFilters.from_args(request.form)
    _ranking, rows, hidden = overview_of(round_, filters, fresh=True)
    header = ["rank", "id", "title"]
    if not round_.blind_review:
        header.append("organisation")
    header += [
        "country",
        "score",
        "spread",
        "disagreement",
        "reviews_done",
        "reviews_required",
        "fund",
        "fund_with_changes",
        "do_not_fund",
        "requested",
        "cumulative",
        "within_budget",
    ]
    body = []
    for row in rows:
        secret = row.application_id in hidden
        line = [row.rank, row.application_id, row.title]
        if not round_.blind_review:
            line.append(row.org_name)
        line += [
            row.org_country,
            "" if secret else score_text(row.mean),
            "" if secret else score_text(row.spread),
            "" if secret else ("yes" if row.disagreement else "no"),
            row.done,
            row.required,
            "" if secret else row.fund,
            "" if secret else row.fund_with_changes,
            "" if secret else row.do_not_fund,
            str(to_major(row.requested_amount)),
            str(to_major(row.cumulative)),
            "yes" if row.within_budget else "no",
        ]
        body.append(line)
    data = to_csv(header, body) if fmt == "csv" else to_xlsx(header, body, "Ranking")
    audit.record(
        "round.ranking_exported",
        round_,
        actor=me(),
        details={"format": fmt, "rows": len(body), "filters": filters.as_args()},
    )
    return Response(
        data,
        mimetype=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="round-{round_.id}-ranking.{fmt}"'},
    )
