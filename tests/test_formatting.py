"""Times and amounts as readers see them: the fast paths give what Babel gives."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_currency
from flask_babel import force_locale

from coalition.grants.money import format_money, to_major
from coalition.i18n import _format_datetime, local_time

LOCALES = ["en", "fr", "ar", "pt", "sw", "es"]


@pytest.mark.parametrize("language", LOCALES)
def test_times_read_as_babel_writes_them(language):
    locale = Locale.parse(language)
    for fmt in ("short", "medium", "long", "full", "d MMM yyyy HH:mm"):
        for zone in ("UTC", "Africa/Nairobi", "America/Sao_Paulo"):
            moment = datetime(2027, 3, 15, 20, 59, 7, tzinfo=UTC).astimezone(ZoneInfo(zone))
            expected = format_datetime(moment, fmt, tzinfo=ZoneInfo(zone), locale=locale)
            assert _format_datetime(moment, fmt, locale) == expected


@pytest.mark.parametrize("language", LOCALES)
def test_amounts_read_as_babel_writes_them(app, language):
    with app.test_request_context(), force_locale(language):
        for currency in ("USD", "EUR", "KES", "XOF", "NGN", "JPY", "BHD", "GHS", "ZAR"):
            for minor in (0, 1, 99, 100, 125_000, 1_250_050, 30_000_000, 123_456_789_012):
                expected = format_currency(to_major(minor), currency, locale=language)
                assert format_money(minor, currency) == expected
        assert format_money(None, "USD") == "—"


def test_local_time_names_the_zone_unless_a_heading_does(app):
    moment = datetime(2027, 3, 15, 20, 59, tzinfo=UTC)
    with app.test_request_context():
        from flask import g

        g._timezone = "Africa/Nairobi"
        named = local_time(moment)
        bare = local_time(moment, named=False)
    assert named == "Mar 15, 2027, 11:59:00\u202fPM Africa/Nairobi (20:59 UTC)"
    assert bare == "Mar 15, 2027, 11:59:00\u202fPM"
