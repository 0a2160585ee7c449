"""Helpers the templates call where a loop in Jinja would cost too much."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from functools import lru_cache

from markupsafe import Markup, escape


def options(choices: Sequence, selected=None) -> Markup:
    """The ``<option>`` elements of a select: (value, label) pairs or labelled enums.

    A country list holds some 250 options. Plain-text pairs (names that are
    not translated) are drawn once and kept; labelled enums are drawn each
    time, in the reader's language.
    """
    chosen = "" if selected is None else str(getattr(selected, "value", selected))
    if choices and not isinstance(choices[0], enum.Enum):
        pairs = tuple(choices)
        if all(type(label) is str for _value, label in pairs):
            parts, where = _drawn(pairs)
            at = where.get(chosen)
            if at is not None:
                parts = list(parts)
                parts[at] = _option(*pairs[at], selected=True)
            # Every value and label went through escape() in _option.
            return Markup("".join(parts))  # noqa: S704
    return Markup(  # noqa: S704 - as above
        "".join(
            _option(c.value, c.label, selected=str(c.value) == chosen)
            if isinstance(c, enum.Enum)
            else _option(*c, selected=str(c[0]) == chosen)
            for c in choices
        )
    )


def _option(value, label, *, selected: bool) -> str:
    mark = " selected" if selected else ""
    return f'<option value="{escape(str(value))}"{mark}>{escape(label)}</option>'


@lru_cache(maxsize=16)
def _drawn(pairs: tuple) -> tuple[tuple[str, ...], dict[str, int]]:
    """Plain-text options drawn once, and where each value stands."""
    parts = tuple(_option(value, label, selected=False) for value, label in pairs)
    return parts, {str(value): at for at, (value, _label) in enumerate(pairs)}
