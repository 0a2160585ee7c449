"""The membership report: the figures, who joined and who lapsed in a period, members
over time.

The ordinary report is not confidential: every count goes through the same
publication rule as the public figures (none below the threshold, the
others rounded), and members at risk are counted but never named. The
staff variant gives exact counts and names everyone; it is marked
confidential. The counting is the figures pages' own (``members.stats``,
``members.figures``); the whole report costs a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from coalition.charts import Bar, TableRow, continued, describe, table_bars, time_chart
from coalition.config import RTL_LANGUAGES
from coalition.countries import fold, local_country_name
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import figures, stats
from coalition.members.models import FocusArea, Member, MemberStatus, MemberStatusChange
from coalition.steering.reports.kinds import ReportKind, ReportRequest, register_kind


@dataclass(frozen=True)
class Named:
    name: str
    acronym: str | None
    country: str
    day: str


@dataclass(frozen=True)
class Movement:
    """Members who joined (or lapsed) in the period: those named, and the count not named."""

    named: list[Named]
    count_text: str
    unnamed_text: str | None


def _country(code: str) -> str:
    return local_country_name(code, get_locale())


def _end_of(day: date) -> datetime:
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=UTC)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _movement(rows: list[tuple[Member, date]], *, exact: bool) -> Movement:
    """Named rows (at-risk members left out of the ordinary report) and the counts as shown."""
    named = [
        Named(m.name, m.acronym, _country(m.country), format_date(day, "medium"))
        for m, day in rows
        if exact or not m.at_risk
    ]
    named.sort(key=lambda n: fold(n.name))
    total = len(rows)
    hidden = total - len(named)
    if exact:
        return Movement(named, figures.number(total), None)
    shown = stats.published(total)
    count_text = figures.fewer_than() if shown is None else figures.number(shown)
    unnamed = None
    if hidden:
        unnamed = str(
            _l(
                "Members at risk are counted here but not named (%(n)s).",
                n=figures.fewer_than()
                if hidden < stats.THRESHOLD
                else figures.number(stats.published(hidden) or 0),
            )
        )
    return Movement(named, count_text, unnamed)


def joined_in(start: date, end: date) -> list[tuple[Member, date]]:
    """Members who joined in the period (by their joining date): one query."""
    members = db.session.scalars(
        sa.select(Member).where(
            Member.joined_on.between(start, end),
            Member.erased_at.is_(None),
            Member.status.not_in([MemberStatus.APPLIED, MemberStatus.REJECTED]),
        )
    ).all()
    return [(m, m.joined_on) for m in members]


def lapsed_in(start: date, end: date) -> list[tuple[Member, date]]:
    """Members whose membership lapsed in the period (the status history says when): one query."""
    rows = db.session.execute(
        sa.select(Member, MemberStatusChange.created_at)
        .join(MemberStatusChange, MemberStatusChange.member_id == Member.id)
        .where(
            MemberStatusChange.to_status == MemberStatus.LAPSED,
            MemberStatusChange.created_at >= _start_of(start),
            MemberStatusChange.created_at < _end_of(end),
            Member.erased_at.is_(None),
        )
        .order_by(MemberStatusChange.created_at)
    ).all()
    seen: dict[int, tuple[Member, date]] = {}
    for member, at in rows:
        seen[member.id] = (member, at.date())
    return list(seen.values())


# WeasyPrint 70 draws SVG text one letter at a time, without shaping or bidi: the bar
# charts are SVG bars beside the rows of their table (``charts.table_bars``), their labels
# and values the table's text, in the report's language and direction. The chart over
# time keeps its text in the SVG: its axis names months in digits in a right-to-left
# report (digits print correctly letter by letter; month names would not).
RTL_MONTH_FORMAT = "MM/yyyy"


def _focus_section(counts: dict[FocusArea, int], *, exact: bool) -> figures.Section:
    show = figures._exact if exact else figures._public
    rows = []
    for area in FocusArea:
        value, text = show(counts.get(area, 0))
        rows.append(figures.Row(label=area.label, text=text, value=value))
    heading = str(_l("Active members by focus area"))
    return figures.Section(
        key="focus",
        heading=heading,
        column=str(_l("Focus area")),
        rows=rows,
        chart=Markup(""),  # the report draws its bars beside its table (gather)
        note=str(_l("A member working on several areas counts under each.")),
    )


def _bars(section: figures.Section, rtl: bool) -> list[TableRow]:
    """The rows of a section's table, the bars of those its chart draws beside them."""
    return table_bars(
        [Bar(r.label, r.value, r.text) for r in section.rows],
        chart_id=f"chart-{section.key}",
        title=_chart_title(section),
        describe=describe,
        continued=continued,
        rtl=rtl,
        drawn=len(_drawn(section)),
    )


def _drawn(section: figures.Section) -> list:
    return section.rows[: figures.TOP_COUNTRIES] if section.key == "country" else section.rows


def _over_time_chart(points: list, described: list) -> Markup:
    # A printed page is narrower than a screen: every sixth month named on the axis.
    return time_chart(
        points,
        chart_id="chart-over-time",
        title=str(_l("Active members")),
        description=str(
            _l(
                "Step chart: active members at the end of each month, from %(first)s "
                "(%(first_count)s) to %(last)s (%(last_count)s).",
                first=described[0].label,
                first_count=described[0].text,
                last=described[-1].label,
                last_count=described[-1].text,
            )
        ),
        number=figures.number,
        label_every=6,
    )


def gather(request: ReportRequest) -> dict[str, Any]:
    """Everything the template shows, in a fixed number of queries."""
    exact = request.confidential
    period_end = min(_end_of(request.end), utcnow())
    active = Member.status == MemberStatus.ACTIVE
    everyone, active_counts = stats.breakdowns()
    data = stats.StaffFigures(
        everyone=everyone,
        active=active_counts,
        countries_covered=stats.countries_covered(active),
        over_time=stats.active_over_time(now=period_end, months=stats.MONTHS),
        counted_at=utcnow(),
    )
    focus = stats.focus_counts(active)
    view = figures.staff_view(data, small_hidden=not exact, country_label=_country)
    sections = [*view.sections, _focus_section(focus, exact=exact)]
    rtl = request.language in RTL_LANGUAGES
    charts = {section.key: _bars(section, rtl) for section in sections}
    points = view.months
    if rtl:
        points = [
            replace(point, short=format_date(month.month, RTL_MONTH_FORMAT))
            for point, month in zip(points, data.over_time, strict=True)
        ]
    return {
        "view": view,
        "over_time": _over_time_chart(points, view.months),
        "sections": sections,
        "charts": charts,
        "countries_covered": figures.number(data.countries_covered),
        "home_countries": figures.number(active_counts.home_countries),
        "joined": _movement(joined_in(request.start, request.end), exact=exact),
        "lapsed": _movement(lapsed_in(request.start, request.end), exact=exact),
        "threshold": figures.number(stats.THRESHOLD),
        "exact": exact,
    }


def _chart_title(section: figures.Section) -> str:
    if section.key == "country":
        return str(_l("The %(n)s countries with the most active members", n=figures.TOP_COUNTRIES))
    return section.heading


MEMBERSHIP = register_kind(
    ReportKind(
        name="membership",
        label=_l("Membership report"),
        template="membership.html",
        permission="reports.membership",
        gather=gather,
        confidential_variant=True,
        variants=(
            _l("Ordinary (small counts hidden, members at risk not named)"),
            _l("Confidential (staff)"),
        ),
    )
)
