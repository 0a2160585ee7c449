"""Member registry operations: each keeps the rules, writes the audit rows and
queues the emails, and flushes but never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from coalition import audit
from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.mail import queue_email
from coalition.members.models import (
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    MemberStatusChange,
)
from coalition.urls import external_url

# The fields a member's own contact may change (the public profile).
PROFILE_FIELDS = ("name", "acronym", "org_type", "website", "languages")
# Every field staff may change through the edit form.
STAFF_FIELDS = (
    *PROFILE_FIELDS,
    "kind",
    "country",
    "notes",
    "joined_on",
    "steering_from",
    "steering_until",
    "consent_public",
    "at_risk",
)
# How long a membership stays confirmed, and the grace after which it lapses.
CONFIRMATION_PERIOD = timedelta(days=365)
LAPSE_GRACE = timedelta(days=60)


class MemberError(Exception):
    """A refused change; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class StaleEdit(MemberError):
    """Someone else saved this member after the form was opened."""


def _snapshot(member: Member) -> dict[str, Any]:
    return {
        "focus_areas": [f.value for f in member.focus_areas],
        "work_countries": member.work_countries,
        "contacts": [_contact_view(c) for c in member.contacts],
    }


def _contact_view(contact: MemberContact) -> str:
    parts = [contact.name, contact.email or "", contact.role or ""]
    return " / ".join(p for p in parts if p) + (" (primary)" if contact.is_primary else "")


def check_version(member: Member, version: int | None) -> None:
    from flask_babel import gettext as _

    if version is not None and int(version) != member.version:
        raise StaleEdit(
            _(
                "Someone else saved this member while you were editing. Your changes are "
                "below but not saved: compare them with the current record, then save again."
            )
        )


def apply_changes(
    member: Member,
    values: dict[str, Any],
    *,
    allowed: tuple[str, ...],
    focus_areas=None,
    work_countries=None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, list[Any]]:
    """Set fields (only those ``allowed``) and lists; returns the field-level changes."""
    before = _snapshot(member)
    consent_before = member.consent_public
    for field in allowed:
        if field in values:
            setattr(member, field, values[field])
    if member.kind == MemberKind.EXPERT:
        member.org_type = None
    if member.consent_public and not consent_before:
        member.consent_at = utcnow()
        member.consent_wording = values.get("consent_wording") or member.consent_wording
    if focus_areas is not None:
        member.focus_areas = focus_areas
    if work_countries is not None:
        member.work_countries = work_countries
    if contacts is not None:
        _replace_contacts(member, contacts)
    member.refresh_search_text()
    changes = audit.changes_of(member, [*allowed, "consent_at"])
    after = _snapshot(member)
    for key in before:
        if before[key] != after[key]:
            changes[key] = [before[key], after[key]]
    return changes


def _replace_contacts(member: Member, rows: list[dict[str, Any]]) -> None:
    """Update contacts in place by id, add new ones, remove those left out."""
    existing = {c.id: c for c in member.contacts}
    kept: list[MemberContact] = []
    for row in rows:
        if not (row.get("name") or "").strip():
            continue
        contact = existing.get(row.get("id")) if row.get("id") else None
        if contact is None:
            contact = MemberContact()
            member.contacts.append(contact)
        contact.name = row["name"].strip()
        contact.email = (row.get("email") or "").strip().lower() or None
        contact.role = (row.get("role") or "").strip() or None
        contact.is_primary = bool(row.get("is_primary"))
        kept.append(contact)
    for contact in list(member.contacts):
        if contact not in kept:
            member.contacts.remove(contact)
    if kept and not any(c.is_primary for c in kept):
        kept[0].is_primary = True


def create_member(
    *,
    actor: User | None,
    values: dict[str, Any],
    focus_areas=(),
    work_countries=(),
    contacts=(),
    status: MemberStatus = MemberStatus.ACTIVE,
    reason: str | None = None,
    action: str = "member.created",
) -> Member:
    member = Member(status=status, status_changed_at=utcnow())
    db.session.add(member)
    changes = apply_changes(
        member,
        values,
        allowed=STAFF_FIELDS,
        focus_areas=focus_areas,
        work_countries=work_countries,
        contacts=list(contacts),
    )
    db.session.flush()
    member.status_changes.append(
        MemberStatusChange(
            from_status=None, to_status=status, reason=reason, actor_id=getattr(actor, "id", None)
        )
    )
    changes["status"] = [None, status.value]
    audit.record(action, member, actor=actor, changes=changes)
    return member


def update_member(
    member: Member,
    *,
    actor: User,
    version: int | None,
    values: dict[str, Any],
    focus_areas=None,
    work_countries=None,
    contacts=None,
    by_contact: bool = False,
) -> dict[str, list[Any]]:
    """Save an edit. Refuses a stale one (optimistic locking) and changes nothing then."""
    check_version(member, version)
    changes = apply_changes(
        member,
        values,
        allowed=PROFILE_FIELDS if by_contact else STAFF_FIELDS,
        focus_areas=focus_areas,
        work_countries=work_countries,
        contacts=contacts,
    )
    if changes:
        audit.record(
            "member.updated_by_contact" if by_contact else "member.updated",
            member,
            actor=actor,
            changes=changes,
        )
        if by_contact:
            _notify_staff_of_contact_edit(member, actor)
    return changes


def set_at_risk(member: Member, *, at_risk: bool, actor: User) -> dict[str, list[Any]]:
    """Set or lift the at-risk flag; returns the change (empty when it already was so).

    Set, it keeps the member out of everything public and hides its contacts
    from all but the convenor staff (``members.read_contacts``). The version
    moves on, so an edit form opened before cannot go on unseen.
    """
    if bool(member.at_risk) == bool(at_risk):
        return {}
    member.at_risk = bool(at_risk)
    changes = audit.changes_of(member, ["at_risk"])
    audit.record(
        "member.at_risk_set" if at_risk else "member.at_risk_lifted",
        member,
        actor=actor,
        changes=changes,
    )
    return changes


# The fields that make up a member's consent to the public directory.
CONSENT_FIELDS = ("consent_public", "consent_at", "consent_wording")


def set_public_consent(
    member: Member,
    *,
    actor: User,
    consent: bool,
    wording: str | None,
    by_contact: bool,
) -> dict[str, list[Any]]:
    """Give or withdraw the member's consent to the public directory.

    Giving records the wording agreed to and the time; withdrawing takes
    effect at once and clears both, the audit row keeping what they were.
    Asking for what is already so changes nothing and records nothing (a
    resent form). The press is one intent, so it is not refused as stale
    (no ``check_version``); only the consent fields are written, so an edit
    saved meanwhile is kept. The version still moves on, so an edit form
    opened before cannot put the old consent back unseen. Whether the member
    is listed still depends on its status and the staff's at-risk flag
    (``Member.is_public``).

    Returns the field-level changes (empty when nothing changed).
    """
    if bool(consent) == bool(member.consent_public):
        return {}
    if consent:
        wording = (wording or "").strip()
        if not wording:
            raise ValueError("consent is given to a wording: pass the wording shown")
        member.consent_public = True
        member.consent_at = utcnow()
        member.consent_wording = wording
    else:
        member.consent_public = False
        member.consent_at = None
        member.consent_wording = None
    changes = audit.changes_of(member, list(CONSENT_FIELDS))
    audit.record(
        "member.consent_given" if consent else "member.consent_withdrawn",
        member,
        actor=actor,
        changes=changes,
        details={"by_contact": by_contact},
    )
    if by_contact:
        _notify_staff_of_contact_edit(member, actor)
    return changes


def _notify_staff_of_contact_edit(member: Member, actor: User) -> None:
    staff = db.session.scalars(
        sa.select(User).where(
            User.active.is_(True),
            User.role_rows.any(role=Role.CONVENOR),
        )
    ).all()
    stamp = utcnow().strftime("%Y%m%d%H%M%S%f")
    for person in staff:
        queue_email(
            key=f"member_edited:{member.id}:{person.id}:{stamp}",
            recipient=person.email,
            template="member_edited_by_contact",
            language=person.language,
            name=person.name,
            member_name=member.name,
            editor=actor.name,
            link=external_url("members.show", member_id=member.id),
        )


def change_status(
    member: Member, target: MemberStatus, *, actor: User | None, reason: str | None
) -> None:
    """Move along the lifecycle; keeps who, when and why. Raises TransitionError."""
    old = member.move_to(target)
    member.status_changes.append(
        MemberStatusChange(
            from_status=old,
            to_status=MemberStatus(target),
            reason=(reason or "").strip() or None,
            actor_id=getattr(actor, "id", None),
        )
    )
    if member.joined_on is None and target == MemberStatus.ACTIVE:
        member.joined_on = utcnow().date()
    if target == MemberStatus.ACTIVE:
        member.last_confirmed_at = member.last_confirmed_at or utcnow()
    audit.record(
        "member.status_changed",
        member,
        actor=actor,
        changes={"status": [old.value, MemberStatus(target).value]},
        details={"reason": reason} if reason else None,
    )


def _contact_language(contact: MemberContact, member: Member) -> str:
    """The language a contact reads: the one saved on their account if they have one
    (linked, or at that address), else the first of the member's languages the
    coalition writes in, else English."""
    from coalition.accounts.operations import find_by_email

    languages = current_app.config["LANGUAGES"]
    user = contact.user if contact.user_id else find_by_email(contact.email)
    if user is not None and user.language in languages:
        return user.language
    return next((code for code in member.languages or [] if code in languages), "en")


def decide_application(member: Member, *, approve: bool, actor: User, reason: str | None) -> None:
    """Approve or reject a joining application and tell the applicant (no reason in the email)."""
    target = MemberStatus.ACTIVE if approve else MemberStatus.REJECTED
    change_status(member, target, actor=actor, reason=reason)
    contact = member.primary_contact
    if contact and contact.email:
        queue_email(
            key=f"member_decision:{member.id}:{target.value}",
            recipient=contact.email,
            template="membership_approved" if approve else "membership_rejected",
            language=_contact_language(contact, member),
            name=contact.name,
            member_name=member.name,
        )


def confirm_membership(member: Member, *, actor: User, now: datetime | None = None) -> None:
    """The yearly confirmation, by the member's contact. A lapsed member becomes active again."""
    now = now or utcnow()
    member.last_confirmed_at = now
    if member.status == MemberStatus.LAPSED:
        change_status(member, MemberStatus.ACTIVE, actor=actor, reason="Membership confirmed")
    audit.record("member.confirmed", member, actor=actor)


def confirmation_due_at(member: Member) -> datetime | None:
    start = member.last_confirmed_at
    if start is None and member.joined_on is not None:
        start = datetime.combine(member.joined_on, datetime.min.time(), tzinfo=utcnow().tzinfo)
    return start + CONFIRMATION_PERIOD if start else None


def overdue_for_lapse(now: datetime | None = None):
    """Active members whose yearly confirmation is overdue by more than the grace period."""
    now = now or utcnow()
    cutoff = now - CONFIRMATION_PERIOD - LAPSE_GRACE
    confirmed = sa.func.coalesce(Member.last_confirmed_at, Member.created_at)
    return sa.select(Member).where(
        Member.status == MemberStatus.ACTIVE, Member.erased_at.is_(None), confirmed < cutoff
    )


def lapse_overdue(now: datetime | None = None) -> int:
    """Mark lapsed every member past the confirmation deadline. Running it twice changes nothing."""
    count = 0
    for member in db.session.scalars(overdue_for_lapse(now)).all():
        change_status(member, MemberStatus.LAPSED, actor=None, reason="No yearly confirmation")
        count += 1
    return count


def members_of_contact(user: User) -> list[Member]:
    return list(
        db.session.scalars(
            sa.select(Member)
            .join(MemberContact)
            .where(MemberContact.user_id == user.id, Member.erased_at.is_(None))
            .order_by(Member.name_key)
        )
    )


def personal_data(member: Member) -> dict[str, Any]:
    """Everything held on a member and its contacts, as JSON-ready data (subject access)."""
    from coalition.audit.models import AuditEntry

    entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.object_type == "Member", AuditEntry.object_id == str(member.id))
        .order_by(AuditEntry.created_at)
    ).all()
    return {
        "member": {
            "id": member.id,
            "kind": member.kind.value,
            "name": member.name,
            "acronym": member.acronym,
            "type": member.org_type.value if member.org_type else None,
            "country": member.country,
            "region": member.region.value,
            "countries_of_work": member.work_countries,
            "focus_areas": [f.value for f in member.focus_areas],
            "languages": member.languages,
            "website": member.website,
            "status": member.status.value,
            "joined_on": member.joined_on.isoformat() if member.joined_on else None,
            "steering_from": member.steering_from.isoformat() if member.steering_from else None,
            "steering_until": member.steering_until.isoformat() if member.steering_until else None,
            "consent_public": member.consent_public,
            "consent_at": member.consent_at.isoformat() if member.consent_at else None,
            "consent_wording": member.consent_wording,
            "at_risk": member.at_risk,
            "notes": member.notes,
            "last_confirmed_at": member.last_confirmed_at.isoformat()
            if member.last_confirmed_at
            else None,
            "created_at": member.created_at.isoformat(),
        },
        "contacts": [
            {"name": c.name, "email": c.email, "role": c.role, "primary": c.is_primary}
            for c in member.contacts
        ],
        "status_history": [
            {
                "from": s.from_status.value if s.from_status else None,
                "to": s.to_status.value,
                "reason": s.reason,
                "at": s.created_at.isoformat(),
            }
            for s in member.status_changes
        ],
        "audit_log": [
            {
                "at": e.created_at.isoformat(),
                "action": e.action,
                "changes": e.changes,
                "by": e.actor.name if e.actor else None,
            }
            for e in entries
        ],
    }


def erase_member(member: Member, *, actor: User) -> None:
    """Anonymise an individual expert: personal data goes, the counts stay right.

    The member keeps its kind, type, country, region, focus areas and status
    history, so every figure is unchanged; name, contacts, website, notes and
    languages are removed, and the member leaves every public list.
    """
    from flask_babel import gettext as _

    if member.kind != MemberKind.EXPERT:
        raise MemberError(_("Only an individual expert can be erased; erase a contact instead."))
    if member.erased_at is not None:
        raise MemberError(_("This member has already been erased."))
    member.name = f"Erased expert {member.id}"
    member.acronym = None
    member.website = None
    member.notes = None
    member.languages = []
    member.consent_public = False
    member.consent_wording = None
    member.erased_at = utcnow()
    for contact in list(member.contacts):
        member.contacts.remove(contact)
    member.refresh_search_text()
    audit.record("member.erased", member, actor=actor)


def erase_contact(contact: MemberContact, *, actor: User) -> None:
    """Anonymise one contact of an organisation."""
    member = contact.member
    contact.name = "Erased contact"
    contact.email = None
    contact.role = None
    contact.user_id = None
    contact.erased_at = utcnow()
    member.refresh_search_text()
    audit.record("member.contact_erased", member, actor=actor, details={"contact_id": contact.id})
