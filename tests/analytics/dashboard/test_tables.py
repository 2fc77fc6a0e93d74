"""The dashboard's tables: their rows are the selectors' values, with links on the page and exact values in CSV."""

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse

from analytics.questions.summary import usage_summary
from config.api import dates
from config.api.dates import DateRange
from credits import services as credit_services
from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, csv_rows
from tests.analytics.handbuilt import ACTOR, D1, D3, at, ingest, record


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
