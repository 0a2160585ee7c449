"""The forms of the award pages: award, amend, cancel, pay a tranche, a grantee's
report and the staff's answer to it, approval from the waitlist.

Rows (tranches, reports due) are plain repeated sub-forms, as the application's
budget lines: they work without JavaScript, and an empty row is skipped.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from coalition.fields import SelectField
from coalition.grants import awards as ops
from coalition.grants.award_models import Payee, ReportKind
from coalition.grants.grantee_reports import SECTION_MAX
from coalition.grants.models import DomainError
from coalition.grants.money import AmountField, AmountRequired
from coalition.inputs import VersionField, bounded_int
from coalition.text import SingleLine

TRANCHE_ROWS = 4
REPORT_ROWS = 3


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _reason_field(label, description=None, required=None):
    validators = [Length(max=ops.REASON_MAX)]
    validators.insert(0, DataRequired(required) if required else Optional())
    return TextAreaField(
        label,
        validators=validators,
        filters=[_strip],
        description=description,
        render_kw={"rows": 3},
    )


class TrancheRowForm(Form):
    row_label = _l("Tranche %(n)d")
    planned_on = DateField(_l("Planned date"), validators=[Optional()])
    amount = AmountField(_l("Amount"))
    after_report = SelectField(_l("Paid after"), choices=[], validate_choice=False, default="")


class ReportRowForm(Form):
    row_label = _l("Report %(n)d")
    kind = SelectField(
        _l("Report"),
        choices=[SelectChoice(k.value, k.label) for k in ReportKind],
        default=ReportKind.INTERIM.value,
    )
    due_on = DateField(_l("Due on"), validators=[Optional()])


def report_choices(count: int) -> list[tuple[str, str]]:
    """What a tranche may wait for: nothing, or the report of a row."""
    rows = [(str(i), _("Report %(n)d accepted", n=i + 1)) for i in range(count)]
    return [("", _("Nothing")), *rows]


class _TranchesMixin:
    def tranche_inputs(self, report_count: int | None = None) -> list[ops.TrancheInput]:
        """The rows typed, empty ones skipped; a half-filled row is refused beside it."""
        out = []
        for entry in self.tranches.entries:
            row = entry.form
            if row.planned_on.data is None and row.amount.data is None and not row.amount.errors:
                continue
            if row.planned_on.data is None:
                raise DomainError(_("Give each tranche its planned date."), "tranches")
            if row.amount.data is None:
                raise DomainError(_("Give each tranche its amount."), "tranches")
            after = row.after_report.data
            after_index = bounded_int(after, minimum=0)
            if after_index is not None and report_count is not None and after_index >= report_count:
                raise DomainError(
                    _("A tranche can wait only for one of the grant's reports."), "tranches"
                )
            out.append(ops.TrancheInput(row.planned_on.data, row.amount.data, after_index))
        return out

    def set_tranche_choices(self, count: int) -> None:
        for entry in self.tranches.entries:
            entry.form.after_report.choices = report_choices(count)

    def load_tranches(self, rows: list[dict], minimum: int = TRANCHE_ROWS) -> None:
        while len(self.tranches.entries):
            self.tranches.pop_entry()
        for row in rows:
            self.tranches.append_entry(row)
        while len(self.tranches.entries) < max(minimum, len(rows) + 1):
            self.tranches.append_entry()


class AwardForm(_TranchesMixin, FlaskForm):
    amount = AmountField(_l("Amount awarded"), validators=[AmountRequired()])
    reduction_reason = _reason_field(
        _l("Why less than requested"),
        description=_l("Needed when the award is less than the amount requested."),
    )
    conditions = TextAreaField(
        _l("Conditions"),
        validators=[Optional(), Length(max=ops.CONDITIONS_MAX)],
        filters=[_strip],
        render_kw={"rows": 4},
    )
    starts_on = DateField(_l("Starts on"), validators=[InputRequired(_l("Give the start date."))])
    ends_on = DateField(_l("Ends on"), validators=[InputRequired(_l("Give the end date."))])
    payee = RadioField(
        _l("Paid to"),
        choices=[SelectChoice(p.value, p.label) for p in Payee],
        default=Payee.ORGANISATION.value,
        validators=[DataRequired(_l("Choose who is paid."))],
    )
    reports = FieldList(FormField(ReportRowForm), min_entries=REPORT_ROWS)
    tranches = FieldList(FormField(TrancheRowForm), min_entries=TRANCHE_ROWS)
    split_count = IntegerField(
        _l("Number of tranches"),
        validators=[Optional(), NumberRange(min=1, max=ops.MAX_TRANCHES)],
        render_kw={"inputmode": "numeric"},
    )

    def report_inputs(self) -> list[ops.ReportInput]:
        out = []
        for entry in self.reports.entries:
            row = entry.form
            if row.due_on.data is None:
                continue
            out.append(ops.ReportInput(ReportKind(row.kind.data), row.due_on.data))
        return out


class AmendForm(_TranchesMixin, FlaskForm):
    version = VersionField()
    amount = AmountField(_l("Amount awarded"), validators=[AmountRequired()])
    reduction_reason = _reason_field(
        _l("Why less than requested"),
        description=_l("Needed when the award is less than the amount requested."),
    )
    conditions = TextAreaField(
        _l("Conditions"),
        validators=[Optional(), Length(max=ops.CONDITIONS_MAX)],
        filters=[_strip],
        render_kw={"rows": 4},
    )
    tranches = FieldList(FormField(TrancheRowForm), min_entries=TRANCHE_ROWS)
    reason = _reason_field(
        _l("Reason for the amendment"),
        required=_l("Give the reason for the amendment."),
        description=_l("Kept in the grant's history."),
    )


class CancelForm(FlaskForm):
    reason = _reason_field(
        _l("Reason for cancelling"), required=_l("Give the reason for cancelling the grant.")
    )


class PayForm(FlaskForm):
    paid_on = DateField(_l("Paid on"), validators=[InputRequired(_l("Give the date of payment."))])
    reference = StringField(
        _l("Payment reference"),
        validators=[
            DataRequired(_l("Give the payment's reference.")),
            Length(max=ops.REFERENCE_MAX),
            SingleLine(),
        ],
        filters=[_strip],
    )
    override_reason = _reason_field(
        _l("Reason to pay before its condition is met"),
        description=_l("Needed only when the report this tranche waits for is not accepted yet."),
    )


class SpendingRowForm(Form):
    row_label = _l("Budget line %(n)d")
    line_id = HiddenField()
    spent = AmountField(_l("Spent so far"))


class GranteeReportForm(FlaskForm):
    version = VersionField()
    activities = TextAreaField(
        _l("What was done"),
        validators=[Optional(), Length(max=SECTION_MAX)],
        filters=[_strip],
        render_kw={"rows": 6},
    )
    results = TextAreaField(
        _l("Results"),
        validators=[Optional(), Length(max=SECTION_MAX)],
        filters=[_strip],
        render_kw={"rows": 5},
    )
    problems = TextAreaField(
        _l("Problems met"),
        validators=[Optional(), Length(max=SECTION_MAX)],
        filters=[_strip],
        render_kw={"rows": 4},
    )
    spending_note = TextAreaField(
        _l("Spending against the budget"),
        validators=[Optional(), Length(max=SECTION_MAX)],
        filters=[_strip],
        render_kw={"rows": 4},
        description=_l("Explain any difference from the budget lines below."),
    )
    spending = FieldList(FormField(SpendingRowForm))

    def values(self) -> dict:
        return {
            "activities": self.activities.data,
            "results": self.results.data,
            "problems": self.problems.data,
            "spending_note": self.spending_note.data,
        }

    def spending_values(self, line_ids: set[int]) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for entry in self.spending.entries:
            raw = entry.form.line_id.data or ""
            line_id = bounded_int(raw, minimum=1)
            if line_id in line_ids:
                out[line_id] = entry.form.spent.data
        return out

    def load(self, report, lines) -> None:
        self.version.data = report.version
        spent = {row.budget_line_id: row.spent for row in report.spending}
        while len(self.spending.entries):
            self.spending.pop_entry()
        for line in lines:
            self.spending.append_entry({"line_id": str(line.id), "spent": spent.get(line.id)})


class ReportAttachmentForm(FlaskForm):
    file = FileField(
        _l("File"),
        validators=[DataRequired(_l("Choose a file."))],
        description=_l("PDF, DOCX, ODT, XLSX, ODS or CSV; at most 10 MB."),
    )


class AnswerForm(FlaskForm):
    decision = RadioField(
        _l("Your answer"),
        choices=[
            SelectChoice("accept", _l("Accept the report")),
            SelectChoice("changes", _l("Ask for changes")),
        ],
        validators=[DataRequired(_l("Choose accept or ask for changes."))],
    )
    comment = TextAreaField(
        _l("Comment to the grantee"),
        validators=[Optional(), Length(max=4000)],
        filters=[_strip],
        render_kw={"rows": 4},
        description=_l("Needed when you ask for changes: say what should change."),
    )


class WaitlistApproveForm(FlaskForm):
    reason = _reason_field(
        _l("Reason"), required=_l("Give the reason for approving it from the waitlist.")
    )
