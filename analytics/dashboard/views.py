"""The admin's home page: where the credits went, which agents are about to run dry, which API calls failed today.

`admin_index` is the admin index (`/admin/`, mounted before `admin.site.urls`): the filters
(one outlet or all, a preset range or from/to) are read by `DashboardFilters`, the numbers come
from the questions the analytics API answers, cached with the API's `cached_answer` (so a repeated
view costs a handful of queries), and the page is rendered by the admin's own index view, with
every model in its navigation sidebar. Every table is a `Table` whose rows are the questions' values: the page formats them, and
`?format=csv&table=<name>` (with the same filters) streams the same rows as CSV. Balances, open
alerts and today's failed API calls are read live.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404

from analytics.dashboard.charts import build_charts
from analytics.dashboard.filters import BREAKDOWN_CHOICES, PRESETS, DashboardFilters, Filters, today_of
from analytics.dashboard.kpis import build_kpis
from analytics.dashboard.links import accounts_url, failures_url, open_alerts_url, outlets_url
from analytics.dashboard.numbers import dashboard_numbers
from analytics.dashboard.table import Table
from analytics.dashboard.tables import build_tables
from config.api.csv import csv_response
from config.api.permissions import has_model_permission
from credits.selectors import outlet_list

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
    tables = build_tables(numbers, {outlet.pk: outlet.name for outlet in outlets}, filters)
    if request.GET.get("format") == "csv":
        return table_download(tables, request.GET.get("table", ""), filters)
    for table in tables.values():
        table.csv_url = filters.url(format="csv", table=table.name)
    context = {"title": "Dashboard", "dashboard": page_context(form, filters, numbers, tables)}
    return admin.site.index(request, extra_context=context)


def table_download(tables: dict[str, Table], name: str, filters: Filters):
    """One table's rows as CSV, named for the table and the range."""
    table = tables.get(name)
    if table is None:
        raise Http404(f"No table named {name!r}; one of {', '.join(tables)}.")
    filename = f"dashboard-{table.name}-{filters.date_range.start}-{filters.date_range.end}"
    return csv_response(table.csv_lines(), filename)


def page_context(form: DashboardFilters, filters: Filters, numbers: dict, tables: dict[str, Table]) -> dict:
    """What the admin index template draws: the filters and their links, KPI tiles, charts, tables."""
    today = today_of(filters.outlet)
    return {
        "form": form,
        "filters": filters,
        "outlet_name": filters.outlet.name if filters.outlet else "All outlets",
        "range_label": PRESETS.get(filters.preset, "Custom range"),
        "breakdown_label": BREAKDOWN_CHOICES[filters.breakdown],
        "presets": [
            {"key": key, "label": label, "url": filters.url(range=key, **{"from": None, "to": None}),
             "active": filters.preset == key}
            for key, label in PRESETS.items()
        ],
        "kpis": build_kpis(numbers, tables, filters.date_range, filters.outlet_id),
        "charts": build_charts(tables, filters.date_range),
        "tables": tables,
        "failed_count": numbers["failed_count"],
        "alert_count": len(numbers["alerts"]),
        # Alerts go out only where an outlet names a billing contact or a webhook: the page says which did.
        "unnotified_alert_count": sum(1 for alert in numbers["alerts"] if not alert.outlet.alert_recipients),
        "outlets_url": outlets_url(),
        "today": today,
        "links": {"alerts": open_alerts_url(), "accounts": accounts_url(), "request_log": failures_url(today, filters.outlet_id)},
    }


admin_index = admin.site.admin_view(dashboard)  # staff only: anyone else goes to the login page
