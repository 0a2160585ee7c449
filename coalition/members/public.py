"""The public side of the registry: the directory and the joining form.

Who the public may see is decided in one place,
``coalition.members.queries.public_condition``; this module only ever reads
members through it, and shows only the public fields.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for

from coalition import form_tokens
from coalition.accounts import throttle
from coalition.countries import Region, country_name
from coalition.extensions import db, limiter
from coalition.i18n import current_language
from coalition.inputs import page_number
from coalition.logs import event
from coalition.mail import queue_email
from coalition.members import operations as ops
from coalition.members.forms import CONSENT_WORDING, JoinForm
from coalition.members.models import FocusArea, Member, MemberKind, MemberStatus, OrgType
from coalition.members.queries import (
    SORTS,
    MemberFilters,
    list_page,
    public_condition,
    public_query,
)

public_bp = Blueprint("public", __name__)
log = logging.getLogger("coalition.members")

PER_PAGE = 50
# Past this, a page number is hostile or a typo: it is read as the last page.
MAX_PAGE = 10_000
PUBLIC_SORTS = ("name", "-name", "country")


def _forms_limit() -> str:
    return current_app.config["RATELIMIT_FORMS_PER_IP"]


def public_website(url: str | None) -> str | None:
    """The website as a link target, only when it is a plain http(s) address."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() in ("http", "https") and parts.hostname:
        return url.strip()
    return None


# -- The public directory ---------------------------------------------------------


@public_bp.route("/directory")
def directory():
    filters = MemberFilters.from_args(request.args)
    if filters.sort not in PUBLIC_SORTS:
        filters.sort = "name"
    query = public_query(filters)
    page = list_page(
        query,
        page_number(maximum=MAX_PAGE),
        PER_PAGE,
        clamp=True,
        single_scan=bool(filters.q),
    )
    # Only the countries that public members are based in (no counts).
    countries = sorted(
        db.session.scalars(sa.select(Member.country).where(public_condition()).distinct()),
        key=country_name,
    )
    return render_template(
        "members/public_directory.html",
        page=page,
        filters=filters,
        countries=[(code, country_name(code)) for code in countries],
        kinds=list(MemberKind),
        org_types=list(OrgType),
        regions=list(Region),
        focus_areas=list(FocusArea),
        sorts=[s for s in PUBLIC_SORTS if s in SORTS],
        website_href=public_website,
    )


# -- Joining --------------------------------------------------------------------------


def _languages_first(languages: list[str], first: str) -> list[str]:
    """The languages ticked, the one the form was filled in first (it is the one we write in)."""
    return sorted(languages, key=lambda code: code != first)


def _email_language(languages: list[str]) -> str:
    shown_in = current_language()
    if not languages or shown_in in languages:
        return shown_in if shown_in in current_app.config["LANGUAGES"] else "en"
    first = languages[0]
    return first if first in current_app.config["LANGUAGES"] else "en"


@public_bp.route("/join", methods=["GET", "POST"])
@limiter.limit(_forms_limit, methods=["POST"])
def join():
    form = JoinForm()
    if request.method == "POST" and form.website_confirm.data:
        # A bot filled in the hidden field: answer as if it worked, keep nothing.
        event(log, "joining form: honeypot filled in", level=logging.WARNING)
        return redirect(url_for("public.join_thanks"))
    if form.validate_on_submit():
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()
        values = form.member_values(consent_wording=str(CONSENT_WORDING))
        values["languages"] = _languages_first(values["languages"], current_language())
        member = ops.create_member(
            actor=None,
            values=values,
            focus_areas=form.focus_areas.data or [],
            work_countries=form.work_countries.data or [],
            contacts=[form.contact_row()],
            status=MemberStatus.APPLIED,
            action="member.applied",
        )
        contact = member.primary_contact
        # Anyone may type any address here: the receipt counts against the
        # address's limit (RATELIMIT_EMAIL_PER_ADDRESS), and names nobody.
        if throttle.email_allowed(contact.email):
            queue_email(
                key=f"member_applied:{member.id}",
                recipient=contact.email,
                template="membership_application_received",
                language=_email_language(values["languages"]),
            )
        else:
            event(log, "joining receipt not sent: limit for the address", level=logging.WARNING)
        event(log, "joining application received", member_id=member.id)
        claim.done(url_for("public.join_thanks"))
        return redirect(url_for("public.join_thanks"))
    return render_template("members/join.html", form=form), 200


@public_bp.route("/join/thanks")
def join_thanks():
    return render_template("members/join_thanks.html")
