"""The application form: every section in one form, saved as a draft any time."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from coalition.countries import country_choices, country_name, fold
from coalition.fields import CountriesField, CountrySelectField, SelectField
from coalition.form_tokens import OnceField
from coalition.grants.applications import MAX_DURATION_MONTHS, TEXT_LIMITS
from coalition.grants.models import AttachmentKind, RegistrationStatus
from coalition.grants.money import AmountField
from coalition.inputs import VersionField, bounded_int
from coalition.text import SingleLine

BUDGET_ROWS = 8


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def fund_countries(fund) -> list[SelectChoice]:
    """The countries an application to ``fund`` may concern: its eligible countries, or
    every country when it names none."""
    codes = fund.eligible_countries
    if not codes:
        return [SelectChoice(code, name) for code, name in country_choices()]
    named = sorted(((code, country_name(code)) for code in codes), key=lambda c: fold(c[1]))
    return [SelectChoice(code, name) for code, name in named]


def _text(label, field, rows=None, description=None):
    kwargs = {"render_kw": {"rows": rows}} if rows else {}
    cls = TextAreaField if rows else StringField
    # A one-line field (a name, a title) is one line; paragraphs go in text areas.
    single = [] if rows else [SingleLine()]
    return cls(
        label,
        validators=[Optional(), Length(max=TEXT_LIMITS[field]), *single],
        filters=[_strip],
        description=description,
        **kwargs,
    )


class BudgetLineForm(Form):
    row_label = _l("Budget line %(n)d")  # as the error summary names a row
    category = StringField(
        _l("Category"), validators=[Optional(), Length(max=100), SingleLine()], filters=[_strip]
    )
    description = StringField(
        _l("Description"), validators=[Optional(), Length(max=500)], filters=[_strip]
    )
    amount = AmountField(_l("Amount"))


class ApplicationForm(FlaskForm):
    version = VersionField(required=True)
    member_id = SelectField(
        _l("Apply for"),
        validators=[Optional()],
        description=_l("A member organisation you are a contact of, or a new organisation below."),
    )
    org_name = _text(_l("Organisation name"), "org_name")
    org_country = CountrySelectField(_l("Organisation's country"), default="")
    org_registration = RadioField(
        _l("Registration"),
        choices=lambda: [SelectChoice(r.value, r.label) for r in RegistrationStatus],
        validators=[Optional()],
    )
    fiscal_host_name = _text(
        _l("Fiscal host"),
        "fiscal_host_name",
        description=_l("The registered organisation that receives the grant for your group."),
    )
    fiscal_host_country = CountrySelectField(_l("Fiscal host's country"), default="")
    title = _text(_l("Project title"), "title")
    summary = _text(_l("Summary"), "summary", rows=4)
    problem = _text(_l("The problem"), "problem", rows=6)
    activities = _text(_l("Planned activities"), "activities", rows=6)
    outcomes = _text(_l("Expected outcomes"), "outcomes", rows=5)
    elections = _text(
        _l("Elections concerned"),
        "elections",
        rows=2,
        description=_l("Which elections, and when."),
    )
    # Its choices are the fund's eligible countries: see fund_countries().
    countries = CountriesField(_l("Countries concerned"), choices=[], validators=[Optional()])
    duration_months = IntegerField(
        _l("Duration (months)"),
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_DURATION_MONTHS,
                message=_l("The duration is from 1 to %(max)d months."),
            ),
        ],
        render_kw={"inputmode": "numeric"},
    )
    requested_amount = AmountField(_l("Amount requested"))
    budget_lines = FieldList(FormField(BudgetLineForm), min_entries=BUDGET_ROWS)

    def values(self) -> dict:
        member_id = bounded_int(self.member_id.data, minimum=1)
        return {
            "member_id": member_id,
            "org_name": self.org_name.data or None,
            "org_country": self.org_country.data or None,
            "org_registration": RegistrationStatus(self.org_registration.data)
            if self.org_registration.data
            else None,
            "fiscal_host_name": self.fiscal_host_name.data or None,
            "fiscal_host_country": self.fiscal_host_country.data or None,
            "title": self.title.data or None,
            "summary": self.summary.data or None,
            "problem": self.problem.data or None,
            "activities": self.activities.data or None,
            "outcomes": self.outcomes.data or None,
            "elections": self.elections.data or None,
            "duration_months": self.duration_months.data,
            "requested_amount": self.requested_amount.data,
        }

    def budget_rows(self) -> list[dict]:
        return [
            {
                "category": entry.form.category.data,
                "description": entry.form.description.data,
                "amount": entry.form.amount.data,
            }
            for entry in self.budget_lines.entries
        ]

    def load(self, application) -> None:
        self.version.data = application.version
        self.member_id.data = str(application.member_id or "")
        self.org_registration.data = (
            application.org_registration.value if application.org_registration else None
        )
        self.countries.data = application.countries
        while len(self.budget_lines.entries):
            self.budget_lines.pop_entry()
        for line in application.budget_lines:
            self.budget_lines.append_entry(
                {"category": line.category, "description": line.description, "amount": line.amount}
            )
        while len(self.budget_lines.entries) < max(BUDGET_ROWS, len(application.budget_lines) + 2):
            self.budget_lines.append_entry()


class AttachmentForm(FlaskForm):
    once = OnceField()
    kind = SelectField(
        _l("What is it?"),
        choices=lambda: [SelectChoice(k.value, k.label) for k in AttachmentKind],
        validators=[DataRequired()],
    )
    file = FileField(
        _l("File"),
        validators=[DataRequired(_l("Choose a file."))],
        description=_l("PDF, DOCX, ODT, XLSX, ODS or CSV; at most 10 MB."),
    )


class WithdrawForm(FlaskForm):
    reason = TextAreaField(
        _l("Why do you withdraw?"),
        validators=[DataRequired(_l("Say why you withdraw: it helps the fund.")), Length(max=2000)],
        filters=[_strip],
    )


class ScreeningForm(FlaskForm):
    decision = RadioField(
        _l("Screening decision"),
        choices=[
            SelectChoice("eligible", _l("Eligible: it goes to review")),
            SelectChoice("ineligible", _l("Not eligible")),
        ],
        validators=[DataRequired(_l("Choose eligible or not eligible."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Give the reason for the screening decision.")),
            Length(max=2000),
        ],
        filters=[_strip],
        description=_l("Shown to the applicant after sign-in, never by email."),
    )
