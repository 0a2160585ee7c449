"""The applicant's side: the dashboard of their applications and each one's page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import applications as ops
from coalition.grants import files
from coalition.grants.application_forms import (
    ApplicationForm,
    AttachmentForm,
    WithdrawForm,
    fund_countries,
)
from coalition.grants.applications import submission_problems
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    AttachmentKind,
    DomainError,
    Round,
    RoundPhase,
)
from coalition.grants.round_applications import AWAITING_SCREENING, screening_checks
from coalition.policy import authorize, can

bp = Blueprint("applications", __name__)


def load_application(application_id: int, permission: str) -> Application:
    """The application if the current user holds ``permission`` on it; 404 otherwise."""
    application = db.session.scalar(
        sa.select(Application)
        .where(Application.id == application_id)
        .options(
            selectinload(Application.budget_lines),
            selectinload(Application.attachments),
            selectinload(Application.status_changes).joinedload(ApplicationStatusChange.actor),
        )
    )
    if application is None:
        abort(404)
    authorize(permission, application, hide=True)
    return application


NEXT_STEP = {
    ApplicationStatus.DRAFT: "finish",
    ApplicationStatus.SUBMITTED: "wait",
    ApplicationStatus.SCREENING: "wait",
    ApplicationStatus.ELIGIBLE: "wait",
    ApplicationStatus.IN_VOTE: "wait",
    ApplicationStatus.APPROVED: "decision",
    ApplicationStatus.WAITLISTED: "decision",
    ApplicationStatus.REJECTED: "decision",
    ApplicationStatus.INELIGIBLE: "decision",
    ApplicationStatus.AWARDED: "report",
    ApplicationStatus.REPORTING: "report",
    ApplicationStatus.COMPLETED: "none",
    ApplicationStatus.WITHDRAWN: "none",
}


@bp.route("/")
@login_required
def dashboard():
    """Every application of the signed-in person, with the next thing to do."""
    applications = db.session.scalars(
        sa.select(Application)
        .where(Application.applicant_id == current_user.id)
        .order_by(Application.created_at.desc(), Application.id.desc())
    ).all()
    return render_template(
        "grants/application_dashboard.html", applications=applications, next_step=NEXT_STEP
    )


@bp.route("/<int:application_id>")
@login_required
def show(application_id: int):
    application = load_application(application_id, "grants.view_application")
    problems = submission_problems(application) if application.is_draft else []
    screening = None  # for staff, while the application waits: the automatic checks
    if application.status in AWAITING_SCREENING and can(current_user, "grants.manage"):
        screening = screening_checks(application)
    from coalition.grants.award_models import Award

    award = db.session.scalar(sa.select(Award).where(Award.application_id == application.id))
    return render_template(
        "grants/application_show.html",
        application=application,
        problems=problems,
        screening=screening,
        award=award,
        today=utcnow().date(),
    )


def _member_choices(user) -> list[tuple[str, str]]:
    from coalition.members.operations import members_of_contact

    return [("", _("A new organisation (below)"))] + [
        (str(m.id), m.name) for m in members_of_contact(user)
    ]


@bp.route("/start/<int:round_id>", methods=["POST"])
@login_required
def start(round_id: int):
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.phase == RoundPhase.DRAFT:
        abort(404)
    try:
        application = ops.start(round_, current_user._get_current_object())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("calls.show", round_id=round_id))
    return redirect(url_for("applications.edit", application_id=application.id))


@bp.route("/<int:application_id>/edit", methods=["GET", "POST"])
@login_required
def edit(application_id: int):
    """The whole form: save a draft with anything missing, or submit it."""
    application = load_application(application_id, "grants.view_application")
    if application.applicant_id == current_user.id and not can(
        current_user, "grants.edit_application", application
    ):
        # Their own, but past the draft: say why, and show what they sent.
        flash(_no_longer_editable(application), "info")
        return redirect(url_for("applications.show", application_id=application.id))
    authorize("grants.edit_application", application, hide=True)
    form = _application_form(application)
    problems: list = []
    if request.method == "GET":
        form = _application_form(application, obj=application)
        form.load(application)
    elif form.validate_on_submit():
        try:
            _save(application, form)
            if "submit" in request.form:
                problems = ops.submission_problems(application)
                if not problems:
                    ops.submit(application, actor=current_user._get_current_object())
                    flash(_("Your application is submitted. A receipt is on its way."), "success")
                    return redirect(url_for("applications.show", application_id=application.id))
                db.session.flush()
            else:
                flash(_("Draft saved."), "success")
                return redirect(url_for("applications.edit", application_id=application.id))
        except DomainError as exc:
            return _refused(application, form, exc, problems)
    return _edit_page(application, form, problems)


def _application_form(application, **kwargs) -> ApplicationForm:
    form = ApplicationForm(**kwargs)
    form.member_id.choices = _member_choices(current_user)
    form.countries.choices = fund_countries(application.round.fund)
    return form


def _save(application, form) -> None:
    ops.save_draft(
        application,
        actor=current_user._get_current_object(),
        version=int(form.version.data or 0),
        values=form.values(),
        budget_lines=form.budget_rows(),
        countries=form.countries.data or [],
    )


def _refused(application, form, exc: DomainError, problems):
    """The form again, with what was typed and the refusal beside its field."""
    db.session.rollback()
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None and exc.field != "version":
        target.errors = [*target.errors, exc.message]
    else:
        flash(exc.message, "error")
    return _edit_page(application, form, problems), 409 if exc.field == "version" else 200


def _save_first(application):
    """Upload and Remove send the whole form with them: save it first, so that nothing
    typed is lost. None once saved; otherwise the form again, with its errors, and
    the attachments left as they were."""
    if "version" not in request.form:
        return None  # the attachment alone was sent: there is nothing typed to keep
    form = _application_form(application)
    if not form.validate_on_submit():
        flash(_("Nothing was uploaded or removed: correct the form first."), "error")
        return _edit_page(application, form, [])
    try:
        _save(application, form)
    except DomainError as exc:
        return _refused(application, form, exc, [])
    flash(_("Draft saved."), "success")
    return None


def _no_longer_editable(application: Application) -> str:
    if application.submitted_at is not None:
        return _(
            "This application was submitted on %(when)s, so it can no longer be edited. "
            "Here it is as you sent it.",
            when=format_date(application.submitted_at, "long"),
        )
    return _("This application is no longer a draft, so it can no longer be edited.")


def _edit_page(application, form, problems):
    return render_template(
        "grants/application_edit.html",
        application=application,
        form=form,
        problems=problems,
        checks=problems or submission_problems(application),
        attachment_form=AttachmentForm(),
    )


@bp.route("/<int:application_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(application_id: int):
    application = load_application(application_id, "grants.view_application")
    authorize("grants.withdraw_application", application, hide=True)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            ops.withdraw(
                application, actor=current_user._get_current_object(), reason=form.reason.data
            )
        except DomainError as exc:
            form.reason.errors = [*form.reason.errors, exc.message]
        else:
            flash(_("Your application is withdrawn."), "success")
            return redirect(url_for("applications.show", application_id=application.id))
    return render_template("grants/application_withdraw.html", application=application, form=form)


@bp.route("/<int:application_id>/attachments", methods=["POST"])
@login_required
def upload(application_id: int):
    application = load_application(application_id, "grants.view_application")
    authorize("grants.edit_application", application, hide=True)
    unsaved = _save_first(application)
    if unsaved is not None:
        return unsaved
    form = AttachmentForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("applications.edit", application_id=application.id))
    try:
        ops.check_editable(application)
        upload = form.file.data
        limit = current_app.config["ATTACHMENT_MAX_BYTES"]
        data = upload.stream.read(limit + 1)
        stored = files.store(
            data,
            original_name=upload.filename or "",
            current_total=sum(a.size for a in application.attachments),
        )
    except (DomainError, files.UploadRefused) as exc:
        flash(exc.message, "error")
        return redirect(url_for("applications.edit", application_id=application.id))
    ops.add_attachment(
        application,
        stored,
        kind=AttachmentKind(form.kind.data),
        actor=current_user._get_current_object(),
    )
    flash(_("%(name)s is attached.", name=stored.original_name), "success")
    return redirect(url_for("applications.edit", application_id=application.id) + "#attachments")


@bp.route("/<int:application_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
def delete_attachment(application_id: int, attachment_id: int):
    application = load_application(application_id, "grants.view_application")
    authorize("grants.edit_application", application, hide=True)
    attachment = next((a for a in application.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    unsaved = _save_first(application)
    if unsaved is not None:
        return unsaved
    try:
        ops.remove_attachment(application, attachment, actor=current_user._get_current_object())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("%(name)s is removed.", name=attachment.original_name), "success")
    return redirect(url_for("applications.edit", application_id=application.id) + "#attachments")


@bp.route("/<int:application_id>/attachments/<int:attachment_id>")
@login_required
def download(application_id: int, attachment_id: int):
    application = load_application(application_id, "grants.view_application")
    attachment = next((a for a in application.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = files.download_response(attachment)
    # After the file is found: a missing file answers 404 and records nothing.
    ops.record_download(application, attachment, reader=current_user._get_current_object())
    return response
