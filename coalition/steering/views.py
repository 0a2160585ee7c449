"""The steering group's area: dashboard, conflict declarations on a round's
vote list, votes and reports."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import reviews as review_ops
from coalition.grants.models import Application, DomainError, Round, RoundPhase
from coalition.grants.review_models import (
    ACTIVE_REVIEW,
    PENDING_REVIEW,
    ConflictDeclaration,
    ConflictKind,
    Review,
    ReviewStatus,
)
from coalition.grants.reviews import DESCRIPTION_MAX, VOTE_LIST
from coalition.policy import authorize, can, permission_required

bp = Blueprint("steering", __name__)


@dataclass(frozen=True)
class RoundProgress:
    round_id: int
    title: str
    review_deadline: object
    applications: int
    required: int  # applications x reviewers per application
    submitted: int
    assigned: int  # active reviews (to do, in progress, submitted)
    to_declare: int  # this person's vote-list applications without a declaration

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.submitted / self.required)) if self.required else 0


def rounds_in_review(user) -> list[RoundProgress]:
    """Every round in review with its progress, in two queries whatever their size."""
    # Counted per round on the index of (round, status), not by joining every
    # application to every round and counting them apart again.
    eligible = (
        sa.select(sa.func.count())
        .select_from(Application)
        .where(Application.round_id == Round.id, Application.status.in_(VOTE_LIST))
        .correlate(Round)
        .scalar_subquery()
    )
    rounds = db.session.execute(
        sa.select(
            Round.id, Round.title, Round.review_deadline, Round.reviewers_per_application, eligible
        )
        .where(Round.phase == RoundPhase.IN_REVIEW)
        .order_by(Round.review_deadline, Round.id)
    ).all()
    if not rounds:
        return []
    ids = [r.id for r in rounds]
    reviews = {
        round_id: (submitted, active)
        for round_id, submitted, active in db.session.execute(
            sa.select(
                Application.round_id,
                sa.func.count().filter(Review.status == ReviewStatus.SUBMITTED),
                sa.func.count().filter(Review.status.in_(ACTIVE_REVIEW)),
            )
            .join(Application, Application.id == Review.application_id)
            .where(Application.round_id.in_(ids), Application.status.in_(VOTE_LIST))
            .group_by(Application.round_id)
        )
    }
    undeclared: dict[int, int] = {}
    if Role.STEERING in user.roles:
        declared = sa.exists().where(
            ConflictDeclaration.application_id == Application.id,
            ConflictDeclaration.user_id == user.id,
        )
        undeclared = dict(
            db.session.execute(
                sa.select(Application.round_id, sa.func.count())
                .where(
                    Application.round_id.in_(ids),
                    Application.status.in_(VOTE_LIST),
                    ~declared,
                )
                .group_by(Application.round_id)
            ).all()
        )
    return [
        RoundProgress(
            round_id=r.id,
            title=r.title,
            review_deadline=r.review_deadline,
            applications=r[4],
            required=r[4] * r.reviewers_per_application,
            submitted=reviews.get(r.id, (0, 0))[0],
            assigned=reviews.get(r.id, (0, 0))[1],
            to_declare=undeclared.get(r.id, 0),
        )
        for r in rounds
    ]


@bp.route("/")
@permission_required("steering.area")
def home():
    from coalition.steering.votes import dashboard_panel

    user = current_user._get_current_object()
    rounds = rounds_in_review(user)
    to_review = 0
    if can(user, "reviews.home"):
        to_review = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Review)
            .where(Review.reviewer_id == user.id, Review.status.in_(PENDING_REVIEW))
        )
    return render_template(
        "steering/home.html",
        rounds=rounds,
        to_review=to_review,
        to_declare=sum(r.to_declare for r in rounds),
        panel=dashboard_panel(user),
    )


def _round_for_declaring(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None or RoundPhase(round_.phase) != RoundPhase.IN_REVIEW:
        abort(404)
    return round_


@bp.route("/rounds/<int:round_id>/conflicts", methods=["GET", "POST"])
@permission_required("steering.area")
def declare_round(round_id: int):
    """A steering member declares on every application of a round's list, in one form."""
    round_ = _round_for_declaring(round_id)
    authorize("reviews.declare_round", round_)
    user = current_user._get_current_object()
    applications = review_ops.vote_list(round_)
    known = review_ops.declarations_for(user.id, [a.id for a in applications])
    typed: dict[int, tuple[str, str]] = {}
    status = 200
    if request.method == "POST":
        answers: dict[int, tuple[bool, str | None]] = {}
        for application in applications:
            kind = request.form.get(f"kind-{application.id}", "")
            description = request.form.get(f"description-{application.id}", "")[
                : DESCRIPTION_MAX * 2
            ]
            typed[application.id] = (kind, description)
            if kind in ("none", "conflict"):
                answers[application.id] = (kind == "conflict", description)
        try:
            recorded = review_ops.declare_for_round(round_, user, answers)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            status = 422
            known = review_ops.declarations_for(user.id, [a.id for a in applications])
        else:
            flash(
                _("Declarations recorded: %(num)d.", num=len(recorded))
                if recorded
                else _("Nothing changed."),
                "success" if recorded else "info",
            )
            return redirect(url_for("steering.declare_round", round_id=round_.id))
    return (
        render_template(
            "steering/declare_round.html",
            round=round_,
            applications=applications,
            known=known,
            typed=typed,
            conflict=ConflictKind.CONFLICT,
            description_max=DESCRIPTION_MAX,
        ),
        status,
    )
