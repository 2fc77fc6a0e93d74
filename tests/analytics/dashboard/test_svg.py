"""Charts as SVG: round axis steps, compact labels, columns and bars drawn to scale, hostile text escaped."""

import re
from decimal import Decimal

import pytest

from analytics.dashboard import svg


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]), (7, [0, 2, 4, 6, 8]), (800, [0, 200, 400, 600, 800]), (0.3, [0, 0.1, 0.2, 0.3]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_axis_ticks_are_round_and_reach_the_maximum(maximum, ticks):
    assert svg.axis_ticks(maximum) == pytest.approx(ticks)


def test_charts_escape_their_text_and_draw_without_data():
    chart = svg.bar_list(chart_id="c", title="<b>", bars=[svg.Bar("<script>", 3, "3 & more")])
    assert "<script>" not in chart and "&lt;script&gt;" in chart and "3 &amp; more" in chart
    empty = svg.column_chart(chart_id="e", title="Nothing", labels=[], values=[], name="credits", fmt=str)
    assert empty.startswith('<svg class="ll-chart" id="e" role="img"') and empty.endswith("</svg>")
    assert "No data" in svg.bar_list(chart_id="n", title="Nothing", bars=[])


def elements(chart: str, tag: str, css_class: str) -> list[dict[str, str]]:
    """The attributes of every `<tag class="css_class" ...>` in the chart."""
    found = re.findall(rf'<{tag} class="{css_class}" ([^>]*?)/?>', chart)
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', attributes)) for attributes in found]


@pytest.mark.parametrize(
    ("maximum", "ticks", "step"),
    [
        (0, 4, 1.0), (-3, 4, 1.0),  # nothing to cover: a unit step
        (4, 4, 1), (7, 4, 2), (9, 4, 2.5), (18, 4, 5), (36, 4, 10), (800, 4, 200), (0.3, 4, 0.1),
        (100, 10, 10), (100, 2, 50),
    ],
)
def test_a_nice_step_is_1_2_2_5_or_5_times_a_power_of_ten(maximum, ticks, step):
    assert svg.nice_step(maximum, ticks) == pytest.approx(step)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"), (950, "950"), (Decimal("12.00"), "12"), (0.25, "0.25"), (0.5, "0.5"), (1000, "1k"), (1200, "1.2k"),
        (-1500, "-1.5k"), (3_500_000, "3.5M"), (2_000_000_000, "2B"),
    ],
)
def test_axis_labels_are_compact(value, text):
    assert svg.compact(value) == text


def test_columns_are_drawn_to_scale_with_a_tooltip_each_and_the_legend_first():
    chart = svg.column_chart(
        chart_id="calls", title="Calls", labels=["Mon", "Tue", "Wed"], values=[1, 2, 4], name="calls",
        fmt=lambda value: f"{value:,}", summary="7 calls",
    )

    bars = elements(chart, "rect", "bar")
    legend, columns = bars[0], bars[1:]
    assert (legend["width"], legend["height"]) == ("10", "10")
    # 260 high: a 198-pixel plot from y=28 to the baseline at y=226, with gridlines at 0..4 (the largest value).
    assert [column["height"] for column in columns] == ["49.5", "99.0", "198.0"]
    assert [column["y"] for column in columns] == ["176.5", "127.0", "28.0"]
    assert [line["y1"] for line in elements(chart, "line", "grid")] == ["226.0", "176.5", "127.0", "77.5", "28.0"]
    assert re.findall(r'class="axis"[^>]*>([^<]*)<', chart) == ["0", "1", "2", "3", "4", "Mon", "Tue", "Wed"]
    assert "<title>Tue: 2 calls</title>" in chart
    assert 'role="img" aria-label="Calls. 7 calls"' in chart
    assert "<path" not in chart and "<circle" not in chart  # no line asked for


def test_a_line_draws_over_the_columns_on_its_own_axis():
    chart = svg.column_chart(
        chart_id="spend", title="Spend", labels=["Mon", "Tue"], values=[3, 1], name="credits", fmt=str,
        line=svg.Line("USD", [Decimal("0.5"), Decimal("2")], lambda value: f"${value}", axis_prefix="$"),
    )

    assert [legend for legend in re.findall(r'class="legend"[^>]*>([^<]*)<', chart)] == ["credits", "USD"]
    assert re.findall(r'class="axis line-axis"[^>]*>([^<]*)<', chart) == ["$0", "$0.5", "$1", "$1.5", "$2"]
    points = elements(chart, "circle", "point")
    assert len(points) == 2 and points[1]["cy"] == "28.0"  # the largest reaches the top of the plot
    assert re.search(r'<path class="line" d="M[\d.]+,[\d.]+ L[\d.]+,28\.0"', chart)
    assert "<title>Mon: 3 credits, $0.5 USD</title>" in chart and "<title>Tue: $2 USD</title>" in chart


def test_many_columns_label_only_every_few():
    labels = [f"d{index}" for index in range(25)]
    chart = svg.column_chart(chart_id="days", title="Days", labels=labels, values=[1] * 25, name="calls", fmt=str)

    assert len(elements(chart, "rect", "bar")) == 1 + 25
    shown = [label for label in re.findall(r'class="axis"[^>]*>([^<]*)<', chart) if label.startswith("d")]
    assert shown == ["d0", "d3", "d6", "d9", "d12", "d15", "d18", "d21", "d24"]


def test_a_column_chart_escapes_hostile_text_everywhere():
    hostile = '<img src=x onerror="alert(1)">'
    chart = svg.column_chart(
        chart_id='x" onload="alert(2)', title=hostile, labels=[hostile], values=[1], name="<b>calls</b>",
        fmt=str, line=svg.Line("<i>USD</i>", [1], str), summary="& more",
    )

    assert "<img" not in chart and "<b>" not in chart and "<i>" not in chart and 'onload="' not in chart
    assert 'id="x&quot; onload=&quot;alert(2)"' in chart
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in chart
    assert "&lt;b&gt;calls&lt;/b&gt;" in chart and "&lt;i&gt;USD&lt;/i&gt;" in chart and "&amp; more" in chart


def test_an_empty_column_chart_draws_its_axis_and_nothing_else():
    chart = svg.column_chart(
        chart_id="e", title="Nothing", labels=[], values=[], name="credits", fmt=str, line=svg.Line("USD", [], str),
    )

    assert len(elements(chart, "rect", "bar")) == 1  # the legend
    assert re.findall(r'class="axis"[^>]*>([^<]*)<', chart) == ["0", "1"]
    assert "<path" not in chart and "<circle" not in chart
    assert 'aria-label="Nothing."' in chart


def test_bars_are_as_long_as_their_share_of_the_largest_with_their_text_at_the_end():
    chart = svg.bar_list(chart_id="b", title="Agents", bars=[
        svg.Bar("first", 10, "10 credits"), svg.Bar("second", 5, "5 credits", colour="#123456"),
        svg.Bar("third", Decimal("0.001"), "0.001"), svg.Bar("none", 0, "0"),
    ])

    bars = elements(chart, "rect", "bar")
    # 520 wide: labels take 170, values 130, the bars the 220 between.
    assert [bar["width"] for bar in bars] == ["220.0", "110.0", "1.0", "0.0"]  # a sliver is still seen, nothing not
    assert {bar["x"] for bar in bars} == {"170"}
    assert [bar["fill"] for bar in bars] == [svg.BAR_COLOUR, "#123456", svg.BAR_COLOUR, svg.BAR_COLOUR]
    assert [value["x"] for value in elements(chart, "text", "value")] == ["396.0", "286.0", "177.0", "176.0"]
    assert 'height="108"' in chart  # 6 above and below, 24 a bar
    assert "<title>second: 5 credits</title>" in chart


def test_a_long_label_is_shortened_with_the_whole_in_its_tooltip():
    name = "An agent whose name runs on and on"  # 34 characters: 25 are kept, and an ellipsis
    chart = svg.bar_list(chart_id="l", title="Agents", bars=[svg.Bar(name, 1, "1")])

    assert ">An agent whose name runs …<title>An agent whose name runs on and on</title>" in chart


def test_a_bar_or_column_given_a_url_is_a_link_to_it():
    bars = svg.bar_list(
        chart_id="c", title="t", bars=[svg.Bar("a", 2, "2", url="/rows/?a=1&b=2"), svg.Bar("b", 1, "1")]
    )
    columns = svg.column_chart(
        chart_id="d", title="t", labels=["x", "y"], values=[1, 2], name="n", fmt=str, urls=["/x/", "/y/"]
    )

    assert bars.count("<a ") == 1 and '<a href="/rows/?a=1&amp;b=2"><rect class="bar"' in bars
    assert re.findall(r'<a href="([^"]+)"><rect class="bar"', columns) == ["/x/", "/y/"]
