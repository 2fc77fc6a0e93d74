"""Charts as SVG: round axis steps, compact labels, columns and bars drawn to scale, hostile text escaped."""

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
