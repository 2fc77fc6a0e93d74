"""The dashboard's KPI tiles."""

from decimal import Decimal

from credits import services as credit_services
from credits.models import CreditAlert
from tests.analytics.dashboard.pages import INDEX, csv_rows, kpis
from tests.analytics.handbuilt import ACTOR


def test_open_alerts_and_agents_below_threshold(staff, agent):
    credit_services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="below the threshold of 10")
    alert = CreditAlert.objects.get(status=CreditAlert.Status.OPEN)

    page = staff.get(INDEX)

    assert kpis(page)["agents-below-threshold"] == "1"
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "alerts"}))
    assert [(row["agent"], row["kind"], row["balance"], row["threshold"]) for row in rows] == [
        (agent.name, alert.get_kind_display(), "5.000000", "10.000000")
    ]


def test_an_alert_of_an_outlet_with_no_contact_and_no_webhook_is_said_to_have_notified_nobody(staff, agent):
    credit_services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="below the threshold of 10")

    page = staff.get(INDEX).content.decode()

    assert "<strong>1 notified nobody</strong>: its outlet has no billing contact and no webhook" in page
    assert "were notified" not in page
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "alerts"}))
    assert [row["sent_to"] for row in rows] == ["nobody"]


def test_an_alert_of_an_outlet_with_a_contact_or_webhook_says_whom_it_went_to(staff, agent):
    outlet = agent.outlet
    outlet.billing_contacts, outlet.webhook_url = "billing@example.com", "https://hooks.example.com/ll"
    outlet.save()
    credit_services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="below the threshold of 10")

    page = staff.get(INDEX).content.decode()

    assert "notified nobody" not in page
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "alerts"}))
    assert [row["sent_to"] for row in rows] == ["billing contacts and webhook"]
