"""The analytics API's rendering: numbers, metric values, periods and points, as the answers' serializers write them."""

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.api.serializers import (
    BreakdownSeriesSerializer,
    CountField,
    ModelUsageSerializer,
    RangeAnswerSerializer,
    RatioField,
    SpendOverviewSerializer,
    UsageBreakdownSerializer,
    UsageSeriesSerializer,
    UsageSummarySerializer,
    json_number,
    metric_formatter,
)
from config.api.representation import represented
from tests.representations import amounts, as_drf

uuids = st.uuids()
units = st.dictionaries(st.sampled_from(["tokens", "seconds", "characters"]), amounts, max_size=3)


@pytest.mark.parametrize(
    ("value", "rendered"), [(3, 3), (Decimal("2.000"), 2), (Decimal("2.5"), 2.5), ("7", 7)]
)
def test_a_count_is_a_json_number_an_integer_when_whole(value, rendered):
    assert json_number(value) == rendered and type(json_number(value)) is type(rendered)
    assert CountField().to_representation(value) == rendered


@pytest.mark.parametrize(
    ("metric", "rendered"),
    [("records", 3), ("credits", "3.000000"), ("cost", "3.00000000"), ("units", "3.000")],
)
def test_a_metric_value_is_an_integer_for_records_and_a_decimal_string_at_the_metrics_places(metric, rendered):
    assert metric_formatter(metric)(Decimal("3")) == rendered


def test_a_ratio_has_four_places():
    assert RatioField().to_representation(2 / 3) == 0.6667


def test_a_breakdown_series_renders_its_total_and_points_in_the_questions_metric():
    series = {
        "key": "TTS",
        "total": Decimal("1.5"),
        "points": [(date(2026, 3, 2), Decimal("1.5")), (datetime(2026, 3, 2, 9, tzinfo=UTC), 0)],
    }
    assert BreakdownSeriesSerializer(series, context={"metric": "credits"}).data == {
        "key": "TTS",
        "total": "1.500000",
        "points": [
            {"period": "2026-03-02", "value": "1.500000"},
            {"period": "2026-03-02T09:00:00Z", "value": "0.000000"},
        ],
    }  # no unit and no other: those belong to metric=units and to the `other` series
    assert BreakdownSeriesSerializer(series, context={"metric": "records"}).data["points"][0]["value"] == 1


def test_daily_points_are_pairs_of_numbers():
    answer = {"days": 1, "tokens": [(1000, Decimal("100.000"))], "conversations": [(1000, 0)], "messages": [(1000, 2)]}
    assert UsageSeriesSerializer(answer).data == {
        "success": True, "days": 1, "tokens": [[1000, 100]], "conversations": [[1000, 0]], "messages": [[1000, 2]],
    }


def test_a_ranged_answer_carries_from_and_to():
    answer = RangeAnswerSerializer({"from": date(2026, 3, 2), "to": date(2026, 3, 4)}).data
    assert answer == {"success": True, "from": "2026-03-02", "to": "2026-03-04"}


# The answers as the views render them (config.api.representation), field for field DRF's own.
@given(
    groups=st.lists(
        st.fixed_dictionaries({
            "outlet_id": uuids, "agent_id": uuids, "agent_name": st.text(max_size=4), "external_id": st.text(max_size=4),
            "records": st.integers(min_value=0), "units": units, "credits": amounts, "cost": amounts,
        }),
        max_size=4,
    )
)
def test_represented_summary_equals_drf_data(groups):
    answer = {"from": "2026-01-01", "to": "2026-01-31", "group_by": "AGENT", "items": groups}

    assert represented(UsageSummarySerializer, answer, context={}) == as_drf(UsageSummarySerializer, answer, {})


@given(
    metric=st.sampled_from(["credits", "units", "cost", "records"]),
    series=st.lists(
        st.fixed_dictionaries(
            {"key": st.one_of(st.none(), st.text(max_size=4)), "total": st.integers(min_value=0),
             "points": st.lists(st.tuples(st.dates(), st.integers(min_value=0)), max_size=4)},
            optional={"unit": st.sampled_from(["tokens", "seconds"]), "other": st.integers(min_value=1)},
        ),
        max_size=3,
    ),
)
def test_represented_breakdown_equals_drf_data(metric, series):
    answer = {"from": "2026-01-01", "to": "2026-01-31", "metric": metric, "breakdown": "type", "interval": "day",
              "series": series}
    context = {"metric": metric}

    assert represented(UsageBreakdownSerializer, answer, context=context) == as_drf(UsageBreakdownSerializer, answer, context)


def test_series_sharing_their_periods_and_series_of_other_periods_each_get_their_own_texts():
    hours = [datetime(2026, 3, 1, hour, tzinfo=UTC) for hour in range(3)]
    later = [datetime(2026, 3, 2, hour, tzinfo=UTC) for hour in range(3)]  # as many periods, other ones
    series = [
        {"key": "a", "total": 3, "points": [[hour, 1] for hour in hours]},
        {"key": "b", "total": Decimal("1.5"), "points": [[hour, Decimal("0.5")] for hour in hours]},
        {"key": "c", "total": 0, "points": [[hour, 0] for hour in later]},
        {"key": "d", "total": 0, "points": [[hour, 0] for hour in hours]},
    ]
    answer = {"from": "2026-03-01", "to": "2026-03-02", "metric": "units", "breakdown": "type", "interval": "hour",
              "series": series}

    data = represented(UsageBreakdownSerializer, answer, context={"metric": "units"})

    assert data == as_drf(UsageBreakdownSerializer, answer, {"metric": "units"})
    assert [point["period"] for point in data["series"][2]["points"]][0] == "2026-03-02T00:00:00Z"
    assert [point["value"] for point in data["series"][1]["points"]] == ["0.500"] * 3


def test_represented_models_and_spend_equal_drf_data():
    latency = {"avg_ms": 12.5, "p50_ms": 10, "p95_ms": None, "p99_ms": 40}
    models = {"from": "2026-01-01", "to": "2026-01-02", "model_type": None, "items": [
        {"type": "LLM", "model": "m", "unit": "tokens", "calls": 3, "units": Decimal("10"), "credits": Decimal("0.1234567"),
         "cost": 0.25, "latency": latency},
    ]}
    agent = UUID(int=7)
    spend = {
        "total_calls": 2, "completed_calls": 1, "in_progress_calls": 0, "average_duration_seconds": 30,
        "success_rate": 0.5, "telecom_costs": {"total_minutes": Decimal(61) / 60, "cost_usd": Decimal("1.5")},
        "total_spent": Decimal("2"), "time_series": [{"date": "2026-01-01", "calls": 2, "minutes": Decimal(1), "cost": 0}],
        "status_distribution": {"in_progress": 0, "completed": 1, "failed": 1},
        "sentiment_distribution": {"positive": 1, "neutral": 0, "negative": 0, "unknown": 1},
        "agent_performance": [{"agent_id": agent, "calls": 2, "minutes": Decimal(1), "cost": Decimal("2")}],
        "drop_off_points": [{"bucket": "<30s", "count": 1}],
        "filters": {"from": "2026-01-01", "to": "2026-01-01", "agent_id": None, "status": None},
    }

    assert represented(ModelUsageSerializer, models, context={}) == as_drf(ModelUsageSerializer, models, {})
    assert represented(SpendOverviewSerializer, spend, context={}) == as_drf(SpendOverviewSerializer, spend, {})
