"""The member registry: organisations and individual experts, their contacts,
and the history of their status."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from coalition.accounts.models import User
from coalition.countries import Region, country_name, fold, region_of
from coalition.db import UTCDateTime, enum_column, sync_rows, utcnow
from coalition.extensions import db
from coalition.i18n import cached_label


class MemberKind(enum.StrEnum):
    ORGANISATION = "organisation"
    EXPERT = "expert"

    @property
    def label(self) -> str:
        return cached_label(self, KIND_LABELS[self])


KIND_LABELS = {MemberKind.ORGANISATION: _l("Organisation"), MemberKind.EXPERT: _l("Expert")}


class OrgType(enum.StrEnum):
    NGO = "ngo"
    RESEARCH = "research"
    MEDIA = "media"
    FACT_CHECKING = "fact_checking"
    INVESTIGATIVE = "investigative"
    TECHNOLOGY = "technology"
    LEGAL = "legal"
    NETWORK = "network"

    @property
    def label(self) -> str:
        return cached_label(self, ORG_TYPE_LABELS[self])


ORG_TYPE_LABELS = {
    OrgType.NGO: _l("NGO"),
    OrgType.RESEARCH: _l("Research / academic"),
    OrgType.MEDIA: _l("Media / journalism"),
    OrgType.FACT_CHECKING: _l("Fact-checking"),
    OrgType.INVESTIGATIVE: _l("Investigative"),
    OrgType.TECHNOLOGY: _l("Technology"),
    OrgType.LEGAL: _l("Legal"),
    OrgType.NETWORK: _l("Network"),
}


class FocusArea(enum.StrEnum):
    DISINFORMATION = "disinformation"
    HATE_SPEECH = "hate_speech"
    ELECTION_INTEGRITY = "election_integrity"
    PLATFORM_ACCOUNTABILITY = "platform_accountability"
    AD_TECH = "ad_tech"
    AI_DEEPFAKES = "ai_deepfakes"
    ONLINE_GBV = "online_gbv"
    DATA_PROTECTION = "data_protection"
    DIGITAL_RIGHTS = "digital_rights"

    @property
    def label(self) -> str:
        return cached_label(self, FOCUS_LABELS[self])


FOCUS_LABELS = {
    FocusArea.DISINFORMATION: _l("Disinformation"),
    FocusArea.HATE_SPEECH: _l("Hate speech and incitement"),
    FocusArea.ELECTION_INTEGRITY: _l("Election integrity"),
    FocusArea.PLATFORM_ACCOUNTABILITY: _l("Platform accountability"),
    FocusArea.AD_TECH: _l("Ad tech"),
    FocusArea.AI_DEEPFAKES: _l("AI and deepfakes"),
    FocusArea.ONLINE_GBV: _l("Online gender-based violence"),
    FocusArea.DATA_PROTECTION: _l("Data protection"),
    FocusArea.DIGITAL_RIGHTS: _l("Digital rights"),
}


class MemberStatus(enum.StrEnum):
    APPLIED = "applied"
    ACTIVE = "active"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return cached_label(self, STATUS_LABELS[self])


STATUS_LABELS = {
    MemberStatus.APPLIED: _l("Applied"),
    MemberStatus.ACTIVE: _l("Active"),
    MemberStatus.REJECTED: _l("Rejected"),
    MemberStatus.SUSPENDED: _l("Suspended"),
    MemberStatus.LAPSED: _l("Lapsed"),
    MemberStatus.WITHDRAWN: lazy_pgettext("member status", "Withdrawn"),
}

# The lifecycle, in one place: from each status, where a member may go.
TRANSITIONS: dict[MemberStatus, frozenset[MemberStatus]] = {
    MemberStatus.APPLIED: frozenset({MemberStatus.ACTIVE, MemberStatus.REJECTED}),
    MemberStatus.ACTIVE: frozenset(
        {MemberStatus.SUSPENDED, MemberStatus.LAPSED, MemberStatus.WITHDRAWN}
    ),
    MemberStatus.SUSPENDED: frozenset({MemberStatus.ACTIVE}),
    MemberStatus.LAPSED: frozenset({MemberStatus.ACTIVE}),
    MemberStatus.REJECTED: frozenset(),
    MemberStatus.WITHDRAWN: frozenset(),
}


class TransitionError(Exception):
    """A status change the lifecycle does not allow."""

    def __init__(self, current: MemberStatus, target: MemberStatus):
        self.current, self.target = current, target
        super().__init__(f"{current} -> {target}")

    @property
    def message(self) -> str:
        from flask_babel import gettext as _

        return _(
            "A member who is %(current)s cannot become %(target)s.",
            current=self.current.label.lower(),
            target=self.target.label.lower(),
        )


member_countries = sa.Table(
    "member_countries",
    db.metadata,
    sa.Column("member_id", sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("country", sa.String(2), primary_key=True, index=True),
)


class MemberFocus(db.Model):
    __tablename__ = "member_focus_areas"

    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    focus_area: Mapped[FocusArea] = mapped_column(
        enum_column(FocusArea), primary_key=True, index=True
    )


class Member(db.Model):
    __tablename__ = "members"
    __table_args__ = (
        sa.Index("ix_members_status_name", "status", "name_key"),
        sa.Index("ix_members_duplicate", "name_key", "country"),
        # Covering indexes: counts and country lists read the index alone.
        sa.Index(
            "ix_members_public",
            "status",
            "consent_public",
            "at_risk",
            "erased_at",
            "country",
            "name_key",
        ),
        sa.Index("ix_members_status_region", "status", "region"),
        sa.Index("ix_members_figures", "status", "kind", "org_type", "region", "country"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MemberKind] = mapped_column(enum_column(MemberKind), index=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    acronym: Mapped[str | None] = mapped_column(sa.String(40))
    org_type: Mapped[OrgType | None] = mapped_column(enum_column(OrgType), index=True)
    country: Mapped[str] = mapped_column(sa.String(2), index=True)
    region: Mapped[Region] = mapped_column(enum_column(Region), index=True)
    website: Mapped[str | None] = mapped_column(sa.String(300))
    languages: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[MemberStatus] = mapped_column(
        enum_column(MemberStatus), default=MemberStatus.APPLIED, index=True
    )
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    joined_on: Mapped[date | None] = mapped_column(sa.Date)
    steering_from: Mapped[date | None] = mapped_column(sa.Date)
    steering_until: Mapped[date | None] = mapped_column(sa.Date)
    # Consent to the public directory: what they agreed to, and when.
    consent_public: Mapped[bool] = mapped_column(default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_wording: Mapped[str | None] = mapped_column(sa.Text)
    # Set by staff: keeps the member out of everything public, whatever the consent.
    at_risk: Mapped[bool] = mapped_column(default=False)
    last_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Derived, for search and duplicate detection: folded name, and web domain.
    name_key: Mapped[str] = mapped_column(sa.String(300), default="")
    web_domain: Mapped[str | None] = mapped_column(sa.String(253), index=True)
    search_text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    contacts: Mapped[list[MemberContact]] = relationship(
        back_populates="member",
        cascade="all, delete-orphan",
        order_by="(MemberContact.is_primary.desc(), MemberContact.id)",
    )
    focus_rows: Mapped[list[MemberFocus]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    country_rows = relationship("MemberCountryRow", cascade="all, delete-orphan", lazy="selectin")
    status_changes: Mapped[list[MemberStatusChange]] = relationship(
        back_populates="member",
        cascade="all, delete-orphan",
        order_by="MemberStatusChange.created_at.desc()",
    )

    def __repr__(self) -> str:
        return f"<Member {self.id} {self.name!r}>"

    @validates("country")
    def _set_country(self, _key, value):
        self.region = region_of(value)
        return value

    @validates("name")
    def _set_name(self, _key, value):
        self.name_key = fold(value)
        return value

    @validates("website")
    def _set_website(self, _key, value):
        self.web_domain = web_domain(value)
        return value

    # Lists kept in their own tables, read and written as plain lists.
    @property
    def focus_areas(self) -> list[FocusArea]:
        return sorted((FocusArea(r.focus_area) for r in self.focus_rows), key=list(FocusArea).index)

    @focus_areas.setter
    def focus_areas(self, values) -> None:
        sync_rows(
            self.focus_rows,
            {FocusArea(v) for v in values},
            key="focus_area",
            make=lambda value: MemberFocus(focus_area=value),
        )

    @property
    def work_countries(self) -> list[str]:
        return sorted(r.country for r in self.country_rows)

    @work_countries.setter
    def work_countries(self, codes) -> None:
        sync_rows(
            self.country_rows,
            {c.upper() for c in codes},
            key="country",
            make=lambda code: MemberCountryRow(country=code),
        )

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    @property
    def primary_contact(self) -> MemberContact | None:
        for contact in self.contacts:
            if contact.is_primary:
                return contact
        return self.contacts[0] if self.contacts else None

    def is_steering(self, on: date | None = None) -> bool:
        on = on or utcnow().date()
        if self.steering_from is None or self.steering_from > on:
            return False
        return self.steering_until is None or self.steering_until >= on

    @property
    def is_public(self) -> bool:
        """Listed in the public directory: active, consenting, and not at risk."""
        return (
            self.status == MemberStatus.ACTIVE
            and self.consent_public
            and not self.at_risk
            and self.erased_at is None
        )

    def can_move_to(self, target: MemberStatus) -> bool:
        return MemberStatus(target) in TRANSITIONS[MemberStatus(self.status)]

    def move_to(self, target: MemberStatus) -> MemberStatus:
        """Change status along the lifecycle; refuse any other move. Returns the old status."""
        target = MemberStatus(target)
        current = MemberStatus(self.status)
        if target not in TRANSITIONS[current]:
            raise TransitionError(current, target)
        self.status = target
        self.status_changed_at = utcnow()
        return current

    def refresh_search_text(self) -> None:
        parts = [self.name, self.acronym or ""]
        for contact in self.contacts:
            parts += [contact.name or "", contact.email or ""]
        self.search_text = fold(" ".join(parts))


class MemberCountryRow(db.Model):
    """A country the member works in (beside its home country)."""

    __table__ = member_countries


class MemberContact(db.Model):
    __tablename__ = "member_contacts"
    __table_args__ = (sa.Index("ix_member_contacts_email", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    role: Mapped[str | None] = mapped_column(sa.String(120))
    is_primary: Mapped[bool] = mapped_column(default=False)
    # The account that may edit this member's profile (the member-contact role).
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    member: Mapped[Member] = relationship(back_populates="contacts")
    user: Mapped[User | None] = relationship()


class MemberStatusChange(db.Model):
    """One step of a member's status timeline: who, when, why."""

    __tablename__ = "member_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        sa.ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[MemberStatus | None] = mapped_column(
        enum_column(MemberStatus, name="from_status")
    )
    to_status: Mapped[MemberStatus] = mapped_column(enum_column(MemberStatus, name="to_status"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    member: Mapped[Member] = relationship(back_populates="status_changes")
    actor: Mapped[User | None] = relationship()


def web_domain(url: str | None) -> str | None:
    """'https://www.Example.org/about' -> 'example.org' (for duplicate detection)."""
    if not url:
        return None
    from urllib.parse import urlsplit

    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    host = (urlsplit(text).hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host or None
