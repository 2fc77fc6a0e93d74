"""The dashboard's charts: each draws its table's rows as SVG, summing up the headline numbers for screen readers."""

from decimal import Decimal

from django.utils.safestring import SafeString

from analytics.dashboard import svg
from analytics.dashboard.formats import DISPLAY, percent, usd
from analytics.dashboard.table import Table
from analytics.dashboard.tables import SHOWN
from config.api.dates import DateRange

STATUS_COLOURS = {"completed": "#3f8f4e", "failed": "#ba2121", "in_progress": "#888888"}
SENTIMENT_COLOURS = {"positive": "#3f8f4e", "neutral": "#79aec8", "negative": "#ba2121", "unknown": "#999999"}


def build_charts(tables: dict[str, Table], date_range: DateRange) -> dict:
    return {
        "daily": daily_chart(tables["daily"].rows, date_range),
        "by_type": by_type_chart(tables["by_type"].rows),
        "breakdown": breakdown_chart(tables["breakdown"]),
        "top_agents": top_agents_chart(tables["top_agents"].rows),
        "models": models_chart(tables["models"].rows),
        "status": calls_by_chart("chart-status", "Calls by status", tables["status"].rows, "status", STATUS_COLOURS),
        "sentiment": calls_by_chart(
            "chart-sentiment", "Calls by sentiment", tables["sentiment"].rows, "sentiment", SENTIMENT_COLOURS
        ),
        "drop_off": drop_off_chart(tables["drop_off"].rows),
    }


def daily_chart(daily: list[dict], date_range: DateRange) -> SafeString:
    """Credits consumed per day as columns, the spend as a line; the summary names the busiest day."""
    total_credits = sum((row["credits"] for row in daily), Decimal(0))
    total_cost = sum((row["cost"] for row in daily), Decimal(0))
    peak = max(daily, key=lambda row: row["credits"], default=None)
    label_format = "%b %d" if date_range.days > 1 else "%Y-%m-%d"
    return svg.column_chart(
        chart_id="chart-daily", title="Credits consumed and spend per day",
        labels=[row["date"].strftime(label_format) for row in daily], values=[row["credits"] for row in daily],
        name="credits", fmt=DISPLAY["credits"], urls=[row["url"] for row in daily],
        line=svg.Line("USD spend", [row["cost"] for row in daily], usd, axis_prefix="$"),
        summary=f"{DISPLAY['credits'](total_credits)} credits and {usd(total_cost)} over {len(daily)} days"
        + (f"; the busiest day {peak['date']} with {DISPLAY['credits'](peak['credits'])} credits" if peak else ""),
    )


def by_type_chart(rows: list[dict]) -> SafeString:
    return svg.bar_list(
        chart_id="chart-by-type", title="Credits by usage type",
        bars=[
            svg.Bar(
                row["type"], row["credits"], f"{DISPLAY['credits'](row['credits'])} ({percent(row['share'])})",
                url=row["url"],
            )
            for row in rows
        ],
        summary=", ".join(f"{row['type']} {percent(row['share'])}" for row in rows),
    )


def breakdown_chart(table: Table) -> SafeString:
    """The breakdown's values by their credits in the range (the table has them per period)."""
    rows = table.rows[:SHOWN]
    return svg.bar_list(
        chart_id="chart-breakdown", title=table.title,
        bars=[
            svg.Bar(row["value"], row["credits"], f"{DISPLAY['credits'](row['credits'])} ({percent(row['share'])})",
                    url=row["url"])
            for row in rows
        ],
        summary=", ".join(f"{row['value']} {percent(row['share'])}" for row in rows[:3]),
    )


def top_agents_chart(rows: list[dict]) -> SafeString:
    return svg.bar_list(
        chart_id="chart-top-agents", title="Top agents by credits",
        bars=[
            svg.Bar(row["agent"], row["credits"], DISPLAY["credits"](row["credits"]), url=row["records_url"])
            for row in rows[:SHOWN]
        ],
        summary=", ".join(f"{row['agent']} {DISPLAY['credits'](row['credits'])}" for row in rows[:3]),
    )


def models_chart(rows: list[dict]) -> SafeString:
    return svg.bar_list(
        chart_id="chart-models", title="Cost by model", width=1000,
        bars=[
            svg.Bar(
                f"{row['model']} · {row['type']}", row["cost"],
                usd(row["cost"]) + (f" · p95 {row['p95_ms']:,} ms" if row["p95_ms"] is not None else ""),
                url=row["url"],
            )
            for row in rows[:SHOWN]
        ],
        summary=", ".join(f"{row['model']} {usd(row['cost'])}" for row in rows[:3]),
    )


def calls_by_chart(chart_id: str, title: str, rows: list[dict], name: str, colours: dict) -> SafeString:
    """Calls by one of their fields (status, sentiment): a bar each, in its colour, with its count and share."""
    bars = [
        svg.Bar(
            row[name], row["calls"], f"{row['calls']:,} ({percent(row['share'])})",
            colours.get(row["key"], svg.BAR_COLOUR), url=row["url"],
        )
        for row in rows
    ]
    summary = ", ".join(f"{row[name]} {row['calls']:,}" for row in rows)
    return svg.bar_list(chart_id=chart_id, title=title, bars=bars, width=340, summary=summary)


def drop_off_chart(rows: list[dict]) -> SafeString:
    return svg.column_chart(
        chart_id="chart-drop-off", title="Call length (where calls end)",
        labels=[row["bucket"] for row in rows], values=[row["calls"] for row in rows], name="calls",
        fmt=DISPLAY["int"], width=360, height=200, urls=[row["url"] for row in rows],
        summary=", ".join(f"{row['bucket']}: {row['calls']:,}" for row in rows),
    )
