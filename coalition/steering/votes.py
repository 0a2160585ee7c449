"""The steering vote's pages: seats, opening a vote, declaring and voting (one
application at a time or the whole shortlist in one form, no JavaScript
needed), closing, the result, recording decisions, the waitlist, appeals.

Views stay thin: the rules are in ``coalition.steering.voting`` and
``coalition.grants.decisions``; access in ``coalition.policy``. Ids in forms
are checked against the vote's own roll and shortlist; a user id in a form is
never read (S15): the voter is the signed-in person.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, lazyload, selectinload

from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.decision_models import Appeal
from coalition.grants.models import Application, ApplicationStatus, DomainError, Fund, Round
from coalition.grants.money import format_money
from coalition.grants.review_models import ConflictDeclaration, Review, ReviewStatus
from coalition.grants.reviews import declarations_for
from coalition.grants.scores import cached_ranking, round_ranking
from coalition.i18n import select_timezone
from coalition.inputs import bounded_int, page_number
from coalition.members.models import Member
from coalition.policy import authorize, can, permission_required
from coalition.steering import seats as seat_ops
from coalition.steering import sheets, voting
from coalition.steering.models import Choice, Vote, VoteItem, VoteStatus

bp = Blueprint("votes", __name__)


def _user():
    return current_user._get_current_object()


# A vote with its round's title: the round and fund, not the criteria or countries
# they load by default (loaded later only where a page shows them).
_LISTED_VOTE = joinedload(Vote.round).options(
    lazyload(Round.criteria), joinedload(Round.fund).lazyload(Fund.country_rows)
)


def _vote(vote_id: int) -> Vote:
    """The vote with its round and fund in one query (the round's criteria and the fund's
    countries, which the vote's pages do not show, load only if asked for)."""
    vote = db.session.get(Vote, vote_id, options=[_LISTED_VOTE])
    if vote is None:
        abort(404)
    return vote


def _int(value) -> int | None:
    """A positive id from a form or the query string, or None (coalition.inputs)."""
    return bounded_int(value, minimum=1)


def _flash_error(exc: DomainError) -> None:
    flash(exc.message, "error")


# -- The dashboard panel -------------------------------------------------------------------


def dashboard_panel(user) -> dict:
    """What the steering dashboard shows of votes: the open votes with their closing
    time and this person's progress, and the five latest results. Four queries plus
    two per open vote this person sits on."""
    open_votes = list(
        db.session.scalars(
            sa.select(Vote)
            .where(Vote.status == VoteStatus.OPEN)
            .order_by(Vote.closes_at)
            .options(_LISTED_VOTE)
        )
    )
    rows = []
    for vote in open_votes:
        if not can(user, "votes.read", vote):
            continue
        rows.append(
            {"vote": vote, "progress": voting.progress(vote, user.id, sheets.page_roll(vote))}
        )
    recent = list(
        db.session.scalars(
            sa.select(Vote)
            .where(Vote.status == VoteStatus.CLOSED)
            .order_by(Vote.closed_at.desc())
            .limit(5)
            .options(_LISTED_VOTE)
        )
    )
    return {"open": rows, "recent": [v for v in recent if can(user, "votes.read_result", v)]}


# -- Seats ---------------------------------------------------------------------------------


@bp.route("/steering/seats")
@permission_required("steering.seats")
def seats():
    from coalition.accounts.models import Role, User, UserRole

    people = []
    if can(current_user, "steering.manage_seats"):
        people = list(
            db.session.scalars(
                sa.select(User)
                .where(
                    User.active.is_(True),
                    sa.exists().where(UserRole.user_id == User.id, UserRole.role == Role.STEERING),
                )
                .order_by(User.name, User.id)
            )
        )
    return render_template(
        "steering/votes/seats.html", seats=seat_ops.current_seats(), people=people
    )


@bp.route("/steering/seats/<int:member_id>", methods=["POST"])
@permission_required("steering.manage_seats")
def set_seat(member_id: int):
    member = db.session.get(Member, member_id)
    if member is None:
        abort(404)
    try:
        seat_ops.set_sitters(
            member,
            representative_id=_int(request.form.get("representative_id")),
            alternate_id=_int(request.form.get("alternate_id")),
            actor=_user(),
        )
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(_("The seat's sitters are saved. Open votes keep their roll."), "success")
    return redirect(url_for("votes.seats"))


# -- Opening -------------------------------------------------------------------------------


def _parse_local(value: str | None) -> datetime | None:
    """A ``datetime-local`` value in the viewer's time zone, as UTC."""
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%dT%H:%M").replace(
            tzinfo=ZoneInfo(select_timezone())
        )
    except ValueError:
        return None


@bp.route("/steering/rounds/<int:round_id>/vote", methods=["GET", "POST"])
@permission_required("votes.manage")
def new_vote(round_id: int):
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    ranking = round_ranking(round_)
    default = set(voting.default_shortlist(round_))
    waiting = set(voting.awaiting_vote(round_))
    candidates = [
        row
        for row in ranking.rows
        if row.status == ApplicationStatus.ELIGIBLE or row.application_id in waiting
    ]
    chosen = default
    if request.method == "POST":
        chosen = {a for a in (_int(v) for v in request.form.getlist("application_ids")) if a}
        closes_at = _parse_local(request.form.get("closes_at"))
        if closes_at is None:
            flash(_("Give the closing date and time."), "error")
        else:
            try:
                vote = voting.open_vote(
                    round_, closes_at=closes_at, actor=_user(), application_ids=sorted(chosen)
                )
            except DomainError as exc:
                _flash_error(exc)
            else:
                flash(_("The vote is open; the voters are told by email."), "success")
                return redirect(url_for("votes.show", vote_id=vote.id))
    return render_template(
        "steering/votes/new.html",
        round=round_,
        candidates=candidates,
        chosen=chosen,
        seats=seat_ops.current_seats(),
        money=format_money,
        zone=select_timezone(),
    )


# -- The vote ------------------------------------------------------------------------------


PER_PAGE = 20


def _page_number() -> int:
    return page_number()


@bp.route("/steering/votes/<int:vote_id>")
@login_required
def show(vote_id: int):
    """The shortlist with how many seats voted on each, and this person's ballot.

    Plain rows in a fixed number of queries (``coalition.steering.sheets``):
    the roll and its recusals, the whole shortlist (for the funding line, the
    progress and the declarations), this page's votes and this person's
    declarations and progress.
    """
    vote = _vote(vote_id)
    authorize("votes.read", vote, hide=True)
    user = _user()
    _seats, lines = sheets.frozen_lines(vote)
    roll = sheets.page_roll(vote)
    page = sheets.paged(lines, _page_number(), PER_PAGE)
    my_seats = roll.seats_of(user.id)
    is_open = vote.is_open()
    declared = set()
    if my_seats:
        declared = set(
            db.session.scalars(
                sa.select(ConflictDeclaration.application_id)
                .join(VoteItem, VoteItem.application_id == ConflictDeclaration.application_id)
                .where(VoteItem.vote_id == vote.id, ConflictDeclaration.user_id == user.id)
            )
        )
    page_ids = [i.application_id for i in page.items]
    counts = sheets.seats_voted(vote.id, page_ids)
    mine = (
        {
            (cast.seat_id, cast.application_id): cast
            for cast in sheets.casts(vote.id, page_ids, [s.id for s in my_seats])
        }
        if my_seats
        else {}
    )
    above = sheets.funding_line(lines, vote.round.budget)
    rows = []
    for item in page.items:
        app_id = item.application_id
        cells = []
        for seat in my_seats:
            cast = mine.get((seat.id, app_id))
            if roll.seat_recused(seat, app_id) or roll.person_recused(seat, app_id, user.id):
                state = "recused"
            elif is_open and app_id in declared:
                state = "vote"
            elif cast is not None:
                state = "cast"
            else:
                state = "declare" if is_open else "none"
            cells.append((seat, state, cast))
        rows.append(
            {
                "item": item,
                "hidden": bool(my_seats) and roll.recused_from(user.id, app_id),
                "above": above.get(app_id, False),
                "voted": counts.get(app_id, 0),
                "eligible": len(roll.eligible(app_id)),
                "cells": cells,
            }
        )
    undeclared = (
        [i for i in lines if i.application_id not in declared]
        if my_seats and is_open and len(declared) < len(lines)
        else []
    )
    return render_template(
        "steering/votes/show.html",
        vote=vote,
        page=page,
        rows=rows,
        roll=roll,
        my_seats=my_seats,
        undeclared=undeclared,
        progress=voting.progress(vote, user.id, roll, [i.application_id for i in lines])
        if my_seats
        else [],
        is_open=is_open,
        money=_money_once(),
        choices=list(Choice),
    )


def _money_once():
    """``format_money`` remembering what it formatted: a list repeats its amounts."""
    done: dict[tuple[int, str], str] = {}

    def money(amount, currency):
        key = (amount, currency)
        if key not in done:
            done[key] = format_money(amount, currency)
        return done[key]

    return money


@bp.route("/steering/votes/<int:vote_id>/applications/<int:application_id>")
@login_required
def application(vote_id: int, application_id: int):
    vote = _vote(vote_id)
    authorize("votes.read", vote, hide=True)
    item = db.session.scalar(
        sa.select(VoteItem)
        .where(VoteItem.vote_id == vote.id, VoteItem.application_id == application_id)
        # The application with its round (loaded with the vote); not the countries.
        .options(
            joinedload(VoteItem.application).lazyload(Application.country_rows),
            joinedload(VoteItem.application)
            .joinedload(Application.round)
            .joinedload(Round.fund)
            .lazyload(Fund.country_rows),
        )
    )
    if item is None:
        abort(404)
    application = item.application
    authorize("votes.read_application", (vote, application), hide=True)
    user = _user()
    roll = sheets.page_roll(vote)
    reviews = list(
        db.session.scalars(
            sa.select(Review)
            .where(Review.application_id == application.id, Review.status == ReviewStatus.SUBMITTED)
            .options(selectinload(Review.reviewer))
            .order_by(Review.submitted_at, Review.id)
        )
    )
    ranking = cached_ranking(vote.round)
    row = next((r for r in ranking.rows if r.application_id == application.id), None)
    declared = declarations_for(user.id, [application.id]).get(application.id)
    return render_template(
        "steering/votes/application.html",
        vote=vote,
        item=item,
        application=application,
        reviews=reviews,
        ranking=ranking,
        row=row,
        roll=roll,
        my_seats=roll.seats_of(user.id),
        declared=declared,
        mine=voting.own_votes(vote, user, roll, [application.id]),
        counts=voting.seats_voted(vote, [application.id]),
        is_open=vote.is_open(),
        money=format_money,
        choices=list(Choice),
    )


def _closed_for(vote: Vote):
    """A declaration or ballot from someone who may not sit on ``vote`` now: when the vote
    has closed and they may read it (a sitter whose form arrived late), a redirect to it
    with the message that votes are no longer accepted; else nothing to see (404)."""
    if not vote.is_open() and can(_user(), "votes.read", vote):
        flash(_("The vote has closed: votes are no longer accepted."), "error")
        return redirect(url_for("votes.show", vote_id=vote.id))
    abort(404)


@bp.route("/steering/votes/<int:vote_id>/declare", methods=["POST"])
@login_required
def declare(vote_id: int):
    """Declarations on the whole shortlist (one form), or on one application."""
    vote = _vote(vote_id)
    if not can(_user(), "votes.sit", vote):
        return _closed_for(vote)
    shortlist = voting.item_ids(vote)
    answers = {}
    for application_id in shortlist:
        value = request.form.get(f"conflict-{application_id}")
        if value in ("yes", "no"):
            answers[application_id] = (
                value == "yes",
                request.form.get(f"description-{application_id}"),
            )
    back = request.form.get("back")
    try:
        if len(answers) == 1 and back:
            ((application_id, (conflict, description)),) = answers.items()
            voting.declare(
                vote,
                db.session.get(Application, application_id),
                _user(),
                conflict=conflict,
                description=description,
            )
        else:
            voting.declare_all(vote, _user(), answers)
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(_("Your declarations are recorded."), "success")
    if back and _int(back) in shortlist:
        return redirect(url_for("votes.application", vote_id=vote.id, application_id=int(back)))
    return redirect(url_for("votes.show", vote_id=vote.id))


def _ballot_from(form, shortlist, seat_ids):
    """{(seat_id, application_id): (choice, note)} from ``choice-<seat>-<application>``
    fields; fields naming other seats or applications are refused."""
    ballots = {}
    for key, value in form.items():
        if not key.startswith("choice-") or not value:
            continue
        parts = key.split("-")
        seat_id, application_id = (
            (_int(parts[1]), _int(parts[2]))
            if len(parts) == 3
            else (
                None,
                None,
            )
        )
        if seat_id not in seat_ids or application_id not in shortlist:
            raise DomainError(_("This form names a seat or an application not yours to vote on."))
        ballots[(seat_id, application_id)] = (value, form.get(f"note-{seat_id}-{application_id}"))
    return ballots


@bp.route("/steering/votes/<int:vote_id>/ballot", methods=["POST"])
@login_required
def ballot(vote_id: int):
    """Votes for one application or the whole shortlist, for the seats this person sits for."""
    vote = _vote(vote_id)
    if not can(_user(), "votes.sit", vote):
        return _closed_for(vote)
    user = _user()
    shortlist = set(voting.item_ids(vote))
    seat_ids = {s.id for s in voting.load_roll(vote).seats_of(user.id)}
    back = _int(request.form.get("back"))
    try:
        ballots = _ballot_from(request.form, shortlist, seat_ids)
        if not ballots:
            raise DomainError(_("Choose approve, reject or abstain."))
        changed = voting.cast_many(vote, user=user, ballots=ballots)
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(
            _("Your votes are recorded (%(num)d changed).", num=changed)
            if changed
            else _("Nothing changed."),
            "success",
        )
    if back in shortlist:
        return redirect(url_for("votes.application", vote_id=vote.id, application_id=back))
    return redirect(url_for("votes.show", vote_id=vote.id))


@bp.route("/steering/votes/<int:vote_id>/close", methods=["POST"])
@permission_required("votes.manage")
def close(vote_id: int):
    vote = _vote(vote_id)
    try:
        voting.close(vote, actor=_user(), reason=request.form.get("reason"))
    except DomainError as exc:
        _flash_error(exc)
        return redirect(url_for("votes.show", vote_id=vote.id))
    flash(_("The vote is closed and its result stored."), "success")
    return redirect(url_for("votes.result", vote_id=vote.id))


# -- The result ----------------------------------------------------------------------------


@bp.route("/steering/votes/<int:vote_id>/result")
@login_required
def result(vote_id: int):
    """The closed vote's record: the roll, the recusals, and per application the votes by
    seat, the quorum, the outcome with its rule, and the decision recorded.

    What never changes after closing is read once per worker
    (``sheets.cached_result_sheet``); the decisions and appeals of this page's
    applications are read on every request.
    """
    vote = _vote(vote_id)
    authorize("votes.read_result", vote, hide=True)
    sheet = sheets.cached_result_sheet(vote)
    page = sheets.paged(sheet.items, _page_number(), PER_PAGE)
    page_ids = [i.application_id for i in page.items]
    recorded = {
        row[0]: row
        for row in db.session.execute(
            sa.select(VoteItem.application_id, VoteItem.decision, VoteItem.override_reason).where(
                VoteItem.vote_id == vote.id, VoteItem.application_id.in_(page_ids)
            )
        )
    }
    appeals = {
        a.application_id: a
        for a in db.session.scalars(sa.select(Appeal).where(Appeal.application_id.in_(page_ids)))
    }
    # Each cell's words, translated once for the whole page.
    labels = {choice: str(choice.label) for choice in Choice}
    recused, absent, by_alternate = _("Recused"), _("Did not vote"), _("by the alternate")
    with_alternate = {choice: f"{text} ({by_alternate})" for choice, text in labels.items()}
    rows = []
    for item in page.items:
        cells = [
            (
                cell.seat_name,
                recused
                if cell.recused
                else absent
                if cell.choice is None
                else (with_alternate if cell.by_alternate else labels)[cell.choice],
                cell.note or "",
            )
            for cell in sheet.cells[item.application_id]
        ]
        _app_id, decision, override_reason = recorded.get(item.application_id, (None, None, None))
        rows.append(
            {
                "item": item,
                "cells": cells,
                "decision": decision,
                "override_reason": override_reason,
                "appeal": appeals.get(item.application_id),
            }
        )
    manage = can(current_user, "votes.manage")
    return render_template(
        "steering/votes/result.html",
        vote=vote,
        page=page,
        rows=rows,
        sheet=sheet,
        manage=manage,
        money=_money_once(),
        decisions_choices=decisions.DECISIONS,
        waitlist_head=_waitlist_head(vote) if manage else None,
    )


def _waitlist_head(vote: Vote):
    """What staff may move up next from the round's waitlist, once this vote's result is
    recorded: looked for only when the round has a waitlist (the ranking is three queries)."""
    if not vote.applied_at:
        return None
    waiting = db.session.scalar(
        sa.select(Application.id)
        .where(
            Application.round_id == vote.round_id,
            Application.status == ApplicationStatus.WAITLISTED,
        )
        .limit(1)
    )
    return decisions.waitlist_head(vote.round) if waiting is not None else None


@bp.route("/steering/votes/<int:vote_id>/apply", methods=["POST"])
@permission_required("votes.manage")
def apply(vote_id: int):
    vote = _vote(vote_id)
    shortlist = set(voting.item_ids(vote))
    overrides = {}
    for application_id in shortlist:
        decision = request.form.get(f"decision-{application_id}")
        if decision:
            overrides[application_id] = (decision, request.form.get(f"reason-{application_id}"))
    try:
        decisions.apply_result(vote, actor=_user(), overrides=overrides)
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(_("The decisions are recorded; the applicants are told by email."), "success")
    return redirect(url_for("votes.result", vote_id=vote.id))


@bp.route("/steering/applications/<int:application_id>/move-up", methods=["POST"])
@permission_required("votes.manage")
def move_up(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    try:
        decisions.move_up(application, actor=_user(), reason=request.form.get("reason"))
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(_("The application is approved; the applicant is told by email."), "success")
    vote_id = _int(request.form.get("vote_id"))
    if vote_id and db.session.get(Vote, vote_id) is not None:
        return redirect(url_for("votes.result", vote_id=vote_id))
    return redirect(url_for("applications.show", application_id=application.id))


# -- Appeals -------------------------------------------------------------------------------


@bp.route("/applications/<int:application_id>/appeal", methods=["POST"])
@login_required
def appeal(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    authorize("decisions.read_feedback", application, hide=True)
    try:
        decisions.lodge_appeal(application, actor=_user(), reasons=request.form.get("reasons"))
    except DomainError as exc:
        _flash_error(exc)
    else:
        flash(_("Your appeal is lodged. You will be told of its outcome by email."), "success")
    return redirect(url_for("applications.show", application_id=application.id))


@bp.route("/steering/appeals/<int:appeal_id>/decide", methods=["POST"])
@permission_required("votes.manage")
def decide_appeal(appeal_id: int):
    appeal_row = db.session.get(Appeal, appeal_id)
    if appeal_row is None:
        abort(404)
    outcome = request.form.get("outcome")
    if outcome not in ("upheld", "dismissed"):
        flash(_("Choose upheld or dismissed."), "error")
    else:
        try:
            decisions.decide_appeal(
                appeal_row,
                actor=_user(),
                upheld=outcome == "upheld",
                reasons=request.form.get("reasons"),
            )
        except DomainError as exc:
            _flash_error(exc)
        else:
            flash(_("The appeal's outcome is recorded; the applicant is told."), "success")
    return redirect(url_for("applications.show", application_id=appeal_row.application_id))


@bp.app_template_global()
def decision_feedback(application):
    """For the application page: the decision and feedback, when the viewer may read them."""
    if not can(current_user, "decisions.read_feedback", application):
        return None
    return decisions.feedback_for(application)


def _readable_overrides(applications) -> dict:
    """{application_id: [override, ...]} of ``applications``' (objects or rows with an
    ``id``) decisions that overrode a
    vote's result, keeping those the viewer may read: where they may read the vote's view
    of the application (staff; steering members not recused from it). Never to the
    applicant. One query, and a roll check per override for steering members."""
    by_id = {a.id: a for a in applications}
    out: dict = {}
    if not by_id or not current_user.is_authenticated:
        return out
    for application_id, marks in decisions.overrides_for(list(by_id)).items():
        application = by_id[application_id]
        if not isinstance(application, Application):  # a list's plain row
            application = db.session.get(Application, application_id)
        for mark in marks:
            vote = db.session.get(Vote, mark.vote_id)
            if can(current_user, "votes.read_application", (vote, application)):
                out.setdefault(application_id, []).append(mark)
    return out


@bp.app_template_global()
def decision_overrides(application) -> list:
    """For the application page: its overridden decisions, when the viewer may read them."""
    return _readable_overrides([application]).get(application.id, [])


@bp.app_template_global()
def overridden_in(applications) -> dict:
    """For a list of applications: {application_id: [override, ...]} the viewer may read."""
    return _readable_overrides(applications)


@bp.app_template_global()
def now_utc():
    return utcnow()
