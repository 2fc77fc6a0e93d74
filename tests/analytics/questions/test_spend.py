"""The spend overview on the hand-built spend data, whose answers are written out here."""

from decimal import Decimal

import pytest

from analytics.models import DirtyBucket
from analytics.questions.spend import spend_overview
from analytics.services import rollup_dirty_buckets
from tests.analytics.handbuilt import D1, D2, D3, SPEND_RANGE
from tests.factories import OutletFactory


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_spend_overview_adds_up_the_hand_built_calls_and_spend(spend, built):
    if built:
        rollup_dirty_buckets()
        assert not DirtyBucket.objects.exists()
    a1, a2 = spend["a1"].pk, spend["a2"].pk
    overview = spend_overview(outlet_id=spend["outlet"].pk, date_range=SPEND_RANGE)
    assert (overview["total_calls"], overview["completed_calls"], overview["in_progress_calls"]) == (6, 4, 1)
    assert overview["average_duration_seconds"] == 125  # 755 s / 6, rounded down
    assert overview["success_rate"] == pytest.approx(4 / 6)
    assert overview["telecom_costs"] == {"total_minutes": Decimal("8.5"), "cost_usd": Decimal("0.102")}  # 510 s
    assert overview["total_spent"] == Decimal("0.12184567")
    assert [(day["date"], day["calls"], round(day["minutes"], 4), day["cost"]) for day in overview["time_series"]] == [
        (D1, 3, Decimal("4.4167"), Decimal("0.01634567")),  # 265 s
        (D2, 3, Decimal("8.1667"), Decimal("0.1055")),  # 490 s
        (D3, 0, 0, 0),
    ]
    assert overview["status_distribution"] == {"in_progress": 1, "completed": 4, "failed": 1}
    assert overview["sentiment_distribution"] == {"positive": 3, "neutral": 1, "negative": 1, "unknown": 1}
    assert [(row["agent_id"], row["calls"], round(row["minutes"], 4), row["cost"]) for row in overview["agent_performance"]] == [
        (a1, 3, Decimal("7.75"), Decimal("0.09634567")),  # 465 s
        (a2, 3, Decimal("4.8333"), Decimal("0.0255")),  # 290 s
    ]
    assert overview["drop_off_points"] == [
        {"bucket": "<30s", "count": 2}, {"bucket": "30-60s", "count": 1}, {"bucket": "1-3m", "count": 1},
        {"bucket": "3-5m", "count": 1}, {"bucket": ">5m", "count": 1},
    ]
    assert overview["filters"] == {"from": D1, "to": D3, "agent_id": None, "status": None}


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_spend_overview_filters_calls_by_status_and_everything_by_agent(spend, built):
    if built:
        rollup_dirty_buckets()
    outlet_id = spend["outlet"].pk
    completed = spend_overview(outlet_id=outlet_id, date_range=SPEND_RANGE, status="completed")
    assert (completed["total_calls"], completed["completed_calls"], completed["success_rate"]) == (4, 4, 1)
    assert completed["status_distribution"] == {"in_progress": 0, "completed": 4, "failed": 0}
    assert completed["total_spent"] == Decimal("0.12184567")  # spend is not narrowed by the calls' status
    second = spend_overview(outlet_id=outlet_id, date_range=SPEND_RANGE, agent_id=spend["a2"].pk)
    assert (second["total_calls"], second["completed_calls"], second["average_duration_seconds"]) == (3, 1, 96)
    assert second["total_spent"] == Decimal("0.0255")
    assert second["telecom_costs"] == {"total_minutes": Decimal("1.5"), "cost_usd": Decimal("0.018")}
    assert [row["agent_id"] for row in second["agent_performance"]] == [spend["a2"].pk]


def test_spend_overview_without_calls_is_zero_not_an_error(db):
    overview = spend_overview(outlet_id=OutletFactory().pk, date_range=SPEND_RANGE)
    assert (overview["total_calls"], overview["average_duration_seconds"], overview["success_rate"]) == (0, 0, 0)
    assert len(overview["time_series"]) == 3 and overview["agent_performance"] == []


def test_spend_overview_for_every_outlet_adds_the_other_outlet(spend):
    overview = spend_overview(outlet_id=None, date_range=SPEND_RANGE)
    assert overview["total_calls"] == 7 and overview["total_spent"] == Decimal("9.12184567")
