"""The grant fund area."""

from __future__ import annotations

from flask import Blueprint, render_template

from coalition.policy import permission_required

bp = Blueprint("grants", __name__)


@bp.route("/")
@permission_required("grants.area")
def home():
    return render_template("grants/home.html")
