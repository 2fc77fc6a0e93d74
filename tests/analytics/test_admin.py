import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest
from django.contrib import admin
from django.urls import reverse

from analytics.facts import FACTS
from analytics.models import (
    DirtyBucket,
    InteractionAgentDailyRollup,
    InteractionStatusDailyRollup,
    UsageEndUserDailyRollup,
    UsageHourlyRollup,
)
from analytics.services import rollup_dirty_buckets
from credits.services import Actor
from tests.analytics.handbuilt import D1, at, call, ingest, record
from tests.factories import AgentFactory, OutletFactory
from usage.services import ingest_records, upsert_interactions

BUILT_ROLLUPS = tuple(rollup.model for fact in FACTS for rollup in fact.rollups)
ROLLUPS = (*BUILT_ROLLUPS, DirtyBucket)


@pytest.fixture
def built(agent):
    records = [
        {"event_id": f"e{n}", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
         "credits": "1", "cost_usd": "0", "end_user_id": "caller-7", "occurred_at": "2026-11-01T10:00:00Z"}
        for n in range(3)
    ]
    ingest_records(outlet=agent.outlet, records=records, actor=Actor.system("tests"))
    rollup_dirty_buckets()
    return agent


def test_every_rollup_the_facts_build_has_an_admin_list():
    assert [model for model in BUILT_ROLLUPS if not admin.site.is_registered(model)] == []
    assert {InteractionStatusDailyRollup, InteractionAgentDailyRollup} <= set(BUILT_ROLLUPS)


def changelist(model) -> str:
    return reverse(f"admin:analytics_{model._meta.model_name}_changelist")


@pytest.mark.parametrize("model", ROLLUPS)
def test_rollup_lists_render_and_offer_no_add_change_or_delete(staff, built, model):
    page = staff.get(changelist(model))
    assert page.status_code == 200
    assert staff.get(reverse(f"admin:analytics_{model._meta.model_name}_add")).status_code == 403


def test_end_user_rollup_list_shows_units_per_unit_and_finds_a_caller(staff, built):
    page = staff.get(changelist(UsageEndUserDailyRollup), {"q": "caller-7"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert "caller-7" in page.content.decode()
    assert staff.get(changelist(UsageEndUserDailyRollup), {"q": "caller"}).context["cl"].result_count == 0  # exact ids


def test_recompute_rebuilds_a_wrong_rollup_row_from_raw_records(staff, built):
    row = UsageHourlyRollup.objects.get()
    UsageHourlyRollup.objects.filter(pk=row.pk).update(records=99, credits=Decimal("7"))

    response = staff.post(changelist(UsageHourlyRollup), {"action": "recompute", "_selected_action": [row.pk]}, follow=True)

    assert "Recomputed 1 outlet day(s) from raw records." in response.content.decode()
    rebuilt = UsageHourlyRollup.objects.get()
    assert (rebuilt.records, rebuilt.credits) == (3, Decimal("3"))


def test_recompute_from_the_dirty_queue_builds_the_day_and_clears_its_marks(staff, agent):
    ingest_records(
        outlet=agent.outlet,
        records=[{"event_id": "late", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters",
                  "credits": "0", "cost_usd": "0", "occurred_at": "2026-11-02T03:00:00Z"}],
        actor=Actor.system("tests"),
    )
    mark = DirtyBucket.objects.get()

    staff.post(changelist(DirtyBucket), {"action": "recompute", "_selected_action": [mark.pk]}, follow=True)

    assert not DirtyBucket.objects.exists()
    assert UsageHourlyRollup.objects.get().records == 1


def test_recompute_of_a_kolkata_mark_rebuilds_both_local_days_its_hour_overlaps(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    ingest(agent.outlet, record(agent, "edge", "2026-11-02T18:10:00Z"))  # 23:40 on the 2nd; its UTC hour ends on the 3rd
    mark = DirtyBucket.objects.get()

    response = staff.post(changelist(DirtyBucket), {"action": "recompute", "_selected_action": [mark.pk]}, follow=True)

    assert "Recomputed 2 outlet day(s) from raw records." in response.content.decode()
    assert not DirtyBucket.objects.exists()
    assert UsageHourlyRollup.objects.get().bucket == datetime(2026, 11, 2, 17, 30, tzinfo=UTC)  # 23:00 in Kolkata


# Amounts as people read them.


@pytest.fixture
def big(agent):
    """Three records of 1,234.567891 credits, $1,234.5 and 12,345 characters each, and a call of 1,234.5 seconds."""
    ingest(agent.outlet, *(
        record(agent, f"big{n}", at(D1, 10), type="TTS", unit="characters", count=12345, credits="1234.567891",
               cost="1234.5", end_user_id="caller-7")
        for n in range(3)
    ))
    upsert_interactions(outlet=agent.outlet, interactions=[
        call(agent, "long-call", at(D1, 10), status="completed", duration="1234.5", messages=1200),
    ])
    rollup_dirty_buckets()
    return agent


def shown(staff, model) -> dict[str, str]:
    """The one row of `model`'s list: each column's header and the text of its cell."""
    page = staff.get(changelist(model))
    headers = [header["text"] for header in page.context["result_headers"]]
    (row,) = page.context["results"]
    return {header: unescape(re.sub(r"<[^>]+>", "", cell)).strip() for header, cell in zip(headers, row)}


def detail(staff, model) -> dict[str, str]:
    """The one row's page: each field's name and what it shows."""
    page = staff.get(reverse(f"admin:analytics_{model._meta.model_name}_change", args=[model.objects.get().pk]))
    assert page.status_code == 200
    return {
        field.field["name"]: unescape(re.sub(r"<[^>]+>", "", str(field.contents()))).strip()
        for fieldset in page.context["adminform"] for line in fieldset for field in line
    }


def test_usage_rollup_list_shows_separators_two_places_and_dollars_and_its_page_every_place(staff, big):
    row = shown(staff, UsageHourlyRollup)
    assert (row["records"], row["units"], row["credits"], row["cost"]) == ("3", "37,035", "3,703.70", "$3,703.50")

    fields = detail(staff, UsageHourlyRollup)
    amounts = ("records_column", "units_column", "credits_in_full", "cost_in_full")
    assert [fields[name] for name in amounts] == ["3", "37,035", "3,703.703673", "$3,703.50"]
    assert fields["type"] == "TTS"  # every other column as it is


def test_pivoted_rollup_list_shows_each_units_column_with_separators(staff, big):
    row = shown(staff, UsageEndUserDailyRollup)
    assert (row["tokens"], row["characters"], row["credits"], row["cost"]) == ("0", "37,035", "3,703.70", "$3,703.50")
    assert detail(staff, UsageEndUserDailyRollup)["credits_in_full"] == "3,703.703673"


def test_interaction_rollup_list_shows_calls_seconds_and_messages_with_separators(staff, big):
    row = shown(staff, InteractionAgentDailyRollup)
    assert (row["calls"], row["duration"], row["messages"]) == ("1", "1,234.5 s", "1,200")
    assert detail(staff, InteractionAgentDailyRollup)["duration_sum_column"] == "1,234.5 s"
