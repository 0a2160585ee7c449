"""Finding duplicates, and what a row would change: the register is read once into
memory (a few bulk queries, then dictionary look-ups, never a query per row),
and each checked row is compared with the rows before it and with the register.

A row whose folded name and country match a member updates it, or leaves it
unchanged when nothing differs, which makes re-importing the same file change
nothing. A blank cell leaves the register's value alone. Rows that share a web
domain or a contact email with another row or member are likely duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from coalition.countries import fold
from coalition.extensions import db
from coalition.members.importing.values import CONSENT_WORDING
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
    MemberKind,
    OrgType,
)

if TYPE_CHECKING:
    from coalition.members.importing.checking import Row


@dataclass
class Current:
    """What the register holds on one member, as far as an import can change it."""

    id: int
    name: str
    country: str
    kind: MemberKind
    org_type: OrgType | None
    acronym: str | None
    website: str | None
    joined_on: date | None
    consent_public: bool
    notes: str | None
    languages: list[str]
    focus: set[FocusArea] = field(default_factory=set)
    work: set[str] = field(default_factory=set)
    contacts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, member: Member) -> Current:
        current = cls.of_fields(member)
        current.focus = set(member.focus_areas)
        current.work = set(member.work_countries)
        current.contacts = [_contact_dict(c) for c in member.contacts]
        return current

    @classmethod
    def of_fields(cls, source) -> Current:
        """The plain fields of a Member, or of a row of its columns (lists left empty)."""
        return cls(
            id=source.id,
            name=source.name,
            country=source.country,
            kind=MemberKind(source.kind),
            org_type=OrgType(source.org_type) if source.org_type else None,
            acronym=source.acronym,
            website=source.website,
            joined_on=source.joined_on,
            consent_public=bool(source.consent_public),
            notes=source.notes,
            languages=list(source.languages or []),
        )


def _contact_dict(contact) -> dict[str, Any]:
    """A contact (a MemberContact or a row of its columns) as ``_replace_contacts`` takes it."""
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "role": contact.role,
        "is_primary": contact.is_primary,
    }


@dataclass
class Register:
    """The register in memory: a few bulk queries, then dictionary look-ups."""

    members: dict[int, Current]
    by_key: dict[tuple[str, str], list[int]]
    by_domain: dict[str, list[int]]
    by_email: dict[str, list[int]]

    @classmethod
    def load(cls) -> Register:
        m = Member
        rows = db.session.execute(
            sa.select(
                m.id, m.name, m.name_key, m.country, m.kind, m.org_type, m.acronym, m.website,
                m.web_domain, m.joined_on, m.consent_public, m.notes, m.languages,
            )
            .where(m.erased_at.is_(None))
            .order_by(m.id)
        ).all()  # fmt: skip
        members: dict[int, Current] = {}
        by_key: dict[tuple[str, str], list[int]] = {}
        by_domain: dict[str, list[int]] = {}
        by_email: dict[str, list[int]] = {}
        for r in rows:
            members[r.id] = Current.of_fields(r)
            by_key.setdefault((r.name_key, r.country), []).append(r.id)
            if r.web_domain:
                by_domain.setdefault(r.web_domain, []).append(r.id)
        for member_id, area in db.session.execute(
            sa.select(MemberFocus.member_id, MemberFocus.focus_area)
        ):
            if member_id in members:
                members[member_id].focus.add(FocusArea(area))
        for member_id, country in db.session.execute(
            sa.select(MemberCountryRow.member_id, MemberCountryRow.country)
        ):
            if member_id in members:
                members[member_id].work.add(country)
        c = MemberContact
        contacts = db.session.execute(
            sa.select(c.member_id, c.id, c.name, c.email, c.role, c.is_primary).order_by(
                c.member_id, c.is_primary.desc(), c.id
            )
        )
        for contact in contacts:
            current = members.get(contact.member_id)
            if current is None:
                continue
            current.contacts.append(_contact_dict(contact))
            if contact.email:
                ids = by_email.setdefault(contact.email.lower(), [])
                if contact.member_id not in ids:
                    ids.append(contact.member_id)
        return cls(members, by_key, by_domain, by_email)


@dataclass
class Change:
    """What writing a row would do to a member of the register."""

    values: dict[str, Any]
    focus_areas: list[FocusArea] | None
    work_countries: list[str] | None
    contacts: list[dict[str, Any]] | None
    fields: list[str]


def changes_for(row: Row, current: Current) -> Change:
    """The fields a row would change on an existing member. A blank cell changes nothing."""
    values: dict[str, Any] = {}
    fields: list[str] = []

    def differ(name: str, new: Any, old: Any) -> None:
        if new is not None and new != old:
            values[name] = new
            fields.append(name)

    given = row.values
    differ("name", given.get("name"), current.name)
    differ("kind", given.get("kind"), current.kind)
    kind = given.get("kind") or current.kind
    if kind == MemberKind.EXPERT:
        if current.org_type is not None:
            values["org_type"] = None
            fields.append("org_type")
    else:
        differ("org_type", given.get("org_type"), current.org_type)
    for name in ("acronym", "website", "notes", "joined_on"):
        differ(name, given.get(name), getattr(current, name))
    consent = given.get("consent_public")
    if consent is not None and consent != current.consent_public:
        values["consent_public"] = consent
        if consent:
            values["consent_wording"] = CONSENT_WORDING
        fields.append("consent_public")
    if row.languages and set(row.languages) != set(current.languages):
        values["languages"] = row.languages
        fields.append("languages")
    focus = None
    if row.focus_areas and set(row.focus_areas) != current.focus:
        focus = row.focus_areas
        fields.append("focus_areas")
    work = None
    if row.work_countries and set(row.work_countries) != current.work:
        work = row.work_countries
        fields.append("work_countries")
    contacts = None
    if row.contact:
        wanted = row.contact
        found = _find_contact(current.contacts, wanted)
        if found is None:
            contacts = [dict(c) for c in current.contacts]
            contacts.append({**wanted, "is_primary": not contacts})
        else:
            edits = {}
            if wanted["named"] and wanted["name"] != found["name"]:
                edits["name"] = wanted["name"]
            if wanted["role"] and wanted["role"] != found["role"]:
                edits["role"] = wanted["role"]
            if edits:
                contacts = [
                    {**c, **edits} if c["id"] == found["id"] else dict(c) for c in current.contacts
                ]
        if contacts is not None:
            fields.append("contacts")
    return Change(values, focus, work, contacts, fields)


def _find_contact(contacts: list[dict[str, Any]], wanted: dict[str, Any]) -> dict | None:
    """The member's contact a row names: by email, or by name when it gives no email."""
    for contact in contacts:
        if wanted.get("email"):
            if (contact.get("email") or "").lower() == wanted["email"]:
                return contact
        elif fold(contact.get("name")) == fold(wanted.get("name")):
            return contact
    return None


def resolve(
    row: Row,
    register: Register,
    seen_key: dict[tuple[str, str], int],
    seen_domain: dict[str, int],
    seen_email: dict[str, int],
    include_duplicates: bool,
) -> None:
    """Note a checked row's likely duplicates (in the file so far, in the register) and
    decide its action: create, update, unchanged, or skip (errors, repeat, duplicate).
    ``seen_*`` index the rows before it by name and country, web domain, contact email."""
    key, domain, email = row.key, row.domain, row.email
    # Likely duplicates within the file: an earlier row with the same name and
    # country, web domain or contact email.
    repeat_of = seen_key.get(key) if key else None
    if repeat_of is not None:
        row.duplicates.append({"kind": "in file", "of": repeat_of, "by": "name and country"})
    if domain and domain in seen_domain:
        row.duplicates.append({"kind": "in file", "of": seen_domain[domain], "by": "web domain"})
    if email and email in seen_email:
        row.duplicates.append({"kind": "in file", "of": seen_email[email], "by": "contact email"})
    if key:
        seen_key.setdefault(key, row.line)
    if domain:
        seen_domain.setdefault(domain, row.line)
    if email:
        seen_email.setdefault(email, row.line)

    # The same member in the register (an update), and others that look alike.
    matched = register.by_key.get(key, []) if key else []
    target = register.members[matched[0]] if matched else None
    for other in matched[1:]:
        _register_duplicate(row, register, other, "name and country")
    for member_id in register.by_domain.get(domain, []) if domain else []:
        if target is None or member_id != target.id:
            _register_duplicate(row, register, member_id, "web domain")
    for member_id in register.by_email.get(email, []) if email else []:
        if target is None or member_id != target.id:
            _register_duplicate(row, register, member_id, "contact email")
    if target is not None:
        row.member_id, row.member_name = target.id, target.name

    if row.errors:
        row.action, row.skip = "skip", "errors"
    elif repeat_of is not None:
        # The same member twice in one file: the first row stands for it.
        row.action, row.skip = "skip", "repeat"
    elif target is not None:
        row.changes = changes_for(row, target).fields
        row.action = "update" if row.changes else "unchanged"
    elif row.duplicates and not include_duplicates:
        row.action, row.skip = "skip", "duplicate"
    else:
        row.action = "create"


def _register_duplicate(row: Row, register: Register, member_id: int, by: str) -> None:
    row.duplicates.append(
        {"kind": "register", "of": member_id, "name": register.members[member_id].name, "by": by}
    )
