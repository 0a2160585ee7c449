"""Forms for funds and rounds. They validate what was typed and never write;
the operations in ``coalition.grants.rounds`` check the domain rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from coalition.countries import country_choices, lookup_country
from coalition.fields import CountriesField, SelectField
from coalition.form_tokens import OnceField
from coalition.grants.models import AttachmentKind
from coalition.grants.money import AmountField, AmountRequired, is_currency
from coalition.i18n import is_timezone, timezone_choices
from coalition.inputs import VersionField, bounded_int
from coalition.text import SingleLine

BLANK_CRITERION_ROWS = 3
MAX_CRITERIA = 30
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def to_utc(local: datetime | None, zone: str) -> datetime | None:
    """A wall-clock time in ``zone`` as an aware UTC datetime."""
    if local is None:
        return None
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


def to_local(value: datetime | None, zone: str) -> datetime | None:
    """An aware datetime as the wall-clock time in ``zone`` (naive, for the form)."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


# -- Funds ------------------------------------------------------------------------------


class FundForm(FlaskForm):
    version = VersionField()
    once = OnceField()
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the fund's name.")), Length(max=200), SingleLine()],
        filters=[_strip],
    )
    partner = StringField(
        _l("Partner organisation"),
        validators=[Optional(), Length(max=200), SingleLine()],
        filters=[_strip],
    )
    currency = StringField(
        _l("Currency"),
        validators=[DataRequired(_l("Enter the currency's code."))],
        filters=[_upper],
        description=_l("Its ISO 4217 code, like USD, EUR or KES."),
        render_kw={"maxlength": 3, "autocomplete": "off", "spellcheck": "false"},
    )
    total_budget = AmountField(
        _l("Total budget"),
        validators=[AmountRequired(_l("Enter the fund's total budget."))],
        description=_l("In the fund's currency, like 1,500,000 or 250000.50."),
    )
    countries = CountriesField(
        _l("Eligible countries"),
        choices=lambda: [SelectChoice(code, name) for code, name in country_choices()],
        validate_choice=False,
        description=_l(
            "Where applicants may work. Tick them by region, "
            "or add every African country with the button below."
        ),
    )

    def validate_currency(self, field):
        if field.data and not is_currency(field.data):
            raise ValidationError(_l("Give the currency as its ISO 4217 code, like USD."))

    def validate_countries(self, field):
        if any(lookup_country(code) != code for code in field.data or ()):
            raise ValidationError(_l("Choose countries from the list."))

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "partner": self.partner.data or None,
            "currency": self.currency.data,
            "total_budget": self.total_budget.data,
        }

    def load(self, fund) -> None:
        self.version.data = fund.version
        self.name.data = fund.name
        self.partner.data = fund.partner
        self.currency.data = fund.currency
        self.total_budget.data = fund.total_budget
        self.countries.data = fund.eligible_countries


# -- Rounds -----------------------------------------------------------------------------


class CriterionForm(Form):
    """One row of the rubric; a blank row is ignored."""

    row_label = _l("Criterion %(n)d")  # as the page and its error summary name a row

    name = StringField(
        _l("Criterion"), validators=[Length(max=200), SingleLine()], filters=[_strip]
    )
    guidance = TextAreaField(
        _l("Guidance for reviewers"),
        validators=[Length(max=2000)],
        filters=[_strip],
        render_kw={"rows": 2},
    )
    weight = StringField(
        _l("Weight"),
        filters=[_strip],
        description=_l("A whole number of 1 or more."),
        render_kw={"inputmode": "numeric", "size": 4},
    )

    @property
    def is_blank(self) -> bool:
        return not (self.name.data or self.guidance.data or self.weight.data)

    def validate_name(self, field):
        if not field.data and not self.is_blank:
            raise ValidationError(_l("Name the criterion, or empty the whole row."))

    def validate_weight(self, field):
        if self.is_blank:
            return
        if bounded_int(field.data, minimum=1, maximum=100) is None:
            raise ValidationError(_l("Give a whole number from 1 to 100."))


def _timezone_options():
    return [SelectChoice("UTC", "UTC"), *(SelectChoice(tz, tz) for tz in timezone_choices())]


def _datetime_field(label, required=True, description=None):
    checks = [DataRequired(_l("Enter a date and time."))] if required else [Optional()]
    return DateTimeLocalField(
        label,
        format=DATETIME_FORMATS,
        validators=checks,
        description=description or _l("Date and time in the zone above, like 2027-03-15 23:59."),
    )


class RoundForm(FlaskForm):
    version = VersionField()
    once = OnceField()
    fund = SelectField(_l("Fund"), coerce=int, validate_choice=True)
    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Enter the round's title.")), Length(max=200), SingleLine()],
        filters=[_strip],
    )
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=20000)],
        filters=[_strip],
        description=_l(
            "What the call is for, who should apply and how. Markdown: **bold**, *italic*, "
            "lists, ## headings and [links](https://example.org)."
        ),
        render_kw={"rows": 12},
    )
    timezone = SelectField(
        _l("Time zone of the dates below"),
        choices=_timezone_options,
        validate_choice=False,
        description=_l("Times are kept in UTC and shown to each person in their own zone."),
    )
    opens_at = _datetime_field(_l("Opens"))
    closes_at = _datetime_field(_l("Closes"))
    review_deadline = _datetime_field(
        _l("Review deadline"),
        required=False,
        description=_l("Optional. Date and time in the zone above."),
    )
    budget = AmountField(
        _l("Round budget"),
        validators=[AmountRequired(_l("Enter the round's budget."))],
        description=_l("In the fund's currency, like 250,000."),
    )
    min_grant = AmountField(
        _l("Smallest grant"), validators=[AmountRequired(_l("Enter the smallest grant."))]
    )
    max_grant = AmountField(
        _l("Largest grant"), validators=[AmountRequired(_l("Enter the largest grant."))]
    )
    required_attachments = CheckboxesField(
        _l("Required attachments"),
        choices=lambda: [SelectChoice(kind.value, kind.label) for kind in AttachmentKind],
        validate_choice=False,
    )
    reviewers_per_application = IntegerField(
        _l("Reviewers per application"),
        default=2,
        validators=[
            DataRequired(_l("Give a number from 1 to 10.")),
            NumberRange(min=1, max=10, message=_l("Give a number from 1 to 10.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    blind_review = BooleanField(
        _l("Blind review"),
        description=_l("Reviewers do not see who applies."),
    )
    appeal_days = IntegerField(
        _l("Appeal period (days)"),
        default=14,
        description=_l("A rejected applicant may appeal once within this many days."),
        validators=[
            DataRequired(_l("Give a number of days from 1 to 90.")),
            NumberRange(min=1, max=90, message=_l("Give a number of days from 1 to 90.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    criteria = FieldList(
        FormField(CriterionForm),
        label=_l("Rubric"),
        min_entries=1,
        max_entries=MAX_CRITERIA,
    )

    def validate_timezone(self, field):
        if not is_timezone(field.data or ""):
            raise ValidationError(_l("Choose a time zone from the list."))

    def validate_closes_at(self, field):
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("The round must close after it opens."))

    def validate_review_deadline(self, field):
        if field.data and self.closes_at.data and field.data <= self.closes_at.data:
            raise ValidationError(_l("The review deadline must come after the round closes."))

    def validate_min_grant(self, field):
        if None not in (field.data, self.max_grant.data) and field.data > self.max_grant.data:
            raise ValidationError(_l("The smallest grant cannot be more than the largest."))

    def validate_max_grant(self, field):
        if None not in (field.data, self.budget.data) and field.data > self.budget.data:
            raise ValidationError(_l("The largest grant cannot be more than the round's budget."))

    def validate_required_attachments(self, field):
        known = {kind.value for kind in AttachmentKind}
        if any(value not in known for value in field.data or ()):
            raise ValidationError(_l("Choose from the list."))

    def validate_criteria(self, field):
        if not self.criterion_rows():
            raise ValidationError(_l("Give the rubric at least one criterion."))

    @property
    def errors(self):
        """As WTForms gives them, but the rubric's row errors flattened into sentences,
        so that the error summary at the top can list them."""
        errors = dict(super().errors)
        if "criteria" in errors:
            flat = []
            for index, item in enumerate(errors["criteria"], start=1):
                if isinstance(item, dict):
                    for name, messages in item.items():
                        label = self.criteria.entries[index - 1].form[name].label.text
                        flat.extend(
                            f"{_l('Criterion %(n)d', n=index)}, {label}: {message}"
                            for message in messages
                        )
                elif item:
                    flat.append(str(item))
            errors["criteria"] = flat
            if not flat:
                del errors["criteria"]
        return errors

    def criterion_rows(self) -> list[dict]:
        rows = []
        for entry in self.criteria.entries:
            row = entry.form
            if row.is_blank:
                continue
            rows.append(
                {
                    "name": row.name.data or "",
                    "guidance": row.guidance.data or "",
                    "weight": bounded_int(row.weight.data, minimum=1, maximum=100, default=0),
                }
            )
        return rows

    def values(self) -> dict:
        zone = self.timezone.data
        return {
            "title": self.title.data,
            "description": self.description.data or "",
            "opens_at": to_utc(self.opens_at.data, zone),
            "closes_at": to_utc(self.closes_at.data, zone),
            "review_deadline": to_utc(self.review_deadline.data, zone),
            "budget": self.budget.data,
            "min_grant": self.min_grant.data,
            "max_grant": self.max_grant.data,
            "required_attachments": list(self.required_attachments.data or []),
            "reviewers_per_application": self.reviewers_per_application.data,
            "blind_review": bool(self.blind_review.data),
            "appeal_days": self.appeal_days.data,
        }

    def add_blank_rows(self, count: int) -> None:
        for _ in range(count):
            if len(self.criteria.entries) >= MAX_CRITERIA:
                break
            self.criteria.append_entry()

    def load(self, round_, zone: str) -> None:
        """Fill the form from a round (GET), its times shown in ``zone``."""
        self.version.data = round_.version
        self.fund.data = round_.fund_id
        self.title.data = round_.title
        self.description.data = round_.description
        self.timezone.data = zone
        self.opens_at.data = to_local(round_.opens_at, zone)
        self.closes_at.data = to_local(round_.closes_at, zone)
        self.review_deadline.data = to_local(round_.review_deadline, zone)
        self.budget.data = round_.budget
        self.min_grant.data = round_.min_grant
        self.max_grant.data = round_.max_grant
        self.required_attachments.data = list(round_.required_attachments or [])
        self.reviewers_per_application.data = round_.reviewers_per_application
        self.blind_review.data = round_.blind_review
        self.appeal_days.data = round_.appeal_days
        while self.criteria.entries:
            self.criteria.pop_entry()
        for criterion in round_.criteria:
            self.criteria.append_entry(
                {
                    "name": criterion.name,
                    "guidance": criterion.guidance,
                    "weight": str(criterion.weight),
                }
            )
        self.add_blank_rows(1)
