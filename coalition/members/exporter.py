"""Export of the member list (the directory's filtered list) to CSV and XLSX.

What a file holds depends on who asks (S16): staff get every field, internal
notes, the at-risk flag and every contact; steering members get neither the
notes nor the flag, and only the contacts the policy lets them read
(``members.read_contacts``: none of a member at risk). Every text
cell that a spreadsheet would run as a formula is neutralised (OWASP's CSV
injection advice: a leading single quote). The rows are read with a fixed
number of queries, however many members there are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import raiseload

from coalition import audit
from coalition.accounts.models import User
from coalition.countries import country_name
from coalition.extensions import db
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
)
from coalition.members.queries import MemberFilters, apply_filters
from coalition.policy import readable_contacts
from coalition.spreadsheets import MEDIA_TYPES, to_csv, to_xlsx

FORMATS = MEDIA_TYPES


@dataclass
class Related:
    """A member's lists, read in bulk beside the members."""

    contacts: list[MemberContact]
    focus: list[FocusArea]
    countries: list[str]


class Labels:
    """Labels in the reader's language, each translated once per export (not once per cell)."""

    def __init__(self):
        self._cache: dict[Any, str] = {}

    def __call__(self, value: Any) -> str:
        if value is None:
            return ""
        found = self._cache.get(value)
        if found is None:
            found = self._cache[value] = str(value.label)
        return found

    def yes_no(self, value: bool) -> str:
        key = ("yes", bool(value))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _("yes") if value else _("no")
        return found

    def country(self, code: str | None) -> str:
        key = ("country", code)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = country_name(code)
        return found


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # a lazy string: the header in the reader's language
    value: Callable[[Member, Related, Labels], Any]
    staff_only: bool = False


def _contact_value(attr: str):
    def get(member: Member, related: Related, labels: Labels) -> Any:
        if not related.contacts:
            return None
        return getattr(related.contacts[0], attr)

    return get


def _other_contacts(member: Member, related: Related, labels: Labels):
    parts = []
    for contact in related.contacts[1:]:
        parts.append(f"{contact.name} <{contact.email}>" if contact.email else contact.name)
    return "; ".join(parts)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


# (member, its lists, labels) -> the cell. Blank cells are None.
COLUMNS: tuple[Column, ...] = (
    Column("id", _l("Number"), lambda m, r, t: m.id),
    Column("kind", _l("Kind"), lambda m, r, t: t(m.kind)),
    Column("name", _l("Name"), lambda m, r, t: m.name),
    Column("acronym", _l("Acronym"), lambda m, r, t: m.acronym),
    Column("type", _l("Type"), lambda m, r, t: t(m.org_type)),
    Column("country", _l("Country"), lambda m, r, t: t.country(m.country)),
    Column("country_code", _l("Country code"), lambda m, r, t: m.country),
    Column("region", _l("Region"), lambda m, r, t: t(m.region)),
    Column("status", _l("Status"), lambda m, r, t: t(m.status)),
    Column("joined", _l("Joined"), lambda m, r, t: m.joined_on),
    Column("focus_areas", _l("Focus areas"), lambda m, r, t: "; ".join(map(t, r.focus))),
    Column("work_countries", _l("Countries of work"), lambda m, r, t: "; ".join(r.countries)),
    Column("languages", _l("Languages"), lambda m, r, t: "; ".join(m.languages or [])),
    Column("website", _l("Website"), lambda m, r, t: m.website),
    Column("contact_name", _l("Contact name"), _contact_value("name")),
    Column("contact_email", _l("Contact email"), _contact_value("email")),
    Column("contact_role", _l("Contact role"), _contact_value("role")),
    Column("other_contacts", _l("Other contacts"), _other_contacts),
    Column("public_listing", _l("Public listing"), lambda m, r, t: t.yes_no(m.consent_public)),
    Column("consent_date", _l("Consent given on"), lambda m, r, t: _day(m.consent_at)),
    Column("steering_from", _l("Steering seat from"), lambda m, r, t: m.steering_from),
    Column("steering_until", _l("Steering seat until"), lambda m, r, t: m.steering_until),
    Column("last_confirmed", _l("Last confirmed"), lambda m, r, t: _day(m.last_confirmed_at)),
    Column("at_risk", _l("At risk"), lambda m, r, t: t.yes_no(m.at_risk), staff_only=True),
    Column("notes", _l("Internal notes"), lambda m, r, t: m.notes, staff_only=True),
)


def columns_for(staff: bool) -> list[Column]:
    """The columns a reader may see: staff every one, steering members the others."""
    return [c for c in COLUMNS if staff or not c.staff_only]


def _related(filters: MemberFilters, contacts) -> dict[int, Related]:
    """Contacts (of the members matching ``contacts`` only), focus areas and countries
    of work of the filtered members: three queries."""
    ids = apply_filters(sa.select(Member.id), filters, contacts=contacts).order_by(None)
    related: dict[int, Related] = {}

    def entry(member_id: int) -> Related:
        found = related.get(member_id)
        if found is None:
            found = related[member_id] = Related([], [], [])
        return found

    contacts = db.session.scalars(
        sa.select(MemberContact)
        .join(Member, Member.id == MemberContact.member_id)
        .where(MemberContact.member_id.in_(ids), contacts)
        .options(raiseload("*"))
        .order_by(MemberContact.member_id, MemberContact.is_primary.desc(), MemberContact.id)
    )
    for contact in contacts:
        entry(contact.member_id).contacts.append(contact)
    focus_order = {area: index for index, area in enumerate(FocusArea)}
    focus_rows = db.session.execute(
        sa.select(MemberFocus.member_id, MemberFocus.focus_area).where(
            MemberFocus.member_id.in_(ids)
        )
    )
    for member_id, area in focus_rows:
        entry(member_id).focus.append(FocusArea(area))
    for found in related.values():
        found.focus.sort(key=focus_order.__getitem__)
    country_rows = db.session.execute(
        sa.select(MemberCountryRow.member_id, MemberCountryRow.country)
        .where(MemberCountryRow.member_id.in_(ids))
        .order_by(MemberCountryRow.member_id, MemberCountryRow.country)
    )
    for member_id, country in country_rows:
        entry(member_id).countries.append(country)
    return related


def readable_by(reader: User | None):
    """Whose contacts the file may hold: those the policy lets ``reader`` read; every
    one for the command line (``None``), which reads the whole database anyway."""
    return sa.true() if reader is None else readable_contacts(reader)


def header_of(columns: list[Column], *, field_names: bool = False) -> list[str]:
    """The headings in the reader's language, or the columns' stable machine names
    (``country_code``, ``contact_email``), the same in every language. The importer
    reads both (``importing.columns.EXPORT_FIELDS``)."""
    return [c.key if field_names else str(c.label) for c in columns]


def rows(
    filters: MemberFilters, *, staff: bool, reader: User | None, field_names: bool = False
) -> tuple[list[str], list[list[Any]]]:
    """The header and the rows of the filtered list, as the reader may see them."""
    columns = columns_for(staff)
    contacts = readable_by(reader)
    members = db.session.scalars(
        apply_filters(sa.select(Member).options(raiseload("*")), filters, contacts=contacts)
    ).all()
    related = _related(filters, contacts)
    empty = Related([], [], [])
    labels = Labels()
    header = header_of(columns, field_names=field_names)
    values = [c.value for c in columns]
    out = []
    for member in members:
        found = related.get(member.id, empty)
        # An empty text is a blank cell (None), which an XLSX does not even store.
        out.append([value(member, found, labels) or None for value in values])
    return header, out


def export_members(
    filters: MemberFilters,
    *,
    staff: bool,
    fmt: str,
    reader: User | None,
    actor=None,
    via: str = "web",
    field_names: bool = False,
) -> tuple[bytes, int]:
    """The file for the filtered list, and how many members it holds.

    ``reader``: the person the file is for, whose rights decide the contacts
    it holds (``None``: the command line). ``field_names``: machine names for
    the header row instead of headings in the reader's language.

    Writes the audit row of the export (S22); the caller commits.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    header, body = rows(filters, staff=staff, reader=reader, field_names=field_names)
    data = to_csv(header, body) if fmt == "csv" else to_xlsx(header, body, _("Members"))
    audit.record(
        "members.exported",
        actor=actor,
        details={
            "format": fmt,
            "filters": filters.as_args(),
            "rows": len(body),
            "fields": "staff" if staff else "steering",
            "via": via,
        },
    )
    return data, len(body)


def filename_for(fmt: str, today: date) -> str:
    return f"members-{today.isoformat()}.{fmt}"
