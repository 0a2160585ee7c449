"""Language and time zone of each request.

The language comes from the signed-in user's setting, then the visitor's
own choice (kept in the session), then the browser's Accept-Language.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app, g, has_request_context, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

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
    if not has_request_context():
        return "UTC"
    try:
        if current_user.is_authenticated and current_user.timezone:
            return current_user.timezone
    except Exception:  # noqa: S110
        pass
    return "UTC"


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]).split("_")[0]


def text_direction() -> str:
    return "rtl" if current_language() in RTL_LANGUAGES else "ltr"


@cache
def timezone_choices() -> list[str]:
    return sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith("Etc/"))


def is_timezone(name: str) -> bool:
    return name == "UTC" or name in available_timezones()


def local_time(value: datetime | None, fmt: str = "medium") -> str:
    """A UTC datetime in the viewer's time zone, with the zone named."""
    if value is None:
        return ""
    zone = select_timezone()
    text = format_datetime(value, fmt)
    if zone == "UTC":
        return f"{text} UTC"
    utc_text = value.astimezone(ZoneInfo("UTC")).strftime("%H:%M")
    return f"{text} {zone} ({utc_text} UTC)"


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


def forget_cached_labels() -> None:
    if has_request_context():
        g.pop("_enum_labels", None)
