"""The steering group's area: dashboard, votes and reports."""

from __future__ import annotations

from flask import Blueprint, render_template

from coalition.policy import permission_required

bp = Blueprint("steering", __name__)


@bp.route("/")
@permission_required("steering.area")
def home():
    return render_template("steering/home.html")
