"""The reports pages: the list and the form, a report's page (progress, then the
download), the download itself and deletion. Steering members and staff only;
each report is checked against its own access rule (``reports.read``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, DateField
from wtforms.validators import InputRequired

from coalition import audit
from coalition.config import LANGUAGES
from coalition.db import utcnow
from coalition.extensions import db
from coalition.fields import SelectField
from coalition.i18n import current_language, select_timezone
from coalition.inputs import bounded_int
from coalition.policy import authorize, can, permission_required
from coalition.steering.reports import operations, subjects
from coalition.steering.reports.kinds import ReportRequest, get_kind, kind_names
from coalition.steering.reports.models import GeneratedReport
from coalition.steering.reports.rendering import ReportError
from coalition.steering.reports.round_report import application_label

bp = Blueprint("reports", __name__)

REFRESH_SECONDS = 3
LISTED_PER_KIND = 50


class ReportForm(FlaskForm):
    kind = SelectField(_l("Report"), choices=[])
    start = DateField(_l("First day"), validators=[InputRequired(_l("Give the first day."))])
    end = DateField(_l("Last day"), validators=[InputRequired(_l("Give the last day."))])
    # Not limited to the list: an unknown language falls back to English, and says so.
    language = SelectField(_l("Language of the report"), choices=[], validate_choice=False)
    # The subject of a round report or a dossier: offered among those the reader may see.
    round_id = SelectField(_l("Round (round report)"), choices=[], validate_choice=False)
    application_id = SelectField(
        _l("Application (application dossier)"), choices=[], validate_choice=False
    )
    confidential = BooleanField(
        _l(
            "Confidential staff variant (membership: exact counts, members at risk named; "
            "portfolio: payment references)"
        )
    )


class DeleteForm(FlaskForm):
    """Only the CSRF token."""


def _kinds_for(user) -> list:
    return [k for k in (get_kind(n) for n in kind_names()) if can(user, k.permission)]


def _form() -> ReportForm:
    form = ReportForm()
    kinds = _kinds_for(current_user)
    form.kind.choices = [(k.name, str(k.label)) for k in kinds]
    form.language.choices = list(LANGUAGES.items())
    names = {k.name for k in kinds}
    form.round_id.choices = (
        [("", "—")] + [(str(r.id), r.title) for r in subjects.rounds_for(current_user)]
        if "round" in names
        else []
    )
    form.application_id.choices = (
        [("", "—")] + [(str(id_), label) for id_, label in subjects.applications_for(current_user)]
        if "dossier" in names
        else []
    )
    if not form.is_submitted():
        start, end = operations.previous_month(utcnow().date())
        form.start.data, form.end.data = start, end
        form.language.data = current_language()
        # The report about a period comes first; a round report or a dossier is chosen.
        plain = [k.name for k in kinds if k.subject_option is None]
        form.kind.data = plain[0] if plain else None
    return form


def _listing() -> list[tuple]:
    """Per kind the reader may read: the latest reports they may open."""
    staff = can(current_user, "reports.confidential")
    out = []
    for kind in _kinds_for(current_user):
        query = (
            sa.select(GeneratedReport)
            .where(GeneratedReport.kind == kind.name)
            .options(joinedload(GeneratedReport.requested_by), joinedload(GeneratedReport.job))
            .order_by(GeneratedReport.created_at.desc(), GeneratedReport.id.desc())
            .limit(LISTED_PER_KIND)
        )
        if not staff:
            query = query.where(GeneratedReport.confidential.is_(False))
        reports = list(db.session.scalars(query))
        if kind.subject_rule is not None:
            reports = [r for r in reports if can(current_user, "reports.read", r)]
        out.append((kind, reports, {r.id: subject_label(kind, r) for r in reports}))
    return out


def subject_label(kind, report: GeneratedReport) -> str | None:
    """What a round report or a dossier is about, as the list and its page name it
    (the round's title; the application's number and title, never the applicant's
    name). None for a report about a period, or when its subject is gone."""
    subject = kind.subject_of(report.options) if kind is not None else None
    if subject is None:
        return None
    if kind.subject_option == "application_id":
        return application_label(subject.id, subject.title)
    return subject.title


@bp.route("/", methods=["GET", "POST"])
@permission_required("reports.area")
def index():
    form = _form()
    if form.validate_on_submit():
        kind = get_kind(form.kind.data)
        if kind is None or not can(current_user, kind.permission):
            abort(403)
        confidential = bool(form.confidential.data)
        if confidential and not can(current_user, "reports.confidential"):
            form.confidential.errors.append(
                _("Only convenor staff may ask for the confidential variant.")
            )
        elif kind.subject_option is not None and not getattr(form, kind.subject_option).data:
            getattr(form, kind.subject_option).errors.append(
                _("Choose a round.")
                if kind.subject_option == "round_id"
                else _("Choose an application.")
            )
        else:
            language, unknown = operations.language_or_english(form.language.data)
            start, end, options = form.start.data, form.end.data, {}
            if kind.subject_option is not None:
                # A report about one round or application: as it stands today. One the
                # reader may not see does not exist for them (404), as on download.
                subject_id = _int(getattr(form, kind.subject_option).data)
                subject = kind.subject_of({kind.subject_option: subject_id})
                if subject is None or not can(current_user, kind.subject_rule, subject):
                    abort(404)
                start = end = utcnow().date()
                options = {kind.subject_option: subject_id}
            if unknown:
                flash(_("That language is not one of ours: the report is in English."), "info")
            request = ReportRequest(
                kind=kind.name,
                start=start,
                end=end,
                options=options,
                language=language,
                confidential=confidential,
                timezone=select_timezone(),
            )
            try:
                report, new = operations.request_report(
                    request, person=current_user._get_current_object()
                )
            except ReportError as exc:
                getattr(form, exc.field or "start").errors.append(exc.message)
            else:
                if new:
                    flash(_("The report is being made. This page shows when it is ready."), "info")
                else:
                    flash(
                        _("You asked for this report already: it is still being made, here it is."),
                        "info",
                    )
                return redirect(url_for(".show", report_id=report.id))
    status = 400 if form.is_submitted() and form.errors else 200
    return (
        render_template(
            "reports/index.html",
            form=form,
            listing=_listing(),
            staff=can(current_user, "reports.confidential"),
            delete_form=DeleteForm(),
        ),
        status,
    )


def _int(value) -> int | None:
    """A positive id from a form or the query string, or None (coalition.inputs)."""
    return bounded_int(value, minimum=1)


def _load(report_id: int) -> GeneratedReport:
    """A report the reader may read; to anyone else it does not exist (404)."""
    authorize("reports.area", hide=True)
    report = db.session.get(GeneratedReport, report_id)
    if report is None or not can(current_user, "reports.read", report):
        abort(404)
    return report


@bp.route("/<int:report_id>")
def show(report_id: int):
    report = _load(report_id)
    job = report.job
    failed = job is not None and job.status == "failed" and not report.ready
    refresh = not report.ready and not failed
    response = current_app.make_response(
        render_template(
            "reports/show.html",
            report=report,
            kind=get_kind(report.kind),
            job=job,
            failed=failed,
            refresh=refresh,
            refresh_seconds=REFRESH_SECONDS,
            language_name=LANGUAGES.get(report.language, report.language),
            subject=subject_label(get_kind(report.kind), report),
            delete_form=DeleteForm(),
        )
    )
    if refresh:
        # The page reloads itself, without JavaScript, until the report is ready.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def download_name(report: GeneratedReport) -> str:
    variant = "-confidential" if report.confidential else ""
    period = f"{report.period_start:%Y%m%d}-{report.period_end:%Y%m%d}"
    kind = get_kind(report.kind)
    if kind is not None and kind.subject_option:
        subject = (report.options or {}).get(kind.subject_option)
        period = f"{subject}-{report.period_end:%Y%m%d}"
    return f"{report.kind}-report-{period}-{report.language}{variant}.pdf"


@bp.route("/<int:report_id>/download")
def download(report_id: int):
    report = _load(report_id)
    path = operations.file_path(report)
    if path is None or not path.is_file():
        abort(404)
    # Reading a report is itself recorded (S22).
    audit.record(
        "report.downloaded",
        report,
        details={"kind": report.kind, "confidential": report.confidential},
    )
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=download_name(report),
        max_age=0,
    )


@bp.route("/<int:report_id>/delete", methods=["POST"])
def delete(report_id: int):
    report = _load(report_id)
    authorize("reports.delete", report, hide=True)
    form = DeleteForm()
    if not form.validate_on_submit():
        abort(400)
    operations.delete_report(report, actor=current_user._get_current_object())
    flash(_("The report was deleted."), "info")
    return redirect(url_for(".index"))
