"""The member searches: the staff directory's filters (shared by its export)
and the public directory's, which can only ever see public members."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from coalition.countries import Region, fold, lookup_country
from coalition.db import utcnow
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
    MemberKind,
    MemberStatus,
    OrgType,
)

SORTS = {
    "name": (Member.name_key, Member.id),
    "-name": (Member.name_key.desc(), Member.id.desc()),
    "country": (Member.country, Member.name_key, Member.id),
    "status": (Member.status, Member.name_key, Member.id),
    "joined": (Member.joined_on.desc().nulls_last(), Member.id.desc()),
    "-joined": (Member.joined_on.asc().nulls_last(), Member.id),
    "updated": (Member.updated_at.desc(), Member.id.desc()),
}


def _enum(enum_cls, value):
    try:
        return enum_cls(value) if value else None
    except ValueError:
        return None


@dataclass
class MemberFilters:
    """What the directory's search form asks for; unknown values are ignored."""

    q: str = ""
    status: MemberStatus | None = None
    kind: MemberKind | None = None
    org_type: OrgType | None = None
    country: str | None = None
    region: Region | None = None
    focus: FocusArea | None = None
    steering: bool = False
    sort: str = "name"
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: MultiDict) -> MemberFilters:
        sort = args.get("sort", "name")
        return cls(
            q=(args.get("q") or "").strip()[:200],
            status=_enum(MemberStatus, args.get("status")),
            kind=_enum(MemberKind, args.get("kind")),
            org_type=_enum(OrgType, args.get("type")),
            country=lookup_country(args.get("country")) if args.get("country") else None,
            region=_enum(Region, args.get("region")),
            focus=_enum(FocusArea, args.get("focus")),
            steering=args.get("steering") in ("1", "on", "yes"),
            sort=sort if sort in SORTS else "name",
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments (for links to export or another page)."""
        out = {
            "q": self.q,
            "status": self.status.value if self.status else "",
            "kind": self.kind.value if self.kind else "",
            "type": self.org_type.value if self.org_type else "",
            "country": self.country or "",
            "region": self.region.value if self.region else "",
            "focus": self.focus.value if self.focus else "",
            "steering": "1" if self.steering else "",
            "sort": self.sort if self.sort != "name" else "",
        }
        return {k: v for k, v in out.items() if v}


def apply_filters(query: sa.Select, filters: MemberFilters) -> sa.Select:
    if filters.q:
        words = fold(filters.q).split()
        for word in words[:8]:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(
                    Member.search_text.like(like, escape="\\"),
                    sa.func.lower(Member.acronym) == word,
                )
            )
    if filters.status:
        query = query.where(Member.status == filters.status)
    if filters.kind:
        query = query.where(Member.kind == filters.kind)
    if filters.org_type:
        query = query.where(Member.org_type == filters.org_type)
    if filters.country:
        query = query.where(
            sa.or_(
                Member.country == filters.country,
                Member.id.in_(
                    sa.select(MemberCountryRow.member_id).where(
                        MemberCountryRow.country == filters.country
                    )
                ),
            )
        )
    if filters.region:
        query = query.where(Member.region == filters.region)
    if filters.focus:
        query = query.where(
            Member.id.in_(
                sa.select(MemberFocus.member_id).where(MemberFocus.focus_area == filters.focus)
            )
        )
    if filters.steering:
        today: date = utcnow().date()
        query = query.where(
            Member.steering_from.is_not(None),
            Member.steering_from <= today,
            sa.or_(Member.steering_until.is_(None), Member.steering_until >= today),
        )
    return query.order_by(*SORTS[filters.sort])


def staff_query(filters: MemberFilters) -> sa.Select:
    """Every member (erased ones too: they still count), with what a list page shows."""
    query = sa.select(Member).options(
        selectinload(Member.contacts),
        selectinload(Member.focus_rows),
        selectinload(Member.country_rows),
    )
    return apply_filters(query, filters)


def public_condition():
    """The one definition of who the public may see: active, consenting, not at risk."""
    return sa.and_(
        Member.status == MemberStatus.ACTIVE,
        Member.consent_public.is_(True),
        Member.at_risk.is_(False),
        Member.erased_at.is_(None),
    )


def public_query(filters: MemberFilters) -> sa.Select:
    """The public directory: public members only, searched by public fields only."""
    query = sa.select(Member).where(public_condition()).options(selectinload(Member.focus_rows))
    if filters.q:
        # Contacts are not public: search name and acronym only.
        for word in fold(filters.q).split()[:8]:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(
                    Member.name_key.like(like, escape="\\"), sa.func.lower(Member.acronym) == word
                )
            )
    # Countries of work are not public: the country filter is the home country only.
    if filters.country:
        query = query.where(Member.country == filters.country)
    public_only = MemberFilters(
        kind=filters.kind,
        org_type=filters.org_type,
        region=filters.region,
        focus=filters.focus,
        sort=filters.sort if filters.sort in ("name", "-name", "country") else "name",
    )
    return apply_filters(query, public_only)


def contact_member_ids(user_id: int) -> sa.Select:
    return sa.select(MemberContact.member_id).where(MemberContact.user_id == user_id)
