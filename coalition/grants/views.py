"""The grant fund area: its home, and the staff pages of funds and rounds.

Views stay thin: a form validates, an operation of ``coalition.grants.rounds``
applies the domain rules, a refusal goes back beside its field, and the
request commits at the edge.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import lazyload, selectinload
from wtforms import HiddenField
from wtforms.validators import DataRequired

from coalition import form_tokens
from coalition.countries import AFRICAN_COUNTRIES
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import rounds as ops
from coalition.grants.markdown import render_markdown
from coalition.grants.models import (
    ROUND_MOVES,
    Application,
    ApplicationStatus,
    DomainError,
    Fund,
    Round,
    RoundPhase,
)
from coalition.grants.money import format_money
from coalition.grants.round_forms import BLANK_CRITERION_ROWS, FundForm, RoundForm
from coalition.i18n import select_timezone
from coalition.inputs import arg_int
from coalition.policy import can, permission_required

bp = Blueprint("grants", __name__)

HOME_ROUNDS = 20
# Staff's words for each move of a round (the moves themselves are ROUND_MOVES).
MOVE_LABELS = {
    RoundPhase.PUBLISHED: _l("Publish"),
    RoundPhase.DRAFT: _l("Back to draft"),
    RoundPhase.IN_REVIEW: _l("Start the review"),
    RoundPhase.DECIDED: _l("Mark as decided"),
    RoundPhase.ARCHIVED: _l("Archive"),
}
# Applications that ask for money: not drafts, not withdrawn.
NOT_REQUESTING = frozenset({ApplicationStatus.DRAFT, ApplicationStatus.WITHDRAWN})


class MoveForm(FlaskForm):
    to = HiddenField(validators=[DataRequired()])


def open_rounds_query(now):
    """Published rounds open at ``now``, soonest closing first (Round.status_at, in SQL)."""
    return (
        sa.select(Round)
        .where(
            Round.phase == RoundPhase.PUBLISHED,
            Round.opens_at <= now,
            Round.closes_at > now,
        )
        .order_by(Round.closes_at, Round.id)
    )


def load_fund(fund_id: int) -> Fund:
    fund = db.session.get(Fund, fund_id)
    if fund is None:
        abort(404)
    return fund


def load_round(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    return round_


def put_beside(form, error: DomainError) -> None:
    """A refusal of the operation, shown beside the field it concerns (or flashed)."""
    target = getattr(form, error.field, None) if error.field else None
    if target is None:
        flash(error.message, "error")
        return
    target.errors = [*target.errors, error.message]


def actor():
    return current_user._get_current_object()


# -- Home -------------------------------------------------------------------------------


@bp.route("/")
@permission_required("grants.area")
def home():
    now = utcnow()
    open_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(open_rounds_query(now).order_by(None).subquery())
    )
    rounds = []
    if can(current_user, "grants.read_round"):
        rounds = db.session.scalars(
            sa.select(Round)
            .options(lazyload(Round.criteria))
            .order_by(Round.opens_at.desc(), Round.id.desc())
            .limit(HOME_ROUNDS)
        ).all()
    return render_template("grants/home.html", open_count=open_count, rounds=rounds, now=now)


# -- Funds ------------------------------------------------------------------------------


@bp.route("/funds/")
@permission_required("grants.manage")
def funds():
    found = db.session.scalars(
        sa.select(Fund)
        .options(selectinload(Fund.rounds).lazyload(Round.criteria))
        .order_by(sa.func.lower(Fund.name), Fund.id)
    ).all()
    return render_template("grants/funds.html", funds=found, money=format_money, now=utcnow())


def _fill_africa(form: FundForm) -> None:
    form.countries.data = sorted(set(form.countries.data or ()) | set(AFRICAN_COUNTRIES))


@bp.route("/funds/new", methods=["GET", "POST"])
@permission_required("grants.manage")
def new_fund():
    form = FundForm()
    if request.method == "POST" and "all_africa" in request.form:
        _fill_africa(form)
        return render_template("grants/fund_edit.html", form=form, fund=None)
    if form.validate_on_submit():
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()
        try:
            fund = ops.create_fund(
                actor=actor(), values=form.values(), countries=form.countries.data or []
            )
        except DomainError as exc:
            db.session.rollback()
            put_beside(form, exc)
        else:
            claim.done(url_for("grants.funds"))
            flash(_("The fund %(name)s is created.", name=fund.name), "success")
            return redirect(url_for("grants.funds"))
    return render_template("grants/fund_edit.html", form=form, fund=None)


@bp.route("/funds/<int:fund_id>/edit", methods=["GET", "POST"])
@permission_required("grants.manage")
def edit_fund(fund_id: int):
    fund = load_fund(fund_id)
    form = FundForm()
    form.version.required = True
    if request.method == "GET":
        form.load(fund)
        return render_template("grants/fund_edit.html", form=form, fund=fund)
    if "all_africa" in request.form:
        _fill_africa(form)
        return render_template("grants/fund_edit.html", form=form, fund=fund)
    if form.validate_on_submit():
        try:
            changes = ops.update_fund(
                fund,
                actor=actor(),
                version=form.version.data,
                values=form.values(),
                countries=form.countries.data or [],
            )
        except ops.StaleEdit as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("grants/fund_edit.html", form=form, fund=fund, stale=True), 409
        except DomainError as exc:
            db.session.rollback()
            put_beside(form, exc)
        else:
            flash(
                _("Saved.") if changes else _("Nothing changed."), "success" if changes else "info"
            )
            return redirect(url_for("grants.funds"))
    return render_template("grants/fund_edit.html", form=form, fund=fund)


# -- Rounds -----------------------------------------------------------------------------


def _fund_choices() -> list[tuple[int, str]]:
    return [
        (fund_id, name)
        for fund_id, name in db.session.execute(
            sa.select(Fund.id, Fund.name).order_by(sa.func.lower(Fund.name))
        )
    ]


@bp.route("/rounds/new", methods=["GET", "POST"])
@permission_required("grants.manage")
def new_round():
    form = RoundForm()
    form.fund.choices = _fund_choices()
    if not form.fund.choices:
        flash(_("Create a fund first: every round belongs to one."), "info")
        return redirect(url_for("grants.new_fund"))
    if request.method == "GET":
        wanted = arg_int("fund", minimum=1)
        if wanted in {fund_id for fund_id, _name in form.fund.choices}:
            form.fund.data = wanted
        form.timezone.data = select_timezone()
        form.add_blank_rows(BLANK_CRITERION_ROWS - len(form.criteria.entries))
    elif form.validate_on_submit():
        fund = load_fund(form.fund.data)
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()
        try:
            round_ = ops.create_round(
                fund, actor=actor(), values=form.values(), criteria=form.criterion_rows()
            )
        except DomainError as exc:
            db.session.rollback()
            put_beside(form, exc)
        else:
            result = url_for("grants.show_round", round_id=round_.id)
            claim.done(result)
            flash(_("The round %(title)s is created as a draft.", title=round_.title), "success")
            return redirect(result)
    return render_template("grants/round_edit.html", form=form, round=None)


@bp.route("/rounds/<int:round_id>")
@permission_required("grants.read_round")
def show_round(round_id: int):
    round_ = load_round(round_id)
    counts = db.session.execute(
        sa.select(
            Application.status,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(Application.requested_amount), 0),
        )
        .where(Application.round_id == round_.id)
        .group_by(Application.status)
    ).all()
    by_status = {ApplicationStatus(status): (n, int(amount)) for status, n, amount in counts}
    rows = [(status, *by_status[status]) for status in ApplicationStatus if status in by_status]
    requested = sum(
        amount for status, (_n, amount) in by_status.items() if status not in NOT_REQUESTING
    )
    moves = []
    if can(current_user, "grants.manage"):
        moves = [
            (target, MOVE_LABELS[target])
            for target in RoundPhase
            if target in ROUND_MOVES[RoundPhase(round_.phase)]
        ]
    return render_template(
        "grants/round.html",
        round=round_,
        status=round_.status_at(utcnow()),
        rows=rows,
        total=sum(n for n, _amount in by_status.values()),
        requested=requested,
        moves=moves,
        money=format_money,
        description=render_markdown(round_.description),
    )


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@permission_required("grants.manage")
def edit_round(round_id: int):
    round_ = load_round(round_id)
    form = RoundForm()
    form.version.required = True
    # A round stays in the fund it was created in.
    form.fund.choices = [(round_.fund_id, round_.fund.name)]
    if request.method == "GET":
        form.load(round_, select_timezone())
        return render_template("grants/round_edit.html", form=form, round=round_)
    form.fund.data = round_.fund_id
    if form.validate_on_submit():
        try:
            changes = ops.update_round(
                round_,
                actor=actor(),
                version=form.version.data,
                values=form.values(),
                criteria=form.criterion_rows(),
            )
        except ops.StaleEdit as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template(
                "grants/round_edit.html", form=form, round=round_, stale=True
            ), 409
        except DomainError as exc:
            db.session.rollback()
            put_beside(form, exc)
        else:
            flash(
                _("Saved.") if changes else _("Nothing changed."), "success" if changes else "info"
            )
            return redirect(url_for("grants.show_round", round_id=round_.id))
    return render_template("grants/round_edit.html", form=form, round=round_)


@bp.route("/rounds/<int:round_id>/move", methods=["POST"])
@permission_required("grants.manage")
def move_round(round_id: int):
    round_ = load_round(round_id)
    form = MoveForm()
    if not form.validate_on_submit():
        flash(_("Choose a step of the round's lifecycle."), "error")
        return redirect(url_for("grants.show_round", round_id=round_.id))
    try:
        ops.move_round(round_, form.to.data, actor=actor())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(
            _("The round is now %(status)s.", status=round_.status_at(utcnow()).label.lower()),
            "success",
        )
    return redirect(url_for("grants.show_round", round_id=round_.id))
