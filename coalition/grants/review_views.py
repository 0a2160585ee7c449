"""The reviewer's pages: their home with each assigned application, the
conflict declaration that comes first, and the review form.

Views stay thin: they load the review, ask the policy, call an operation of
``coalition.grants.reviews`` and render or redirect. A refusal rolls back and
shows the page again with what the reviewer typed, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, lazyload

from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import files
from coalition.grants import reviews as ops
from coalition.grants.applications import record_download
from coalition.grants.models import Application, DomainError, Round, RoundPhase
from coalition.grants.money import format_money
from coalition.grants.review_models import (
    Recommendation,
    Review,
    ReviewScore,
    ReviewStatus,
)
from coalition.grants.scores import weighted_score
from coalition.ics import MEDIA_TYPE as ICS_MEDIA_TYPE
from coalition.ics import Event, calendar
from coalition.inputs import bounded_int
from coalition.policy import authorize, can, permission_required
from coalition.urls import external_url

bp = Blueprint("reviews", __name__)


def me():
    return current_user._get_current_object()


# -- The reviewer's home -------------------------------------------------------------------


@dataclass(frozen=True)
class HomeRow:
    review_id: int
    title: str | None
    round_id: int
    round_title: str
    deadline: datetime | None
    state: str  # declare, todo, draft, submitted, recused

    @property
    def pending(self) -> bool:
        return self.state in ("declare", "todo", "draft")


STATES = ("declare", "todo", "draft", "submitted", "recused")


def state_label(state: str) -> str:
    return {
        "declare": _("Declare any conflict of interest"),
        "todo": _("To do"),
        "draft": _("Draft"),
        "submitted": _("Submitted"),
        "recused": _("Recused"),
    }[state]


def home_rows(user_id: int) -> list[HomeRow]:
    """The person's reviews (not those taken back by staff), by round deadline, in one query."""
    started = sa.or_(
        Review.comment_applicant.is_not(None),
        Review.comment_confidential.is_not(None),
        Review.recommendation.is_not(None),
        sa.exists().where(ReviewScore.review_id == Review.id),
    ).label("started")
    rows = db.session.execute(
        sa.select(
            Review.id,
            Review.status,
            Application.title,
            Round.id.label("round_id"),
            Round.title.label("round_title"),
            Round.review_deadline,
            started,
        )
        .select_from(Review)
        .join(Application, Application.id == Review.application_id)
        .join(Round, Round.id == Application.round_id)
        .where(Review.reviewer_id == user_id, Review.status != ReviewStatus.UNASSIGNED)
        .order_by(Round.review_deadline, Round.id, Application.title, Review.id)
    ).all()
    out = []
    for row in rows:
        status = ReviewStatus(row.status)
        if status == ReviewStatus.ASSIGNED:
            state = "declare"
        elif status == ReviewStatus.IN_PROGRESS:
            state = "draft" if row.started else "todo"
        elif status == ReviewStatus.SUBMITTED:
            state = "submitted"
        else:
            state = "recused"
        out.append(
            HomeRow(row.id, row.title, row.round_id, row.round_title, row.review_deadline, state)
        )
    return out


@bp.route("/")
@permission_required("reviews.home")
def home():
    rows = home_rows(current_user.id)
    rounds: list[tuple[int, str, datetime | None, list[HomeRow]]] = []
    for row in rows:
        if not rounds or rounds[-1][0] != row.round_id:
            rounds.append((row.round_id, row.round_title, row.deadline, []))
        rounds[-1][3].append(row)
    return render_template(
        "reviews/home.html",
        rounds=rounds,
        pending=sum(1 for row in rows if row.pending),
        labels={state: state_label(state) for state in STATES},
        # Each row's link, built once (url_for for 200 rows costs more than the rows).
        base=url_for("reviews.home"),
    )


@bp.route("/deadlines.ics")
@permission_required("reviews.home")
def deadlines():
    """The review deadlines of the rounds where this person still owes a review."""
    due: dict[int, tuple[str, datetime, int]] = {}
    for row in home_rows(current_user.id):
        if row.pending and row.deadline is not None:
            title, at, count = due.get(row.round_id, (row.round_title, row.deadline, 0))
            due[row.round_id] = (title, at, count + 1)
    # The site's own name (BASE_URL), never the request's Host header.
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "coalition"
    events = [
        Event(
            uid=f"review-deadline-{round_id}-{current_user.id}@{host}",
            at=at,
            summary=_("Review deadline: %(round)s", round=title),
            description=ngettext("%(num)d review to finish.", "%(num)d reviews to finish.", count),
            url=external_url("reviews.home"),
        )
        for round_id, (title, at, count) in sorted(due.items())
    ]
    body = calendar(events, name=_("Review deadlines"), now=utcnow())
    return Response(
        body,
        mimetype=ICS_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="review-deadlines.ics"',
            "Cache-Control": "no-store",
        },
    )


# -- One review ----------------------------------------------------------------------------


def load_review(review_id: int) -> Review:
    """The review with what its page shows, if the current user may reach it; 404 otherwise."""
    review = db.session.scalar(
        sa.select(Review)
        .where(Review.id == review_id)
        .options(
            joinedload(Review.application).selectinload(Application.budget_lines),
            joinedload(Review.application).selectinload(Application.attachments),
        )
    )
    if review is None:
        abort(404)
    authorize("reviews.reach", review, hide=True)
    return review


def other_reviews(review: Review) -> list[Review]:
    """The application's other submitted reviews, when the viewer may read them."""
    if not can(current_user, "reviews.read_reviews", review.application):
        return []
    return list(
        db.session.scalars(
            sa.select(Review)
            .where(
                Review.application_id == review.application_id,
                Review.id != review.id,
                Review.status == ReviewStatus.SUBMITTED,
            )
            # The application is the one already loaded (and its round's criteria).
            .options(joinedload(Review.reviewer), lazyload(Review.application))
            .order_by(Review.submitted_at, Review.id)
        )
    )


def values_of(review: Review) -> dict:
    """The form's values from the saved review."""
    return {
        "scores": {cid: str(s) for cid, s in review.score_by_criterion.items()},
        "comment_applicant": review.comment_applicant or "",
        "comment_confidential": review.comment_confidential or "",
        "recommendation": review.recommendation.value if review.recommendation else "",
        "version": review.version,
    }


def values_from_form(review: Review) -> dict:
    """The form's values as typed, kept when a save is refused."""
    form = request.form
    return {
        "scores": {
            c.id: (form.get(f"score-{c.id}") or "").strip()[:10]
            for c in review.application.round.criteria
        },
        "comment_applicant": form.get("comment_applicant", ""),
        "comment_confidential": form.get("comment_confidential", ""),
        "recommendation": form.get("recommendation", ""),
        "version": form.get("version", ""),
    }


def render_review(review: Review, values: dict | None = None, *, errors=None, status=200):
    application = review.application
    round_ = application.round
    readable = can(current_user, "reviews.read_application", review)
    writable = can(current_user, "reviews.write", review)
    others = other_reviews(review) if readable else []
    # Asked once: the answer is the same for every other submitted review of the application.
    others_confidential = bool(others) and can(current_user, "reviews.read_confidential", others[0])
    return (
        render_template(
            "reviews/review.html",
            review=review,
            application=application,
            round=round_,
            blind=round_.blind_review,
            readable=readable,
            writable=writable,
            values=values or values_of(review),
            errors=errors or {},
            others=others,
            others_confidential=others_confidential,
            own_confidential=can(current_user, "reviews.read_confidential", review),
            names=bool(others) and can(current_user, "reviews.reviewer_names", application),
            recommendations=list(Recommendation),
            money=format_money,
            weighted=weighted_score,
        ),
        status,
    )


@bp.route("/<int:review_id>", methods=["GET", "POST"])
@login_required
def show(review_id: int):
    """GET: the review (title and round only until "no conflict"); POST: save or submit."""
    review = load_review(review_id)
    if request.method == "GET":
        return render_review(review)
    if review.reviewer_id != current_user.id:
        abort(404)
    values = values_from_form(review)
    submitting = "submit" in request.form
    if review.status == ReviewStatus.SUBMITTED:
        db.session.rollback()
        flash(_("This review has already been submitted."), "error")
        return render_review(review, status=409)
    try:
        ops.save_draft(
            review,
            actor=me(),
            version=bounded_int(values["version"], minimum=1, default=0),
            scores={c_id: value or None for c_id, value in values["scores"].items()},
            comment_applicant=values["comment_applicant"],
            comment_confidential=values["comment_confidential"],
            recommendation=values["recommendation"] or None,
        )
        if submitting:
            problems = ops.submission_problems(review)
            if problems:
                errors: dict[str, list[str]] = {}
                for field, message in problems:
                    errors.setdefault(field, []).append(message)
                db.session.rollback()
                flash(_("The review is not submitted: complete what is marked below."), "error")
                review = db.session.get(Review, review_id)
                return render_review(review, values, errors=errors, status=422)
            ops.submit(review, actor=me())
    except ops.StaleReview as exc:
        db.session.rollback()
        flash(exc.message, "error")
        review = db.session.get(Review, review_id)
        values["version"] = review.version
        return render_review(review, values, status=409)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        review = db.session.get(Review, review_id)
        errors = {exc.field: [exc.message]} if exc.field else {}
        return render_review(review, values, errors=errors, status=422)
    if submitting:
        flash(_("Your review is submitted. Thank you."), "success")
    else:
        flash(_("Draft saved."), "success")
    return redirect(url_for("reviews.show", review_id=review.id))


@bp.route("/<int:review_id>/declare", methods=["POST"])
@login_required
def declare(review_id: int):
    """The reviewer's declaration: no conflict of interest, or a conflict (recused)."""
    review = load_review(review_id)
    if review.reviewer_id != current_user.id:
        abort(404)
    kind = request.form.get("kind")
    if kind not in ("none", "conflict"):
        flash(_("Choose whether you have a conflict of interest."), "error")
        return redirect(url_for("reviews.show", review_id=review.id))
    try:
        ops.declare(
            review.application,
            me(),
            conflict=kind == "conflict",
            description=request.form.get("description", ""),
        )
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("reviews.show", review_id=review_id))
    if kind == "conflict":
        flash(_("Thank you: you are recused from this application."), "success")
    else:
        flash(_("Thank you: the application is open for your review."), "success")
    return redirect(url_for("reviews.show", review_id=review.id))


@bp.route("/<int:review_id>/attachments/<int:attachment_id>")
@login_required
def download(review_id: int, attachment_id: int):
    """An attachment of the reviewed application; in a blind round named by its kind only."""
    review = load_review(review_id)
    authorize("reviews.read_application", review, hide=True)
    application = review.application
    attachment = next((a for a in application.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = files.download_response(attachment, blind=application.round.blind_review)
    record_download(application, attachment, reader=me())
    return response


def round_in_review(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None or RoundPhase(round_.phase) != RoundPhase.IN_REVIEW:
        abort(404)
    return round_
