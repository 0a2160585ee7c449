"""Member forms: the public joining form and a member's profile (with its contacts).

Forms validate input and never write to the database. The fields are built
by small functions and the contact rows by ``ContactForm``, so that other
member forms (the staff edit form) can be put together from the same pieces.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, ValidationError

from coalition.accounts.forms import MultiCheckboxField, ValidEmail, language_choices
from coalition.config import LANGUAGES
from coalition.countries import country_choices, lookup_country
from coalition.fields import CountriesField, CountrySelectField, SelectField
from coalition.form_tokens import OnceField
from coalition.inputs import VersionField, bounded_int
from coalition.members.models import FocusArea, Member, MemberKind, OrgType
from coalition.text import SingleLine

# The consent a joining member gives, shown beside its checkbox and stored
# word for word (in the language it was shown in) with the time it was given.
CONSENT_WORDING = _l(
    "We agree that our name, acronym, kind, type, country, focus areas and website are "
    "listed in the coalition's public member directory. We can withdraw this at any time, "
    "from our member profile or by writing to the convenor staff."
)
# The joining application's motivation is kept in the member's internal notes.
MOTIVATION_PREFIX = "Joining application: "
MAX_CONTACTS = 20

KIND_LABELS = {
    MemberKind.ORGANISATION: _l("An organisation"),
    MemberKind.EXPERT: _l("An individual expert"),
}


# -- Validators and filters -------------------------------------------------------


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _with_scheme(value):
    """'example.org' -> 'https://example.org'; anything with a scheme is left as it is."""
    if isinstance(value, str):
        value = value.strip()
        if value and "://" not in value and ":" not in value.split("/", 1)[0]:
            return "https://" + value
    return value


class HttpUrl:
    """A web address starting with http:// or https://, with a host name."""

    message = _l("Enter a web address starting with https:// or http://.")

    def __call__(self, form, field):
        if not field.data:
            return
        parts = urlsplit(field.data)
        host = parts.hostname or ""
        if (
            parts.scheme.lower() not in ("http", "https")
            or "." not in host
            or any(ch.isspace() for ch in field.data)
        ):
            raise ValidationError(self.message)


class KnownCountry:
    def __call__(self, form, field):
        if field.data and lookup_country(field.data) != field.data:
            raise ValidationError(_l("Choose a country from the list."))


class KnownCountries:
    def __call__(self, form, field):
        for code in field.data or ():
            if lookup_country(code) != code:
                raise ValidationError(_l("Choose countries from the list."))


class OneOf:
    """The value is one of an enum's values (or empty)."""

    def __init__(self, enum_cls, message):
        self.values = {e.value for e in enum_cls}
        self.message = message

    def __call__(self, form, field):
        if field.data and field.data not in self.values:
            raise ValidationError(self.message)


# -- Choices ------------------------------------------------------------------------


def kind_choices():
    return [SelectChoice(kind.value, KIND_LABELS[kind]) for kind in MemberKind]


def org_type_choices():
    return [
        SelectChoice("", _l("Not given")),
        *(SelectChoice(t.value, t.label) for t in OrgType),
    ]


def focus_choices():
    return [SelectChoice(f.value, f.label) for f in FocusArea]


# -- Fields, one function each, so that any member form can take them ---------------


def kind_field():
    return SelectField(
        _l("Who is joining?"),
        choices=kind_choices,
        default=MemberKind.ORGANISATION.value,
        validators=[
            DataRequired(_l("Say who is joining.")),
            OneOf(MemberKind, _l("Choose from the list.")),
        ],
        validate_choice=False,
    )


def name_field(label=None):
    return StringField(
        label or _l("Name of the organisation or expert"),
        validators=[DataRequired(_l("Enter the name.")), Length(max=300), SingleLine()],
        filters=[_strip],
        render_kw={"autocomplete": "organization", "maxlength": 300},
    )


def acronym_field():
    return StringField(
        _l("Acronym"),
        validators=[Optional(), Length(max=40), SingleLine()],
        filters=[_strip],
        render_kw={"maxlength": 40},
    )


def org_type_field():
    return SelectField(
        _l("Type of organisation"),
        choices=org_type_choices,
        validators=[OneOf(OrgType, _l("Choose a type from the list."))],
        validate_choice=False,
        description=_l("Organisations only; leave it for an individual expert."),
    )


def home_country_field():
    return CountrySelectField(
        _l("Country"),
        validators=[DataRequired(_l("Choose the country you are based in.")), KnownCountry()],
        validate_choice=False,
        description=_l("Where the organisation is based, or where the expert lives."),
    )


def work_countries_field():
    return CountriesField(
        _l("Countries of work"),
        choices=country_choices,
        validators=[KnownCountries()],
        validate_choice=False,
        description=_l("Optional. Open a region and tick each country."),
    )


def focus_field():
    return MultiCheckboxField(
        _l("Focus areas"),
        choices=focus_choices,
        validators=[_valid_choices(FocusArea)],
        validate_choice=False,
    )


def languages_field(label=None):
    return MultiCheckboxField(
        label or _l("Languages"),
        choices=language_choices,
        validators=[_valid_choices(LANGUAGES)],
        validate_choice=False,
    )


def _valid_choices(allowed):
    values = {getattr(v, "value", v) for v in allowed}

    def check(form, field):
        if any(v not in values for v in field.data or ()):
            raise ValidationError(_l("Choose from the list."))

    return check


def website_field():
    return StringField(
        _l("Website"),
        validators=[Optional(), Length(max=300), HttpUrl()],
        filters=[_with_scheme],
        description=_l("For example https://example.org"),
        render_kw={"autocomplete": "url", "inputmode": "url", "spellcheck": "false"},
    )


def contact_email_field(label=None, required=True):
    checks = [DataRequired(_l("Enter an email address."))] if required else [Optional()]
    return EmailField(
        label or _l("Email"),
        validators=[*checks, Length(max=254), ValidEmail()],
        filters=[_strip],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


# -- The joining form -----------------------------------------------------------------


class JoinForm(FlaskForm):
    once = OnceField()
    kind = kind_field()
    name = name_field()
    acronym = acronym_field()
    org_type = org_type_field()
    country = home_country_field()
    work_countries = work_countries_field()
    focus_areas = focus_field()
    languages = languages_field(_l("Languages we can write to you in"))
    website = website_field()
    contact_name = StringField(
        _l("Your name"),
        validators=[DataRequired(_l("Enter your name.")), Length(max=200), SingleLine()],
        filters=[_strip],
        render_kw={"autocomplete": "name"},
    )
    contact_email = contact_email_field(_l("Your email address"))
    contact_role = StringField(
        _l("Your role"),
        validators=[Optional(), Length(max=120), SingleLine()],
        filters=[_strip],
        description=_l("For example: director, researcher. Optional."),
        render_kw={"autocomplete": "organization-title"},
    )
    motivation = TextAreaField(
        _l("Why do you want to join?"),
        validators=[Optional(), Length(max=2000)],
        filters=[_strip],
        description=_l("A few sentences are enough. Only the convenor staff read this."),
        render_kw={"rows": 5, "maxlength": 2000},
    )
    consent_public = BooleanField(CONSENT_WORDING, default=False)
    # The honeypot: people never see it; a bot that fills it in is answered as
    # if it had succeeded, and nothing is kept.
    website_confirm = StringField(
        _l("Leave this empty"),
        render_kw={"autocomplete": "off", "tabindex": "-1"},
    )

    @property
    def is_expert(self) -> bool:
        return self.kind.data == MemberKind.EXPERT.value

    def member_values(self, consent_wording: str) -> dict[str, Any]:
        """The member's fields, for ``operations.create_member``."""
        return {
            "kind": MemberKind(self.kind.data),
            "name": self.name.data,
            "acronym": self.acronym.data or None,
            # An expert has no organisation type, whatever was sent.
            "org_type": None
            if self.is_expert or not self.org_type.data
            else OrgType(self.org_type.data),
            "country": self.country.data,
            "website": self.website.data or None,
            "languages": list(self.languages.data or []),
            "notes": MOTIVATION_PREFIX + self.motivation.data if self.motivation.data else None,
            "consent_public": bool(self.consent_public.data),
            "consent_wording": consent_wording if self.consent_public.data else None,
        }

    def contact_row(self) -> dict[str, Any]:
        return {
            "name": self.contact_name.data,
            "email": self.contact_email.data,
            "role": self.contact_role.data or None,
            "is_primary": True,
        }


# -- The profile form and its contact rows -------------------------------------------


def _contact_id(value):
    return bounded_int(value, minimum=1)


class ContactForm(Form):
    """One contact of a member: a row of the profile form (no CSRF of its own)."""

    # How the page and its error summary name a row.
    row_label = _l("Contact %(n)d")
    new_row_label = _l("New contact")

    id = HiddenField(filters=[_contact_id])
    name = StringField(_l("Name"), validators=[Length(max=200), SingleLine()], filters=[_strip])
    email = contact_email_field(required=False)
    role = StringField(_l("Role"), validators=[Length(max=120), SingleLine()], filters=[_strip])
    is_primary = BooleanField(_l("Primary contact"))
    remove = BooleanField(_l("Remove this contact"))

    @property
    def is_blank(self) -> bool:
        return not (self.name.data or self.email.data or self.role.data)

    @property
    def kept(self) -> bool:
        """The row stays (or is added) when saved."""
        return not self.remove.data and bool(self.name.data)

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.remove.data or (self.is_blank and not self.id.data):
            return ok
        if not self.name.data:
            message = (
                _l("Enter a name, or tick “Remove this contact”.")
                if self.id.data
                else _l("Enter the contact's name.")
            )
            self.name.errors = [*self.name.errors, message]
            ok = False
        return ok

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id.data,
            "name": self.name.data,
            "email": self.email.data or None,
            "role": self.role.data or None,
            "is_primary": bool(self.is_primary.data),
        }


class ProfileForm(FlaskForm):
    """A member's public profile and contacts, as the member's own contacts edit them."""

    version = VersionField(required=True)
    name = name_field(_l("Name"))
    acronym = acronym_field()
    org_type = org_type_field()
    website = website_field()
    languages = languages_field()
    focus_areas = focus_field()
    work_countries = work_countries_field()
    contacts = FieldList(
        FormField(ContactForm), label=_l("Contacts"), min_entries=1, max_entries=MAX_CONTACTS
    )

    @classmethod
    def for_member(cls, member: Member, *, blank_rows: int = 1) -> ProfileForm:
        """The form filled in from the member, with room for a new contact."""
        form = cls(
            formdata=None,
            data={
                "version": str(member.version),
                "name": member.name,
                "acronym": member.acronym or "",
                "org_type": member.org_type.value if member.org_type else "",
                "website": member.website or "",
                "languages": list(member.languages or []),
                "focus_areas": [f.value for f in member.focus_areas],
                "work_countries": member.work_countries,
                "contacts": [
                    {
                        "id": str(c.id),
                        "name": c.name,
                        "email": c.email or "",
                        "role": c.role or "",
                        "is_primary": c.is_primary,
                    }
                    for c in member.contacts
                ],
            },
        )
        if not member.contacts:
            form.contacts.entries.clear()
            form.contacts.last_index = -1
        for _ in range(blank_rows):
            if len(form.contacts.entries) < MAX_CONTACTS:
                form.contacts.append_entry()
        return form

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        rows = [entry.form for entry in self.contacts.entries]
        kept = [row for row in rows if row.kept]
        if not kept:
            self.contacts.errors = [_l("Keep at least one contact.")]
            return False
        if sum(1 for row in kept if row.is_primary.data) > 1:
            self.contacts.errors = [_l("Tick “Primary contact” for one contact only.")]
            return False
        return ok

    def profile_values(self, member: Member) -> dict[str, Any]:
        """The fields of ``operations.PROFILE_FIELDS``, from what was sent."""
        is_org = member.kind == MemberKind.ORGANISATION
        return {
            "name": self.name.data,
            "acronym": self.acronym.data or None,
            "org_type": OrgType(self.org_type.data) if is_org and self.org_type.data else None,
            "website": self.website.data or None,
            "languages": list(self.languages.data or []),
        }

    def contact_rows(self) -> list[dict[str, Any]]:
        """The contacts to keep, matched to the existing ones by id."""
        return [entry.form.as_row() for entry in self.contacts.entries if entry.form.kept]

    def row_of_contact(self, contact_id: int):
        """The row (subform) that carries an existing contact, or None when it was left out."""
        for entry in self.contacts.entries:
            if entry.form.id.data == contact_id:
                return entry.form
        return None


# -- Consent to the public directory, given or withdrawn by the member ---------------


class PublicConsentForm(FlaskForm):
    """One button on the profile page: list us, or stop listing us.

    The hidden ``intent`` says which way the button goes, so a form sent twice
    (a double click, a resent page) asks for the same thing twice, and the
    second time changes nothing. The wording agreed to is not sent by the
    browser: the server records ``CONSENT_WORDING`` as it showed it.
    """

    GIVE = "give"
    WITHDRAW = "withdraw"

    intent = HiddenField(validators=[DataRequired(), AnyOf((GIVE, WITHDRAW))])

    @classmethod
    def for_member(cls, member: Member) -> PublicConsentForm:
        """The form whose button changes the member's present consent."""
        return cls(formdata=None, intent=cls.WITHDRAW if member.consent_public else cls.GIVE)

    @property
    def consent(self) -> bool:
        """True to give consent, False to withdraw it."""
        return self.intent.data == self.GIVE
