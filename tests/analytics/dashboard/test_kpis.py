"""The dashboard's KPI tiles."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from analytics.dashboard.numbers import start_of_today
from analytics.zones import midnight
from config.api import dates
from config.errors import InsufficientCreditsError
from credits import services as credit_services
from credits.holds.services import hold_place, hold_release
from credits.models import CreditAccount, CreditAlert
from tests.analytics.dashboard.pages import INDEX, csv_rows, kpis
from tests.analytics.handbuilt import ACTOR, ingest, record
from tests.clock import Clock
from tests.factories import AgentFactory, OutletFactory


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


# Holds: credits held now, agents refused a hold today.


def place(agent, amount: str, **fields):
    return hold_place(agent=agent, amount=Decimal(amount), actor=ACTOR, **fields).hold


def test_credits_held_now_sums_what_live_holds_reserve_uncaptured_in_the_outlet_shown(staff, agent):
    captured = place(agent, "5")
    ingest(agent.outlet, record(agent, "on-hold", timezone.now().isoformat(), credits="1.5", hold_id=str(captured.pk)))
    hold_release(outlet_id=None, hold_id=place(agent, "3").pk, actor=ACTOR)
    place(AgentFactory(), "7")  # another outlet's
    with Clock() as clock:
        place(agent, "2", ttl_seconds=60)
        clock.advance(seconds=61)  # expired: no longer held, though nothing marked it

        one, every = staff.get(INDEX, {"outlet": agent.outlet.pk}), staff.get(INDEX)

    assert kpis(one)["credits-held-now"] == "3.50" and kpis(every)["credits-held-now"] == "10.50"
    assert f"status__exact=active&amp;outlet__id__exact={agent.outlet.pk}" in one.content.decode()


def refuse(agent) -> None:
    with pytest.raises(InsufficientCreditsError):
        place(agent, "1")


def test_agents_refused_a_hold_today_counts_each_refused_agent_once(staff, outlet):
    once, twice, earlier, granted = AgentFactory.create_batch(4, outlet=outlet, enforcement="block")
    refuse(once)
    refuse(twice)
    refuse(twice)
    refuse(earlier)
    CreditAccount.objects.filter(pk=earlier.pk).update(hold_refused_at=midnight(dates.today_utc()) - timedelta(seconds=1))
    granted.enforcement = "off"
    granted.save()
    place(granted, "1")

    page = staff.get(INDEX)

    assert kpis(page)["agents-refused-a-hold-today"] == "2"
    html = page.content.decode()
    assert "since midnight UTC" in html and "Each refusal stamps the agent&#x27;s account" in html


NOW = datetime(2026, 10, 15, 11, 0, tzinfo=UTC)  # 01:00 on the 16th at Kiritimati (UTC+14): its day began at 10:00 UTC


def test_agents_refused_today_is_the_outlets_local_day_when_one_outlet_is_shown(staff):
    kiritimati = OutletFactory(timezone="Pacific/Kiritimati")
    after, before = AgentFactory.create_batch(2, outlet=kiritimati)
    for agent, refused_at in ((after, NOW - timedelta(minutes=30)), (before, NOW - timedelta(minutes=90))):
        CreditAccount.objects.filter(pk=agent.pk).update(hold_refused_at=refused_at)

    with mock.patch("django.utils.timezone.now", lambda: NOW):
        assert start_of_today(kiritimati) == datetime(2026, 10, 15, 10, 0, tzinfo=UTC)
        one, every = staff.get(INDEX, {"outlet": kiritimati.pk}), staff.get(INDEX)

    assert kpis(one)["agents-refused-a-hold-today"] == "1"  # its local day began between the two refusals
    assert kpis(every)["agents-refused-a-hold-today"] == "2"  # both after midnight UTC
    assert "since the outlet&#x27;s midnight" in one.content.decode()
