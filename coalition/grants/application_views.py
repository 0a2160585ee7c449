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

from coalition import form_tokens
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


def load_application(application_id: int, permission: str, *, lock: bool = False) -> Application:
    """The application if the current user holds ``permission`` on it; 404 otherwise.

    ``lock`` holds its row until the request ends (``SELECT … FOR UPDATE``):
    every POST that changes an application takes it first, so that parallel
    posts (a double click, two tabs) act one after the other on PostgreSQL,
    each seeing what the one before did. SQLite serialises them already.
    """
    query = sa.select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update(of=Application)
    application = db.session.scalar(
        query.options(
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
    claim = form_tokens.claim(request.form.get(form_tokens.FIELD_NAME))
    if claim.repeated:
        return claim.earlier_result()
    try:
        application = ops.start(round_, current_user._get_current_object())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("calls.show", round_id=round_id))
    result = url_for("applications.edit", application_id=application.id)
    claim.done(result)
    return redirect(result)


def _already_submitted(application: Application):
    """Its applicant, on a form of an application that has left the draft stage
    (submitted meanwhile, from another tab or by a double click), is shown the
    application and told so; anyone else gets None (and then a 404)."""
    if application.is_draft or application.applicant_id != current_user.id:
        return None
    flash(_no_longer_editable(application), "info")
    return redirect(url_for("applications.show", application_id=application.id))


@bp.route("/<int:application_id>/edit", methods=["GET", "POST"])
@login_required
def edit(application_id: int):
    """The whole form: save a draft with anything missing, or submit it."""
    application = load_application(
        application_id, "grants.view_application", lock=request.method == "POST"
    )
    if (shown := _already_submitted(application)) is not None:
        return shown
    authorize("grants.edit_application", application, hide=True)
    if request.method == "GET":
        try:
            ops.check_editable(application)
        except DomainError as exc:
            # Nothing typed here could be saved: show the draft as it stands, and why.
            flash(exc.message, "info")
            return redirect(url_for("applications.show", application_id=application.id))
        form = _application_form(application, obj=application)
        form.load(application)
        return _edit_page(application, form, [])
    form = _application_form(application)
    problems: list = []
    if form.validate_on_submit():
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
        version=form.version.data,
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
            "This application was already submitted, on %(when)s: it can no longer be edited. "
            "Here it is as you sent it.",
            when=format_date(application.submitted_at, "long"),
        )
    return _("This application is no longer a draft, so it can no longer be edited.")


def _edit_page(application, form, problems, attachment_form=None):
    return render_template(
        "grants/application_edit.html",
        application=application,
        form=form,
        problems=problems,
        checks=problems or submission_problems(application),
        attachment_form=attachment_form or AttachmentForm(formdata=None),
    )


def _upload_refused(application, attachment_form, message=None):
    """The application's page again, the upload's refusal beside the file field."""
    if message:
        attachment_form.file.errors = [*attachment_form.file.errors, message]
    form = ApplicationForm(formdata=None, obj=application)
    form.member_id.choices = _member_choices(current_user)
    form.load(application)
    return _edit_page(application, form, [], attachment_form)


@bp.route("/<int:application_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(application_id: int):
    application = load_application(
        application_id, "grants.view_application", lock=request.method == "POST"
    )
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
    """Keep an attachment, within the limits of its application and of its applicant.

    A refusal is shown beside the file field, on the application's page. The
    application's row and the applicant's are locked before the totals are
    read (``ops.attachment_room``), so parallel uploads cannot all pass them.
    """
    application = load_application(application_id, "grants.view_application", lock=True)
    if (shown := _already_submitted(application)) is not None:
        return shown
    authorize("grants.edit_application", application, hide=True)
    unsaved = _save_first(application)
    if unsaved is not None:
        return unsaved
    form = AttachmentForm()
    if not form.validate_on_submit():
        return _upload_refused(application, form)
    claim = form_tokens.claim(form.once.data)
    if claim.repeated:
        return claim.earlier_result()
    try:
        upload = form.file.data
        limit = current_app.config["ATTACHMENT_MAX_BYTES"]
        data = upload.stream.read(limit + 1)
        room = ops.attachment_room(application, current_user._get_current_object(), len(data))
        stored = files.store(
            data, original_name=upload.filename or "", current_total=room.application_total
        )
    except (DomainError, files.UploadRefused) as exc:
        return _upload_refused(application, form, exc.message)
    ops.add_attachment(
        application,
        stored,
        kind=AttachmentKind(form.kind.data),
        actor=current_user._get_current_object(),
    )
    result = url_for("applications.edit", application_id=application.id) + "#attachments"
    claim.done(result)
    flash(_("%(name)s is attached.", name=stored.original_name), "success")
    return redirect(result)


@bp.route("/<int:application_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
def delete_attachment(application_id: int, attachment_id: int):
    application = load_application(application_id, "grants.view_application", lock=True)
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
