"""Integers from a request, read in one place and always bounded.

Anything a request carries (a query parameter, a form field, a hidden field)
is text typed or forged by someone else. Python's ``int()`` is too generous
for it: it takes ``" 12 "``, ``"+12"``, ``"1_000"``, Arabic-Indic digits, and
it fails on ``"²"`` although ``"²".isdigit()`` is true; and an integer it does
make may still overflow the database's column (``page=99999999999999999999``
became an ``OverflowError`` in the driver). So every integer a view or a form
reads goes through ``bounded_int``:

* only ASCII digits ``0-9``, surrounding spaces ignored; no sign, no
  decimal point, no exponent, no ``NaN``, no other script's digits;
* within ``minimum``..``maximum`` (by default a positive 32-bit id, what an
  ``INTEGER`` column holds on every database); out of range is refused, or
  pulled to the nearest bound with ``clamp=True``;
* anything else gives ``default`` (``None`` unless said), never an exception.

Text is checked once, for the whole request: ``refuse_nul_characters`` (a
``before_request`` hook) answers 400 to a query string or form holding a NUL
character, which nobody types and PostgreSQL cannot store in a text column
(the driver would fail, as a 500, wherever the value went).

``page_number()`` is the pager's reading of ``?page=`` (clamped to
``MAX_PAGE``), and ``VersionField`` the hidden field of every form that edits
with optimistic locking: its data is the version as an ``int`` (``None`` when
absent), and a malformed one is a validation error, never a 500::

    class FundForm(FlaskForm):
        version = VersionField()

    ops.update_fund(fund, version=form.version.data, ...)
"""

from __future__ import annotations

from flask import abort, request
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import ValidationError

# The largest value of a 32-bit signed INTEGER column: ids, versions, counts.
MAX_ID = 2**31 - 1
# Past this a page number is hostile or a typo; it is read as this page.
MAX_PAGE = 10_000
# Longer text is not a number anyone typed (and int() of it is slow).
MAX_DIGITS = 30


def bounded_int(
    value,
    *,
    minimum: int = 0,
    maximum: int = MAX_ID,
    default: int | None = None,
    clamp: bool = False,
) -> int | None:
    """``value`` as an int within ``minimum``..``maximum``; ``default`` if it is not one.

    ``value`` may be text (from a request) or already an int (a form filled
    in by the code); ``True``/``False`` and floats are not integers here.
    With ``clamp``, a number out of range is pulled to the nearest bound
    instead of giving ``default``.
    """
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or not text.isascii() or not text.isdigit():
            return default
        # Past MAX_DIGITS the number is beyond any bound: not worth int()'s time.
        number = int(text) if len(text) <= MAX_DIGITS else maximum + 1
    else:
        return default
    if minimum <= number <= maximum:
        return number
    if clamp:
        return min(max(number, minimum), maximum)
    return default


def refuse_nul_characters() -> None:
    """400 for a request whose query string or form fields hold a NUL character."""
    for values in (request.args, request.form if request.method != "GET" else None):
        if values and any("\x00" in value for _name, value in values.items(multi=True)):
            abort(400)


def page_number(name: str = "page", maximum: int = MAX_PAGE) -> int:
    """The page asked for in the query string: 1 when absent or malformed, at most ``maximum``."""
    return bounded_int(request.args.get(name), minimum=1, maximum=maximum, default=1, clamp=True)


def arg_int(name: str, **bounds) -> int | None:
    """An integer query parameter (an id by default), or ``None``; see ``bounded_int``."""
    return bounded_int(request.args.get(name), **bounds)


class VersionField(HiddenField):
    """The version a form was opened at, for optimistic locking.

    ``data`` is an int, or ``None`` when the form carries no version (a
    create form, or a client that left it out: the operation decides what
    that means). A version that is not a whole number from 1 to ``MAX_ID``
    fails validation with a message asking to reload, beside the field.
    """

    def __init__(self, label=None, validators=None, *, required: bool = False, **kwargs):
        super().__init__(label or _l("Version"), validators, **kwargs)
        self.required = required
        self._raw = None

    def process_formdata(self, valuelist):
        self._raw = valuelist[0] if valuelist else None
        self.data = bounded_int(self._raw, minimum=1)

    def process_data(self, value):
        self.data = bounded_int(value, minimum=1)

    def pre_validate(self, form):
        given = self._raw is not None and str(self._raw).strip() != ""
        if (given and self.data is None) or (self.required and self.data is None):
            raise ValidationError(
                _l("This form is out of date or damaged: reload the page and try again.")
            )

    def _value(self):
        return "" if self.data is None else str(self.data)
