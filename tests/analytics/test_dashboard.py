"""The admin dashboard: the admin index, its filters, KPIs, SVG charts, CSV downloads and a bounded query count."""

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from analytics import charts
from analytics.dashboard import DASHBOARD_PERMISSIONS, MAX_DAYS
from analytics.models import RequestLog
from analytics.questions.summary import usage_summary
from analytics.services import rollup_dirty_buckets
from config.api import dates
from config.api.dates import DateRange
from credits import services as credit_services
from credits.models import CreditAlert
from tests.analytics.handbuilt import ACTOR, D1, D3, TODAY, at, call, ingest, record
from tests.factories import AgentFactory, OutletFactory, StaffFactory, UserFactory
from usage.services import upsert_interactions

INDEX = "/admin/"
SPEND_RANGE = {"from": D1.isoformat(), "to": D3.isoformat()}
TABLES = (
    "daily", "by_type", "top_agents", "models", "status", "sentiment", "drop_off", "runway", "alerts",
    "failed_requests",
)


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


# --- access --------------------------------------------------------------------------------------

def test_the_admin_index_is_the_dashboard_and_staff_only(client, db):
    assert reverse("admin:index") == INDEX
    assert client.get(INDEX).url == f"{reverse('admin:login')}?next={INDEX}"

    client.force_login(UserFactory())  # not staff
    assert client.get(INDEX).url.startswith(reverse("admin:login"))
    assert client.get(INDEX, {"format": "csv", "table": "runway"}).status_code == 302


def test_an_empty_database_shows_an_empty_dashboard(staff):
    page = staff.get(INDEX)

    assert page.status_code == 200
    assert "admin/index.html" in [template.name for template in page.templates]
    assert kpis(page) == {
        "credits-consumed": "0.00", "spend-usd": "$0.00", "calls": "0", "success-rate": "—",
        "average-latency": "—", "agents-below-threshold": "0",
    }
    assert "No failed API calls today." in page.content.decode()
    assert 'id="nav-sidebar"' in page.content.decode()  # every model is one click away


# --- numbers -------------------------------------------------------------------------------------

def test_kpis_and_charts_show_the_selectors_numbers(staff, spend):
    page = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})

    assert page.status_code == 200
    # spend_data: credits 1.5 + 0.2 + 0.9 + 0.1; cost 0.12184567; 6 calls, 4 completed, 1 failed, 1 in progress.
    assert kpis(page) == {
        "credits-consumed": "2.70", "spend-usd": "$0.1218", "calls": "6", "success-rate": "66.7%",
        "average-latency": "—", "agents-below-threshold": "2",
    }
    daily = svg(page, "chart-daily")
    assert 'role="img"' in daily and "aria-label=" in daily
    assert daily.count("<rect") >= 3 + 1 and "<path" in daily  # three days' columns, the legend, the spend line
    assert "<title>Mar 02: 1.70 credits, $0.0163 USD spend</title>" in daily
    assert "2.70 credits and $0.1218 over 3 days" in daily
    assert "Completed: 4 (67%)" in svg(page, "chart-status")
    assert "CONVERSATION: 1.50 (56%)" in svg(page, "chart-by-type")
    assert "first: 1.70" in svg(page, "chart-top-agents")


def test_other_outlets_stay_out_of_one_outlets_dashboard(staff, spend):
    one = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})
    every = staff.get(INDEX, SPEND_RANGE)

    assert kpis(one)["calls"] == "6" and kpis(every)["calls"] == "7"  # the stranger's call
    assert spend["stranger"].name not in one.content.decode()
    assert spend["stranger"].name in every.content.decode()


def test_the_runway_table_links_each_agent_to_its_account_and_its_add_credits_button(staff, agent):
    credit_services.credits_add(agent=agent, amount=Decimal("100"), actor=ACTOR, reason="opening balance")
    ingest(agent.outlet, record(agent, "r1", at(dates.today_utc() - timedelta(days=1)), credits="30"))
    page = staff.get(INDEX)

    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "runway"}))
    assert rows == [{
        "agent": agent.name, "outlet": agent.outlet.name, "balance": "70.000000", "threshold": "10.000000",
        "burn": "1.000000", "runway_days": "70.00", "state": "ok", "agent_id": str(agent.pk),
    }]
    account = reverse("admin:credits_creditaccount_change", args=[agent.pk])
    assert f'<a href="{account}">{agent.name}</a>' in page.content.decode()


def test_open_alerts_and_agents_below_threshold(staff, agent):
    credit_services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="below the threshold of 10")
    alert = CreditAlert.objects.get(status=CreditAlert.Status.OPEN)

    page = staff.get(INDEX)

    assert kpis(page)["agents-below-threshold"] == "1"
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "alerts"}))
    assert [(row["agent"], row["kind"], row["balance"], row["threshold"]) for row in rows] == [
        (agent.name, alert.get_kind_display(), "5.000000", "10.000000")
    ]


def test_failed_api_calls_today_count_and_list_the_latest(staff, outlet, today):
    midnight = datetime.combine(TODAY, time.min, tzinfo=UTC)

    def logged(status: int, when: datetime, route="api/v1/usage/records/", **fields) -> RequestLog:
        return RequestLog.objects.create(
            time=when, method="POST", route=route, status=status, latency_ms=12, in_flight=1, **fields
        )

    logged(500, midnight + timedelta(hours=9), key_prefix="AbCd1234", outlet=outlet)
    logged(404, midnight + timedelta(hours=10), route=RequestLog.UNMATCHED_ROUTE)
    logged(201, midnight + timedelta(hours=11), key_prefix="AbCd1234", outlet=outlet)  # a success
    logged(400, midnight - timedelta(seconds=1))  # yesterday

    page = staff.get(INDEX)

    assert 'data-failed-count="2"' in page.content.decode()
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "failed_requests"}))
    assert [(row["status"], row["route"], row["key_prefix"], row["outlet"]) for row in rows] == [
        ("404", RequestLog.UNMATCHED_ROUTE, "", ""),
        ("500", "api/v1/usage/records/", "AbCd1234", outlet.name),
    ]
    assert rows[1]["time"] == "2026-10-15T09:00:00+00:00"
    one_outlet = staff.get(INDEX, {"outlet": outlet.pk})
    assert 'data-failed-count="1"' in one_outlet.content.decode()


# --- filters -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, date(2026, 10, 1), TODAY),  # this month, every outlet: the calendar month so far
        ({"range": "7d"}, date(2026, 10, 9), TODAY),
        ({"range": "30d"}, date(2026, 9, 16), TODAY),
        ({"range": "90d"}, date(2026, 7, 18), TODAY),
        ({"from": "2026-03-02", "to": "2026-03-04", "range": "7d"}, date(2026, 3, 2), date(2026, 3, 4)),  # dates win
        ({"to": "2026-03-30"}, date(2026, 3, 1), date(2026, 3, 30)),
        ({"from": "2026-10-01"}, date(2026, 10, 1), TODAY),
    ],
)
def test_ranges_from_presets_and_dates(staff, today, params, start, end):
    page = staff.get(INDEX, params)
    assert page.context["dashboard"]["filters"].date_range == DateRange(start, end)


def test_this_month_is_the_chosen_outlets_billing_period(staff, today):
    outlet = OutletFactory(billing_cycle_day=20)
    page = staff.get(INDEX, {"outlet": outlet.pk})
    assert page.context["dashboard"]["filters"].date_range == DateRange(date(2026, 9, 20), TODAY)
    assert "the outlet's billing period so far" in page.content.decode()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-03-05", "to": "2026-03-04"}, "The range starts (2026-03-05) after it ends (2026-03-04)."),
        ({"from": "2024-01-01", "to": "2026-01-01"}, f"A range may span at most {MAX_DAYS} days."),
        ({"from": "yesterday"}, "Enter a valid date."),
        ({"to": "0001-01-01"}, "That date is out of range."),
        ({"to": "9999-12-31"}, "That date is out of range."),
        ({"from": "9999-12-31"}, "That date is out of range."),
        ({"outlet": "not-an-outlet"}, "Select a valid choice."),
    ],
)
def test_a_bad_filter_says_why_and_shows_the_default(staff, today, params, says):
    page = staff.get(INDEX, params)

    assert page.status_code == 200
    assert says in page.content.decode()
    filters = page.context["dashboard"]["filters"]
    assert (filters.preset, filters.date_range) == ("month", DateRange(date(2026, 10, 1), TODAY))


# --- CSV -----------------------------------------------------------------------------------------

def test_every_table_downloads_as_csv_with_the_pages_filters(staff, spend):
    page = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})
    html = page.content.decode()

    for name in TABLES:
        url = f"?outlet={spend['outlet'].pk}&amp;from={D1}&amp;to={D3}&amp;format=csv&amp;table={name}"
        assert f'href="{url}"' in html, name
        response = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk, "format": "csv", "table": name})
        assert response["Content-Disposition"] == f'attachment; filename="dashboard-{name}-{D1}-{D3}.csv"'
        csv_rows(response)


def test_the_csv_holds_the_selectors_values(staff, spend):
    params = {**SPEND_RANGE, "outlet": spend["outlet"].pk, "format": "csv"}

    daily = csv_rows(staff.get(INDEX, {**params, "table": "daily"}))
    agents = csv_rows(staff.get(INDEX, {**params, "table": "top_agents"}))
    status = csv_rows(staff.get(INDEX, {**params, "table": "status"}))

    assert [(row["date"], row["credits"], row["cost"], row["calls"]) for row in daily] == [
        ("2026-03-02", "1.700000", "0.01634567", "3"),
        ("2026-03-03", "1.000000", "0.10550000", "3"),
        ("2026-03-04", "0.000000", "0.00000000", "0"),
    ]
    summary = usage_summary(outlet_id=spend["outlet"].pk, date_range=DateRange(D1, D3), group_by="AGENT")
    assert [(row["agent"], Decimal(row["credits"])) for row in agents] == [
        (item["agent_name"], item["credits"]) for item in summary
    ]
    assert [(row["status"], row["calls"], row["share"]) for row in status] == [
        ("In progress", "1", "0.1667"), ("Completed", "4", "0.6667"), ("Failed", "1", "0.1667"),
    ]


def test_an_unknown_table_is_a_404(staff):
    assert staff.get(INDEX, {"format": "csv", "table": "secrets"}).status_code == 404


# --- speed ---------------------------------------------------------------------------------------

def grow(outlets: int, agents: int) -> None:
    """More outlets, agents, calls and usage: the dashboard's query count must not follow."""
    day = dates.today_utc() - timedelta(days=2)
    for _ in range(outlets):
        outlet = OutletFactory()
        for index in range(agents):
            agent = AgentFactory(outlet=outlet)
            credit_services.credits_add(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="low, so an alert opens")
            upsert_interactions(outlet=outlet, interactions=[
                call(agent, f"c{index}", at(day), status="completed", duration=40, sentiment="positive"),
            ])
            ingest(outlet, record(agent, f"r{index}", at(day), count=10, credits="1", cost="0.01", latency_ms=400))
    rollup_dirty_buckets()


# Measured: 35 cold (every selector computes from the rollups), 8 warm: the session, the user, the outlets, the
# newest ledger entry (the runway's cache key), balances, open alerts, and today's failed calls (count and latest).
COLD_QUERIES = 40
WARM_QUERIES = 8


@pytest.mark.parametrize("size", [(1, 2), (4, 5)])
def test_the_dashboard_runs_a_bounded_number_of_queries_whatever_the_data(staff, django_assert_max_num_queries, size):
    grow(*size)
    with django_assert_max_num_queries(COLD_QUERIES):
        page = staff.get(INDEX, {"range": "30d"})
    assert kpis(page)["calls"] == str(size[0] * size[1])
    with django_assert_max_num_queries(WARM_QUERIES):
        again = staff.get(INDEX, {"range": "30d"})
    assert kpis(again) == kpis(page)


def test_new_usage_shows_at_the_next_view(staff, agent, django_capture_on_commit_callbacks):
    assert kpis(staff.get(INDEX, {"range": "7d"}))["credits-consumed"] == "0.00"  # cached
    with django_capture_on_commit_callbacks(execute=True):
        ingest(agent.outlet, record(agent, "new", at(dates.today_utc() - timedelta(days=1)), credits="4"))
    assert kpis(staff.get(INDEX, {"range": "7d"}))["credits-consumed"] == "4.00"


# --- the charts themselves -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]), (7, [0, 2, 4, 6, 8]), (800, [0, 200, 400, 600, 800]), (0.3, [0, 0.1, 0.2, 0.3]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_axis_ticks_are_round_and_reach_the_maximum(maximum, ticks):
    assert charts.axis_ticks(maximum) == pytest.approx(ticks)


def test_charts_escape_their_text_and_draw_without_data():
    chart = charts.bar_list(chart_id="c", title="<b>", bars=[charts.Bar("<script>", 3, "3 & more")])
    assert "<script>" not in chart and "&lt;script&gt;" in chart and "3 &amp; more" in chart
    empty = charts.column_chart(chart_id="e", title="Nothing", labels=[], values=[], name="credits", fmt=str)
    assert empty.startswith('<svg class="ll-chart" id="e" role="img"') and empty.endswith("</svg>")
    assert "No data" in charts.bar_list(chart_id="n", title="Nothing", bars=[])


@pytest.fixture
def staff_with(client, db):
    """A staff client holding only the given permissions."""

    def login(*names: str):
        user = StaffFactory(is_superuser=False)
        for name in names:
            app_label, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return login


def test_staff_without_the_view_permissions_get_the_plain_index_and_no_numbers(staff_with, today):
    client = staff_with("credits.view_creditaccount")
    page = client.get(INDEX)
    assert page.status_code == 200 and "dashboard" not in page.context
    assert "The dashboard needs the permissions usage.view_usagerecord" in page.content.decode()
    assert client.get(INDEX, {"format": "csv", "table": "failed_requests"}).status_code == 403


def test_staff_with_every_view_permission_see_the_dashboard(staff_with, today):
    page = staff_with(*DASHBOARD_PERMISSIONS).get(INDEX)
    assert page.status_code == 200 and page.context["dashboard"]["kpis"]
