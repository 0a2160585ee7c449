"""The SVG charts: well-formed, labelled for assistive technology, honest about hidden values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from coalition.charts import (
    CHAR_WIDTH,
    PHONE_WIDTH,
    Bar,
    Point,
    bar_chart,
    nice_ticks,
    time_chart,
)

NS = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - the app's own markup


def assert_labelled(svg: ET.Element, chart_id: str, title: str, description: str) -> None:
    assert svg.tag == f"{NS}svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    title_el, desc_el = svg.find(f"{NS}title"), svg.find(f"{NS}desc")
    assert (title_el.get("id"), title_el.text) == (f"{chart_id}-title", title)
    assert (desc_el.get("id"), desc_el.text) == (f"{chart_id}-desc", description)


def assert_self_contained(svg: ET.Element) -> None:
    """Nothing fetched, nothing run, no inline style (the CSP forbids it)."""
    for element in svg.iter():
        assert element.tag not in (f"{NS}script", f"{NS}style", f"{NS}image", f"{NS}foreignObject")
        assert "style" not in element.attrib
        for name, value in element.attrib.items():
            assert "href" not in name
            assert not value.startswith(("http:", "https:", "javascript:"))
            if value.startswith("url("):
                assert value.startswith("url(#")


def bar_rows(svg: ET.Element) -> list[tuple[str, str, dict | None]]:
    rows = []
    for group in svg.iter(f"{NS}g"):
        label, text = (t.text for t in group.findall(f"{NS}text"))
        rect = group.find(f"{NS}rect")
        rows.append((label, text, None if rect is None else dict(rect.attrib)))
    return rows


def test_bar_chart_is_well_formed_and_labelled():
    bars = [Bar("Kenya", 12, "12"), Bar("Ghana", 6, "6"), Bar("Chad", 0, "0")]
    svg = parse(bar_chart(bars, chart_id="c1", title="By country", description="Kenya: 12"))
    assert_labelled(svg, "c1", "By country", "Kenya: 12")
    assert_self_contained(svg)
    rows = bar_rows(svg)
    assert [(label, text) for label, text, _rect in rows] == [
        ("Kenya", "12"),
        ("Ghana", "6"),
        ("Chad", "0"),
    ]
    kenya, ghana = float(rows[0][2]["width"]), float(rows[1][2]["width"])
    assert ghana == pytest.approx(kenya / 2, abs=0.1)
    assert rows[2][2] is None  # nothing drawn for zero
    # Text and bars in colours with contrast.
    assert svg.get("fill") == "#1b1f24"
    assert rows[0][2]["fill"] == "#0b5cad"


def test_text_is_escaped():
    nasty = '<script>alert("x")</script> & "quotes"'
    markup = bar_chart(
        [Bar(nasty, 3, "3 <b>")], chart_id="c2", title=nasty, description=f"{nasty}: 3"
    )
    assert "<script>" not in markup
    svg = parse(markup)
    assert svg.find(f"{NS}title").text == nasty
    assert bar_rows(svg)[0][1] == "3 <b>"


def test_a_hidden_bar_has_one_fixed_shape_whatever_it_hides():
    def drawn(largest: int):
        bars = [Bar("Big", largest, str(largest)), Bar("A", None, "fewer than 5")]
        return bar_rows(parse(bar_chart(bars, chart_id="h", title="t", description="d")))

    # The chart is never given the hidden value, and the bar does not follow the scale either.
    small, large = drawn(10), drawn(400)
    assert small[1] == large[1]
    assert small[0][2]["width"] == large[0][2]["width"]  # the largest bar fills the room
    label, text, rect = small[1]
    assert (label, text) == ("A", "fewer than 5")
    assert rect["fill"] == "url(#h-hatch)"
    assert rect["stroke"] == "#4f5965"  # an outline with contrast, not colour alone
    assert float(rect["width"]) < float(small[0][2]["width"]) / 4
    svg = parse(bar_chart([Bar("A", None, "x")], chart_id="h", title="t", description="d"))
    assert svg.find(f"{NS}defs/{NS}pattern").get("id") == "h-hatch"


def test_only_hidden_bars():
    svg = parse(
        bar_chart([Bar("A", None, "fewer than 5")], chart_id="o", title="t", description="d")
    )
    assert bar_rows(svg)[0][2]["fill"] == "url(#o-hatch)"


def test_right_to_left_mirrors_the_bars():
    bars = [Bar("كينيا", 10, "10")]
    ltr = parse(bar_chart(bars, chart_id="l", title="t", description="d", width=300))
    rtl = parse(bar_chart(bars, chart_id="r", title="t", description="d", width=300, rtl=True))
    assert (ltr.get("direction"), rtl.get("direction")) == ("ltr", "rtl")
    (l_label, l_value), (r_label, r_value) = (
        ltr.findall(f"{NS}g/{NS}text"),
        rtl.findall(f"{NS}g/{NS}text"),
    )
    l_rect, r_rect = ltr.find(f"{NS}g/{NS}rect"), rtl.find(f"{NS}g/{NS}rect")
    # Left to right: the bar starts at the left edge, its value after it on the right.
    # Right to left: the bar starts at the right edge and grows leftwards.
    assert float(l_rect.get("x")) == 0
    assert float(r_rect.get("x")) + float(r_rect.get("width")) == pytest.approx(300)
    assert float(l_value.get("x")) > float(l_rect.get("width"))
    assert float(r_value.get("x")) < float(r_rect.get("x"))
    for left, right in ((l_label, r_label), (l_value, r_value)):
        assert float(left.get("x")) == pytest.approx(300 - float(right.get("x")))
    assert l_rect.get("width") == r_rect.get("width")


@pytest.mark.parametrize("rtl", [False, True])
def test_8_the_longest_bars_value_fits_a_phone(rtl):
    """At 390 px the page has 358 px inside its margins: the chart is no wider, and the
    value of the longest bar (and of a hidden one, whose text is the longest) ends inside it."""
    bars = [
        Bar("No type (individual experts)", 25, "25"),
        Bar("Fact-checking", 15, "15"),
        Bar("Democratic Republic of the Congo and more", 1200, "1,200"),
        Bar("Legal", None, "fewer than 5"),
    ]
    svg = parse(bar_chart(bars, chart_id="p", title="t", description="d", rtl=rtl))
    width = float(svg.get("width"))
    assert width <= PHONE_WIDTH == 358
    assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"
    assert "bars" in svg.get("class").split()  # the stylesheet scales it down to 320 px
    for group in svg.iter(f"{NS}g"):
        label, value = group.findall(f"{NS}text")
        start = float(value.get("x"))
        # Measured from the start side: the value's text runs towards the far side.
        reach = (start if not rtl else width - start) + len(value.text) * CHAR_WIDTH
        assert reach <= width, value.text
        assert len(label.text) * CHAR_WIDTH <= width
    longest = max(svg.iter(f"{NS}rect"), key=lambda r: float(r.get("width") or 0))
    assert float(longest.get("width")) > width / 2  # and the bars still use the room


def test_empty_bar_chart_is_still_an_image():
    svg = parse(bar_chart([], chart_id="e", title="Nothing", description="No members yet."))
    assert_labelled(svg, "e", "Nothing", "No members yet.")


def test_time_chart_is_well_formed_labelled_and_steps():
    points = [Point(f"Month {i}", v, str(v), short=f"M{i}") for i, v in enumerate([2, 2, 5, 4])]
    svg = parse(
        time_chart(
            points, chart_id="t1", title="Over time", description="From 2 to 4", label_every=2
        )
    )
    assert_labelled(svg, "t1", "Over time", "From 2 to 4")
    assert_self_contained(svg)
    paths = svg.findall(f"{NS}path")
    assert len(paths) == 1
    d = paths[0].get("d")
    assert d.startswith("M") and "H" in d and "V" in d  # steps: across, then up or down
    assert len(svg.findall(f"{NS}circle")) == 4
    texts = [t.text for t in svg.iter(f"{NS}text")]
    # Axis labels counted back from the last point; y ticks from 0 past the largest value.
    assert "M3" in texts and "M1" in texts and "M0" not in texts and "M2" not in texts
    assert "0" in texts and "6" in texts


def test_time_chart_breaks_the_line_at_hidden_points():
    values = [8, None, 9, 10]
    points = [Point(f"m{i}", v, "hidden" if v is None else str(v)) for i, v in enumerate(values)]
    svg = parse(time_chart(points, chart_id="t2", title="t", description="d", step=False))
    paths = svg.findall(f"{NS}path")
    assert len(paths) == 2  # [8] and [9, 10]
    assert len(svg.findall(f"{NS}circle")) == 3
    assert "hidden" not in [t.text for t in svg.iter(f"{NS}text")]


@pytest.mark.parametrize(
    ("largest", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (105, [0, 50, 100, 150]),
        (170, [0, 50, 100, 150, 200]),
        (10_000, [0, 5000, 10000]),
    ],
)
def test_nice_ticks(largest, ticks):
    assert nice_ticks(largest) == ticks


@pytest.mark.parametrize("rtl", [False, True])
def test_bars_alone_one_per_table_row_without_text(rtl):
    """The PDF reports' bars: no text (their table gives it), one bar centred in each
    ``row_height`` band, the largest full width, mirrored right to left."""
    bars = [Bar("كينيا", 40, "40"), Bar("Ghana", 10, "10"), Bar("Chad", None, "fewer than 5")]
    svg = parse(
        bar_chart(
            bars,
            chart_id="a",
            title="t",
            description="d",
            rtl=rtl,
            width=180,
            labelled=False,
            row_height=22,
        )
    )
    assert_labelled(svg, "a", "t", "d")
    assert_self_contained(svg)
    assert svg.find(f".//{NS}text") is None
    assert (svg.get("width"), svg.get("height")) == ("180", "66")
    rects = [r.attrib for r in svg.iter(f"{NS}rect") if r.get("height") != "6"]
    assert len(rects) == 3
    for row, rect in enumerate(rects):
        middle = float(rect["y"]) + float(rect["height"]) / 2
        assert middle == pytest.approx(22 * row + 11)
    widths = [float(r["width"]) for r in rects]
    assert widths[0] == 178 and widths[1] == pytest.approx(178 / 4, abs=0.06)
    assert widths[2] == 24 and rects[2]["fill"] == "url(#a-hatch)"  # hidden: fixed, hatched
    for rect in rects:
        start, end = float(rect["x"]), float(rect["x"]) + float(rect["width"])
        assert (end == pytest.approx(180)) if rtl else (start == 0)


def test_table_bars_cut_a_long_chart_into_parts_on_one_scale(app):
    from coalition.charts import continued, describe, table_bars

    bars = [Bar(f"Round {n}", 100 - n, str(100 - n)) for n in range(7)]
    with app.test_request_context():
        rows = table_bars(
            bars,
            chart_id="r",
            title="Awarded",
            describe=describe,
            continued=continued,
            drawn=5,
            per_chart=3,
        )
    assert [row.bar for row in rows] == bars  # every row, in order
    assert [row.span for row in rows] == [3, 0, 0, 2, 0, 0, 0]  # two parts; 6 and 7 undrawn
    first, second = parse(rows[0].chart), parse(rows[3].chart)
    assert_labelled(first, "r", "Awarded", "Round 0: 100, Round 1: 99, and Round 2: 98")
    assert_labelled(second, "r-2", "Awarded (continued)", "Round 3: 97 and Round 4: 96")
    # One scale: the largest drawn value (100) is full width in both parts.
    assert float(second.find(f".//{NS}rect").get("width")) == pytest.approx(
        178 * 97 / 100, abs=0.06
    )
