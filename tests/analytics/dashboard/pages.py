"""Reading the dashboard page: its KPI tiles, a chart's SVG, a table's CSV download."""

import csv
import io
import re

from tests.analytics.handbuilt import D1, D3

INDEX = "/admin/"
SPEND_RANGE = {"from": D1.isoformat(), "to": D3.isoformat()}


def kpis(response) -> dict[str, str]:
    """KPI tile -> its value as shown."""
    html = response.content.decode()
    tiles = re.findall(r'data-kpi="([^"]+)">.*?<div class="ll-kpi-value">(.*?)</div>', html, re.S)
    return {name: re.sub(r"<[^>]+>", "", value).strip() for name, value in tiles}


def svg(response, chart_id: str) -> str:
    match = re.search(rf'<svg class="ll-chart" id="{chart_id}".*?</svg>', response.content.decode(), re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
