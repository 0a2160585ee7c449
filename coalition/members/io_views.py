"""Import and export of the member list (routes on the members blueprint).

Import: the upload is checked at once (type, size, sheet, name column), then
a dry run runs in the background; its page shows progress, then the report,
and offers the commit, which is another background job on the same file.
Export: a page that says what the file will hold, and POST forms that send it
(an export writes an audit row, and a GET never changes anything).
"""

from __future__ import annotations

import io
import math
from typing import Any

import sqlalchemy as sa
from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.orm import joinedload
from wtforms import BooleanField

from coalition import form_tokens, jobs
from coalition.accounts.session import ask_for_password, fresh_required, is_fresh
from coalition.countries import country_name
from coalition.db import utcnow
from coalition.extensions import db
from coalition.fields import SelectField
from coalition.form_tokens import OnceField
from coalition.inputs import page_number
from coalition.listing import Listing
from coalition.members import exporter, importing
from coalition.members.models import Member
from coalition.members.queries import MemberFilters, apply_filters
from coalition.members.views import bp
from coalition.policy import authorize, can, permission_required, readable_contacts

ROWS_PER_PAGE = 100
RECENT_IMPORTS = 20
REFRESH_SECONDS = 2


# -- Forms -----------------------------------------------------------------------------


class ImportUploadForm(FlaskForm):
    once = OnceField()
    file = FileField(
        _l("Member list"),
        validators=[FileRequired(_l("Choose the file to import."))],
        description=_l(
            "A CSV or XLSX file of at most %(mib)d MiB, with one member per row and the "
            "column names in its first row.",
            mib=importing.MAX_IMPORT_BYTES // (1024 * 1024),
        ),
    )
    sheet = SelectField(_l("Sheet to import"), choices=[], validate_choice=False)


class ImportCommitForm(FlaskForm):
    once = OnceField()
    skip_errors = BooleanField(_l("Skip the rows with errors"))
    include_duplicates = BooleanField(_l("Import the likely duplicates too"))


class ExportForm(FlaskForm):
    """Only the CSRF token: the filters travel in the query string."""


# -- Import ------------------------------------------------------------------------------


def _clean_filename(name: str | None) -> str:
    """The uploaded file's own name, for display only (never used on disk)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:200] or _("upload")


def _recent_imports() -> list[jobs.Job]:
    return list(
        db.session.scalars(
            sa.select(jobs.Job)
            .where(jobs.Job.kind == importing.JOB_KIND)
            .options(joinedload(jobs.Job.created_by))
            .order_by(jobs.Job.created_at.desc(), jobs.Job.id.desc())
            .limit(RECENT_IMPORTS)
        )
    )


@bp.route("/import", methods=["GET", "POST"])
@permission_required("members.manage")
def import_members():
    form = ImportUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.stream.read(importing.MAX_IMPORT_BYTES + 1)
        filename = _clean_filename(upload.filename)
        sheet = form.sheet.data or None
        try:
            # Checked now, so that a file that cannot be used is said beside the field.
            importing.read_table(data, filename, sheet)
        except importing.SheetChoiceNeeded as exc:
            form.sheet.choices = [("", _("Choose a sheet"))] + [(s, s) for s in exc.sheets]
            form.file.errors.append(
                exc.message + " " + _("Then choose the file again: it is not kept.")
            )
        except importing.ImportFileError as exc:
            form.file.errors.append(exc.message)
        else:
            claim = form_tokens.claim(form.once.data)
            if claim.repeated:
                return claim.earlier_result()
            job = jobs.enqueue(
                importing.JOB_KIND,
                created_by=current_user._get_current_object(),
                params={
                    "filename": filename,
                    "sheet": sheet,
                    "mode": "dry_run",
                    "skip_errors": False,
                    "include_duplicates": False,
                },
                payload=data,
            )
            result = url_for(".import_job", job_id=job.id)
            claim.done(result)
            flash(_("The file is being checked. Nothing is written to the register yet."), "info")
            return redirect(result)
    return render_template(
        "members/import.html",
        form=form,
        recent=_recent_imports(),
        max_mib=importing.MAX_IMPORT_BYTES // (1024 * 1024),
    )


def _import_job(job_id: int) -> jobs.Job:
    """An import job, for staff only; anyone else learns nothing of it (404)."""
    authorize("members.manage", hide=True)
    job = db.session.get(jobs.Job, job_id)
    if job is None or job.kind != importing.JOB_KIND:
        abort(404)
    return job


def _problems_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with errors, then likely duplicates, then the others, each in file order."""
    return sorted(rows, key=lambda r: (0 if r["errors"] else 1 if r["duplicates"] else 2, r["row"]))


def _render_job(job: jobs.Job, form: ImportCommitForm, status: int = 200):
    result = job.result if job.finished else None
    report = (result or {}).get("report")
    page = None
    show = request.args.get("show", "all")
    if report:
        rows = _problems_first(report["rows"])
        if show == "problems":
            rows = [r for r in rows if r["errors"] or r["duplicates"]]
        number = min(page_number(), max(1, math.ceil(len(rows) / ROWS_PER_PAGE)))
        start = (number - 1) * ROWS_PER_PAGE
        page = Listing(rows[start : start + ROWS_PER_PAGE], number, ROWS_PER_PAGE, len(rows))
    refresh = not job.finished and request.args.get("refresh") != "off"
    # A check that has been imported shows the import, and offers it no more.
    imported = importing.import_of(job) if (job.params or {}).get("mode") == "dry_run" else None
    response = current_app.make_response(
        (
            render_template(
                "members/import_job.html",
                job=job,
                params=job.params or {},
                result=result,
                report=report,
                imported=imported,
                page=page,
                show=show,
                form=form,
                refresh=refresh,
                refresh_seconds=REFRESH_SECONDS,
                file_error=importing.file_error_message,
                row_error=importing.row_error_message,
                duplicate=importing.duplicate_message,
                action_label=importing.action_label,
                change_labels=importing.change_labels,
                country_label=importing.country_label,
                refusal=importing.refusal_message,
                column_note=importing.column_note_message,
                member_url=_member_url,
            ),
            status,
        )
    )
    if refresh:
        # The progress page reloads itself, without JavaScript, until the job ends.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _member_url(member_id: int) -> str | None:
    """A link to a member's page, where the registry has one."""
    if "members.show" not in current_app.view_functions:
        return None
    return url_for("members.show", member_id=member_id)


@bp.route("/import/<int:job_id>")
def import_job(job_id: int):
    job = _import_job(job_id)
    return _render_job(job, ImportCommitForm())


@bp.route("/import/<int:job_id>/commit", methods=["POST"])
def import_commit(job_id: int):
    job = _import_job(job_id)
    if not is_fresh():
        # Writing a whole file into the register asks for the password again (S11),
        # after the check above, so that anyone else still learns nothing of the job.
        return ask_for_password()
    form = ImportCommitForm()
    if not form.validate_on_submit():
        return _render_job(job, form, 400)
    params = job.params or {}
    result = job.result if job.finished else None
    report = (result or {}).get("report")
    if params.get("mode") != "dry_run" or not report:
        flash(_("Only a finished check of a file can be imported."), "error")
        return redirect(url_for(".import_job", job_id=job.id))
    if report["totals"]["errors"] and not form.skip_errors.data:
        form.skip_errors.errors.append(
            _(
                "%(n)d rows have errors. Correct them in the file and upload it again, or tick "
                "this box to import the other rows without them.",
                n=report["totals"]["errors"],
            )
        )
        return _render_job(job, form)
    claim = form_tokens.claim(form.once.data)
    if claim.repeated:
        return claim.earlier_result()
    try:
        commit_job = importing.start_import(
            job,
            current_user._get_current_object(),
            skip_errors=bool(form.skip_errors.data),
            include_duplicates=bool(form.include_duplicates.data),
        )
    except importing.AlreadyImported as exc:
        flash(_("This check has already been imported: nothing more was done."), "info")
        return redirect(url_for(".import_job", job_id=exc.import_job.id))
    result = url_for(".import_job", job_id=commit_job.id)
    claim.done(result)
    flash(_("The import has started. The register changes only when all of it is written."), "info")
    return redirect(result)


# -- Export --------------------------------------------------------------------------------


def _filter_summary(filters: MemberFilters) -> list[tuple[str, str]]:
    """The filters in force, as a reader names them."""
    out: list[tuple[str, str]] = []
    if filters.q:
        out.append((_("Search"), filters.q))
    for label, value in (
        (_("Status"), filters.status),
        (_("Kind"), filters.kind),
        (_("Type"), filters.org_type),
        (_("Region"), filters.region),
        (_("Focus area"), filters.focus),
    ):
        if value is not None:
            out.append((label, value.label))
    if filters.country:
        out.append((_("Country"), country_name(filters.country)))
    if filters.steering:
        out.append((_("Steering group"), _("members with a steering seat")))
    return out


def _is_staff() -> bool:
    return can(current_user, "members.manage")


@bp.route("/export")
@permission_required("members.export")
@fresh_required
def export():
    filters = MemberFilters.from_args(request.args)
    staff = _is_staff()
    query = apply_filters(
        sa.select(sa.func.count(Member.id)), filters, contacts=readable_contacts(current_user)
    )
    count = db.session.scalar(query.order_by(None))
    field_names = _field_names()
    return render_template(
        "members/export.html",
        filters=filters,
        summary=_filter_summary(filters),
        count=count,
        columns=exporter.header_of(exporter.columns_for(staff), field_names=field_names),
        staff=staff,
        form=ExportForm(),
        args=filters.as_args(),
        field_names=field_names,
    )


def _field_names() -> bool:
    """``?names=fields``: the header row holds the columns' machine names."""
    return request.args.get("names") == "fields"


def _download(fmt: str):
    filters = MemberFilters.from_args(request.args)
    if request.method == "GET":
        # A GET changes nothing, and an export writes an audit row: ask first.
        names = {"names": "fields"} if _field_names() else {}
        return redirect(url_for(".export", **filters.as_args(), **names))
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    reader = current_user._get_current_object()
    data, _count = exporter.export_members(
        filters,
        staff=_is_staff(),
        fmt=fmt,
        actor=reader,
        reader=reader,
        field_names=_field_names(),
    )
    return send_file(
        io.BytesIO(data),
        mimetype=exporter.FORMATS[fmt],
        as_attachment=True,
        download_name=exporter.filename_for(fmt, utcnow().date()),
        max_age=0,
    )


@bp.route("/export.csv", methods=["GET", "POST"])
@permission_required("members.export")
@fresh_required
def export_csv():
    return _download("csv")


@bp.route("/export.xlsx", methods=["GET", "POST"])
@permission_required("members.export")
@fresh_required
def export_xlsx():
    return _download("xlsx")
