"""Member figures and their charts: the staff page (exact counts) and the public
page (only public members, no count below the threshold, every count rounded).

The counting is in ``coalition.members.stats``; this module turns counts into
labelled rows and charts, the same for the page and (later) the PDF report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from babel.lists import format_list
from flask import current_app, render_template, url_for
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from coalition.charts import Bar, Point, bar_chart, time_chart
from coalition.countries import REGION_LABELS, Region, country_name, fold
from coalition.i18n import text_direction
from coalition.members import stats
from coalition.members.models import MemberKind, MemberStatus, OrgType
from coalition.members.public import public_bp
from coalition.members.views import bp
from coalition.policy import can, permission_required

# The country chart shows the largest countries; the table beside it has them all.
TOP_COUNTRIES = 15


@dataclass(frozen=True)
class Row:
    """One line of a figures table: what is counted, and the count as shown."""

    label: str
    text: str
    value: int | None  # what the chart draws (None: hidden)


@dataclass(frozen=True)
class Section:
    """A heading, a chart and the table it pictures."""

    key: str
    heading: str
    column: str  # the table's first column heading
    rows: list[Row]
    chart: str
    note: str | None = None


def number(n: int) -> str:
    return format_decimal(n)


def fewer_than() -> str:
    return _("fewer than %(n)s", n=number(stats.THRESHOLD))


def type_label(org_type: OrgType | None) -> str:
    return org_type.label if org_type else _("No type (individual experts)")


def _exact(n: int) -> tuple[int, str]:
    return n, number(n)


def _public(n: int) -> tuple[int | None, str]:
    shown = stats.published(n)
    return shown, fewer_than() if shown is None else number(shown)


def _rows(keys: Iterable, counts: dict, label: Callable, show: Callable[[int], tuple]) -> list[Row]:
    rows = []
    for key in keys:
        value, text = show(counts.get(key, 0))
        rows.append(Row(label=label(key), text=text, value=value))
    return rows


def _section(key, heading, column, rows, *, note=None, title=None, chart_rows=None) -> Section:
    """A section whose chart draws ``chart_rows`` (all its rows unless told) under ``title``."""
    chart_rows = rows if chart_rows is None else chart_rows
    # "Kenya: 12, Senegal: 9 and Ghana: 4", punctuated as the reader's language does.
    description = format_list(
        [_("%(label)s: %(value)s", label=r.label, value=r.text) for r in chart_rows],
        style="standard",
        locale=get_locale(),
    )
    chart = bar_chart(
        [Bar(r.label, r.value, r.text) for r in chart_rows],
        chart_id=f"chart-{key}",
        title=title or heading,
        description=description,
        rtl=text_direction() == "rtl",
    )
    return Section(key=key, heading=heading, column=column, rows=rows, chart=chart, note=note)


def _over_time(months: list[stats.MonthCount], show: Callable[[int], tuple], title: str):
    points = []
    for month in months:
        value, text = show(month.count)
        points.append(
            Point(
                label=format_date(month.month, "MMMM yyyy"),
                value=value,
                text=text,
                short=format_date(month.month, "MMM yyyy"),
            )
        )
    first, last = points[0], points[-1]
    description = _(
        "Step chart: %(title)s at the end of each month, from %(first)s (%(first_count)s) "
        "to %(last)s (%(last_count)s).",
        title=title,
        first=first.label,
        first_count=first.text,
        last=last.label,
        last_count=last.text,
    )
    chart = time_chart(
        points,
        chart_id="chart-over-time",
        title=title,
        description=description,
        number=number,
    )
    return points, chart


def _country_order(counts: dict[str, int]) -> list[str]:
    return sorted(counts, key=lambda c: (-counts[c], fold(country_name(c))))


@dataclass(frozen=True)
class FiguresView:
    """Figures made ready to show: sections (chart and table each), and members over time."""

    total: str
    sections: list[Section]
    months: list[Point]
    over_time: str


def staff_view(
    data: stats.StaffFigures,
    *,
    small_hidden: bool = False,
    country_label: Callable[[str], str] = country_name,
) -> FiguresView:
    """Exact counts: every member by status, then active members every other way.

    ``small_hidden`` publishes every count as the public figures do (none
    below the threshold, the others rounded, countries ordered by what is
    shown): the steering group's ordinary membership report, whose
    ``country_label`` names countries in the report's language.
    """
    everyone, active = data.everyone, data.active
    show = _public if small_hidden else _exact
    type_keys = [*OrgType, None] if active.by_type.get(None) else list(OrgType)
    if small_hidden:
        order = stats.public_order(
            {c: n for c, n in active.by_country.items() if n}, lambda c: fold(country_label(c))
        )
    else:
        order = _country_order(active.by_country)
    countries = _rows(order, active.by_country, country_label, show)
    sections = [
        _section(
            "status",
            _("All members by status"),
            _("Status"),
            _rows(MemberStatus, everyone.by_status, lambda s: s.label, show),
            note=_("Every member on the register, whatever their status."),
        ),
        _section(
            "kind",
            _("Active members by kind"),
            _("Kind"),
            _rows(MemberKind, active.by_kind, lambda k: k.label, show),
        ),
        _section(
            "type",
            _("Active members by type"),
            _("Type"),
            _rows(type_keys, active.by_type, type_label, show),
        ),
        _section(
            "region",
            _("Active members by region"),
            _("Region"),
            _rows(Region, active.by_region, _region_label, show),
        ),
        _section(
            "country",
            _("Active members by country"),
            _("Country"),
            countries,
            title=_("The %(n)s countries with the most active members", n=TOP_COUNTRIES),
            note=_countries_note(active.home_countries, data.countries_covered),
            chart_rows=countries[:TOP_COUNTRIES],
        ),
    ]
    months, over_time = _over_time(data.over_time, show, _("Active members"))
    return FiguresView(show(everyone.total)[1], sections, months, over_time)


def public_view(data: stats.PublicFigures) -> FiguresView:
    """Public members only; every count published (rounded, or hidden below the threshold)
    and ordered by what is published, never by the exact count."""
    members = data.members

    def rows(counts: dict, label: Callable, sort_label: Callable = fold) -> list[Row]:
        present = {key: n for key, n in counts.items() if n}
        keys = stats.public_order(present, lambda key: sort_label(label(key)))
        return _rows(keys, present, label, _public)

    countries = rows(members.by_country, country_name)
    sections = [
        _section("kind", _("Members by kind"), _("Kind"), rows(members.by_kind, _kind_label)),
        _section("type", _("Members by type"), _("Type"), rows(members.by_type, type_label)),
        _section(
            "region", _("Members by region"), _("Region"), rows(members.by_region, _region_label)
        ),
        _section(
            "country",
            _("Members by country"),
            _("Country"),
            countries,
            title=_("The %(n)s countries with the most listed members", n=TOP_COUNTRIES),
            note=_countries_note(members.home_countries, data.countries_covered),
            chart_rows=countries[:TOP_COUNTRIES],
        ),
    ]
    months, over_time = _over_time(data.over_time, _public, _("Listed members"))
    return FiguresView(_public(members.total)[1], sections, months, over_time)


def _kind_label(kind: MemberKind) -> str:
    return kind.label


def _region_label(region: Region) -> str:
    return str(REGION_LABELS[region])


def _countries_note(home: int, covered: int) -> str:
    # Counts of countries, not of members: each country is listed by name anyway.
    return _(
        "Based in %(home)s countries, working in %(covered)s countries in all. The chart "
        "shows the %(n)s countries with the most members; the table lists every country.",
        home=number(home),
        covered=number(covered),
        n=TOP_COUNTRIES,
    )


@bp.route("/figures")
@permission_required("members.directory")
def figures():
    """Staff figures: every member by status; the other breakdowns count active members."""
    data = stats.cached("staff", stats.staff_figures)
    return render_template(
        "members/figures.html",
        data=data,
        view=staff_view(data),
        active_total=number(data.active.total),
        public_url=url_for("public.member_figures"),
    )


@public_bp.route("/directory/figures")
def member_figures():
    """Public figures: consenting, not-at-risk active members only, small counts hidden."""
    data = stats.cached("public", stats.public_figures)
    has_directory = "public.directory" in current_app.view_functions
    return render_template(
        "members/public_figures.html",
        data=data,
        view=public_view(data),
        threshold=number(stats.THRESHOLD),
        rounding=number(stats.ROUNDING),
        directory_url=url_for("public.directory") if has_directory else None,
        staff_url=url_for("members.figures") if can(current_user, "members.directory") else None,
    )
