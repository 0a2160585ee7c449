"""Single-line text: names, titles and roles people type, and what emails show of them.

A name is one line. Line breaks, control characters and the invisible
characters that reverse the direction of text would let someone write a
paragraph of their own into a page or an email under the coalition's name
("YOUR ACCOUNT IS LOCKED. Unlock it at https://…"). Every name field of
every form refuses them with ``SingleLine``; ``one_line`` flattens what
older data may still hold, before an email shows it.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

# Explicit direction overrides and isolates (the "Trojan Source" characters).
# Other format characters stay: the zero-width joiners belong in Persian,
# Indic and emoji spellings.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Cc: C0 and C1 controls (tab, line feed, carriage return, escape, NEL...);
# Zl, Zp: the Unicode line and paragraph separators.
_BREAKING_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def _breaks_the_line(ch: str) -> bool:
    return ch in _BIDI_CONTROLS or unicodedata.category(ch) in _BREAKING_CATEGORIES


def is_single_line(text: str | None) -> bool:
    """True when ``text`` holds no line break, control character or direction override."""
    return not any(_breaks_the_line(ch) for ch in text or "")


_RUNS = re.compile(r"\s+")


def one_line(text: str) -> str:
    """``text`` on one line: each break or control character becomes a space, runs of
    spaces become one."""
    flat = "".join(" " if _breaks_the_line(ch) else ch for ch in text)
    return _RUNS.sub(" ", flat).strip()


class SingleLine:
    """WTForms validator: the field's text is one line (names, titles, roles)."""

    message = _l("Write this on one line, without line breaks or control characters.")

    def __init__(self, message=None):
        if message is not None:
            self.message = message

    def __call__(self, form, field):
        if isinstance(field.data, str) and not is_single_line(field.data):
            raise ValidationError(self.message)
