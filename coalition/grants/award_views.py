"""The award pages: staff award, amend, cancel and pay; grantees read their grant
and file its reports; staff answer them; the grants list, the money figures
and the waitlist. Thin views over ``awards`` and ``grantee_reports``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import defaultload, selectinload

from coalition import audit
from coalition.accounts.session import fresh_required
from coalition.countries import country_name
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants import decisions, files
from coalition.grants import grantee_reports as report_ops
from coalition.grants.award_forms import (
    AmendForm,
    AnswerForm,
    AwardForm,
    CancelForm,
    GranteeReportForm,
    PayForm,
    ReportAttachmentForm,
    WaitlistApproveForm,
)
from coalition.grants.award_models import (
    OPEN_REPORT,
    Award,
    GranteeReport,
    GrantState,
    GrantStatus,
    Payee,
    ReportStatus,
    Tranche,
)
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    BudgetLine,
    DomainError,
    Fund,
    Round,
)
from coalition.grants.money import format_money, money_formatter, to_major
from coalition.inputs import bounded_int, page_number
from coalition.listing import Listing
from coalition.policy import authorize, can, is_grantee, permission_required, visible_awards
from coalition.spreadsheets import MEDIA_TYPES, to_csv, to_xlsx

bp = Blueprint("awards", __name__)

PER_PAGE = 50


def _me():
    return current_user._get_current_object()


def load_award(award_id: int, permission: str = "awards.view") -> Award:
    _round = defaultload(Award.application).defaultload(Application.round)
    award = db.session.scalar(
        sa.select(Award)
        .where(Award.id == award_id)
        .options(
            selectinload(Award.tranches).joinedload(Tranche.condition_report),
            selectinload(Award.reports),
            # The application's countries, its round's criteria and its fund's countries
            # are read only where a page asks for them (the grant's pages do not).
            _round.lazyload(Round.criteria),
            _round.defaultload(Round.fund).lazyload(Fund.country_rows),
            defaultload(Award.application).lazyload(Application.country_rows),
        )
    )
    if award is None:
        abort(404)
    authorize(permission, award, hide=True)
    return award


def load_report(report_id: int, permission: str = "awards.read_report") -> GranteeReport:
    report = db.session.scalar(
        sa.select(GranteeReport)
        .where(GranteeReport.id == report_id)
        .options(selectinload(GranteeReport.attachments), selectinload(GranteeReport.history))
    )
    if report is None:
        abort(404)
    authorize(permission, report, hide=True)
    return report


def _refuse(form, exc: DomainError) -> None:
    """The refusal beside its field, or at the top of the page."""
    db.session.rollback()
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None and exc.field != "version":
        target.errors = [*(e for e in target.errors if isinstance(e, str)), str(exc.message)]
    else:
        flash(str(exc.message), "error")


# -- Award ------------------------------------------------------------------------


@bp.route("/applications/<int:application_id>/award", methods=["GET", "POST"])
@permission_required("awards.manage")
def new(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    if application.status != ApplicationStatus.APPROVED:
        flash(_("Only an approved application can be awarded."), "error")
        return redirect(url_for("applications.show", application_id=application.id))
    round_ = application.round
    form = AwardForm()
    form.set_tranche_choices(len(form.reports.entries))
    if request.method == "GET":
        form.amount.data = application.requested_amount
        form.load_tranches([])
        form.set_tranche_choices(len(form.reports.entries))
    elif "split" in request.form:
        _split(form)
    elif form.validate_on_submit():
        try:
            award = ops.make_award(
                application,
                actor=_me(),
                amount=form.amount.data,
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                payee=Payee(form.payee.data),
                tranches=form.tranche_inputs(len(form.report_inputs())),
                reports=form.report_inputs(),
                conditions=form.conditions.data or "",
                reduction_reason=form.reduction_reason.data,
            )
        except DomainError as exc:
            _refuse(form, exc)
        else:
            flash(_("The grant is made. The grantees are told by email."), "success")
            return redirect(url_for("awards.show", award_id=award.id))
    return render_template(
        "grants/award_new.html",
        application=application,
        round=round_,
        form=form,
        left=ops.money_left(round_),
        money=format_money,
    )


def _split(form) -> None:
    """Fill the tranche rows with the amount split evenly (no JavaScript needed)."""
    form.validate()
    count = form.split_count.data
    amount = form.amount.data
    if not count or not amount:
        form.split_count.errors = [_("Give the amount and the number of tranches to split it in.")]
        return
    try:
        parts = ops.split_evenly(amount, count)
    except DomainError as exc:
        form.split_count.errors = [str(exc.message)]
        return
    dates = [e.form.planned_on.data for e in form.tranches.entries]
    start = form.starts_on.data or ops.today_utc()
    rows = [
        {
            "planned_on": (dates[i] if i < len(dates) else None) or start + timedelta(days=90 * i),
            "amount": part,
        }
        for i, part in enumerate(parts)
    ]
    form.load_tranches(rows)
    for entry in form.tranches.entries:
        entry.form.amount.raw_text = None
    form.set_tranche_choices(len(form.reports.entries))
    # A helper, not a save: no errors shown for fields left to fill.
    for f in form:
        if f.name not in ("split_count",):
            f.errors = [] if not isinstance(f.errors, dict) else {}


# -- A grant's page ---------------------------------------------------------------


@bp.route("/awards/<int:award_id>")
@login_required
def show(award_id: int):
    award = load_award(award_id)
    application = award.application
    staff = can(current_user, "awards.manage")
    return render_template(
        "grants/award_show.html",
        award=award,
        application=application,
        round=award.round,
        plan=ops.payment_plan(award, _me()),
        staff=staff,
        # Payment references: staff only on this page.
        references=staff,
        grantee=is_grantee(_me(), award),
        state=award.state_on(ops.today_utc()),
        today=ops.today_utc(),
        money=format_money,
    )


def _amend_rows(award: Award) -> list[dict]:
    return [
        {
            "planned_on": t.planned_on,
            "amount": t.amount,
            "after_report": str(award.reports.index(t.condition_report))
            if t.condition_report
            else "",
        }
        for t in award.tranches
        if not t.is_paid
    ]


@bp.route("/awards/<int:award_id>/amend", methods=["GET", "POST"])
@permission_required("awards.manage")
def amend(award_id: int):
    award = load_award(award_id, "awards.manage")
    if award.status != GrantStatus.ACTIVE:
        flash(_("Only an active grant can be amended."), "error")
        return redirect(url_for("awards.show", award_id=award.id))
    form = AmendForm()
    status = 200
    if request.method == "GET":
        form.version.data = award.version
        form.amount.data = award.amount
        form.reduction_reason.data = award.reduction_reason
        form.conditions.data = award.conditions
        form.load_tranches(_amend_rows(award), minimum=2)
    elif form.validate_on_submit():
        try:
            changes = ops.amend(
                award,
                actor=_me(),
                reason=form.reason.data,
                version=form.version.data,
                amount=form.amount.data,
                conditions=form.conditions.data or "",
                tranches=form.tranche_inputs(len(award.reports)),
                reduction_reason=form.reduction_reason.data,
            )
        except DomainError as exc:
            status = 409 if exc.field == "version" else 200
            _refuse(form, exc)
            award = load_award(award_id, "awards.manage")
        else:
            flash(_("The grant is amended.") if changes else _("Nothing was changed."), "success")
            before, after = changes.get("amount", [0, 0])
            if after < before:
                # Money was freed: the waitlist shows what it may now reach.
                return redirect(url_for("awards.waitlist", round_id=award.round_id))
            return redirect(url_for("awards.show", award_id=award.id))
    form.set_tranche_choices(len(award.reports))
    return render_template(
        "grants/award_amend.html", award=award, form=form, money=format_money
    ), status


@bp.route("/awards/<int:award_id>/cancel", methods=["GET", "POST"])
@permission_required("awards.manage")
def cancel(award_id: int):
    award = load_award(award_id, "awards.manage")
    form = CancelForm()
    if form.validate_on_submit():
        try:
            freed = ops.cancel(award, actor=_me(), reason=form.reason.data)
        except DomainError as exc:
            _refuse(form, exc)
            award = load_award(award_id, "awards.manage")
        else:
            flash(
                _(
                    "The grant is cancelled; %(freed)s is free to award again.",
                    freed=format_money(freed, award.round.currency),
                ),
                "success",
            )
            return redirect(url_for("awards.waitlist", round_id=award.round_id))
    return render_template("grants/award_cancel.html", award=award, form=form, money=format_money)


@bp.route("/awards/<int:award_id>/tranches/<int:tranche_id>/pay", methods=["GET", "POST"])
@permission_required("awards.manage")
def pay(award_id: int, tranche_id: int):
    award = load_award(award_id, "awards.manage")
    tranche = next((t for t in award.tranches if t.id == tranche_id), None)
    if tranche is None:
        abort(404)
    form = PayForm()
    if request.method == "GET":
        form.paid_on.data = ops.today_utc()
    elif form.validate_on_submit():
        try:
            ops.mark_paid(
                tranche,
                actor=_me(),
                paid_on=form.paid_on.data,
                reference=form.reference.data,
                override_reason=form.override_reason.data,
            )
        except DomainError as exc:
            _refuse(form, exc)
            award = load_award(award_id, "awards.manage")
            tranche = next(t for t in award.tranches if t.id == tranche_id)
        else:
            flash(_("The tranche is marked paid."), "success")
            return redirect(url_for("awards.show", award_id=award.id))
    return render_template(
        "grants/award_pay.html", award=award, tranche=tranche, form=form, money=format_money
    )


# -- Grantee reports --------------------------------------------------------------


def _budget_lines(report: GranteeReport) -> list[BudgetLine]:
    return list(
        db.session.scalars(
            sa.select(BudgetLine)
            .where(BudgetLine.application_id == report.award.application_id)
            .order_by(BudgetLine.position, BudgetLine.id)
        )
    )


def _report_page(report, form, status=200):
    award = report.award
    lines = _budget_lines(report)
    return render_template(
        "grants/grantee_report.html",
        report=report,
        award=award,
        form=form,
        lines=lines,
        editable=can(current_user, "awards.file_report", report),
        reviewable=can(current_user, "awards.review_report", report)
        and report.status == ReportStatus.SUBMITTED,
        answer_form=AnswerForm(),
        attachment_form=ReportAttachmentForm(),
        problems=report_ops.submission_problems(report),
        money=format_money,
    ), status


def _save_report(report, form) -> None:
    lines = {line.id for line in _budget_lines(report)}
    report_ops.save_draft(
        report,
        actor=_me(),
        version=form.version.data,
        values=form.values(),
        spending=form.spending_values(lines),
    )


@bp.route("/reports/<int:report_id>", methods=["GET", "POST"])
@login_required
def report(report_id: int):
    """The grantee's report: save a draft any time, submit once; staff read it here."""
    report = load_report(report_id)
    form = GranteeReportForm()
    if request.method == "GET":
        form = GranteeReportForm(obj=report)
        form.load(report, _budget_lines(report))
        return _report_page(report, form)
    if report.status == ReportStatus.SUBMITTED and "submit" in request.form:
        # A second submit: say so, whoever sends it.
        flash(_("This report has already been submitted."), "info")
        return redirect(url_for("awards.report", report_id=report.id))
    authorize("awards.file_report", report, hide=True)
    if not form.validate_on_submit():
        return _report_page(report, form)
    try:
        _save_report(report, form)
        if "submit" in request.form:
            report_ops.submit(report, actor=_me())
            flash(_("Your report is submitted. The fund's staff will answer it."), "success")
            return redirect(url_for("awards.show", award_id=report.award_id))
    except DomainError as exc:
        _refuse(form, exc)
        report = load_report(report_id)
        return _report_page(report, form, 409 if exc.field == "version" else 200)
    flash(_("Draft saved."), "success")
    return redirect(url_for("awards.report", report_id=report.id))


@bp.route("/reports/<int:report_id>/attachments", methods=["POST"])
@login_required
def report_upload(report_id: int):
    report = load_report(report_id)
    authorize("awards.file_report", report, hide=True)
    if "version" in request.form:
        # Upload sends the whole report: save what was typed first.
        form = GranteeReportForm()
        if not form.validate_on_submit():
            flash(_("Nothing was uploaded: correct the form first."), "error")
            return _report_page(report, form)
        try:
            _save_report(report, form)
        except DomainError as exc:
            _refuse(form, exc)
            return _report_page(load_report(report_id), form)
    upload_form = ReportAttachmentForm()
    if not upload_form.validate_on_submit():
        for errors in upload_form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("awards.report", report_id=report.id) + "#attachments")
    upload = upload_form.file.data
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    try:
        attachment = report_ops.add_attachment(
            report,
            upload.stream.read(limit + 1),
            original_name=upload.filename or "",
            actor=_me(),
        )
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        flash(_("%(name)s is attached.", name=attachment.original_name), "success")
    return redirect(url_for("awards.report", report_id=report_id) + "#attachments")


@bp.route("/reports/<int:report_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
def report_delete_attachment(report_id: int, attachment_id: int):
    report = load_report(report_id)
    authorize("awards.file_report", report, hide=True)
    attachment = next((a for a in report.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    name = attachment.original_name
    try:
        report_ops.remove_attachment(report, attachment, actor=_me())
    except DomainError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("%(name)s is removed.", name=name), "success")
    return redirect(url_for("awards.report", report_id=report_id) + "#attachments")


@bp.route("/reports/<int:report_id>/attachments/<int:attachment_id>")
@login_required
def report_download(report_id: int, attachment_id: int):
    report = load_report(report_id)
    attachment = next((a for a in report.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = files.download_response(attachment)
    # After the file is found: a missing file answers 404 and records nothing.
    report_ops.record_download(report, attachment, reader=_me())
    return response


@bp.route("/reports/<int:report_id>/answer", methods=["POST"])
@login_required
def answer(report_id: int):
    report = load_report(report_id)
    authorize("awards.review_report", report, hide=True)
    form = AnswerForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("awards.report", report_id=report.id))
    try:
        if form.decision.data == "accept":
            report_ops.accept(report, actor=_me(), comment=form.comment.data)
            message = _("The report is accepted.")
        else:
            report_ops.request_changes(report, actor=_me(), comment=form.comment.data or "")
            message = _("The report is sent back to the grantee with your comment.")
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("awards.report", report_id=report_id))
    flash(message, "success")
    return redirect(url_for("awards.show", award_id=report.award_id))


# -- The grants list --------------------------------------------------------------

STATES = list(GrantState)


@dataclass
class GrantFilters:
    round_id: int | None = None
    country: str | None = None
    state: GrantState | None = None

    @classmethod
    def from_args(cls, args) -> GrantFilters:
        raw_round = args.get("round", "")
        try:
            state = GrantState(args.get("state")) if args.get("state") else None
        except ValueError:
            state = None
        return cls(
            round_id=bounded_int(raw_round, minimum=1),
            country=(args.get("country") or "").upper()[:2] or None,
            state=state,
        )

    def as_args(self) -> dict[str, str]:
        out = {
            "round": str(self.round_id) if self.round_id else "",
            "country": self.country or "",
            "state": self.state.value if self.state else "",
        }
        return {k: v for k, v in out.items() if v}


def _overdue(today):
    """The grant has a report overdue. Not correlated: the databases read the overdue
    reports once (by their status and due date), not once per grant."""
    return Award.id.in_(
        sa.select(GranteeReport.award_id).where(
            GranteeReport.status.in_(OPEN_REPORT), GranteeReport.due_on < today
        )
    )


def grants_query(filters: GrantFilters, today) -> sa.Select:
    """The grants the filters keep, on the grants' table alone: counting them reads no
    other table (``with_columns`` adds what a row shows)."""
    query = sa.select(Award).where(visible_awards(current_user))
    if filters.round_id:
        query = query.where(Award.round_id == filters.round_id)
    if filters.country:
        query = query.where(Award.payee_country == filters.country)
    if filters.state == GrantState.ACTIVE:
        query = query.where(Award.status == GrantStatus.ACTIVE, ~_overdue(today))
    elif filters.state == GrantState.REPORT_OVERDUE:
        query = query.where(Award.status == GrantStatus.ACTIVE, _overdue(today))
    elif filters.state is not None:
        query = query.where(Award.status == GrantStatus(filters.state.value))
    # Newest first, by id: the key's own index gives the first fifty without a sort.
    return query.order_by(Award.id.desc())


def _paid_column():
    return (
        sa.select(sa.func.coalesce(sa.func.sum(Tranche.amount), 0))
        .where(Tranche.award_id == Award.id, Tranche.paid_on.is_not(None))
        .scalar_subquery()
    )


def with_columns(query: sa.Select, today) -> sa.Select:
    """The filtered grants as the rows the list and its export show."""
    return (
        query.join(Application, Application.id == Award.application_id)
        .join(Round, Round.id == Award.round_id)
        .join(Fund, Fund.id == Round.fund_id)
        .with_only_columns(*list_columns(today))
    )


def list_columns(today):
    return (
        Award.id,
        Application.title,
        Award.payee_name,
        Award.payee_country,
        Award.amount,
        _paid_column().label("paid"),
        Award.status,
        _overdue(today).label("overdue"),
        Round.title.label("round_title"),
        Fund.currency,
        Award.awarded_at,
    )


def _state_of(row) -> GrantState:
    if row.status == GrantStatus.ACTIVE and row.overdue:
        return GrantState.REPORT_OVERDUE
    return GrantState(GrantStatus(row.status).value)


@bp.route("/awards")
@permission_required("awards.figures")
def index():
    today = ops.today_utc()
    filters = GrantFilters.from_args(request.args)
    page = page_number()
    query = grants_query(filters, today)
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(
            query.with_only_columns(Award.id).order_by(None).subquery()
        )
    )
    listing = Listing(
        items=db.session.execute(
            with_columns(query, today).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
        ).all(),
        page=page,
        per_page=PER_PAGE,
        total=total or 0,
    )
    rounds = db.session.execute(
        sa.select(Round.id, Round.title).order_by(Round.opens_at.desc(), Round.id)
    ).all()
    countries = sorted(
        (c, country_name(c))
        for c in db.session.scalars(
            sa.select(Award.payee_country).where(Award.payee_country.is_not(None)).distinct()
        )
    )
    return render_template(
        "grants/awards.html",
        page=listing,
        filters=filters,
        rounds=rounds,
        countries=countries,
        country_names=dict(countries),
        states=STATES,
        state_of=_state_of,
        state_labels={state: state.label for state in STATES},
        # Each row's link, built once: url_for for fifty rows costs more than the rows.
        grant_base=url_for("awards.show", award_id=0).removesuffix("0"),
        money=money_formatter(),
    )


EXPORT_COLUMNS = (
    ("id", lambda r: r.id),
    ("application", lambda r: r.title),
    ("payee", lambda r: r.payee_name),
    ("country", lambda r: r.payee_country),
    ("round", lambda r: r.round_title),
    ("currency", lambda r: r.currency),
    ("amount", lambda r: str(to_major(r.amount))),
    ("paid", lambda r: str(to_major(r.paid))),
    ("state", lambda r: _state_of(r).value),
    ("awarded_at", lambda r: r.awarded_at.isoformat() if r.awarded_at else None),
)


@bp.route("/awards.<any(csv, xlsx):fmt>", methods=["POST"])
@permission_required("awards.figures")
@fresh_required
def export(fmt: str):
    """The filtered grants as a spreadsheet: no payment references. Payees are
    organisations and people: a fresh sign-in, as every such export (S11)."""
    today = ops.today_utc()
    filters = GrantFilters.from_args(request.form)
    rows = db.session.execute(with_columns(grants_query(filters, today), today)).all()
    header = [name for name, _value in EXPORT_COLUMNS]
    body = [[value(r) for _name, value in EXPORT_COLUMNS] for r in rows]
    data = to_csv(header, body) if fmt == "csv" else to_xlsx(header, body, "Grants")
    audit.record(
        "awards.exported", None, details={"format": fmt, "rows": len(body), **filters.as_args()}
    )
    return Response(
        data,
        mimetype=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="grants.{fmt}"'},
    )


# -- Money ------------------------------------------------------------------------


@bp.route("/money")
@permission_required("awards.figures")
def money():
    funds = db.session.scalars(sa.select(Fund).order_by(Fund.name, Fund.id)).all()
    return render_template(
        "grants/money.html",
        figures=ops.cached_figures_of_funds(funds, ops.today_utc()),
        money=money_formatter(),
    )


# -- The waitlist -----------------------------------------------------------------


@bp.route("/rounds/<int:round_id>/waitlist")
@permission_required("awards.manage")
def waitlist(round_id: int):
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    entries, left = decisions.waitlist(round_)
    head = decisions.head_of(entries, left)
    return render_template(
        "grants/waitlist.html",
        round=round_,
        entries=entries,
        left=left,
        next_id=head.application_id if head is not None and head.fits else None,
        form=WaitlistApproveForm(),
        money=format_money,
    )


@bp.route("/applications/<int:application_id>/approve-from-waitlist", methods=["POST"])
@permission_required("awards.manage")
def approve_waitlisted(application_id: int):
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    form = WaitlistApproveForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("awards.waitlist", round_id=application.round_id))
    try:
        decisions.move_up(application, actor=_me(), reason=form.reason.data)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("awards.waitlist", round_id=application.round_id))
    flash(_("The application is approved: it can now be awarded."), "success")
    return redirect(url_for("awards.new", application_id=application.id))
