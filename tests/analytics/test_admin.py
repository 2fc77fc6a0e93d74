from decimal import Decimal

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
from usage.services import ingest_records

BUILT_ROLLUPS = tuple(rollup.model for fact in FACTS for rollup in fact.rollups)
ROLLUPS = (*BUILT_ROLLUPS, DirtyBucket)


@pytest.fixture
def built(agent):
    records = [
        {"event_id": f"e{n}", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
         "credits": "1", "end_user_id": "caller-7", "occurred_at": "2026-11-01T10:00:00Z"}
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
                  "occurred_at": "2026-11-02T03:00:00Z"}],
        actor=Actor.system("tests"),
    )
    mark = DirtyBucket.objects.get()

    staff.post(changelist(DirtyBucket), {"action": "recompute", "_selected_action": [mark.pk]}, follow=True)

    assert not DirtyBucket.objects.exists()
    assert UsageHourlyRollup.objects.get().records == 1
