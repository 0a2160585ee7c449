"""Account forms. Forms validate input; they never write to the database."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from coalition.accounts.models import Role
from coalition.accounts.passwords import MAX_LENGTH, password_problem
from coalition.config import LANGUAGES
from coalition.fields import SelectField
from coalition.form_tokens import OnceField
from coalition.i18n import is_timezone
from coalition.text import SingleLine


class ValidEmail:
    """A deliverable-looking address (syntax only: no DNS lookups)."""

    def __call__(self, form, field):
        from email_validator import EmailNotValidError, validate_email

        try:
            info = validate_email(field.data or "", check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(_l("Enter an email address like name@example.org."))
        field.data = info.normalized


class StrongPassword:
    """The password policy (S1), told the person's own name and address.

    They come from the form's ``name`` and ``email`` fields when it has them,
    and from ``form.password_context`` (set by the view: the account a reset
    or invitation link belongs to, or the signed-in person).
    """

    def __call__(self, form, field):
        inputs = [getattr(getattr(form, name, None), "data", None) for name in ("name", "email")]
        inputs.extend(getattr(form, "password_context", ()))
        problem = password_problem(field.data or "", user_inputs=[i for i in inputs if i])
        if problem:
            raise ValidationError(problem)


class KnownTimezone:
    def __call__(self, form, field):
        if not is_timezone(field.data or ""):
            raise ValidationError(_l("Choose a time zone from the list."))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def language_choices():
    return [
        SelectChoice(code, label, render_kw={"lang": code}) for code, label in LANGUAGES.items()
    ]


def email_field(label=None):
    return EmailField(
        label or _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254), ValidEmail()],
        filters=[_strip],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


def new_password_fields():
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Choose a password.")), StrongPassword()],
        description=_l("At least 12 characters. A few unrelated words make a good one."),
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class SignUpForm(FlaskForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(_l("Enter your name.")), Length(max=200), SingleLine()],
        filters=[_strip],
        render_kw={"autocomplete": "name"},
    )
    email = email_field()
    password, confirm = new_password_fields()
    language = SelectField(_l("Language"), choices=language_choices(), default="en")
    # Filled in by the browser (static/enhance.js) when it can; UTC otherwise.
    timezone = HiddenField(default="UTC")


class SignInForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        filters=[_strip],
        render_kw={"autocomplete": "username", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(
        _l("Keep me signed in on this device"),
        description=_l("Only on a device nobody else uses. Not available to staff and steering."),
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Six-digit code"),
        validators=[DataRequired(_l("Enter the code from your app.")), Length(max=20)],
        filters=[_strip],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"},
    )


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(_l("Enter one of your recovery codes.")), Length(max=40)],
        filters=[_strip],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class EmailOnlyForm(FlaskForm):
    email = email_field()


class NewPasswordForm(FlaskForm):
    password, confirm = new_password_fields()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields()


class ChangeEmailForm(FlaskForm):
    email = email_field(_l("New email address"))
    password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordConfirmForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )


class ProfileForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter your name.")), Length(max=200), SingleLine()],
        filters=[_strip],
    )
    language = SelectField(_l("Language"), choices=language_choices())
    timezone = SelectField(_l("Time zone"), validators=[KnownTimezone()], validate_choice=False)


class LanguageForm(FlaskForm):
    language = SelectField(_l("Language"), choices=language_choices())
    next = HiddenField()


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def role_choices():
    return [SelectChoice(r.value, r.label) for r in Role]


class InviteForm(FlaskForm):
    once = OnceField()
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), Length(max=200), SingleLine()],
        filters=[_strip],
    )
    email = email_field()
    roles = MultiCheckboxField(
        _l("Roles"),
        choices=role_choices,
        validators=[DataRequired(_l("Choose at least one role."))],
    )
    language = SelectField(_l("Language of the invitation"), choices=language_choices())


class RolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Roles"), choices=role_choices)


class ConfirmForm(FlaskForm):
    """A bare form: a button and its CSRF token."""


class StartForm(FlaskForm):
    """A button that starts something (a two-factor enrolment), told apart by its field."""

    start = HiddenField()
