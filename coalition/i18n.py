"""Language and time zone of each request.

The language comes from the signed-in user's setting, then the visitor's
own choice (kept in the session), then the browser's Accept-Language.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale, support
from babel.dates import DateTimePattern, format_datetime, get_datetime_format
from babel.units import format_unit
from flask import current_app, g, has_request_context, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user
from markupsafe import Markup
from wtforms.i18n import messages_path

from coalition.config import LANGUAGES, RTL_LANGUAGES


def select_locale() -> str:
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    try:
        if current_user.is_authenticated and current_user.language in LANGUAGES:
            return current_user.language
    except Exception:  # noqa: S110 - outside a request, or before the user loads
        pass
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def select_timezone() -> str:
    """The viewer's time zone name, looked up once per request."""
    if not has_request_context():
        return "UTC"
    zone = g.get("_timezone")
    if zone is None:
        zone = "UTC"
        try:
            if current_user.is_authenticated and current_user.timezone:
                zone = current_user.timezone
        except Exception:  # noqa: S110 - before the user loads
            pass
        g._timezone = zone
    return zone


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]).split("_")[0]


def text_direction() -> str:
    return "rtl" if current_language() in RTL_LANGUAGES else "ltr"


@cache
def timezone_choices() -> list[str]:
    return sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith("Etc/"))


def is_timezone(name: str) -> bool:
    return name == "UTC" or name in available_timezones()


def local_time(value: datetime | None, fmt: str = "medium", *, named: bool = True) -> str:
    """A UTC datetime in the viewer's time zone, with the zone named.

    ``named=False`` leaves the zone out, for a column whose heading names it.
    """
    if value is None:
        return ""
    zone = select_timezone()
    text = _format_datetime(value.astimezone(ZoneInfo(zone)), fmt, get_locale())
    if not named:
        return text
    if zone == "UTC":
        return f"{text} UTC"
    utc_text = value.astimezone(ZoneInfo("UTC")).strftime("%H:%M")
    return f"{text} {zone} ({utc_text} UTC)"


NAMED_FORMATS = ("short", "medium", "long", "full")


@cache
def _datetime_patterns(locale: Locale, fmt: str) -> tuple[str, DateTimePattern, DateTimePattern]:
    """A locale's date and time patterns for a named format, and how they combine."""
    combined = get_datetime_format(fmt, locale=locale).replace("'", "")
    return combined, locale.date_formats[fmt], locale.time_formats[fmt]


def _format_datetime(value: datetime, fmt: str, locale: Locale | None) -> str:
    """Babel's ``format_datetime`` of an aware datetime, its patterns found once.

    A list page formats a time on each of fifty rows; Babel looks the
    patterns up again for every one of them.
    """
    if locale is None or fmt not in NAMED_FORMATS:
        return format_datetime(value, fmt, tzinfo=value.tzinfo, locale=locale)
    combined, date_pattern, time_pattern = _datetime_patterns(locale, fmt)
    return combined.replace("{0}", time_pattern.apply(value, locale)).replace(
        "{1}", date_pattern.apply(value, locale)
    )


def cached_label(member, lazy) -> str:
    """The translated label of an enum member, looked up once per request.

    List pages show the same few labels hundreds of times; each gettext call
    through Flask-Babel costs several context lookups. ``render_email``
    clears this cache when it switches language.
    """
    if not has_request_context():
        return str(lazy)
    cache = g.get("_enum_labels")
    if cache is None:
        cache = g._enum_labels = {}
    key = (type(member), member)
    text = cache.get(key)
    if text is None:
        text = cache[key] = str(lazy)
    return text


def _catalog():
    """The translations of the current locale, found once per request and locale.

    Flask-Babel's own template callables look the catalog up afresh for every
    string (some ten microseconds each; a list page holds hundreds). Keyed by
    locale, so that ``force_locale`` (emails) still switches language.
    """
    locale = get_locale()
    if locale is None:
        return get_translations()
    catalogs = g.get("_catalogs")
    if catalogs is None:
        catalogs = g._catalogs = {}
    catalog = catalogs.get(locale)
    if catalog is None:
        catalog = catalogs[locale] = get_translations()
    return catalog


def install_template_gettext(app) -> None:
    """Jinja's ``_``, ``gettext`` and ``ngettext``, reading ``_catalog``."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _catalog().ugettext(s),
        ngettext=lambda s, p, n: _catalog().ungettext(s, p, n),
        pgettext=lambda c, s: _catalog().upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalog().unpgettext(c, s, p, n),
        newstyle=True,
    )


def forget_cached_labels() -> None:
    if has_request_context():
        g.pop("_enum_labels", None)


def bdi(value) -> Markup:
    """User-written text (a name, a title, an email address, a URL) isolated from the
    page's direction: an English name in an Arabic page keeps its own order, and
    the punctuation around it stays in the page's (``{{ member.name|bdi }}``)."""
    if value is None or value == "":
        return Markup("")
    return Markup("<bdi>%s</bdi>") % value


@cache
def _wtforms_catalog(language: str):
    return support.Translations.load(messages_path(), [language], domain="wtforms")


class WTFormsCatalog:
    """WTForms' own messages ("This field is required.", "Invalid email address.") in
    the request's language, from the translations WTForms ships (fr, ar, es, pt
    among them). Flask-WTF reads that catalog from disk again on every request
    that shows a validation error; this reads each language once per process."""

    def ugettext(self, string: str) -> str:
        return _wtforms_catalog(current_language()).ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalog(current_language()).ungettext(singular, plural, n)


WTFORMS_CATALOG = WTFormsCatalog()


def install_wtforms_catalog(app) -> None:
    """Hand Flask-WTF the cached catalog (it looks for ``request.wtforms_translations``)."""

    @app.before_request
    def _wtforms_catalog_of_request():
        request.wtforms_translations = WTFORMS_CATALOG


def file_size(size: int) -> str:
    """A file's size in whole kilobytes, the unit written as the reader's language does
    ("12 kB", "12 ko", "12 كيلوبايت")."""
    return format_unit(
        math.ceil(size / 1024), "digital-kilobyte", length="short", locale=get_locale()
    )
