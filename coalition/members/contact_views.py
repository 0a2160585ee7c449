"""A member's own contacts: edit the member's public profile and contacts,
confirm the membership each year, and give or withdraw consent to the public
directory (routes on the members blueprint).

Staff may use these pages too. Anyone else, another member's contact
included, is told the page does not exist (S13).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from coalition.accounts.forms import ConfirmForm
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.forms import (
    CONSENT_WORDING,
    ProfileForm,
    PublicConsentForm,
)
from coalition.members.models import Member, MemberContact, MemberStatus
from coalition.members.views import bp
from coalition.policy import authorize, can

# A membership can be confirmed while it runs, or to bring a lapsed one back.
CONFIRMABLE = frozenset({MemberStatus.ACTIVE, MemberStatus.LAPSED})


def _member_for_contact(member_id: int) -> Member:
    """The member, if the signed-in person may edit its profile; 404 otherwise."""
    member = db.session.get(Member, member_id, options=[selectinload(Member.contacts)])
    authorize("members.edit_profile", member, hide=True)
    if member is None:
        abort(404)
    return member


def _own_contact(member: Member) -> MemberContact | None:
    """The contact row that gives the signed-in person their access to this member."""
    for contact in member.contacts:
        if contact.user_id is not None and contact.user_id == current_user.id:
            return contact
    return None


def _keeps_own_contact(form: ProfileForm, member: Member) -> bool:
    """A contact cannot drop their own row (and so their access) from this form.

    The error goes beside the row, and nothing is saved: they are told rather
    than locked out. Staff hand a member over to someone else.
    """
    own = _own_contact(member)
    if own is None:
        return True
    row = form.row_of_contact(own.id)
    message = _(
        "This is you: removing yourself would end your access to this profile. "
        "Ask the convenor staff to hand the profile over to someone else."
    )
    if row is None:
        form.contacts.errors = [*form.contacts.errors, message]
        return False
    if not row.kept:
        row.remove.errors = [*row.remove.errors, message]
        return False
    return True


def _render_profile(
    member: Member,
    form: ProfileForm,
    *,
    stale: str | None = None,
    problem: str | None = None,
    status: int = 200,
):
    due = ops.confirmation_due_at(member)
    return (
        render_template(
            "members/profile.html",
            member=member,
            form=form,
            stale=stale,
            problem=problem,
            own_contact=_own_contact(member),
            confirm_form=ConfirmForm(),
            can_confirm=member.status in CONFIRMABLE,
            confirmation_due_at=due,
            confirmation_overdue=due is not None and due < utcnow(),
            consent_form=PublicConsentForm.for_member(member),
            consent_wording=CONSENT_WORDING,
        ),
        status,
    )


@bp.route("/<int:member_id>/profile", methods=["GET", "POST"])
def profile(member_id: int):
    member = _member_for_contact(member_id)
    staff = can(current_user, "members.manage", member)
    if request.method == "GET":
        return _render_profile(member, ProfileForm.for_member(member))

    form = ProfileForm()
    if not form.validate_on_submit() or not (staff or _keeps_own_contact(form, member)):
        return _render_profile(member, form)
    try:
        changes = ops.update_member(
            member,
            actor=current_user._get_current_object(),
            version=form.version.data,
            values=form.profile_values(member),
            focus_areas=form.focus_areas.data or [],
            work_countries=form.work_countries.data or [],
            contacts=form.contact_rows(),
            by_contact=not staff,
        )
    except ops.StaleEdit as exc:
        # What they typed stays in the form; saving again overwrites knowingly.
        form.version.data = str(member.version)
        return _render_profile(member, form, stale=exc.message, status=409)
    except ops.MemberError as exc:
        target = getattr(form, exc.field, None) if exc.field else None
        if target is None:
            return _render_profile(member, form, problem=exc.message, status=422)
        target.errors = [*target.errors, exc.message]
        return _render_profile(member, form, status=422)
    if changes:
        flash(_("The profile is saved. The convenor staff have been told."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return redirect(url_for("members.profile", member_id=member.id))


@bp.route("/<int:member_id>/confirm", methods=["POST"])
def confirm_membership(member_id: int):
    member = _member_for_contact(member_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if member.status not in CONFIRMABLE:
        flash(
            _(
                "A membership that is %(status)s cannot be confirmed.",
                status=member.status.label.lower(),
            ),
            "error",
        )
    else:
        ops.confirm_membership(member, actor=current_user._get_current_object())
        due = ops.confirmation_due_at(member)
        flash(
            _(
                "Thank you: the membership is confirmed. The next confirmation is due by %(date)s.",
                date=format_date(due, "long"),
            ),
            "success",
        )
    return redirect(url_for("members.profile", member_id=member.id))


@bp.route("/<int:member_id>/consent", methods=["POST"])
def public_consent(member_id: int):
    """Give or withdraw consent to the public directory: one button, at once."""
    member = _member_for_contact(member_id)
    staff = can(current_user, "members.manage", member)
    form = PublicConsentForm()
    if not form.validate_on_submit():
        abort(400)
    changes = ops.set_public_consent(
        member,
        actor=current_user._get_current_object(),
        consent=form.consent,
        wording=str(CONSENT_WORDING),
        by_contact=not staff,
    )
    if not changes:
        flash(_("Nothing was changed."), "info")
    elif form.consent:
        flash(
            _("Thank you: your consent to be listed in the public directory is recorded."),
            "success",
        )
    else:
        flash(
            _("Your consent is withdrawn: the public directory does not list you any more."),
            "success",
        )
    return redirect(url_for("members.profile", member_id=member.id))
