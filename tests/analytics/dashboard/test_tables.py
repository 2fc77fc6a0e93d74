"""The dashboard's tables: their rows are the selectors' values, with links on the page and exact values in CSV."""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.questions.summary import usage_summary
from config.api import dates
from config.api.dates import DateRange
from credits import services as credit_services
from credits.grants import GrantTerms
from credits.models import CreditAlert, CreditGrant
from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, csv_rows
from tests.analytics.handbuilt import ACTOR, D1, D3, at, ingest, record
from tests.analytics.requestlog.conftest import log_row
from tests.factories import AgentFactory, OutletFactory


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


def breakdown_rows(staff, spend, interval: str) -> list[dict]:
    ingest(
        spend["outlet"],
        record(spend["a1"], "v1", at(D1, 16), credits="2", voice="Ada"),
        record(spend["a2"], "v2", at(D3, 8), credits="1", voice="Ada"),
        record(spend["a2"], "v3", at(D3, 9), credits="0.5", voice="Brian"),
    )
    params = {**SPEND_RANGE, "outlet": spend["outlet"].pk, "breakdown": "voice", "interval": interval}
    return csv_rows(staff.get(INDEX, {**params, "format": "csv", "table": "breakdown"}))


def test_the_breakdown_has_each_values_credits_and_share_and_a_column_per_day(staff, spend):
    assert breakdown_rows(staff, spend, "day") == [
        {"value": "Ada", "credits": "3.000000", "share": "0.4839",
         "2026-03-02": "2.000000", "2026-03-03": "0.000000", "2026-03-04": "1.000000"},
        {"value": "(none)", "credits": "2.700000", "share": "0.4355",
         "2026-03-02": "1.700000", "2026-03-03": "1.000000", "2026-03-04": "0.000000"},
        {"value": "Brian", "credits": "0.500000", "share": "0.0806",
         "2026-03-02": "0.000000", "2026-03-03": "0.000000", "2026-03-04": "0.500000"},
    ]


def test_a_cumulative_breakdown_runs_a_total_and_a_weekly_one_has_a_column_a_week(staff, spend):
    cumulative = breakdown_rows(staff, spend, "cumulative")
    assert [(row["value"], row["2026-03-02"], row["2026-03-03"], row["2026-03-04"]) for row in cumulative] == [
        ("Ada", "2.000000", "2.000000", "3.000000"),
        ("(none)", "1.700000", "2.700000", "2.700000"),
        ("Brian", "0.000000", "0.000000", "0.500000"),
    ]
    params = {**SPEND_RANGE, "outlet": spend["outlet"].pk, "interval": "week", "format": "csv", "table": "breakdown"}
    weekly = csv_rows(staff.get(INDEX, params))  # 2026-03-02 is a Monday
    assert [(row["value"], row["2026-03-02"]) for row in weekly] == [
        ("Ada", "3.000000"), ("(none)", "2.700000"), ("Brian", "0.500000"),
    ]


def test_a_long_breakdown_keeps_its_periods_for_the_csv(staff, today):
    page = staff.get(INDEX, {"range": "30d"})
    table = page.context["dashboard"]["tables"]["breakdown"]
    assert [column.key for column in table.page_columns] == ["value", "credits", "share"]
    assert len(table.columns) == 3 + 30


# Times: in the chosen outlet's zone, each time column naming it; over all outlets, UTC.


def column_of(table, key: str) -> tuple[str, list[str]]:
    """A time column's label and its cells as the page shows them."""
    index = [column.key for column in table.page_columns].index(key)
    return table.page_columns[index].label, [row["cells"][index].text for row in table.display_rows()]


@pytest.mark.parametrize("one_outlet", [True, False])
def test_alerts_expiring_grants_and_failed_calls_read_in_the_chosen_outlets_zone_named_in_the_column(
    staff, one_outlet
):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    credit_services.credits_add(  # 5 is below the threshold of 10: an open alert
        agent=agent, amount=Decimal("5"), actor=ACTOR, reason="promo",
        terms=GrantTerms(expires_at=timezone.now() + timedelta(days=2)),
    )
    failed = log_row(agent.outlet, time=timezone.now(), status=500)
    failed.save()
    alert, grant = CreditAlert.objects.get(), CreditGrant.objects.get()
    zone, name = (agent.outlet.zone, "Asia/Kolkata") if one_outlet else (UTC, "UTC")

    page = staff.get(INDEX, {"outlet": agent.outlet.pk} if one_outlet else {})
    tables = page.context["dashboard"]["tables"]

    assert column_of(tables["alerts"], "opened_at") == (f"Opened ({name})", [f"{alert.opened_at.astimezone(zone):%d %b %H:%M}"])
    assert column_of(tables["expiring"], "expires_at") == (
        f"Expires ({name})", [f"{grant.expires_at.astimezone(zone):%d %b %H:%M}"]
    )
    assert column_of(tables["failed_requests"], "time") == (f"Time ({name})", [f"{failed.time.astimezone(zone):%H:%M:%S}"])
    (alert_row,) = csv_rows(staff.get(INDEX, {"format": "csv", "table": "alerts", "outlet": agent.outlet.pk}))
    assert alert_row["opened_at"] == alert.opened_at.astimezone(agent.outlet.zone).isoformat()  # ISO 8601, +05:30
