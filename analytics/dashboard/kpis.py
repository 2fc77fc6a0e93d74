"""The tiles at the top of the dashboard: credits, spend, calls, success rate, latency, agents below threshold."""

from analytics.dashboard.formats import DISPLAY, usd
from analytics.dashboard.links import open_alerts_url
from analytics.dashboard.table import Table
from config.api.dates import DateRange
from usage.models import Interaction


def build_kpis(numbers: dict, tables: dict[str, Table], date_range: DateRange) -> list[dict]:
    totals, spend = numbers["totals"], numbers["spend"]
    runway = tables["runway"].rows
    low = sum(1 for row in numbers["balances"].values() if row["is_low"])
    failed_calls = spend["status_distribution"].get(Interaction.Status.FAILED, 0)
    avg, p95 = totals["avg_latency_ms"], totals["p95_latency_ms"]
    return [
        {"label": "Credits consumed", "value": DISPLAY["credits"](totals["credits"]),
         "note": f"{DISPLAY['credits'](totals['credits'] / date_range.days)} a day on average"},
        {"label": "Spend (USD)", "value": usd(totals["cost"]), "note": f"{totals['records']:,} usage records"},
        {"label": "Calls", "value": f"{spend['total_calls']:,}",
         "note": f"{spend['in_progress_calls']:,} in progress" if spend["in_progress_calls"] else "calls and chats"},
        {"label": "Success rate", "value": DISPLAY["pct"](spend["success_rate"]) if spend["total_calls"] else "—",
         "note": f"{failed_calls:,} failed", "state": "warning" if failed_calls else ""},
        {"label": "Average latency", "value": DISPLAY["ms"](avg) if avg is not None else "—",
         "note": f"p95 {p95:,} ms" if p95 is not None else "no latency recorded"},
        {"label": "Agents below threshold", "value": f"{low:,}", "note": f"of {len(numbers['balances']):,} agents"
         + (f"; {sum(1 for row in runway if row['state'] == 'depleted'):,} depleted" if low else ""),
         "state": "danger" if low else "ok", "url": open_alerts_url()},
    ]
