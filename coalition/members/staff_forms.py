"""Staff forms of the registry: the full member record, status changes, decisions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from coalition.config import LANGUAGES
from coalition.countries import country_choices
from coalition.fields import CountriesField, SelectField
from coalition.form_tokens import OnceField
from coalition.inputs import VersionField, bounded_int
from coalition.members.forms import website_field
from coalition.members.models import FocusArea, MemberKind, MemberStatus, OrgType
from coalition.text import SingleLine

BLANK_CONTACT_ROWS = 2


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _country_options():
    return [SelectChoice("", _l("Choose a country"))] + [
        SelectChoice(code, name) for code, name in country_choices()
    ]


class ContactForm(Form):
    """One contact person; blank rows are ignored."""

    row_label = _l("Contact %(n)d")  # as the page and its error summary name a row

    id = HiddenField()
    name = StringField(
        _l("Name"), validators=[Optional(), Length(max=200), SingleLine()], filters=[_strip]
    )
    email = EmailField(
        _l("Email"),
        validators=[
            Optional(),
            Email(_l("Enter an email address like name@example.org.")),
            Length(max=254),
        ],
        filters=[_strip],
    )
    role = StringField(
        _l("Role"), validators=[Optional(), Length(max=120), SingleLine()], filters=[_strip]
    )
    is_primary = BooleanField(_l("Primary contact"))

    def validate_name(self, field):
        if not field.data and (self.email.data or self.role.data):
            raise ValidationError(_l("Give the contact's name, or empty the whole row."))


class MemberForm(FlaskForm):
    """The whole record, as staff keep it (the edit view requires the version)."""

    version = VersionField()
    once = OnceField()
    kind = RadioField(
        _l("Kind"),
        choices=lambda: [SelectChoice(k.value, k.label) for k in MemberKind],
        validators=[DataRequired(_l("Choose organisation or expert."))],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the member's name.")), Length(max=300), SingleLine()],
        filters=[_strip],
    )
    acronym = StringField(
        _l("Acronym"), validators=[Optional(), Length(max=40), SingleLine()], filters=[_strip]
    )
    org_type = SelectField(
        _l("Organisation type"),
        choices=lambda: (
            [SelectChoice("", _l("Not given"))] + [SelectChoice(t.value, t.label) for t in OrgType]
        ),
        validators=[Optional()],
        description=_l("Only for organisations."),
    )
    country = SelectField(
        _l("Home country"),
        choices=_country_options,
        validators=[DataRequired(_l("Choose the home country."))],
    )
    work_countries = CountriesField(
        _l("Countries of work"),
        choices=lambda: [SelectChoice(code, name) for code, name in country_choices()],
        validators=[Optional()],
    )
    focus_areas = CheckboxesField(
        _l("Focus areas"), choices=lambda: [SelectChoice(f.value, f.label) for f in FocusArea]
    )
    languages = CheckboxesField(
        _l("Languages"),
        choices=[
            SelectChoice(code, label, render_kw={"lang": code}) for code, label in LANGUAGES.items()
        ],
    )
    # The same check as the member's own profile form: a web address that a
    # browser opens, international domain names included.
    website = website_field()
    joined_on = DateField(_l("Joined on"), validators=[Optional()])
    steering_from = DateField(_l("Steering seat from"), validators=[Optional()])
    steering_until = DateField(_l("Steering seat until"), validators=[Optional()])
    consent_public = BooleanField(_l("Consented to be listed in the public directory"))
    consent_wording = TextAreaField(
        _l("Wording the member agreed to"),
        validators=[Length(max=2000)],
        filters=[_strip],
        description=_l("Kept with the date of consent."),
    )
    notes = TextAreaField(
        _l("Internal notes"),
        validators=[Optional(), Length(max=10000)],
        filters=[_strip],
        description=_l("Staff only. Never shown to the member or the public."),
    )
    contacts = FieldList(FormField(ContactForm), min_entries=1)

    def validate_steering_until(self, field):
        if field.data and self.steering_from.data and field.data < self.steering_from.data:
            raise ValidationError(_l("The seat cannot end before it starts."))

    def validate_consent_wording(self, field):
        if self.consent_public.data and not field.data:
            raise ValidationError(_l("Record the wording the member agreed to."))

    def values(self) -> dict:
        """The member's own fields, as the operations take them."""
        return {
            "kind": MemberKind(self.kind.data),
            "name": self.name.data,
            "acronym": self.acronym.data or None,
            "org_type": OrgType(self.org_type.data) if self.org_type.data else None,
            "country": self.country.data,
            "website": self.website.data or None,
            "languages": list(self.languages.data or []),
            "joined_on": self.joined_on.data,
            "steering_from": self.steering_from.data,
            "steering_until": self.steering_until.data,
            "consent_public": bool(self.consent_public.data),
            "consent_wording": self.consent_wording.data or None,
            "notes": self.notes.data or None,
            # Only a new member's form has the flag; on an existing member it
            # changes through AtRiskForm, behind a fresh sign-in.
            **({"at_risk": bool(self.at_risk.data)} if "at_risk" in self else {}),
        }

    def contact_rows(self) -> list[dict]:
        rows = []
        for entry in self.contacts.entries:
            data = entry.form
            rows.append(
                {
                    "id": bounded_int(data.id.data, minimum=1),
                    "name": data.name.data or "",
                    "email": data.email.data or "",
                    "role": data.role.data or "",
                    "is_primary": data.is_primary.data,
                }
            )
        return rows

    def load(self, member) -> None:
        """Fill the form from a member (GET)."""
        self.version.data = member.version
        self.kind.data = member.kind.value
        self.org_type.data = member.org_type.value if member.org_type else ""
        self.work_countries.data = member.work_countries
        self.focus_areas.data = [f.value for f in member.focus_areas]
        self.languages.data = list(member.languages or [])
        while len(self.contacts.entries):
            self.contacts.pop_entry()
        for contact in member.contacts:
            self.contacts.append_entry(
                {
                    "id": str(contact.id),
                    "name": contact.name,
                    "email": contact.email,
                    "role": contact.role,
                    "is_primary": contact.is_primary,
                }
            )
        for _ in range(BLANK_CONTACT_ROWS):
            self.contacts.append_entry()


AT_RISK_HELP = _l(
    "Keeps the member out of every public list, figure and export, whatever its consent, "
    "and shows its contacts to the convenor staff only."
)


class NewMemberForm(MemberForm):
    """A member added by staff: may be marked at risk from the start."""

    at_risk = BooleanField(_l("At risk"), description=AT_RISK_HELP)


class AtRiskForm(FlaskForm):
    """Set (``"1"``) or lift (``"0"``) the at-risk flag of one member."""

    version = VersionField(required=True)
    at_risk = HiddenField(validators=[AnyOf(("0", "1"))])


class StatusForm(FlaskForm):
    version = VersionField(required=True)
    status = SelectField(_l("New status"), validators=[DataRequired()])
    reason = TextAreaField(
        _l("Why"),
        validators=[
            DataRequired(_l("Say why: it is kept in the member's history.")),
            Length(max=2000),
        ],
        filters=[_strip],
    )


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("approve", _l("Approve: the member becomes active")),
            SelectChoice("reject", _l("Reject")),
        ],
        validators=[DataRequired(_l("Choose approve or reject."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Give the reason: it is kept in the member's history.")),
            Length(max=2000),
        ],
        filters=[_strip],
        description=_l("Kept in the history. The applicant's email does not include it."),
    )


def status_choices(member) -> list[SelectChoice]:
    from coalition.members.models import TRANSITIONS

    return [
        SelectChoice(s.value, s.label)
        for s in MemberStatus
        if s in TRANSITIONS[MemberStatus(member.status)]
    ]
