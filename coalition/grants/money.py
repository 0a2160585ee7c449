"""Money as people type it and read it.

Amounts are kept as integers in the currency's minor unit (cents). Forms take
major units as decimal text ("12,500.50" or "12500.5"), parsed with Decimal,
never float; pages show them with Babel's ``format_currency`` in the reader's
language. Every amount here has two decimals, as the fund's currencies do.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel import Locale
from babel.numbers import (
    NumberPattern,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import ValidationError

MINOR_PER_MAJOR = 100
# Plain digits, or digits grouped by commas in threes; then at most two decimals.
_AMOUNT = re.compile(r"^(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.(\d+))?$")
# Larger than any budget, and safely inside a BIGINT.
MAX_MINOR = 10**15


class AmountError(ValueError):
    """Text that is not an amount; ``message`` says why, for the person who typed it."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def parse_amount(text: str | None) -> int | None:
    """'12,500.50' -> 1250050 (minor units). Empty -> None.

    Refuses negative amounts, anything that is not a number, and more than two
    decimals, with a message saying which.
    """
    if text is None:
        return None
    cleaned = str(text).strip()
    if not cleaned:
        return None
    if cleaned.startswith(("-", "\u2212")):
        raise AmountError(_l("Enter an amount of zero or more."))
    match = _AMOUNT.match(cleaned)
    if not match:
        raise AmountError(_l("Enter an amount in figures, like 12,500.50."))
    decimals = match.group(1)
    if decimals is not None and len(decimals) > 2:
        raise AmountError(_l("Enter an amount with at most two decimals."))
    try:
        major = Decimal(cleaned.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise AmountError(_l("Enter an amount in figures, like 12,500.50.")) from exc
    minor = int(major * MINOR_PER_MAJOR)
    if minor >= MAX_MINOR:
        raise AmountError(_l("Enter a smaller amount."))
    return minor


def to_major(minor: int) -> Decimal:
    return Decimal(int(minor)) / MINOR_PER_MAJOR


def amount_text(minor: int | None) -> str:
    """Minor units as form text: 1250050 -> '12,500.50' (what ``parse_amount`` reads back)."""
    if minor is None:
        return ""
    return f"{to_major(minor):,.2f}"


def format_money(minor: int | None, currency: str) -> str:
    """Minor units for reading, in the reader's language: 1250050, 'USD' -> '$12,500.50'.

    Exactly what Babel's ``format_currency`` writes. A round's list shows fifty
    amounts, so the locale's pattern and symbols are read once per locale and
    currency, and the common case (two decimals, groups of three) is written
    directly; anything else goes through Babel.
    """
    return _format_in(get_locale() or Locale.parse("en"), minor, currency)


def money_formatter(locale: Locale | None = None):
    """``format_money`` with the reader's language looked up once: what a list page
    passes its template to write a hundred amounts."""
    locale = locale or get_locale() or Locale.parse("en")

    def money(minor: int | None, currency: str) -> str:
        return _format_in(locale, minor, currency)

    return money


def _format_in(locale: Locale, minor: int | None, currency: str) -> str:
    if minor is None:
        return "—"
    shape = _money_shape(locale, currency)
    if shape is None or minor < 0:
        return _currency_pattern(locale).apply(to_major(minor), locale, currency=currency)
    prefix, group, decimal, suffix = shape
    major, cents = divmod(int(minor), MINOR_PER_MAJOR)
    grouped = f"{major:,}".replace(",", group)
    return f"{prefix}{grouped}{decimal}{cents:02d}{suffix}"


@cache
def _currency_pattern(locale: Locale) -> NumberPattern:
    return locale.currency_formats["standard"]


@cache
def _money_shape(locale: Locale, currency: str) -> tuple[str, str, str, str] | None:
    """(prefix, group symbol, decimal symbol, suffix) where the plain case applies."""
    pattern = _currency_pattern(locale)
    plain = (
        MINOR_PER_MAJOR == 100
        and get_currency_precision(currency) == 2
        and pattern.grouping == (3, 3)
        and pattern.frac_prec == (2, 2)
        and pattern.int_prec[0] == 1
        and "¤¤" not in pattern.pattern
    )
    if not plain:
        return None
    symbol = get_currency_symbol(currency, locale)
    prefix, suffix = (part[0].replace("¤", symbol) for part in (pattern.prefix, pattern.suffix))
    return prefix, get_group_symbol(locale), get_decimal_symbol(locale), suffix


@cache
def currency_codes() -> frozenset[str]:
    """The ISO 4217 codes Babel knows."""
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def is_currency(code: str | None) -> bool:
    return bool(code) and code in currency_codes()


class AmountField(StringField):
    """An amount typed in major units; ``data`` is the integer in minor units (or None).

    What was typed is shown again as typed when the form comes back with an error.
    """

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)
        self.raw_text = None

    def process_formdata(self, valuelist):
        self.raw_text = valuelist[0] if valuelist else ""
        try:
            self.data = parse_amount(self.raw_text)
        except AmountError as exc:
            self.data = None
            raise ValueError(str(exc.message)) from exc

    def _value(self):
        if self.raw_text is not None:
            return self.raw_text
        return amount_text(self.data) if isinstance(self.data, int) else ""


class AmountRequired:
    """An amount must be given (and be valid; the field's own errors say why not)."""

    def __init__(self, message=None):
        self.message = message
        self.field_flags = {"required": True}

    def __call__(self, form, field):
        if field.data is None and not field.errors:
            raise ValidationError(self.message or _l("Enter an amount."))
