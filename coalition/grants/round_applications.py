"""A round's applications for staff and steering: the filtered list, its
export, and the staff screening of submitted applications."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload, lazyload, selectinload

from coalition import audit
from coalition.accounts.session import fresh_required
from coalition.countries import country_name
from coalition.extensions import db
from coalition.grants import applications as ops
from coalition.grants.application_forms import ScreeningForm
from coalition.grants.models import Application, ApplicationStatus, DomainError, Fund, Round
from coalition.grants.money import AmountError, format_money, parse_amount, to_major
from coalition.inputs import page_number
from coalition.listing import page_of_rows
from coalition.policy import authorize, permission_required
from coalition.spreadsheets import MEDIA_TYPES, to_csv, to_xlsx

bp = Blueprint("round_applications", __name__)

PER_PAGE = 50
AWAITING_SCREENING = (ApplicationStatus.SUBMITTED, ApplicationStatus.SCREENING)
SCREENING_RESULTS = {
    "pending": AWAITING_SCREENING,
    "eligible": (ApplicationStatus.ELIGIBLE,),
    "ineligible": (ApplicationStatus.INELIGIBLE,),
}
SORTS = {
    "submitted": (Application.submitted_at.desc(), Application.id.desc()),
    "amount": (Application.requested_amount.desc(), Application.id),
    "-amount": (Application.requested_amount.asc(), Application.id),
    "title": (Application.title, Application.id),
    "country": (Application.org_country, Application.id),
}


def _round(round_id: int, *, bare: bool = False) -> Round:
    """The round; ``bare`` leaves its rubric and its fund's countries unread."""
    options = (
        [lazyload(Round.criteria), joinedload(Round.fund).lazyload(Fund.country_rows)]
        if bare
        else []
    )
    round_ = db.session.get(Round, round_id, options=options)
    if round_ is None:
        abort(404)
    return round_


@dataclass
class ApplicationFilters:
    status: ApplicationStatus | None = None
    country: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    screening: str = ""
    sort: str = "submitted"

    @classmethod
    def from_args(cls, args) -> ApplicationFilters:
        def amount(name):
            try:
                return parse_amount(args.get(name))
            except AmountError:
                return None

        try:
            status = ApplicationStatus(args.get("status")) if args.get("status") else None
        except ValueError:
            status = None
        sort = args.get("sort", "submitted")
        screening = args.get("screening", "")
        return cls(
            status=status,
            country=(args.get("country") or "").upper()[:2] or None,
            min_amount=amount("min"),
            max_amount=amount("max"),
            screening=screening if screening in SCREENING_RESULTS else "",
            sort=sort if sort in SORTS else "submitted",
        )

    def as_args(self) -> dict[str, str]:
        out = {
            "status": self.status.value if self.status else "",
            "country": self.country or "",
            "min": str(to_major(self.min_amount)) if self.min_amount is not None else "",
            "max": str(to_major(self.max_amount)) if self.max_amount is not None else "",
            "screening": self.screening,
            "sort": self.sort if self.sort != "submitted" else "",
        }
        return {k: v for k, v in out.items() if v}


def round_query(round_: Round, filters: ApplicationFilters) -> sa.Select:
    """The round's applications this viewer may list: never drafts (nobody but the
    applicant works on a draft)."""
    query = sa.select(Application).where(
        Application.round_id == round_.id, Application.status != ApplicationStatus.DRAFT
    )
    if filters.status:
        query = query.where(Application.status == filters.status)
    if filters.country:
        query = query.where(Application.org_country == filters.country)
    if filters.min_amount is not None:
        query = query.where(Application.requested_amount >= filters.min_amount)
    if filters.max_amount is not None:
        query = query.where(Application.requested_amount <= filters.max_amount)
    if filters.screening:
        query = query.where(Application.status.in_(SCREENING_RESULTS[filters.screening]))
    return query.order_by(*SORTS[filters.sort])


# What the list shows of each application: plain rows, not whole objects.
LIST_COLUMNS = (
    Application.id,
    Application.title,
    Application.org_name,
    Application.org_country,
    Application.requested_amount,
    Application.status,
    Application.submitted_at,
)


@bp.route("/rounds/<int:round_id>/applications")
@permission_required("grants.read_round")
def index(round_id: int):
    round_ = _round(round_id, bare=True)
    filters = ApplicationFilters.from_args(request.args)
    listing = page_of_rows(
        round_query(round_, filters), Application.id, LIST_COLUMNS, page_number(), PER_PAGE
    )
    countries = db.session.scalars(
        sa.select(Application.org_country)
        .where(Application.round_id == round_.id, Application.org_country.is_not(None))
        .distinct()
    ).all()
    return render_template(
        "grants/round_applications.html",
        round=round_,
        page=listing,
        filters=filters,
        statuses=[s for s in ApplicationStatus if s != ApplicationStatus.DRAFT],
        countries=sorted((c, country_name(c)) for c in countries),
        money=format_money,
    )


EXPORT_COLUMNS = (
    ("id", lambda a: a.id),
    ("title", lambda a: a.title),
    ("organisation", lambda a: a.org_name),
    ("country", lambda a: a.org_country),
    ("status", lambda a: a.status.value),
    ("requested", lambda a: str(to_major(a.requested_amount)) if a.requested_amount else None),
    ("duration_months", lambda a: a.duration_months),
    ("submitted_at", lambda a: a.submitted_at.isoformat() if a.submitted_at else None),
)


@bp.route("/rounds/<int:round_id>/applications.<any(csv, xlsx):fmt>", methods=["POST"])
@permission_required("grants.read_round")
@fresh_required
def export(round_id: int, fmt: str):
    """The filtered list as a spreadsheet (POST: an export is recorded in the audit log).

    Applicants' names and organisations are personal data: like every such
    export, it asks for the password again after an old sign-in (S11).
    """
    round_ = _round(round_id)
    filters = ApplicationFilters.from_args(request.form)
    applications = db.session.scalars(round_query(round_, filters)).all()
    header = [name for name, _value in EXPORT_COLUMNS]
    body = [[value(a) for _name, value in EXPORT_COLUMNS] for a in applications]
    data = to_csv(header, body) if fmt == "csv" else to_xlsx(header, body, "Applications")
    audit.record(
        "applications.exported",
        round_,
        details={"format": fmt, "rows": len(body), "filters": filters.as_args()},
    )
    return Response(
        data,
        mimetype=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="round-{round_.id}-applications.{fmt}"'
        },
    )


def screening_checks(application: Application) -> list:
    """What the automatic checks find in a submitted application, as it was when submitted
    (the round has closed since: that is no fault of the application)."""
    return [
        p
        for p in ops.submission_problems(application, application.submitted_at)
        if p.field != "round"
    ]


@bp.route("/rounds/<int:round_id>/screening")
@permission_required("grants.manage")
def screening(round_id: int):
    """Submitted applications waiting for staff screening, with the automatic checks."""
    round_ = _round(round_id)
    page = db.paginate(
        sa.select(Application)
        .where(Application.round_id == round_.id, Application.status.in_(AWAITING_SCREENING))
        .options(selectinload(Application.budget_lines), selectinload(Application.attachments))
        .order_by(Application.submitted_at, Application.id),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    waiting = page.items
    checks = {a.id: screening_checks(a) for a in waiting}
    return render_template(
        "grants/screening.html",
        round=round_,
        page=page,
        applications=waiting,
        checks=checks,
        form=ScreeningForm(),
        money=format_money,
    )


@bp.route("/applications/<int:application_id>/screen", methods=["POST"])
@permission_required("grants.manage")
def screen(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    authorize("grants.view_application", application, hide=True)
    form = ScreeningForm()
    if form.validate_on_submit():
        try:
            ops.screen(
                application,
                actor=current_user._get_current_object(),
                eligible=form.decision.data == "eligible",
                reason=form.reason.data,
            )
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Screening recorded; the applicant is told by email."), "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    return redirect(url_for("round_applications.screening", round_id=application.round_id))
