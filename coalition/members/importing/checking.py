"""Checking the rows of a ``Table``: each row's cells become values, and every
problem of the row is noted (never stopping at the first). ``plan`` checks all
the rows against each other and the register and decides what each would do;
``analyse`` is the dry run's report of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from coalition.countries import fold, lookup_country
from coalition.db import utcnow
from coalition.members.importing.duplicates import Register, resolve
from coalition.members.importing.reading import Table
from coalition.members.importing.values import (
    FOCUS_ALIASES,
    KIND_ALIASES,
    LIMITS,
    NEUTRALISED,
    ORG_TYPE_ALIASES,
    compare_key,
    countries_of,
    list_parts,
    lost_characters,
    parse_consent,
    parse_date,
    valid_email,
    valid_website,
)
from coalition.members.models import FocusArea, MemberKind, web_domain
from coalition.text import one_line

PROGRESS_EVERY = 250

Progress = Callable[[int, int], None]


def latest_today() -> date:
    """Today's date where it is latest (UTC+14): a later date has come nowhere yet."""
    return (utcnow() + timedelta(hours=14)).date()


@dataclass
class Row:
    """One row of the file, parsed: the values it gives (blank cells give none)."""

    line: int
    name: str = ""
    country_text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    focus_areas: list[FocusArea] | None = None
    work_countries: list[str] | None = None
    languages: list[str] | None = None
    contact: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    action: str = "create"
    skip: str | None = None  # why a row is skipped: errors, repeat, duplicate
    member_id: int | None = None
    member_name: str | None = None
    changes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str] | None:
        country = self.values.get("country")
        return (fold(self.name), country) if self.name and country else None

    @property
    def domain(self) -> str | None:
        return web_domain(self.values.get("website"))

    @property
    def email(self) -> str | None:
        return (self.contact or {}).get("email")

    def error(self, field_name: str, code: str, value: str | None = None, **extra) -> None:
        entry = {"field": field_name, "code": code}
        if value is not None:
            entry["value"] = value[:200]
        entry.update(extra)
        self.errors.append(entry)

    def as_report(self) -> dict[str, Any]:
        return {
            "row": self.line,
            "action": self.action,
            "skip": self.skip,
            "name": self.name,
            "country": self.values.get("country") or self.country_text,
            "member": {"id": self.member_id, "name": self.member_name} if self.member_id else None,
            "changes": self.changes,
            "errors": self.errors,
            "duplicates": self.duplicates,
        }


def _text(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    value = str(cells[index]).replace("\r\n", "\n").strip()
    return NEUTRALISED.sub("", value)


def parse_row(
    first: int, last: int, cells: list[str], table: Table, today: date | None = None
) -> Row:
    """Read one row's cells into values, noting every error (never stopping at the first).

    A value whose letters were lost in the file's encoding is an error, and
    counts as blank for its field. ``today`` is the latest date a member may have
    joined on (``latest_today()`` unless given).
    """
    row = Row(line=first)
    given = {name: _text(cells, table.columns, name) for name in table.columns}
    lost = [name for name, value in given.items() if value and lost_characters(value)]
    for name in lost:
        row.error(name, "lost_characters", given[name])
    if "name" in lost:
        row.name = given["name"]  # shown in the report; the row is skipped
    get = lambda name: "" if name in lost else given.get(name, "")  # noqa: E731
    extra = cells[len(table.headers) :]
    if table.format == "csv" and any(str(c).strip() for c in extra):
        # In a CSV, more cells than column names means a separator inside a value.
        row.error("", "extra_cells", count=len(cells), expected=len(table.headers))
    if last > first and table.delimiter:
        # A quote left open swallows the lines after it: they look like whole rows.
        for text in cells:
            lines = str(text).split("\n")[1:]
            if any(line.count(table.delimiter) >= len(table.headers) - 1 for line in lines):
                row.error("", "open_quote", last=last)
                break

    # A name is one line (coalition.text): a spreadsheet cell's line breaks become spaces.
    name = one_line(get("name"))
    if not name:
        if "name" not in lost:
            row.error("name", "missing")
    elif len(name) > LIMITS["name"]:
        row.name = name
        row.error("name", "too_long", name, limit=LIMITS["name"])
    else:
        row.name = row.values["name"] = name

    kind_text = get("kind")
    if kind_text:
        kind = KIND_ALIASES.get(compare_key(kind_text))
        if kind is None:
            row.error("kind", "unknown_kind", kind_text)
        else:
            row.values["kind"] = kind

    for name in ("acronym", "website", "notes"):
        value = one_line(get(name)) if name == "acronym" else get(name)
        if not value:
            continue
        if name in LIMITS and len(value) > LIMITS[name]:
            row.error(name, "too_long", value, limit=LIMITS[name])
        elif name == "website" and not valid_website(value):
            row.error(name, "bad_website", value)
        else:
            row.values[name] = value

    type_text = get("org_type")
    if type_text:
        org_type = ORG_TYPE_ALIASES.get(compare_key(type_text))
        if org_type is None:
            row.error("org_type", "unknown_type", type_text)
        else:
            row.values["org_type"] = org_type

    row.country_text = get("country")
    if not row.country_text:
        if "country" in lost:
            row.country_text = given["country"]  # shown in the report
        else:
            row.error("country", "missing")
    else:
        code = lookup_country(row.country_text)
        if code is None:
            row.error("country", "unknown_country", row.country_text)
        else:
            row.values["country"] = code

    work_text = get("work_countries")
    if work_text:
        codes = []
        for part, code in countries_of(work_text):
            if code is None:
                row.error("work_countries", "unknown_country", part)
            elif code not in codes:
                codes.append(code)
        row.work_countries = codes or None

    focus_text = get("focus_areas")
    if focus_text:
        areas: list[FocusArea] = []
        for part in list_parts(focus_text):
            area = FOCUS_ALIASES.get(compare_key(part))
            if area is None:
                row.error("focus_areas", "unknown_focus", part)
            elif area not in areas:
                areas.append(area)
        row.focus_areas = areas or None

    languages_text = get("languages")
    if languages_text:
        languages = []
        for part in list_parts(languages_text):
            if part not in languages:
                languages.append(part[:40])
        row.languages = languages or None

    contact_name, contact_email, contact_role = (
        one_line(get("contact_name")),
        get("contact_email"),
        one_line(get("contact_role")),
    )
    email = None
    if contact_email:
        email = valid_email(contact_email) if len(contact_email) <= 254 else None
        if email is None:
            row.error("contact_email", "bad_email", contact_email)
    for name, value in (("contact_name", contact_name), ("contact_role", contact_role)):
        if len(value) > LIMITS[name]:
            row.error(name, "too_long", value, limit=LIMITS[name])
    if email or contact_name:
        row.contact = {
            "name": contact_name[: LIMITS["contact_name"]]
            or (row.name if row.values.get("kind") == MemberKind.EXPERT else "")
            or email,
            "email": email,
            "role": contact_role[: LIMITS["contact_role"]] or None,
            # Only a name the file gives may replace the register's.
            "named": bool(contact_name),
        }

    joined_text = get("joined_on")
    if joined_text:
        joined = parse_date(joined_text)
        if joined is None:
            row.error("joined_on", "bad_date", joined_text)
        elif joined > (today or latest_today()):
            row.error("joined_on", "future_date", joined_text)
        else:
            row.values["joined_on"] = joined

    consent_text = get("consent_public")
    if consent_text:
        consent = parse_consent(consent_text)
        if consent is None:
            row.error("consent_public", "bad_consent", consent_text)
        else:
            row.values["consent_public"] = consent
    return row


@dataclass
class Plan:
    """The checked rows of a table, and what an import of them would do."""

    table: Table
    rows: list[Row]
    include_duplicates: bool

    @property
    def rows_with_errors(self) -> int:
        return sum(1 for r in self.rows if r.errors)

    @property
    def report(self) -> dict[str, Any]:
        rows = [r.as_report() for r in self.rows]
        count = lambda pred: sum(1 for r in self.rows if pred(r))  # noqa: E731
        return {
            "file": self.table.describe(),
            "include_duplicates": self.include_duplicates,
            "totals": {
                "rows": len(self.rows),
                "create": count(lambda r: r.action == "create"),
                "update": count(lambda r: r.action == "update"),
                "unchanged": count(lambda r: r.action == "unchanged"),
                "skip": count(lambda r: r.action == "skip"),
                # Each skipped row under its one reason (errors, repeat, duplicate):
                # the one count of each that every page and the command line give.
                "errors": count(lambda r: r.skip == "errors"),
                "repeats": count(lambda r: r.skip == "repeat"),
                "held_duplicates": count(lambda r: r.skip == "duplicate"),
            },
            "rows": rows,
        }


def plan(
    table: Table, *, include_duplicates: bool = False, progress: Progress | None = None
) -> Plan:
    """Check every row, find likely duplicates and decide each row's action. Writes nothing.

    The register is read with a few bulk queries before the rows are checked,
    so the time grows with the rows, and the number of queries does not.
    """
    total = len(table.rows)
    if progress:
        progress(0, total)
    register = Register.load()
    today = latest_today()
    seen_key: dict[tuple[str, str], int] = {}
    seen_domain: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    rows: list[Row] = []
    for done, (first, last, cells) in enumerate(table.rows, start=1):
        row = parse_row(first, last, cells, table, today)
        resolve(row, register, seen_key, seen_domain, seen_email, include_duplicates)
        rows.append(row)
        if progress and done % PROGRESS_EVERY == 0 and done < total:
            progress(done, total)
    if progress:
        progress(total, total)
    return Plan(table=table, rows=rows, include_duplicates=include_duplicates)


def analyse(
    table: Table, progress: Progress | None = None, *, include_duplicates: bool = False
) -> dict[str, Any]:
    """The dry run: the report of what importing the table would do (JSON-ready)."""
    return plan(table, include_duplicates=include_duplicates, progress=progress).report
