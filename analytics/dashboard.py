"""The admin's home page: where the credits went, which agents are about to run dry, which API calls failed today.

`admin_index` is the admin index (`/admin/`, mounted before `admin.site.urls`): the filters
(one outlet or all, a preset range or from/to) are read by `DashboardFilters`, the numbers come
from the selectors the analytics API uses, cached with the API's `cached_answer` (so a repeated
view costs a handful of queries), and the page is rendered by the admin's own index view, with
every model in its navigation sidebar. Every table is a `Table` whose rows are the selectors' values: the page formats them, and
`?format=csv&table=<name>` (with the same filters) streams the same rows as CSV. Balances, open
alerts and today's failed API calls are read live.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404
from django.urls import path, reverse

from analytics import charts, selectors
from analytics.aggregation import midnight, one_staleness
from analytics.cache import cached_answer
from analytics.requestlog.selectors import failed_request_list
from config.api.csv import csv_response, dict_csv_lines
from config.api.dates import EARLIEST_DAY, LATEST_DAY, DateRange
from config.api.permissions import has_model_permission
from config.money import COST_PLACES, CREDIT_PLACES, fixed
from credits.models import Outlet
from credits.selectors import balance_list, ledger_entry_newest_id, outlet_list
from usage.models import Interaction

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "month": "This month", "90d": "Last 90 days"}
PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PRESET = "month"
CUSTOM_DEFAULT_DAYS = 30
MAX_DAYS = 366
OUT_OF_RANGE = f"That date is out of range. Pick a day from {EARLIEST_DAY} to {LATEST_DAY}."
SHOWN = 10  # rows of a ranked table on the page; its CSV has them all
ALERTS_SHOWN = 20
FAILED_SHOWN = 10
BY_TYPE_LIMIT = 8
RUNWAY_WARNING_DAYS = 7
STATUS_COLOURS = {"completed": "#3f8f4e", "failed": "#ba2121", "in_progress": "#888888"}
STATUS_LABELS = dict(Interaction.Status.choices)
SENTIMENT_LABELS = dict(Interaction.Sentiment.choices)
SENTIMENT_COLOURS = {"positive": "#3f8f4e", "neutral": "#79aec8", "negative": "#ba2121", "unknown": "#999999"}


# --- the filters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    outlet: Outlet | None
    preset: str | None  # None: a custom from/to range
    date_range: DateRange

    @property
    def outlet_id(self) -> UUID | None:
        return self.outlet.pk if self.outlet else None

    def params(self, **changes) -> dict:
        """The query string that asks for these filters again (with `changes`)."""
        params = {"outlet": str(self.outlet.pk)} if self.outlet else {}
        if self.preset:
            params["range"] = self.preset
        else:
            params.update({"from": self.date_range.start.isoformat(), "to": self.date_range.end.isoformat()})
        return {**params, **changes}

    def url(self, **changes) -> str:
        return "?" + urlencode({name: value for name, value in self.params(**changes).items() if value is not None})


def preset_range(preset: str, outlet: Outlet | None, today: date) -> DateRange:
    """The preset's days up to today; this month is the outlet's billing period so far (the calendar month for all)."""
    if preset == "month":
        start = selectors.billing_period(outlet, today).start if outlet else today.replace(day=1)
        return DateRange(start, today)
    return DateRange(today - timedelta(days=PRESET_DAYS[preset] - 1), today)


def custom_range(start: date | None, end: date | None) -> tuple[date, date]:
    """from/to as given; a missing end is today, a missing start 30 days before the end (as in the API)."""
    end = end or selectors.today_utc()
    return start or end - timedelta(days=CUSTOM_DEFAULT_DAYS - 1), end


class DashboardFilters(forms.Form):
    """outlet (blank: all), range (a preset), or from/to (a custom range, which wins over the preset)."""

    outlet = forms.ChoiceField(required=False)
    range = forms.ChoiceField(required=False, choices=[("", "")] + list(PRESETS.items()))

    def __init__(self, data, *, outlets: list[Outlet]):
        super().__init__(data)
        self.outlets = {str(outlet.pk): outlet for outlet in outlets}
        choices = [(pk, outlet.name) for pk, outlet in self.outlets.items()]
        self.fields["outlet"].choices = [("", "All outlets"), *choices]
        for name in ("from", "to"):
            self.fields[name] = forms.DateField(
                required=False,
                widget=forms.DateInput(attrs={"type": "date", "min": EARLIEST_DAY, "max": LATEST_DAY}),
                validators=[MinValueValidator(EARLIEST_DAY, OUT_OF_RANGE), MaxValueValidator(LATEST_DAY, OUT_OF_RANGE)],
            )

    def clean(self):
        data = super().clean()
        if data.get("from") or data.get("to"):
            start, end = custom_range(data.get("from"), data.get("to"))
            if start > end:
                raise forms.ValidationError(f"The range starts ({start}) after it ends ({end}).")
            if DateRange(start, end).days > MAX_DAYS:
                raise forms.ValidationError(f"A range may span at most {MAX_DAYS} days.")
        return data

    def filters(self) -> Filters:
        """What was asked for; the defaults (this month, or all outlets) for whatever was not valid."""
        valid = self.is_valid()
        data = self.cleaned_data  # the fields that were valid, even when the range was not
        outlet = self.outlets.get(data.get("outlet") or "")
        if valid and (data.get("from") or data.get("to")):
            return Filters(outlet, None, DateRange(*custom_range(data.get("from"), data.get("to"))))
        preset = data.get("range") or DEFAULT_PRESET
        return Filters(outlet, preset, preset_range(preset, outlet, selectors.today_utc()))


# --- tables: the rows of the page and of its CSV downloads ---------------------------------------

def _places(value, places: int) -> str:
    return f"{Decimal(value):,.{places}f}"


def _usd(value) -> str:
    value = Decimal(value)
    return f"${value:,.4f}" if 0 < abs(value) < 1 else f"${value:,.2f}"


DISPLAY: dict[str, Callable] = {
    "text": str,
    "int": lambda value: f"{value:,}",
    "credits": lambda value: _places(value, 2),
    "usd": _usd,
    "ms": lambda value: f"{value:,.0f} ms",
    "pct": lambda value: f"{value * 100:.1f}%",
    "days": lambda value: _places(value, 1),
    "date": lambda value: value.isoformat(),
    "datetime": lambda value: value.strftime("%d %b %H:%M"),
    "time": lambda value: value.strftime("%H:%M:%S"),
}
CSV: dict[str, Callable] = {
    "credits": lambda value: fixed(value, CREDIT_PLACES),
    "usd": lambda value: fixed(value, COST_PLACES),
    "pct": lambda value: f"{value:.4f}",
    "days": lambda value: fixed(value, 2),
    "datetime": lambda value: value.isoformat(),
    "time": lambda value: value.isoformat(),
}
NUMERIC = {"int", "credits", "usd", "ms", "pct", "days"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"
    link: str | None = None  # the row key holding a URL for this cell (the page only)
    empty: str = "—"  # shown for None
    csv_only: bool = False  # ids: in the download, not on the page

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


@dataclass(frozen=True)
class Cell:
    text: str
    url: str | None
    numeric: bool


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict]
    shown: int | None = None  # the page shows the first `shown` rows; the CSV has all
    empty: str = "Nothing in this range."
    csv_url: str = ""
    row_class: Callable[[dict], str] = field(default=lambda row: "")

    @property
    def page_columns(self) -> list[Column]:
        return [column for column in self.columns if not column.csv_only]

    def display_rows(self) -> list[dict]:
        rows = self.rows[: self.shown] if self.shown else self.rows
        return [
            {
                "class": self.row_class(row),
                "cells": [
                    Cell(
                        column.empty if row.get(column.key) is None else DISPLAY[column.kind](row[column.key]),
                        row.get(column.link) if column.link else None,
                        column.numeric,
                    )
                    for column in self.page_columns
                ],
            }
            for row in rows
        ]

    @property
    def hidden(self) -> int:
        return max(0, len(self.rows) - self.shown) if self.shown else 0

    def csv_lines(self):
        def value(column: Column, row: dict):
            raw = row.get(column.key)
            return None if raw is None else CSV.get(column.kind, str)(raw)

        rows = ({column.key: value(column, row) for column in self.columns} for row in self.rows)
        return dict_csv_lines(rows, [column.key for column in self.columns])


def account_url(agent_id: UUID) -> str:
    return reverse("admin:credits_creditaccount_change", args=[quote(agent_id)])


def open_alerts_url() -> str:
    return reverse("admin:credits_creditalert_changelist") + "?status__exact=open"


def percent(share) -> str:
    return f"{share * 100:.0f}%"


# --- the numbers ---------------------------------------------------------------------------------

@one_staleness()
def usage_answer(outlet_id: UUID | None, date_range: DateRange) -> dict:
    by_type = selectors.Breakdown(metric="credits", breakdown="type", interval="month", filters={}, limit=BY_TYPE_LIMIT)
    return {
        "totals": selectors.usage_totals(outlet_id=outlet_id, date_range=date_range),
        "spend": selectors.spend_overview(outlet_id=outlet_id, date_range=date_range),
        "by_type": selectors.usage_breakdown(outlet_id=outlet_id, date_range=date_range, question=by_type)["series"],
        "agents": selectors.usage_summary(outlet_id=outlet_id, date_range=date_range, group_by="AGENT"),
        "models": selectors.model_usage(outlet_id=outlet_id, date_range=date_range),
    }


def dashboard_numbers(filters: Filters) -> dict:
    """The selectors' answers (cached as the API caches its own) and the live reads."""
    outlet_id, date_range = filters.outlet_id, filters.date_range
    question = {"from": date_range.start, "to": date_range.end}
    usage = cached_answer("admin-dashboard", outlet_id, question, lambda: usage_answer(outlet_id, date_range))
    history = cached_answer(
        "admin-dashboard-credits", outlet_id, {**question, "ledger": ledger_entry_newest_id(outlet_id=outlet_id)},
        lambda: selectors.credit_history(outlet_id=outlet_id, date_range=date_range, interval="day"),
    )
    accounts = balance_list(outlet_id=outlet_id).values("pk", "balance", "threshold", "is_low")
    balances = {row["pk"]: row for row in accounts}
    alerts = list(selectors.open_alert_list(outlet_id=outlet_id))
    failed = failed_request_list(outlet_id=outlet_id, since=midnight(selectors.today_utc()))
    return {
        **usage, "history": history, "balances": balances, "alerts": alerts,
        "failed_count": failed.count(), "failed": list(failed[:FAILED_SHOWN]),
    }


def build_tables(numbers: dict, outlet_names: dict) -> dict[str, Table]:
    spend, history = numbers["spend"], numbers["history"]
    credits_by_day = {period["period"]: period for period in history["periods"]}
    daily = [
        {
            "date": day["date"], "credits": credits_by_day.get(day["date"], {}).get("consumed", Decimal(0)),
            "cost": day["cost"], "calls": day["calls"],
            "added": credits_by_day.get(day["date"], {}).get("added", Decimal(0)),
        }
        for day in spend["time_series"]
    ]
    total_by_type = sum((series["total"] for series in numbers["by_type"]), Decimal(0))
    by_type = [
        {
            "type": series["key"] if series["key"] is not None else f"{series['other']} other types",
            "credits": series["total"], "share": series["total"] / total_by_type if total_by_type else 0,
        }
        for series in numbers["by_type"]
    ]
    agents = [
        {
            "agent": item["agent_name"], "outlet": outlet_names.get(item["outlet_id"], ""), "credits": item["credits"],
            "cost": item["cost"], "records": item["records"], "agent_id": item["agent_id"],
            "url": account_url(item["agent_id"]),
        }
        for item in numbers["agents"]
    ]
    models = [
        {
            "type": item["type"], "model": item["model"] or "(none)", "unit": item["unit"], "calls": item["calls"],
            "credits": item["credits"], "cost": item["cost"], "avg_ms": item["latency"]["avg_ms"],
            "p95_ms": item["latency"]["p95_ms"],
        }
        for item in numbers["models"]
    ]
    total_calls = spend["total_calls"]
    status = [
        {"status": STATUS_LABELS.get(name, name), "key": name, "calls": count,
         "share": count / total_calls if total_calls else 0}
        for name, count in spend["status_distribution"].items()
    ]
    sentiment = [
        {"sentiment": SENTIMENT_LABELS.get(name, name), "key": name, "calls": count,
         "share": count / total_calls if total_calls else 0}
        for name, count in spend["sentiment_distribution"].items()
    ]
    drop_off = [{"bucket": point["bucket"], "calls": point["count"]} for point in spend["drop_off_points"]]
    balances = numbers["balances"]
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
    alerts = [
        {
            "opened_at": alert.opened_at, "agent": alert.account.agent.name, "outlet": alert.outlet.name,
            "kind": alert.get_kind_display(), "threshold": alert.threshold, "opening_balance": alert.opening_balance,
            "balance": alert.account.balance, "agent_id": alert.account_id, "url": account_url(alert.account_id),
        }
        for alert in numbers["alerts"]
    ]
    failed = [
        {
            "time": row.time, "method": row.method, "route": row.route, "status": row.status,
            "key_prefix": row.key_prefix or None, "outlet": row.outlet.name if row.outlet else None,
            "latency_ms": row.latency_ms,
        }
        for row in numbers["failed"]
    ]

    def runway_class(row: dict) -> str:
        if row["state"] == "depleted" or (row["runway_days"] is not None and row["runway_days"] < RUNWAY_WARNING_DAYS):
            return "ll-danger"
        return "ll-warning" if row["state"] == "low" else ""

    tables = [
        Table("daily", "Credits and spend per day", [
            Column("date", "Day (UTC)", "date"), Column("credits", "Credits consumed", "credits"),
            Column("cost", "Spend (USD)", "usd"), Column("calls", "Calls", "int"),
            Column("added", "Credits added", "credits"),
        ], daily),
        Table("by_type", "Credits by usage type", [
            Column("type", "Type"), Column("credits", "Credits", "credits"), Column("share", "Share", "pct"),
        ], by_type),
        Table("top_agents", "Top agents by credits", [
            Column("agent", "Agent", link="url"), Column("outlet", "Outlet"), Column("credits", "Credits", "credits"),
            Column("cost", "Spend (USD)", "usd"), Column("records", "Usage records", "int"),
            Column("agent_id", "Agent id", csv_only=True),
        ], agents, shown=SHOWN),
        Table("models", "Models: cost and latency", [
            Column("type", "Type"), Column("model", "Model"), Column("unit", "Unit"), Column("calls", "Calls", "int"),
            Column("credits", "Credits", "credits"), Column("cost", "Cost (USD)", "usd"),
            Column("avg_ms", "Avg latency", "ms"), Column("p95_ms", "p95 latency", "ms"),
        ], models, shown=SHOWN),
        Table("status", "Calls by status", [
            Column("status", "Status"), Column("calls", "Calls", "int"), Column("share", "Share", "pct"),
        ], status),
        Table("sentiment", "Calls by sentiment", [
            Column("sentiment", "Sentiment"), Column("calls", "Calls", "int"), Column("share", "Share", "pct"),
        ], sentiment),
        Table("drop_off", "Call length (drop-off)", [
            Column("bucket", "Length"), Column("calls", "Calls", "int"),
        ], drop_off),
        Table("runway", "Lowest runway", [
            Column("agent", "Agent", link="url"), Column("outlet", "Outlet"), Column("balance", "Balance", "credits"),
            Column("threshold", "Threshold", "credits"), Column("burn", "Burn / day (30 d)", "credits"),
            Column("runway_days", "Runway (days)", "days", empty="no burn"), Column("state", "State"),
            Column("agent_id", "Agent id", csv_only=True),
        ], runway, shown=SHOWN, empty="No agents.", row_class=runway_class),
        Table("alerts", "Open low-balance alerts", [
            Column("agent", "Agent", link="url"), Column("outlet", "Outlet", csv_only=True), Column("kind", "Kind"),
            Column("balance", "Balance now", "credits"), Column("threshold", "Threshold", "credits", csv_only=True),
            Column("opened_at", "Opened (UTC)", "datetime"),
            Column("opening_balance", "Opening balance", "credits", csv_only=True),
            Column("agent_id", "Agent id", csv_only=True),
        ], alerts, shown=ALERTS_SHOWN, empty="No open alerts: every balance is above its threshold."),
        Table("failed_requests", "API calls that failed today", [
            Column("time", "Time (UTC)", "time"), Column("method", "Method"), Column("route", "Route"),
            Column("status", "Status"), Column("key_prefix", "Key prefix"), Column("outlet", "Outlet"),
            Column("latency_ms", "Latency", "ms", csv_only=True),
        ], failed, empty="No failed API calls today."),
    ]
    return {table.name: table for table in tables}


# --- the charts ----------------------------------------------------------------------------------

def build_charts(tables: dict[str, Table], date_range: DateRange) -> dict:
    daily = tables["daily"].rows
    total_credits = sum((row["credits"] for row in daily), Decimal(0))
    total_cost = sum((row["cost"] for row in daily), Decimal(0))
    peak = max(daily, key=lambda row: row["credits"], default=None)
    label_format = "%b %d" if date_range.days > 1 else "%Y-%m-%d"
    status_rows, sentiment_rows = tables["status"].rows, tables["sentiment"].rows

    def shares(rows: list[dict], name: str, colours: dict) -> list[charts.Bar]:
        return [
            charts.Bar(
                row[name], row["calls"], f"{row['calls']:,} ({percent(row['share'])})",
                colours.get(row["key"], charts.BAR_COLOUR),
            )
            for row in rows
        ]

    return {
        "daily": charts.column_chart(
            chart_id="chart-daily", title="Credits consumed and spend per day",
            labels=[row["date"].strftime(label_format) for row in daily], values=[row["credits"] for row in daily],
            name="credits", fmt=DISPLAY["credits"],
            line=charts.Line("USD spend", [row["cost"] for row in daily], _usd, axis_prefix="$"),
            summary=f"{DISPLAY['credits'](total_credits)} credits and {_usd(total_cost)} over {len(daily)} days"
            + (f"; the busiest day {peak['date']} with {DISPLAY['credits'](peak['credits'])} credits" if peak else ""),
        ),
        "by_type": charts.bar_list(
            chart_id="chart-by-type", title="Credits by usage type",
            bars=[
                charts.Bar(
                    row["type"], row["credits"], f"{DISPLAY['credits'](row['credits'])} ({percent(row['share'])})"
                )
                for row in tables["by_type"].rows
            ],
            summary=", ".join(f"{row['type']} {percent(row['share'])}" for row in tables["by_type"].rows),
        ),
        "top_agents": charts.bar_list(
            chart_id="chart-top-agents", title="Top agents by credits",
            bars=[charts.Bar(row["agent"], row["credits"], DISPLAY["credits"](row["credits"]))
                  for row in tables["top_agents"].rows[:SHOWN]],
            summary=", ".join(
                f"{row['agent']} {DISPLAY['credits'](row['credits'])}" for row in tables["top_agents"].rows[:3]
            ),
        ),
        "models": charts.bar_list(
            chart_id="chart-models", title="Cost by model", width=1000,
            bars=[
                charts.Bar(
                    f"{row['model']} · {row['type']}", row["cost"],
                    _usd(row["cost"]) + (f" · p95 {row['p95_ms']:,} ms" if row["p95_ms"] is not None else ""),
                )
                for row in tables["models"].rows[:SHOWN]
            ],
            summary=", ".join(f"{row['model']} {_usd(row['cost'])}" for row in tables["models"].rows[:3]),
        ),
        "status": charts.bar_list(
            chart_id="chart-status", title="Calls by status", bars=shares(status_rows, "status", STATUS_COLOURS),
            width=340, summary=", ".join(f"{row['status']} {row['calls']:,}" for row in status_rows),
        ),
        "sentiment": charts.bar_list(
            chart_id="chart-sentiment", title="Calls by sentiment",
            bars=shares(sentiment_rows, "sentiment", SENTIMENT_COLOURS), width=340,
            summary=", ".join(f"{row['sentiment']} {row['calls']:,}" for row in sentiment_rows),
        ),
        "drop_off": charts.column_chart(
            chart_id="chart-drop-off", title="Call length (where calls end)",
            labels=[row["bucket"] for row in tables["drop_off"].rows],
            values=[row["calls"] for row in tables["drop_off"].rows], name="calls", fmt=DISPLAY["int"],
            width=360, height=200,
            summary=", ".join(f"{row['bucket']}: {row['calls']:,}" for row in tables["drop_off"].rows),
        ),
    }


def build_kpis(numbers: dict, tables: dict[str, Table], date_range: DateRange) -> list[dict]:
    totals, spend = numbers["totals"], numbers["spend"]
    runway = tables["runway"].rows
    low = sum(1 for row in numbers["balances"].values() if row["is_low"])
    failed_calls = spend["status_distribution"].get(Interaction.Status.FAILED, 0)
    avg, p95 = totals["avg_latency_ms"], totals["p95_latency_ms"]
    return [
        {"label": "Credits consumed", "value": DISPLAY["credits"](totals["credits"]),
         "note": f"{DISPLAY['credits'](totals['credits'] / date_range.days)} a day on average"},
        {"label": "Spend (USD)", "value": _usd(totals["cost"]), "note": f"{totals['records']:,} usage records"},
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


# --- the view ------------------------------------------------------------------------------------

# What the dashboard shows, each guarded in the admin by its model's view permission: usage and calls, balances
# and their ledger, alerts, the request log. Staff without all of them get the admin's plain index.
DASHBOARD_PERMISSIONS = (
    "usage.view_usagerecord", "usage.view_interaction", "credits.view_creditaccount",
    "credits.view_creditledgerentry", "credits.view_creditalert", "analytics.view_requestlog",
)


def dashboard(request):
    missing = [name for name in DASHBOARD_PERMISSIONS if not has_model_permission(request.user, name)]
    if missing:
        if request.GET.get("format") == "csv":
            raise PermissionDenied
        messages.info(request, f"The dashboard needs the permissions {', '.join(missing)}: ask an administrator.")
        return admin.site.index(request)
    outlets = list(outlet_list().order_by("name"))
    form = DashboardFilters(request.GET, outlets=outlets)
    filters = form.filters()
    numbers = dashboard_numbers(filters)
    tables = build_tables(numbers, {outlet.pk: outlet.name for outlet in outlets})
    if request.GET.get("format") == "csv":
        table = tables.get(request.GET.get("table", ""))
        if table is None:
            raise Http404(f"No table named {request.GET.get('table', '')!r}; one of {', '.join(tables)}.")
        name = f"dashboard-{table.name}-{filters.date_range.start}-{filters.date_range.end}"
        return csv_response(table.csv_lines(), name)
    for table in tables.values():
        table.csv_url = filters.url(format="csv", table=table.name)
    today = selectors.today_utc()
    context = {
        "title": "Dashboard",
        "dashboard": {
            "form": form,
            "filters": filters,
            "outlet_name": filters.outlet.name if filters.outlet else "All outlets",
            "range_label": PRESETS.get(filters.preset, "Custom range"),
            "presets": [
                {"key": key, "label": label, "url": filters.url(range=key, **{"from": None, "to": None}),
                 "active": filters.preset == key}
                for key, label in PRESETS.items()
            ],
            "kpis": build_kpis(numbers, tables, filters.date_range),
            "charts": build_charts(tables, filters.date_range),
            "tables": tables,
            "failed_count": numbers["failed_count"],
            "alert_count": len(numbers["alerts"]),
            "today": today,
            "links": {
                "alerts": open_alerts_url(),
                "accounts": reverse("admin:credits_creditaccount_changelist"),
                "request_log": reverse("admin:analytics_requestlog_changelist")
                + f"?time__year={today.year}&time__month={today.month}&time__day={today.day}",
            },
        },
    }
    return admin.site.index(request, extra_context=context)


admin_index = admin.site.admin_view(dashboard)  # staff only: anyone else goes to the login page


# Mounted at admin/ before admin.site.urls (config/urls.py), so the admin's home is the dashboard.
urlpatterns = [path("", admin_index, name="dashboard")]

