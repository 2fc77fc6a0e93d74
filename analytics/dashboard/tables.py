"""The dashboard's ten tables, built from its numbers: the rows the page formats and the CSV downloads stream."""

from datetime import UTC, tzinfo
from decimal import Decimal

from analytics.dashboard import links
from analytics.dashboard.filters import BREAKDOWN_CHOICES, Filters
from analytics.dashboard.links import account_url
from analytics.dashboard.table import Column, Table
from analytics.facts import BREAKDOWNS
from analytics.models import DURATION_FLOORS_S
from analytics.periods import period_starts
from config.api.dates import zone_name
from usage.models import Interaction

SHOWN = 10  # rows of a ranked table on the page; its CSV has them all
ALERTS_SHOWN = 20
RUNWAY_WARNING_DAYS = 7
STATUS_LABELS = dict(Interaction.Status.choices)
SENTIMENT_LABELS = dict(Interaction.Sentiment.choices)
PERIOD_COLUMNS_SHOWN = 12  # a breakdown's points as columns on the page up to this many; the CSV has them all


def build_tables(numbers: dict, outlet_names: dict, filters: Filters) -> dict[str, Table]:
    """Every table by name, in the page's order: usage, calls, balances, failed API calls.

    A row's links lead to the rows behind it, in the filters' outlet and range. Times are in the outlet's zone when
    the filters choose one, else in UTC; each time column names its zone.
    """
    spend, history = numbers["spend"], numbers["history"]
    zone = filters.outlet.zone if filters.outlet else UTC
    tables = [
        daily_table(spend, history, filters),
        by_type_table(numbers["by_type"], filters),
        breakdown_table(numbers["breakdown"], filters),
        top_agents_table(numbers["agents"], outlet_names, filters),
        models_table(numbers["models"], filters),
        status_table(spend, filters),
        sentiment_table(spend, filters),
        drop_off_table(spend, filters),
        runway_table(history, numbers["balances"], outlet_names),
        alerts_table(numbers["alerts"], zone),
        expiring_table(numbers["expiring"], zone),
        failed_requests_table(numbers["failed"], zone),
    ]
    return {table.name: table for table in tables}


# --- usage ---------------------------------------------------------------------------------------

def daily_table(spend: dict, history: dict, filters: Filters) -> Table:
    """One row a day: the spend overview's cost and calls beside the credit history's consumed and added.

    The days are the outlet's local dates; over all outlets, each outlet's own (DESIGN.md, "Time").
    """
    credits_by_day = {period["period"]: period for period in history["periods"]}
    daily = [
        {
            "date": day["date"], "credits": credits_by_day.get(day["date"], {}).get("consumed", Decimal(0)),
            "cost": day["cost"], "calls": day["calls"],
            "added": credits_by_day.get(day["date"], {}).get("added", Decimal(0)),
            "url": links.day_records_url(filters.outlet_id, day["date"]),
        }
        for day in spend["time_series"]
    ]
    return Table("daily", "Credits and spend per day", [
        Column("date", f"Day ({filters.outlet.timezone})" if filters.outlet else "Day (each outlet's)", "date", link="url"),
        Column("credits", "Credits consumed", "credits"),
        Column("cost", "Spend (USD)", "usd"), Column("calls", "Calls", "int"),
        Column("added", "Credits added", "credits"),
    ], daily)


def by_type_table(series: list[dict], filters: Filters) -> Table:
    total = sum((one["total"] for one in series), Decimal(0))
    by_type = [
        {
            "type": one["key"] if one["key"] is not None else f"{one['other']} other types",
            "credits": one["total"], "share": one["total"] / total if total else 0,
            "url": links.records_url(filters.outlet_id, filters.date_range, type=one["key"])
            if one["key"] is not None else None,
        }
        for one in series
    ]
    return Table("by_type", "Credits by usage type", [
        Column("type", "Type", link="url"), Column("credits", "Credits", "credits"), Column("share", "Share", "pct"),
    ], by_type)


def breakdown_table(answer: dict, filters: Filters) -> Table:
    """Credits per value of the chosen dimension (the largest first, the rest as one row), and per period."""
    total = sum((one["total"] for one in answer["series"]), Decimal(0))
    periods = period_starts(filters.date_range, "day" if answer["interval"] == "cumulative" else answer["interval"])
    field = BREAKDOWNS[answer["breakdown"]]
    rows = [
        {
            "value": (one["key"] or "(none)") if one["key"] is not None else f"{one['other']} other values",
            "credits": one["total"], "share": one["total"] / total if total else 0,
            **{str(period): value for period, value in one["points"]},
            "url": links.records_url(filters.outlet_id, filters.date_range, **{field: one["key"]})
            if one["key"] is not None else None,
        }
        for one in answer["series"]
    ]
    label = BREAKDOWN_CHOICES[answer["breakdown"]]
    return Table("breakdown", f"Credits by {label.lower()}", [
        Column("value", label, link="url"), Column("credits", "Credits", "credits"), Column("share", "Share", "pct"),
        *(
            Column(str(period), str(period), "credits", csv_only=len(periods) > PERIOD_COLUMNS_SHOWN)
            for period in periods
        ),
    ], rows, shown=SHOWN)


def top_agents_table(summary: list[dict], outlet_names: dict, filters: Filters) -> Table:
    agents = [
        {
            "agent": item["agent_name"], "outlet": outlet_names.get(item["outlet_id"], ""), "credits": item["credits"],
            "cost": item["cost"], "records": item["records"], "agent_id": item["agent_id"],
            "url": account_url(item["agent_id"]),
            "records_url": links.agent_records_url(filters.outlet_id, filters.date_range, item["agent_id"]),
        }
        for item in summary
    ]
    return Table("top_agents", "Top agents by credits", [
        Column("agent", "Agent", link="url"), Column("outlet", "Outlet"), Column("credits", "Credits", "credits"),
        Column("cost", "Spend (USD)", "usd"), Column("records", "Usage records", "int", link="records_url"),
        Column("agent_id", "Agent id", csv_only=True),
    ], agents, shown=SHOWN)


def models_table(model_usage: list[dict], filters: Filters) -> Table:
    models = [
        {
            "type": item["type"], "model": item["model"] or "(none)", "unit": item["unit"], "calls": item["calls"],
            "credits": item["credits"], "cost": item["cost"], "avg_ms": item["latency"]["avg_ms"],
            "p95_ms": item["latency"]["p95_ms"],
            "url": links.records_url(
                filters.outlet_id, filters.date_range, type=item["type"], model=item["model"], unit=item["unit"]
            ),
        }
        for item in model_usage
    ]
    return Table("models", "Models: cost and latency", [
        Column("type", "Type"), Column("model", "Model", link="url"), Column("unit", "Unit"), Column("calls", "Calls", "int"),
        Column("credits", "Credits", "credits"), Column("cost", "Cost (USD)", "usd"),
        Column("avg_ms", "Avg latency", "ms"), Column("p95_ms", "p95 latency", "ms"),
    ], models, shown=SHOWN)


# --- calls ---------------------------------------------------------------------------------------

def status_table(spend: dict, filters: Filters) -> Table:
    return _calls_by(
        "status", "Calls by status", "Status", spend["status_distribution"], STATUS_LABELS, spend, filters
    )


def sentiment_table(spend: dict, filters: Filters) -> Table:
    return _calls_by(
        "sentiment", "Calls by sentiment", "Sentiment", spend["sentiment_distribution"], SENTIMENT_LABELS, spend,
        filters,
    )


def _calls_by(key: str, title: str, label: str, distribution: dict, labels: dict, spend: dict, filters) -> Table:
    """Calls counted by one of their fields (status, sentiment), each with its share of all calls."""
    total_calls = spend["total_calls"]
    rows = [
        {
            key: labels.get(name, name), "key": name, "calls": count, "share": count / total_calls if total_calls else 0,
            "url": links.interactions_url(filters.outlet_id, filters.date_range, **{f"{key}__exact": name}),
        }
        for name, count in distribution.items()
    ]
    return Table(key, title, [
        Column(key, label, link="url"), Column("calls", "Calls", "int"), Column("share", "Share", "pct"),
    ], rows)


def drop_off_table(spend: dict, filters: Filters) -> Table:
    """Calls by length, each bucket linking to the calls of that length (the histogram's floors, seconds)."""
    ceilings = (*DURATION_FLOORS_S[1:], None)  # the last bucket is open-ended
    drop_off = [
        {
            "bucket": point["bucket"], "calls": point["count"],
            "url": links.interactions_url(
                filters.outlet_id, filters.date_range, duration_seconds__gte=floor, duration_seconds__lt=ceiling
            ),
        }
        for point, floor, ceiling in zip(spend["drop_off_points"], DURATION_FLOORS_S, ceilings, strict=True)
    ]
    return Table("drop_off", "Call length (drop-off)", [
        Column("bucket", "Length", link="url"), Column("calls", "Calls", "int"),
    ], drop_off)


# --- balances ------------------------------------------------------------------------------------

def runway_table(history: dict, balances: dict, outlet_names: dict) -> Table:
    """The credit history's burn and runway per agent, with the live balance, threshold and state."""
    runway = []
    for agent in history["agents"]:
        live = balances.get(agent["agent_id"], {})
        balance = live.get("balance", agent["balance"])
        runway.append({
            "agent": agent["agent_name"], "outlet": outlet_names.get(agent["outlet_id"], ""),
            "balance": balance, "threshold": live.get("threshold"),
            "burn": agent["average_daily_burn"], "runway_days": agent["runway_days"],
            "state": "depleted" if balance <= 0 else "low" if live.get("is_low") else "ok",
            "agent_id": agent["agent_id"], "url": account_url(agent["agent_id"]),
        })
    return Table("runway", "Lowest runway", [
        Column("agent", "Agent", link="url"), Column("outlet", "Outlet"), Column("balance", "Balance", "credits"),
        Column("threshold", "Threshold", "credits"), Column("burn", "Burn / day (30 d)", "credits"),
        Column("runway_days", "Runway (days)", "days", empty="no burn"), Column("state", "State"),
        Column("agent_id", "Agent id", csv_only=True),
    ], runway, shown=SHOWN, empty="No agents.", row_class=runway_class)


def runway_class(row: dict) -> str:
    if row["state"] == "depleted" or (row["runway_days"] is not None and row["runway_days"] < RUNWAY_WARNING_DAYS):
        return "ll-danger"
    return "ll-warning" if row["state"] == "low" else ""


def _alert_owner(alert) -> str:
    return f"Pool of {alert.outlet.name}" if alert.account.is_pool else alert.account.agent.name


def alerts_table(open_alerts: list, zone: tzinfo) -> Table:
    alerts = [
        {
            "opened_at": alert.opened_at.astimezone(zone), "agent": _alert_owner(alert), "outlet": alert.outlet.name,
            "kind": alert.get_kind_display(), "threshold": alert.threshold, "opening_balance": alert.opening_balance,
            "balance": alert.account.balance, "agent_id": alert.account_id,
            # A pool's alert (pool_low, auto top-up) leads to its outlet's page, which shows the pool.
            "url": links.outlet_url(alert.outlet_id) if alert.account.is_pool else account_url(alert.account_id),
            "sent_to": " and ".join(alert.outlet.alert_recipients) or "nobody",
        }
        for alert in open_alerts
    ]
    return Table("alerts", "Open low-balance alerts", [
        Column("agent", "Agent", link="url"), Column("outlet", "Outlet", csv_only=True), Column("kind", "Kind"),
        Column("balance", "Balance now", "credits"), Column("threshold", "Threshold", "credits", csv_only=True),
        Column("opened_at", f"Opened ({zone_name(zone)})", "datetime"), Column("sent_to", "Sent to"),
        Column("opening_balance", "Opening balance", "credits", csv_only=True),
        Column("agent_id", "Agent id", csv_only=True),
    ], alerts, shown=ALERTS_SHOWN, empty="No open alerts: every balance is above its threshold.")


def expiring_table(grants: list, zone: tzinfo) -> Table:
    """Grants that stop counting within a week, soonest first: what an agent is about to lose unused."""
    rows = [
        {
            "agent": grant.account.agent.name, "outlet": grant.outlet.name, "source": grant.get_source_display(),
            "remaining": grant.remaining, "expires_at": grant.expires_at.astimezone(zone), "grant_id": grant.pk,
            "agent_id": grant.account_id, "url": account_url(grant.account_id),
        }
        for grant in grants
    ]
    return Table("expiring", "Grants expiring within 7 days", [
        Column("agent", "Agent", link="url"), Column("outlet", "Outlet", csv_only=True), Column("source", "Source"),
        Column("remaining", "Remaining", "credits"), Column("expires_at", f"Expires ({zone_name(zone)})", "datetime"),
        Column("grant_id", "Grant id", csv_only=True), Column("agent_id", "Agent id", csv_only=True),
    ], rows, empty="No grant expires within 7 days.")


# --- failed API calls ----------------------------------------------------------------------------

def failed_requests_table(failed: list, zone: tzinfo) -> Table:
    rows = [
        {
            "time": row.time.astimezone(zone), "method": row.method, "route": row.route, "status": row.status,
            "key_prefix": row.key_prefix or None, "outlet": row.outlet.name if row.outlet else None,
            "latency_ms": row.latency_ms,
            "url": links.failed_call_url(row.status, row.route, row.time, row.outlet_id),
        }
        for row in failed
    ]
    return Table("failed_requests", "API calls that failed today", [
        Column("time", f"Time ({zone_name(zone)})", "time"), Column("method", "Method"), Column("route", "Route"),
        Column("status", "Status", link="url"), Column("key_prefix", "Key prefix"), Column("outlet", "Outlet"),
        Column("latency_ms", "Latency", "ms", csv_only=True),
    ], rows, empty="No failed API calls today.")
