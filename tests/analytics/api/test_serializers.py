"""The analytics API's rendering: numbers, metric values, periods and points, as the answers' serializers write them."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.api.serializers import (
    BreakdownSeriesSerializer,
    CountField,
    RangeAnswerSerializer,
    RatioField,
    UsageSeriesSerializer,
    json_number,
    metric_formatter,
)


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
