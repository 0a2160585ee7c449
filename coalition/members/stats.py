"""Member figures: the counting queries behind the figures pages and the reports.

Every function here costs a fixed number of queries, whatever the size of
the register: the breakdowns come from one grouped query, the countries
covered from one more, and "members over time" from a third, summed in the
database.

The public figures count only members that ``queries.public_condition()``
lets the public see, and publish each count through ``published``: below
``THRESHOLD`` a count is not shown at all, and the others are rounded to a
multiple of ``ROUNDING`` (see there why).

The pages read the figures through ``cached``: each worker keeps the last
figures it counted until the register changes (or ten minutes pass), since
counting tens of thousands of members for every page view costs more than
the page itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app

from coalition.countries import Region
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members.models import (
    FocusArea,
    Member,
    MemberCountryRow,
    MemberFocus,
    MemberKind,
    MemberStatus,
    MemberStatusChange,
    OrgType,
)
from coalition.members.queries import public_condition

# Public figures never show a count below this: a lone member in a country is not exposed.
THRESHOLD = 5
# Every count the public sees is rounded to a multiple of this.
ROUNDING = 5
# "Members over time" covers this many months, the current one last.
MONTHS = 24
# How long a worker may keep figures while the register seems unchanged (the
# app setting FIGURES_CACHE_SECONDS overrides it; 0 counts afresh every time).
CACHE_SECONDS = 600

T = TypeVar("T")
_cache: dict = {}


def published(count: int) -> int | None:
    """A count as the public may see it: None (to be shown as "fewer than 5") below the
    threshold, else rounded to the nearest multiple of ``ROUNDING`` (5, 6 and 7 read 5).

    Why round and not only hide. Hiding the small cells is not enough when the
    larger ones and the total are exact: the total less the shown cells gives
    the sum of the hidden ones, and that pins them down whenever there is one
    hidden cell, or when the hidden sum is as small (or as large) as it can be
    (two hidden countries summing to 2 hold one member each). The total itself
    can be rebuilt from any breakdown whose cells are all shown (the regions,
    say), so hiding a "total" row does not help, and neither does suppressing
    a second cell per table. Rounding every published count, the totals
    included, leaves each such subtraction uncertain by several members, so
    no count below the threshold can be worked out. Counts are also never
    ordered by their exact value (see ``public_order``), which would leak the
    order of the hidden ones.
    """
    if count < THRESHOLD:
        return None
    return ROUNDING * ((count + ROUNDING // 2) // ROUNDING)


@dataclass(frozen=True)
class Breakdowns:
    """One set of members counted every way the figures show."""

    total: int = 0
    by_status: dict[MemberStatus, int] = field(default_factory=dict)
    by_kind: dict[MemberKind, int] = field(default_factory=dict)
    # Experts have no organisation type: they count under None.
    by_type: dict[OrgType | None, int] = field(default_factory=dict)
    by_region: dict[Region, int] = field(default_factory=dict)
    by_country: dict[str, int] = field(default_factory=dict)

    @property
    def home_countries(self) -> int:
        """How many countries the members are based in."""
        return sum(1 for n in self.by_country.values() if n)


@dataclass(frozen=True)
class MonthCount:
    """Active members at the end of a month (for the current month: now)."""

    month: date  # the first day of the month
    count: int


@dataclass(frozen=True)
class StaffFigures:
    everyone: Breakdowns  # every member: the counts by status come from here
    active: Breakdowns  # active members: every other breakdown
    countries_covered: int  # home countries and countries of work of active members
    over_time: list[MonthCount]
    counted_at: datetime


@dataclass(frozen=True)
class PublicFigures:
    members: Breakdowns  # the members the public may see (active, consenting, not at risk)
    countries_covered: int
    over_time: list[MonthCount]
    counted_at: datetime


def breakdowns(condition=None) -> list[Breakdowns]:
    """Count the members matching ``condition`` (all when None), split by status.

    One grouped query; returns ``[all of them, the active ones]``.
    """
    query = sa.select(
        Member.status,
        Member.kind,
        Member.org_type,
        Member.region,
        Member.country,
        sa.func.count(),
    ).group_by(Member.status, Member.kind, Member.org_type, Member.region, Member.country)
    if condition is not None:
        query = query.where(condition)
    counters = {
        key: {k: Counter() for k in ("status", "kind", "type", "region", "country")}
        for key in ("all", "active")
    }
    totals = Counter()
    for status, kind, org_type, region, country, n in db.session.execute(query):
        for key in ("all", "active") if status == MemberStatus.ACTIVE else ("all",):
            c = counters[key]
            c["status"][MemberStatus(status)] += n
            c["kind"][MemberKind(kind)] += n
            c["type"][OrgType(org_type) if org_type else None] += n
            if region:
                c["region"][Region(region)] += n
            c["country"][country] += n
            totals[key] += n
    return [
        Breakdowns(
            total=totals[key],
            by_status=dict(counters[key]["status"]),
            by_kind=dict(counters[key]["kind"]),
            by_type=dict(counters[key]["type"]),
            by_region=dict(counters[key]["region"]),
            by_country=dict(counters[key]["country"]),
        )
        for key in ("all", "active")
    ]


def countries_covered(condition) -> int:
    """Distinct countries the members matching ``condition`` are based in or work in."""
    home = sa.select(Member.country.label("country")).where(condition)
    work = (
        sa.select(MemberCountryRow.country.label("country"))
        .join(Member, Member.id == MemberCountryRow.member_id)
        .where(condition)
    )
    both = sa.union(home, work).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(both)) or 0


def focus_counts(condition=None) -> dict[FocusArea, int]:
    """Members per focus area (a member counts under each of its areas): one grouped query."""
    query = (
        sa.select(MemberFocus.focus_area, sa.func.count())
        .join(Member, Member.id == MemberFocus.member_id)
        .group_by(MemberFocus.focus_area)
    )
    if condition is not None:
        query = query.where(condition)
    return {FocusArea(area): n for area, n in db.session.execute(query)}


def month_starts(now: datetime, months: int = MONTHS) -> list[date]:
    """The first days of the last ``months`` months, oldest first, ending with now's month."""
    year, month = now.year, now.month
    starts = []
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def active_over_time(
    condition=None, *, now: datetime | None = None, months: int = MONTHS
) -> list[MonthCount]:
    """Active members at the end of each of the last ``months`` months (the current one: now).

    A member counts in a month when its status at that time was active, as
    the status history says. Each history row moves the count by +1 when it
    enters active and -1 when it leaves it; the count at a time is the sum of
    the moves made before it. The database sums the moves per month in one
    query (everything before the first month falls in the first), whatever
    the number of members.

    Joining (applied -> active, or a member recorded as active from the
    start, as an import does) is dated by ``joined_on`` when it is known,
    since a member registered today may have joined years ago; every other
    change by the time it was recorded.
    """
    now = now or utcnow()
    starts = month_starts(now, months)
    # Month i ends at the start of month i + 1; the current month ends now.
    ends_on = [_next_month(d) for d in starts]
    ends_at = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in ends_on[:-1]] + [now]
    today = now.date()
    # A joined_on date counts from the start of that day (on or before today).
    ends_on[-1] = min(ends_on[-1], today + timedelta(days=1))

    change = MemberStatusChange
    active = MemberStatus.ACTIVE
    joining = sa.and_(
        change.to_status == active,
        sa.or_(change.from_status.is_(None), change.from_status == MemberStatus.APPLIED),
        Member.joined_on.is_not(None),
    )
    by_joined_on = sa.case(
        *[(Member.joined_on < end, i) for i, end in enumerate(ends_on)], else_=None
    )
    by_recorded_at = sa.case(
        *[(change.created_at < end, i) for i, end in enumerate(ends_at)], else_=None
    )
    month = sa.case((joining, by_joined_on), else_=by_recorded_at).label("month")
    move = sa.case((change.to_status == active, 1), else_=0) - sa.case(
        (change.from_status == active, 1), else_=0
    )
    rows = (
        sa.select(month, move.label("move"))
        .select_from(change)
        .join(Member, Member.id == change.member_id)
        .where(sa.or_(change.to_status == active, change.from_status == active))
    )
    if condition is not None:
        rows = rows.where(condition)
    # Grouped outside, so that PostgreSQL sees one expression (its bound values
    # would otherwise differ between the select list and the GROUP BY).
    per_month = rows.subquery()
    query = sa.select(per_month.c.month, sa.func.sum(per_month.c.move)).group_by(per_month.c.month)
    moves = dict.fromkeys(range(months), 0)
    for index, total in db.session.execute(query):
        if index is not None:
            moves[int(index)] += int(total or 0)
    counts, running = [], 0
    for i, start in enumerate(starts):
        running += moves[i]
        counts.append(MonthCount(month=start, count=max(0, running)))
    return counts


def staff_figures(now: datetime | None = None) -> StaffFigures:
    """Exact counts of every member by status; the other breakdowns of active members."""
    now = now or utcnow()
    everyone, active = breakdowns()
    return StaffFigures(
        everyone=everyone,
        active=active,
        countries_covered=countries_covered(Member.status == MemberStatus.ACTIVE),
        over_time=active_over_time(now=now),
        counted_at=now,
    )


def public_figures(now: datetime | None = None) -> PublicFigures:
    """Counts of the members the public may see, exact (publish them through ``published``)."""
    now = now or utcnow()
    condition = public_condition()
    _everyone, members = breakdowns(condition)
    return PublicFigures(
        members=members,
        countries_covered=countries_covered(condition),
        over_time=active_over_time(condition, now=now),
        counted_at=now,
    )


def public_order(counts: dict, label) -> list:
    """Keys ordered for the public: by published count, largest first, then by label.

    Never by the exact count, which would tell the hidden counts' order.
    """
    return sorted(counts, key=lambda k: (-(published(counts[k]) or 0), label(k)))


# -- Keeping the figures between page views ----------------------------------------------


def register_fingerprint() -> tuple:
    """What changes whenever the figures may: one cheap query.

    Every change to a member goes through the registry's operations, and each
    writes an audit row about the member (an import, one about its job); a
    status change, a new member or a removed one also shows in the other
    values. Changes to anything else (a draft saved, a vote) leave it as it is.
    A change made behind the operations' back is seen within ``CACHE_SECONDS``.
    """
    from coalition.caching import typed_audit_marker

    row = db.session.execute(
        sa.select(
            sa.select(sa.func.max(MemberStatusChange.id)).scalar_subquery(),
            sa.select(sa.func.max(Member.id)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(Member).scalar_subquery(),
        )
    ).one()
    return (*row, *typed_audit_marker("Member", "Job"))


def cached(key: str, count: Callable[[], T]) -> T:
    """``count()``, or the figures this worker counted last under ``key`` if the register
    has not changed since (and they are younger than ``CACHE_SECONDS``)."""
    from coalition.caching import kept

    seconds = current_app.config.get("FIGURES_CACHE_SECONDS", CACHE_SECONDS)
    return kept(_cache, key, seconds=seconds, fingerprint=register_fingerprint, compute=count)


def forget_cached() -> None:
    """Drop every kept figure (tests roll back, so ids and the fingerprint come round again)."""
    _cache.clear()
