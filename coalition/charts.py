"""Charts drawn on the server as SVG: a horizontal bar chart and a chart over time,
for the web pages and the PDF reports (whose bar charts are bars alone beside the
rows of their table: ``table_bars`` at the end).

Each function returns the markup of one ``<svg>`` element (a ``Markup``
string, safe to place in a Jinja template or a PDF's HTML). Every chart has
a ``<title>`` and a ``<desc>`` it is labelled by (``role="img"``), draws its
labels as real text, and uses only presentation attributes: no fonts, no
scripts, no ``style`` attributes (the Content-Security-Policy forbids inline
styles), nothing fetched. The page shows the same numbers in a table beside
the chart; the chart is a picture of that table, not its only copy.

Colours keep WCAG contrast against white: text #1b1f24 (16:1), bars and
lines #0b5cad (6.6:1), outlines and hatching #4f5965 (7:1), all above the
3:1 that graphics need.

A value may be hidden (``None``): public figures never draw a count below
their threshold. A hidden bar is drawn hatched at one fixed length that
depends on nothing but the chart's size, and says whatever text the caller
gives it ("fewer than 5"); a hidden point leaves a gap in the line. So the
hidden number appears nowhere in the markup, not even in a width.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babel.lists import format_list
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

INK = "#1b1f24"
MUTED = "#4f5965"
BAR = "#0b5cad"
GRID = "#c9d0d8"
PAPER = "#ffffff"
FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'Noto Sans Arabic', sans-serif"
FONT_SIZE = 14
# A rough width of one character at FONT_SIZE, to size the label column.
CHAR_WIDTH = 8.4


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the value it is drawn to (None: hidden), and the text it shows."""

    label: str
    value: int | None
    text: str


@dataclass(frozen=True)
class Point:
    """One point in time: its full label, its value (None: hidden), the text for the value,
    and an optional short label for the axis."""

    label: str
    value: int | None
    text: str
    short: str | None = None


def _attrs(**values) -> str:
    """XML attributes in the order given; names with _ become -, None is left out."""
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        name = name.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = f"{value:.1f}".rstrip("0").rstrip(".")
        parts.append(f'{name}="{escape(str(value))}"')
    return " ".join(parts)


def _el(tag: str, text: str | None = None, **attrs) -> str:
    attributes = _attrs(**attrs)
    opening = f"<{tag} {attributes}" if attributes else f"<{tag}"
    if text is None:
        return opening + "/>"
    return f"{opening}>{escape(text)}</{tag}>"


def _open_svg(
    chart_id: str,
    title: str,
    description: str,
    width: int,
    height: int,
    direction: str,
    kind: str = "chart",
) -> list[str]:
    return [
        "<svg "
        + _attrs(
            xmlns="http://www.w3.org/2000/svg",
            class_=kind,
            role="img",
            aria_labelledby=f"{chart_id}-title {chart_id}-desc",
            width=width,
            height=height,
            viewBox=f"0 0 {width} {height}",
            font_family=FONT,
            font_size=FONT_SIZE,
            fill=INK,
            direction=direction,
        )
        + ">",
        _el("title", title, id=f"{chart_id}-title"),
        _el("desc", description, id=f"{chart_id}-desc"),
    ]


def _close_svg(parts: list[str]) -> Markup:
    parts.append("</svg>")
    # Safe: every text and attribute value above went through escape().
    return Markup("".join(parts))  # noqa: S704


def _hatch(chart_id: str) -> str:
    """The pattern of a hidden bar: dark diagonal lines on white."""
    return (
        "<defs>"
        f'<pattern id="{escape(chart_id)}-hatch" width="6" height="6" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        + _el("rect", width=6, height=6, fill=PAPER)
        + _el("line", x1=0, y1=0, x2=0, y2=6, stroke=MUTED, stroke_width=2.5)
        + "</pattern></defs>"
    )


def _fit(text: str, room: float) -> str:
    """Cut a label that would not fit its column (the table beside the chart has it whole)."""
    most = max(4, int(room / CHAR_WIDTH))
    return text if len(text) <= most else text[: most - 1].rstrip() + "\u2026"


# The widest a bar chart is drawn: it fits a 390 px phone (358 px inside the page's
# margins) as it is, and scales down to fit 320 px (the stylesheet's ``.bars``).
PHONE_WIDTH = 358


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    description: str,
    rtl: bool = False,
    width: int = PHONE_WIDTH,
    labelled: bool = True,
    row_height: int | None = None,
    largest: int | None = None,
) -> Markup:
    """Horizontal bars, one row each: the label above its bar, the value at the bar's end.

    ``labelled=False`` draws the bars alone, one every ``row_height`` units from the
    top, the whole width theirs: the PDF reports set such a chart in a table beside
    the rows it pictures, whose cells give the labels and values (``table_bars``).
    ``largest`` is the value drawn full length (the largest shown value unless told).

    Drawn narrow first: each label has the whole width, and the bars the
    width less the room of the longest value, so that the longest bar's value
    is inside the chart on a phone. Bar lengths are proportional to the
    largest shown value. ``rtl`` mirrors the chart for right-to-left
    languages (labels and bars start on the right, bars grow leftwards).
    """
    if labelled:
        row, label_line, thickness, top, bottom = 48, 18, 18, 6, 6
        text_room = max(48.0, max((len(b.text) for b in bars), default=0) * CHAR_WIDTH + 12)
        bar_room = max(40.0, width - text_room)
    else:
        row = row_height or 24
        thickness = round(row * 0.55)
        label_line, top, bottom = (row - thickness) / 2 - 4, 0, 0
        bar_room = width - 2.0
    height = top + bottom + row * max(1, len(bars))
    # A hidden bar's length: fixed, so that it says nothing about the hidden value.
    hidden_length = min(24.0, bar_room / 4)
    if largest is None:
        largest = max((b.value for b in bars if b.value is not None), default=0)

    def x(value: float) -> float:
        """A position measured from the start side, mirrored in right-to-left charts."""
        return width - value if rtl else value

    parts = _open_svg(
        chart_id, title, description, width, height, "rtl" if rtl else "ltr", kind="chart bars"
    )
    if any(b.value is None for b in bars):
        parts.append(_hatch(chart_id))
    parts.append(_el("line", x1=x(0), y1=top, x2=x(0), y2=height - bottom, stroke=MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row
        middle = y + label_line + 4 + thickness / 2
        if bar.value is None:
            length = hidden_length
            fill = f"url(#{chart_id}-hatch)"
        else:
            length = bar_room * bar.value / largest if largest else 0.0
            fill = BAR
        parts.append("<g>")
        if labelled:
            parts.append(
                _el(
                    "text",
                    _fit(bar.label, width - 8),
                    x=x(4),
                    y=y + label_line - 4,
                    text_anchor="start",
                )
            )
        if length > 0:
            parts.append(
                _el(
                    "rect",
                    x=x(length) if rtl else 0,
                    y=middle - thickness / 2,
                    width=length,
                    height=thickness,
                    fill=fill,
                    stroke=MUTED if bar.value is None else None,
                )
            )
        if labelled:
            parts.append(
                _el(
                    "text",
                    bar.text,
                    x=x(length + 6),
                    y=middle,
                    text_anchor="start",
                    dy="0.35em",
                )
            )
        parts.append("</g>")
    return _close_svg(parts)


def nice_ticks(largest: float, count: int = 4) -> list[int]:
    """Round tick values from 0 up to at least ``largest`` (steps of 1, 2 or 5 x 10^k)."""
    if largest <= 0:
        return [0, 1]
    raw = largest / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    top = int(math.ceil(largest / step) * step)
    return list(range(0, top + 1, step))


def time_chart(
    points: Sequence[Point],
    *,
    chart_id: str,
    title: str,
    description: str,
    step: bool = True,
    label_every: int = 3,
    number: Callable[[int], str] = str,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Values over time, oldest on the left: a step line (or a straight line) with a y axis.

    Time runs left to right in every language, as printed charts do. A
    hidden point (value None) breaks the line. Every ``label_every``-th point
    (and the last) gets an axis label.
    """
    left, right, top, bottom = 56, 40, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    shown = [p.value for p in points if p.value is not None]
    ticks = nice_ticks(max(shown, default=0))
    ceiling = ticks[-1] or 1
    n = len(points)

    def px(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def py(value: float) -> float:
        return top + plot_h * (1 - value / ceiling)

    parts = _open_svg(chart_id, title, description, width, height, "ltr")
    for tick in ticks:
        y = py(tick)
        parts.append(_el("line", x1=left, y1=y, x2=width - right, y2=y, stroke=GRID))
        parts.append(
            _el(
                "text",
                number(tick),
                x=left - 8,
                y=y,
                text_anchor="end",
                dy="0.35em",
                fill=MUTED,
            )
        )
    parts.append(_el("line", x1=left, y1=top, x2=left, y2=top + plot_h, stroke=MUTED))
    parts.append(
        _el("line", x1=left, y1=top + plot_h, x2=width - right, y2=top + plot_h, stroke=MUTED)
    )
    every = max(1, label_every)
    for i, point in enumerate(points):
        if (n - 1 - i) % every:
            continue  # labels are counted back from the last point, which always has one
        x = px(i)
        parts.append(_el("line", x1=x, y1=top + plot_h, x2=x, y2=top + plot_h + 5, stroke=MUTED))
        parts.append(
            _el(
                "text",
                point.short or point.label,
                x=x,
                y=top + plot_h + 20,
                text_anchor="middle",
                font_size=12,
                fill=MUTED,
            )
        )
    # The line, in runs of shown points; a hidden point breaks it.
    runs: list[list[tuple[float, float]]] = [[]]
    for i, point in enumerate(points):
        if point.value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((px(i), py(point.value)))
    for run in runs:
        if not run:
            continue
        commands = [f"M{run[0][0]:.1f},{run[0][1]:.1f}"]
        for (_x0, y0), (x1, y1) in itertools.pairwise(run):
            if step and y1 != y0:
                commands.append(f"H{x1:.1f}V{y1:.1f}")
            else:
                commands.append(f"L{x1:.1f},{y1:.1f}")
        parts.append(_el("path", d="".join(commands), fill="none", stroke=BAR, stroke_width=2.5))
        for x, y in run:
            parts.append(_el("circle", cx=x, cy=y, r=3, fill=BAR))
    return _close_svg(parts)


# -- Bar charts beside their table, for the PDF reports ---------------------------------
#
# WeasyPrint (70) draws SVG <text> one code point at a time, without shaping or the
# bidi algorithm (Kozea/WeasyPrint#2909; <foreignObject> is not drawn either, #1441):
# Arabic in an SVG label prints as loose letters in reversed order, and its text in the
# PDF reads backwards. Its HTML text goes through Pango like any paragraph: shaped,
# reordered, in the report's direction. So a report's bar chart is an SVG of the bars
# alone (``bar_chart(labelled=False)``), set in the last column of the table that holds
# its labels and values, one bar per row: every row is ``TABLE_ROW`` px high (the
# stylesheet's ``table.bars``), and so is every bar's row in the SVG. The table's
# direction mirrors the columns in a right-to-left report, and ``rtl`` the bars.
#
# A chart is cut every ``TABLE_CHART_ROWS`` rows (an SVG cannot break across pages),
# each part on the same scale, with its own title and description.

TABLE_ROW = 22
TABLE_BAR_WIDTH = 180
TABLE_CHART_ROWS = 25


@dataclass(frozen=True)
class TableRow:
    """A row of a chart's table: its bar (label, value, text), and the SVG that starts
    on it and spans ``span`` rows (None on the rows an earlier SVG spans, or not drawn)."""

    bar: Bar
    chart: Markup | None = None
    span: int = 0


def describe(bars: Sequence[Bar]) -> str:
    """A chart's description: "Kenya: 12, Senegal: 9 and Ghana: 4", in the reader's language."""
    return format_list(
        [_("%(label)s: %(value)s", label=b.label, value=b.text) for b in bars],
        style="standard",
        locale=get_locale(),
    )


def continued(title: str) -> str:
    """The title of a chart's part after the first."""
    return _("%(title)s (continued)", title=title)


def table_bars(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    describe: Callable[[Sequence[Bar]], str],
    continued: Callable[[str], str],
    rtl: bool = False,
    drawn: int | None = None,
    per_chart: int = TABLE_CHART_ROWS,
) -> list[TableRow]:
    """The rows of a chart's table, the bars of the first ``drawn`` (all unless told) as
    SVG beside them. ``describe`` gives the description of a part's bars, ``continued``
    the title of a part after the first."""
    bars = list(bars)
    shown = bars if drawn is None else bars[:drawn]
    largest = max((b.value for b in shown if b.value is not None), default=0)
    rows = [TableRow(bar) for bar in bars]
    for part, first in enumerate(range(0, len(shown), max(1, per_chart))):
        group = shown[first : first + per_chart]
        part_id = chart_id if part == 0 else f"{chart_id}-{part + 1}"
        chart = bar_chart(
            group,
            chart_id=part_id,
            title=title if part == 0 else continued(title),
            description=describe(group),
            rtl=rtl,
            width=TABLE_BAR_WIDTH,
            labelled=False,
            row_height=TABLE_ROW,
            largest=largest,
        )
        rows[first] = TableRow(group[0], chart, len(group))
    return rows
