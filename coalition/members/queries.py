"""The member searches: the staff directory's filters (shared by its export)
and the public directory's, which can only ever see public members."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from coalition.countries import Region, fold, lookup_country
from coalition.db import rarely_true, utcnow
from coalition.extensions import db
from coalition.listing import Listing
from coalition.members import search
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


def text_condition(q: str, *, contacts=None):
    """Members matching every word of ``q``, accents and case ignored.

    Everyone searches names and acronyms. The members matching ``contacts``
    (a condition from ``policy.readable_contacts``: whose contacts the reader
    may read) are searched by their contacts too, through the search index
    (``coalition.members.search``); ``None`` (the public) searches no contact.
    """
    words = fold(q).split()[:8]
    if not words:
        return sa.true()
    by_name = rarely_true(
        sa.and_(
            *(
                sa.or_(
                    Member.name_key.like(search.like_pattern(word), escape="\\"),
                    sa.func.lower(Member.acronym) == word,
                )
                for word in words
            )
        )
    )
    if contacts is None or isinstance(contacts, sa.sql.elements.False_):
        return by_name
    with_contacts = search.staff_condition(words)
    if isinstance(contacts, sa.sql.elements.True_):
        return with_contacts
    # A member whose contacts are hidden from this reader is found by its name only.
    return sa.or_(sa.and_(contacts, with_contacts), by_name)


def apply_filters(query: sa.Select, filters: MemberFilters, *, contacts) -> sa.Select:
    """``query`` narrowed by ``filters``; the text search reaches the contacts of the
    members matching ``contacts`` only (``policy.readable_contacts`` of the reader)."""
    if filters.q:
        query = query.where(text_condition(filters.q, contacts=contacts))
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


def staff_query(filters: MemberFilters, *, contacts) -> sa.Select:
    """Every member (erased ones too: they still count), with their collections loaded.

    ``contacts``: whose contacts the reader may search (``policy.readable_contacts``).
    """
    query = sa.select(Member).options(
        selectinload(Member.contacts),
        selectinload(Member.focus_rows),
        selectinload(Member.country_rows),
    )
    return apply_filters(query, filters, contacts=contacts)


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
        query = query.where(text_condition(filters.q))
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
    return apply_filters(query, public_only, contacts=None)


def contact_member_ids(user_id: int) -> sa.Select:
    return sa.select(MemberContact.member_id).where(MemberContact.user_id == user_id)


# -- Light list pages ----------------------------------------------------------------
# A list page shows a few fields of 50 members: plain rows read in three small
# queries cost a fraction of loading full objects with their collections.


@dataclass
class ContactView:
    name: str
    email: str | None


@dataclass
class MemberRow:
    """What a list shows of one member."""

    id: int
    kind: MemberKind
    name: str
    acronym: str | None
    org_type: OrgType | None
    country: str
    status: MemberStatus
    at_risk: bool
    website: str | None
    web_domain: str | None
    steering_from: date | None
    steering_until: date | None
    focus_areas: list[FocusArea] = field(default_factory=list)
    primary_contact: ContactView | None = None
    # The labels the list shows, in the reader's language (set by ``list_page``).
    kind_label: str = ""
    type_label: str = ""
    status_label: str = ""
    focus_text: str = ""

    @property
    def country_name(self) -> str:
        from coalition.countries import country_name

        return country_name(self.country)

    def is_steering(self, on: date | None = None) -> bool:
        on = on or utcnow().date()
        if self.steering_from is None or self.steering_from > on:
            return False
        return self.steering_until is None or self.steering_until >= on


ROW_COLUMNS = (
    Member.id,
    Member.kind,
    Member.name,
    Member.acronym,
    Member.org_type,
    Member.country,
    Member.status,
    Member.at_risk,
    Member.website,
    Member.web_domain,
    Member.steering_from,
    Member.steering_until,
)


def list_page(
    query: sa.Select,
    page: int,
    per_page: int,
    *,
    contacts=None,
    clamp: bool = False,
    single_scan: bool = False,
) -> Listing:
    """A page of ``query`` (a select of Member, filtered and ordered) as MemberRows.

    Three queries whatever the page holds: the count, the rows, the focus
    areas; and a fourth for the primary contacts of the members matching
    ``contacts`` (``policy.readable_contacts`` of the reader; None: nobody's).
    """
    if single_scan:
        # A text search scans every row: scan once for the ordered ids, then
        # count them and read the page's rows by id.
        all_ids = db.session.scalars(query.with_only_columns(Member.id)).all()
        total = len(all_ids)
        page = min(page, max(1, -(-total // per_page))) if clamp else page
        wanted = all_ids[(page - 1) * per_page : page * per_page]
        found = (
            {
                row.id: row
                for row in db.session.execute(
                    sa.select(*ROW_COLUMNS).where(Member.id.in_(wanted))
                ).all()
            }
            if wanted
            else {}
        )
        rows = [found[i] for i in wanted if i in found]
    else:
        ids = query.with_only_columns(Member.id).order_by(None).subquery()
        total = db.session.scalar(sa.select(sa.func.count()).select_from(ids)) or 0
        if clamp:
            page = min(page, max(1, -(-total // per_page)))
        rows = db.session.execute(
            query.with_only_columns(*ROW_COLUMNS).limit(per_page).offset((page - 1) * per_page)
        ).all()
    items = [MemberRow(*row) for row in rows]
    by_id = {item.id: item for item in items}
    if by_id:
        for member_id, focus in db.session.execute(
            sa.select(MemberFocus.member_id, MemberFocus.focus_area).where(
                MemberFocus.member_id.in_(by_id)
            )
        ):
            by_id[member_id].focus_areas.append(FocusArea(focus))
        order = list(FocusArea)
        for item in items:
            item.focus_areas.sort(key=order.index)
        _label_rows(items)
        if contacts is not None:
            for member_id, name, email in db.session.execute(
                sa.select(MemberContact.member_id, MemberContact.name, MemberContact.email)
                .join(Member, Member.id == MemberContact.member_id)
                .where(MemberContact.member_id.in_(by_id), contacts)
                .order_by(
                    MemberContact.member_id, MemberContact.is_primary.desc(), MemberContact.id
                )
            ):
                if by_id[member_id].primary_contact is None:
                    by_id[member_id].primary_contact = ContactView(name, email)
    return Listing(items=items, page=page, per_page=per_page, total=total)


def _label_rows(items: list[MemberRow]) -> None:
    """Each row's labels, every distinct one translated once for the whole page."""
    texts: dict = {}

    def text(value) -> str:
        if value is None:
            return ""
        key = (type(value), value)
        if key not in texts:
            texts[key] = value.label
        return texts[key]

    for item in items:
        item.kind_label = text(item.kind)
        item.type_label = text(item.org_type)
        item.status_label = text(item.status)
        item.focus_text = ", ".join(text(focus) for focus in item.focus_areas)
