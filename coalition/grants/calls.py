"""The public calls for proposals: open rounds, and each published round's page.

No sign-in needed. A draft round does not exist for the public (404).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy.orm import lazyload

from coalition.countries import AFRICAN_COUNTRIES, country_name, fold
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.applications import drafts_of
from coalition.grants.markdown import render_markdown
from coalition.grants.models import Fund, Round, RoundPhase, RoundStatus
from coalition.grants.money import format_money
from coalition.grants.views import open_rounds_query

calls_bp = Blueprint("calls", __name__)

# Time of day to the minute: "15 March 2027, 23:59" (then the zone, by local_time).
CALL_TIME = "d MMMM y, HH:mm"


def eligibility(fund: Fund) -> dict:
    """Who may apply, for reading: every African country at once, or the list by name."""
    codes = fund.eligible_countries
    return {
        "all_africa": bool(codes) and set(codes) >= set(AFRICAN_COUNTRIES),
        "names": sorted((country_name(code) for code in codes), key=fold),
    }


@calls_bp.route("/calls")
def index():
    rounds = db.session.scalars(open_rounds_query(utcnow()).options(lazyload(Round.criteria))).all()
    return render_template(
        "grants/calls.html",
        rounds=rounds,
        eligibility=eligibility,
        money=format_money,
        call_time=CALL_TIME,
    )


@calls_bp.route("/calls/<int:round_id>")
def show(round_id: int):
    round_ = db.session.scalar(
        sa.select(Round)
        .where(Round.id == round_id, Round.phase != RoundPhase.DRAFT)
        .options(lazyload(Round.criteria))
    )
    if round_ is None:
        abort(404)
    status = round_.status_at(utcnow())
    drafts = []
    if status == RoundStatus.OPEN and current_user.is_authenticated:
        drafts = drafts_of(current_user, round_)
    return render_template(
        "grants/call.html",
        round=round_,
        drafts=drafts,
        status=status,
        statuses=RoundStatus,
        eligibility=eligibility(round_.fund),
        description=render_markdown(round_.description),
        money=format_money,
        call_time=CALL_TIME,
    )
