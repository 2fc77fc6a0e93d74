"""The open credit alerts the dashboard lists."""

from decimal import Decimal

from analytics.questions.alerts import open_alert_list
from credits import services as credit_services
from tests.analytics.handbuilt import ACTOR
from tests.factories import AgentFactory


def fund(agent, amount: str) -> None:
    credit_services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="top-up")


def test_open_alerts_are_the_outlets_open_ones_the_newest_first(outlet):
    first, second, back_up = (AgentFactory(outlet=outlet) for _ in range(3))
    stranger = AgentFactory()
    for agent in (first, second, back_up, stranger):
        fund(agent, "5")  # below the threshold of 10: a low-balance alert opens
    fund(back_up, "5")  # at the threshold again: its alert resolves
    assert [alert.account_id for alert in open_alert_list(outlet_id=outlet.pk)] == [second.pk, first.pk]
    assert {alert.account_id for alert in open_alert_list(outlet_id=None)} == {first.pk, second.pk, stranger.pk}
