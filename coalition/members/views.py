"""The member registry area."""

from __future__ import annotations

from flask import Blueprint, render_template

from coalition.policy import permission_required

bp = Blueprint("members", __name__)


@bp.route("/")
@permission_required("members.area")
def home():
    return render_template("members/home.html")
