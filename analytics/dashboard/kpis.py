"""The tiles at the top of the dashboard: credits, spend, calls, success rate, latency, agents below threshold,
credits held and agents refused a hold."""

from analytics.dashboard.formats import DISPLAY, usd
from analytics.dashboard.links import live_holds_url, open_alerts_url
from analytics.dashboard.table import Table
from config.api.dates import DateRange
from usage.models import Interaction

HELD_HELP = "What live holds (active, not past their expiry) reserve now and usage has not captured yet."
REFUSED_HELP = (
    "Agents with a hold or an extension refused for want of credit (402) since {midnight}. Each refusal stamps "
    "the agent's account (its last refusal), so an agent counts once however often it was refused, and the count "
    "needs neither the request log nor a counter."
)


def build_kpis(numbers: dict, tables: dict[str, Table], date_range: DateRange, outlet_id=None) -> list[dict]:
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
        *hold_kpis(numbers, outlet_id),
    ]


def hold_kpis(numbers: dict, outlet_id) -> list[dict]:
    midnight = "midnight UTC" if outlet_id is None else "the outlet's midnight"
    refused = numbers["refused"]
    return [
        {"label": "Credits held now", "value": DISPLAY["credits"](numbers["held"]), "note": "reserved by live holds",
         "help": HELD_HELP, "url": live_holds_url(outlet_id)},
        {"label": "Agents refused a hold today", "value": f"{refused:,}", "note": f"since {midnight}",
         "help": REFUSED_HELP.format(midnight=midnight), "state": "warning" if refused else ""},
    ]
