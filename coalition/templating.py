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


def form_errors(form) -> list[tuple[str, str]]:
    """Every error of a form as (id of its field, sentence), for the error summary.

    A row of a repeated sub-form (a contact, a budget line, a criterion) is
    named as the page names it: the sub-form's ``row_label`` ("Contact
    %(n)d"), or its ``new_row_label`` for a row that is not saved yet. The
    CSRF token's error is left to the caller: it has no field to link to.
    """
    from flask_babel import gettext as _
    from wtforms import FieldList, FormField

    items: list[tuple[str, str]] = []

    def messages(field) -> list[str]:
        # A FieldList keeps its rows' errors (dicts, lists) beside its own messages.
        return [str(e) for e in field.errors if not isinstance(e, dict | list | tuple)]

    def label_of(field) -> str:
        return str(field.label.text) if field.label and field.label.text else field.name

    def walk(fields, prefix: str | None) -> None:
        for field in fields:
            if field.name == "csrf_token":
                continue
            label = label_of(field)
            if prefix:
                label = _("%(row)s, %(field)s", row=prefix, field=label)
            if isinstance(field, FieldList):
                items.extend(
                    (field.id, _("%(field)s: %(error)s", field=label, error=e))
                    for e in messages(field)
                )
                for number, entry in enumerate(field.entries, start=1):
                    row = _row_name(entry, number)
                    if isinstance(entry, FormField):
                        walk(entry.form, row)
                    else:
                        items.extend(
                            (entry.id, _("%(field)s: %(error)s", field=row, error=e))
                            for e in messages(entry)
                        )
            elif isinstance(field, FormField):
                walk(field.form, label)
            else:
                items.extend(
                    (field.id, _("%(field)s: %(error)s", field=label, error=e))
                    for e in messages(field)
                )

    walk(form, None)
    return items


def _row_name(entry, number: int) -> str:
    from flask_babel import gettext as _

    row = getattr(entry, "form", None)
    new_label = getattr(row, "new_row_label", None)
    if new_label is not None and not getattr(getattr(row, "id", None), "data", None):
        return str(new_label)
    label = getattr(row, "row_label", None)
    if label is not None:
        return str(label) % {"n": number}
    return _("Row %(n)d", n=number)
