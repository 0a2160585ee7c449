"""The dry run's report in words, in the reader's language: row errors, likely
duplicates, actions, and what was decided about the file's columns."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from coalition.countries import country_name
from coalition.members.importing.values import FIELD_LABELS


def row_error_message(error: dict[str, Any]) -> str:
    """One row error, in the reader's language."""
    code, value = error.get("code"), error.get("value", "")
    label = str(FIELD_LABELS.get(error.get("field") or "", ""))
    if code == "missing":
        return _("%(field)s is missing.", field=label)
    if code == "too_long":
        return _(
            "%(field)s is longer than %(limit)d characters.", field=label, limit=error["limit"]
        )
    if code == "unknown_country":
        return _("%(field)s: unknown country “%(value)s”.", field=label, value=value)
    if code == "unknown_kind":
        return _("Kind: “%(value)s” is neither an organisation nor an expert.", value=value)
    if code == "unknown_type":
        return _(
            "Type: unknown organisation type “%(value)s” (use NGO, Research/academic, "
            "Media/journalism, Fact-checking, Investigative, Technology, Legal or Network).",
            value=value,
        )
    if code == "unknown_focus":
        return _("Focus areas: unknown focus area “%(value)s”.", value=value)
    if code == "bad_email":
        return _("Contact email: “%(value)s” is not an email address.", value=value)
    if code == "bad_website":
        return _("Website: “%(value)s” is not a web address.", value=value)
    if code == "bad_date":
        return _("Joined: “%(value)s” is not a date (write 2024-03-31 or 31/03/2024).", value=value)
    if code == "future_date":
        return _("Joined: “%(value)s” is a date in the future.", value=value)
    if code == "lost_characters":
        return _(
            "%(field)s: “%(value)s” has lost its letters in the file's encoding (text such "
            "as Arabic saved as Windows-1252 or Latin-1). Save the file again as CSV UTF-8 "
            "or as an Excel workbook (.xlsx), then import it again.",
            field=label,
            value=value,
        )
    if code == "bad_consent":
        return _("Public listing: write yes or no, not “%(value)s”.", value=value)
    if code == "extra_cells":
        return _(
            "The row has %(count)d cells where the header has %(expected)d: a value may hold "
            "an unquoted separator.",
            count=error["count"],
            expected=error["expected"],
        )
    if code == "open_quote":
        return _(
            "A quotation mark is not closed: this row takes in the lines after it, up to "
            "line %(last)d.",
            last=error["last"],
        )
    return _("This row cannot be read.")


def duplicate_message(duplicate: dict[str, Any]) -> str:
    """One likely duplicate, in the reader's language."""
    by = {
        "name and country": _("the same name and country"),
        "web domain": _("the same web domain"),
        "contact email": _("the same contact email"),
    }.get(duplicate.get("by"), duplicate.get("by", ""))
    if duplicate.get("kind") == "in file":
        return _("Likely duplicate of line %(line)d: %(by)s.", line=duplicate["of"], by=by)
    return _(
        "Likely duplicate of %(name)s (member %(id)d) in the register: %(by)s.",
        name=duplicate.get("name", ""),
        id=duplicate["of"],
        by=by,
    )


def action_label(row: dict[str, Any]) -> str:
    action, skip = row.get("action"), row.get("skip")
    if action == "create":
        return _("Create")
    if action == "update":
        return _("Update")
    if action == "unchanged":
        return _("Unchanged")
    if skip == "repeat":
        return _("Skip: repeated in the file")
    if skip == "duplicate":
        return _("Skip: likely duplicate")
    return _("Skip: errors")


def change_labels(row: dict[str, Any]) -> list[str]:
    return [str(FIELD_LABELS.get(name, name)) for name in row.get("changes") or []]


def country_label(row: dict[str, Any]) -> str:
    value = row.get("country") or ""
    return country_name(value) if len(value) == 2 and value.isupper() else value


# What the values of a field of fixed words are, said of a column that holds them.
VALUES_OF = {
    "kind": _l("kinds of member (organisation or expert)"),
    "org_type": _l("organisation types"),
    "focus_areas": _l("focus areas"),
}


def column_note_message(note: dict[str, Any]) -> str:
    """What was decided about a column from its values, in the reader's language."""
    code = note.get("code")
    label = str(FIELD_LABELS.get(note.get("field") or "", note.get("field", "")))
    values = str(VALUES_OF.get(note.get("field") or "", label))
    others = ", ".join(f"“{o}”" for o in note.get("others", []))
    if code == "chosen_by_values":
        return _(
            "“%(column)s” and %(others)s could both be %(field)s; “%(column)s” was read as "
            "%(field)s, since its values are %(values)s.",
            column=note["column"],
            others=others,
            field=label,
            values=values,
        )
    if code == "ambiguous":
        return _(
            "“%(column)s” and %(others)s could both be %(field)s, and their values do not "
            "tell which: “%(column)s” was read. Rename the other column if it is the wrong "
            "one.",
            column=note["column"],
            others=others,
            field=label,
        )
    if code == "read_by_values" and note.get("named"):
        return _(
            "“%(column)s” was read as %(field)s, not as %(named)s: its values are %(values)s.",
            column=note["column"],
            field=label,
            named=str(FIELD_LABELS.get(note["named"], note["named"])),
            values=values,
        )
    if code == "read_by_values":
        return _(
            "“%(column)s” was read as %(field)s: its values are %(values)s.",
            column=note["column"],
            field=label,
            values=values,
        )
    if code == "same_values":
        return _(
            "“%(column)s” was not imported: its values are %(values)s, and “%(used)s” "
            "already gives %(field)s.",
            column=note["column"],
            field=label,
            values=values,
            used=note.get("used", ""),
        )
    return ""
