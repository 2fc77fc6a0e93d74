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
