"""Convenor pages: people and their roles, invitations, and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from coalition import form_tokens
from coalition.accounts import operations as ops
from coalition.accounts.forms import ConfirmForm, InviteForm, RolesForm
from coalition.accounts.models import Role, User, UserRole
from coalition.accounts.session import fresh_required
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.inputs import page_number
from coalition.policy import permission_required

bp = Blueprint("admin", __name__)

PER_PAGE = 50
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/")
@permission_required("admin.users")
def users():
    q = (request.args.get("q") or "").strip()[:200]
    role = request.args.get("role") or ""
    status = request.args.get("status") or ""
    query = sa.select(User)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(sa.or_(sa.func.lower(User.name).like(like), User.email.like(like)))
    if role in {r.value for r in Role}:
        query = query.where(User.id.in_(sa.select(UserRole.user_id).where(UserRole.role == role)))
    if status == "active":
        query = query.where(User.active.is_(True))
    elif status == "inactive":
        query = query.where(User.active.is_(False))
    elif status == "invited":
        query = query.where(User.password_hash.is_(None))
    page = db.paginate(
        query.order_by(sa.func.lower(User.name), User.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "admin/users.html", page=page, q=q, role=role, status=status, roles=list(Role)
    )


@bp.route("/users/invite", methods=["GET", "POST"])
@permission_required("admin.users")
@fresh_required
def invite():
    form = InviteForm()
    if request.method == "GET":
        # "Invite a reviewer" from a round's reviewer pool asks for the reviewer role.
        wanted = request.args.get("role")
        form.roles.data = [wanted if wanted in {Role.REVIEWER.value} else Role.APPLICANT.value]
    if form.validate_on_submit():
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()
        try:
            user = ops.invite(
                inviter=current_user._get_current_object(),
                email=form.email.data,
                name=form.name.data,
                roles=[Role(r) for r in form.roles.data],
                language=form.language.data,
            )
        except ops.AccountError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            result = url_for("admin.user", user_id=user.id)
            claim.done(result)
            flash(_("Invitation sent to %(email)s.", email=user.email), "success")
            return redirect(result)
    return render_template("admin/invite.html", form=form)


@bp.route("/users/<int:user_id>")
@permission_required("admin.users")
def user(user_id: int):
    person = _get_user(user_id)
    roles_form = RolesForm(roles=[r.value for r in person.roles])
    recent = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.object_type == "User", AuditEntry.object_id == str(person.id))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "admin/user.html",
        person=person,
        roles_form=roles_form,
        form=ConfirmForm(),
        recent=recent,
    )


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@permission_required("admin.users")
@fresh_required
def set_roles(user_id: int):
    person = _get_user(user_id)
    form = RolesForm()
    if form.validate_on_submit():
        try:
            ops.set_roles(
                current_user._get_current_object(), person, [Role(r) for r in form.roles.data]
            )
        except ops.AccountError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Roles saved. %(name)s must sign in again.", name=person.name), "success")
    return redirect(url_for("admin.user", user_id=person.id))


def _confirmed_action(user_id: int, action, message: str):
    person = _get_user(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            action(current_user._get_current_object(), person)
        except ops.AccountError as exc:
            flash(exc.message, "error")
        else:
            flash(message % {"name": person.name}, "success")
    return redirect(url_for("admin.user", user_id=person.id))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@permission_required("admin.users")
@fresh_required
def deactivate(user_id: int):
    return _confirmed_action(
        user_id,
        lambda actor, person: ops.set_active(actor, person, False),
        _("%(name)s is deactivated and signed out everywhere."),
    )


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@permission_required("admin.users")
@fresh_required
def activate(user_id: int):
    return _confirmed_action(
        user_id,
        lambda actor, person: ops.set_active(actor, person, True),
        _("%(name)s can sign in again."),
    )


@bp.route("/users/<int:user_id>/reset-two-factor", methods=["POST"])
@permission_required("admin.users")
@fresh_required
def reset_two_factor(user_id: int):
    return _confirmed_action(
        user_id,
        ops.reset_two_factor,
        _("The second factor of %(name)s is reset. They set a new one at their next sign-in."),
    )


@bp.route("/users/<int:user_id>/resend-invitation", methods=["POST"])
@permission_required("admin.users")
def resend_invitation(user_id: int):
    return _confirmed_action(
        user_id, ops.resend_invitation, _("A new invitation is on its way to %(name)s.")
    )


def _parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return None  # 9999-12-31 plus a day overflows; no audit row is that old or new
    return datetime.combine(day, time.min, UTC)


@bp.route("/audit/")
@permission_required("admin.audit")
def audit_log():
    action = (request.args.get("action") or "").strip()[:64]
    object_type = (request.args.get("object_type") or "").strip()[:64]
    object_id = (request.args.get("object_id") or "").strip()[:64]
    actor = (request.args.get("actor") or "").strip()[:254]
    day_from = _parse_day(request.args.get("from"))
    day_to = _parse_day(request.args.get("to"))
    query = sa.select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if actor:
        query = query.where(
            AuditEntry.actor_id.in_(
                sa.select(User.id).where(User.email.like(f"%{actor.lower()}%", escape="\\"))
            )
        )
    if day_from:
        query = query.where(AuditEntry.created_at >= day_from)
    if day_to:
        query = query.where(AuditEntry.created_at < day_to + timedelta(days=1))
    page = db.paginate(
        query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    object_types = db.session.scalars(
        sa.select(AuditEntry.object_type).where(AuditEntry.object_type.is_not(None)).distinct()
    ).all()
    return render_template(
        "admin/audit.html",
        page=page,
        filters={
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "actor": actor,
            "from": request.args.get("from") or "",
            "to": request.args.get("to") or "",
        },
        object_types=sorted(object_types),
    )
