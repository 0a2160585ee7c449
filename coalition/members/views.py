"""The registry's staff pages: directory, member page, create and edit,
status changes, joining applications, personal data and erasure."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from coalition import audit, form_tokens
from coalition.accounts.session import fresh_required
from coalition.countries import Region, country_choices
from coalition.extensions import db
from coalition.inputs import page_number
from coalition.members import operations as ops
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    MemberStatusChange,
    OrgType,
    TransitionError,
)
from coalition.members.queries import MemberFilters, list_page, staff_query
from coalition.members.staff_forms import (
    AtRiskForm,
    DecisionForm,
    MemberForm,
    NewMemberForm,
    StatusForm,
    status_choices,
)
from coalition.policy import authorize, can, permission_required, readable_contacts

bp = Blueprint("members", __name__)

PER_PAGE = 50


def load_member(member_id: int, permission: str) -> Member:
    """The member, if the current user holds ``permission`` on it; 404 otherwise."""
    member = db.session.scalar(
        sa.select(Member)
        .where(Member.id == member_id)
        .options(
            selectinload(Member.contacts).joinedload(MemberContact.user),
            selectinload(Member.status_changes).joinedload(MemberStatusChange.actor),
        )
    )
    if member is None:
        abort(404)
    authorize(permission, member, hide=True)
    return member


@bp.route("/")
@login_required
def home():
    """Staff and steering: the directory. A member contact: their own member(s)."""
    if can(current_user, "members.directory"):
        return directory()
    authorize("members.area")
    return render_template("members/my_members.html", members=ops.members_of_contact(current_user))


def directory():
    filters = MemberFilters.from_args(request.args)
    contacts = readable_contacts(current_user)
    page = list_page(
        staff_query(filters, contacts=contacts),
        page_number(),
        PER_PAGE,
        contacts=contacts,
        single_scan=bool(filters.q),
    )
    pending = db.session.scalar(
        sa.select(sa.func.count()).select_from(Member).where(Member.status == MemberStatus.APPLIED)
    )
    return render_template(
        "members/directory.html",
        page=page,
        filters=filters,
        pending=pending,
        statuses=list(MemberStatus),
        kinds=list(MemberKind),
        types=list(OrgType),
        regions=list(Region),
        focus_areas=list(FocusArea),
        countries=country_choices(),
    )


@bp.route("/<int:member_id>")
@login_required
def show(member_id: int):
    member = load_member(member_id, "members.view")
    status_form = StatusForm(version=member.version)
    status_form.status.choices = status_choices(member)
    return render_template(
        "members/show.html",
        member=member,
        status_form=status_form,
        decision_form=DecisionForm(),
        at_risk_form=AtRiskForm(version=member.version, at_risk="0" if member.at_risk else "1"),
        due_at=ops.confirmation_due_at(member),
    )


@bp.route("/new", methods=["GET", "POST"])
@permission_required("members.manage")
def new():
    form = NewMemberForm()
    if request.method == "GET":
        form.kind.data = MemberKind.ORGANISATION.value
    if form.validate_on_submit():
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()
        member = ops.create_member(
            actor=current_user._get_current_object(),
            values=form.values(),
            focus_areas=form.focus_areas.data or [],
            work_countries=form.work_countries.data or [],
            contacts=form.contact_rows(),
        )
        result = url_for("members.show", member_id=member.id)
        claim.done(result)
        flash(_("%(name)s is added to the register.", name=member.name), "success")
        return redirect(result)
    return render_template("members/edit.html", form=form, member=None)


@bp.route("/<int:member_id>/edit", methods=["GET", "POST"])
@permission_required("members.manage")
def edit(member_id: int):
    member = load_member(member_id, "members.manage")
    form = MemberForm()
    form.version.required = True
    if request.method == "GET":
        form = MemberForm(obj=member)
        form.load(member)
    elif form.validate_on_submit():
        try:
            changes = ops.update_member(
                member,
                actor=current_user._get_current_object(),
                version=form.version.data,
                values=form.values(),
                focus_areas=form.focus_areas.data or [],
                work_countries=form.work_countries.data or [],
                contacts=form.contact_rows(),
            )
        except ops.StaleEdit as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("members/edit.html", form=form, member=member, stale=True), 409
        if changes:
            flash(_("Saved."), "success")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for("members.show", member_id=member.id))
    return render_template("members/edit.html", form=form, member=member)


@bp.route("/<int:member_id>/status", methods=["POST"])
@permission_required("members.manage")
def change_status(member_id: int):
    member = load_member(member_id, "members.manage")
    form = StatusForm()
    form.status.choices = status_choices(member)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("members.show", member_id=member.id))
    try:
        ops.check_version(member, form.version.data)
        ops.change_status(
            member,
            MemberStatus(form.status.data),
            actor=current_user._get_current_object(),
            reason=form.reason.data,
        )
    except (TransitionError, ops.MemberError) as exc:
        flash(exc.message, "error")
    else:
        flash(_("Status changed to %(status)s.", status=member.status.label.lower()), "success")
    return redirect(url_for("members.show", member_id=member.id))


@bp.route("/applications")
@permission_required("members.manage")
def applications():
    page = db.paginate(
        sa.select(Member)
        .where(Member.status == MemberStatus.APPLIED)
        .options(selectinload(Member.contacts), selectinload(Member.focus_rows))
        .order_by(Member.created_at, Member.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template("members/applications.html", page=page, form=DecisionForm())


@bp.route("/<int:member_id>/decide", methods=["POST"])
@permission_required("members.manage")
def decide(member_id: int):
    member = load_member(member_id, "members.manage")
    form = DecisionForm()
    if not form.validate_on_submit():
        return render_template(
            "members/show.html",
            member=member,
            status_form=None,
            decision_form=form,
            due_at=ops.confirmation_due_at(member),
        ), 400
    try:
        ops.decide_application(
            member,
            approve=form.decision.data == "approve",
            actor=current_user._get_current_object(),
            reason=form.reason.data,
        )
    except TransitionError as exc:
        flash(exc.message, "error")
        return redirect(url_for("members.show", member_id=member.id))
    flash(
        _("%(name)s is approved and told by email.", name=member.name)
        if member.status == MemberStatus.ACTIVE
        else _("%(name)s is rejected and told by email.", name=member.name),
        "success",
    )
    return redirect(url_for("members.applications"))


@bp.route("/<int:member_id>/personal-data.json", methods=["POST"])
@permission_required("members.manage")
@fresh_required
def personal_data(member_id: int):
    # A POST, as every export of personal data: it writes an audit row, which a
    # GET must not (a link from another site could write it), and CSRFProtect
    # has checked the token.
    member = load_member(member_id, "members.manage")
    audit.record("member.personal_data_exported", member)
    body = json.dumps(ops.personal_data(member), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="member-{member.id}.json"'},
    )


@bp.route("/<int:member_id>/at-risk", methods=["POST"])
@permission_required("members.manage")
@fresh_required
def set_at_risk(member_id: int):
    """Set or lift the at-risk flag: on its own, behind a fresh sign-in (S11).

    Lifting it can put a person in the public directory, so it is not one box
    among many in the edit form.
    """
    member = load_member(member_id, "members.manage")
    form = AtRiskForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        ops.check_version(member, form.version.data)
    except ops.StaleEdit as exc:
        flash(exc.message, "error")
        return redirect(url_for("members.show", member_id=member.id))
    at_risk = form.at_risk.data == "1"
    if ops.set_at_risk(member, at_risk=at_risk, actor=current_user._get_current_object()):
        flash(
            _("%(name)s is marked at risk.", name=member.name)
            if at_risk
            else _("%(name)s is no longer marked at risk.", name=member.name),
            "success",
        )
    return redirect(url_for("members.show", member_id=member.id))


@bp.route("/<int:member_id>/erase", methods=["POST"])
@permission_required("members.manage")
@fresh_required
def erase(member_id: int):
    # CSRFProtect has checked the token of this POST before the view runs.
    member = load_member(member_id, "members.manage")
    try:
        ops.erase_member(member, actor=current_user._get_current_object())
    except ops.MemberError as exc:
        flash(exc.message, "error")
    else:
        flash(_("The expert's personal data is erased. The figures keep counting them."), "success")
    return redirect(url_for("members.show", member_id=member.id))


@bp.route("/<int:member_id>/contacts/<int:contact_id>/erase", methods=["POST"])
@permission_required("members.manage")
@fresh_required
def erase_contact(member_id: int, contact_id: int):
    member = load_member(member_id, "members.manage")
    contact = next((c for c in member.contacts if c.id == contact_id), None)
    if contact is None:
        abort(404)
    ops.erase_contact(contact, actor=current_user._get_current_object())
    flash(_("The contact's personal data is erased."), "success")
    return redirect(url_for("members.show", member_id=member.id))
