"""The analytics API's answers: rendering fields (numbers, money, periods, metric values) and one serializer per answer.

Each serializer renders a selector's plain values and is the answer's OpenAPI schema.
"""

import functools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from operator import is_

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.questions.spend import DROP_OFF_BUCKETS
from config.api.dates import zone_iso
from config.api.fields import amount, cost, credits, units
from config.money import PLACES, fixed, fixed_texts
from usage.models import UsageRecord

MINUTES_PLACES = 2
DAYS_PLACES = 2
RATIO_PLACES = 4
UNITS = tuple(UsageRecord.Unit.values)


def json_number(value) -> int | float:
    """A count as a JSON number: whole counts as integers."""
    if isinstance(value, int):
        return value
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def units_by_unit() -> serializers.DictField:
    return serializers.DictField(child=units(), help_text=f"Units summed per unit ({', '.join(UNITS)}).")


def minutes(**kwargs) -> serializers.DecimalField:
    return amount(MINUTES_PLACES, **kwargs)


@extend_schema_field(OpenApiTypes.NUMBER)
class CountField(serializers.Field):
    """A total count as a JSON number (an integer when whole)."""

    def to_representation(self, value):
        return json_number(value)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "description": "One `[unix ms of midnight UTC, total]` pair per day, oldest first, zero-filled.",
    }
)
class DailyPointsField(serializers.Field):
    def to_representation(self, points):
        return [[stamp, json_number(total)] for stamp, total in points]


class RatioField(serializers.FloatField):
    def to_representation(self, value):
        return round(float(value), RATIO_PLACES)


PERIOD_SCHEMA = {
    "type": "string",
    "description": "The period's start: the local date YYYY-MM-DD, or for interval=hour the local hour in ISO 8601 with "
    "its offset (2026-11-01T01:00:00-05:00); over outlets of several zones, the wall-clock hour without an offset.",
}


def period_text(value: date) -> str:
    """A date, or an hour with its offset (UTC's as Z, as the API writes times), or a wall-clock hour without one."""
    # By offset too: the same instant is another zone's hour, written with that zone's offset.
    return _period_text(value, getattr(value, "tzinfo", None))


@functools.lru_cache(maxsize=4096)  # every series of an answer has the same periods
def _period_text(value: date, zone) -> str:
    return zone_iso(value, zone) if zone else value.isoformat()


@extend_schema_field(PERIOD_SCHEMA)
class PeriodField(serializers.Field):
    def to_representation(self, value):
        return period_text(value)


METRIC_VALUE_SCHEMA = {
    "oneOf": [{"type": "string", "format": "decimal"}, {"type": "integer"}],
    "description": "credits (6 places), cost (8) and units (3) as decimal strings; records as an integer.",
}


def metric_formatter(metric: str) -> Callable[[Decimal | int], str | int]:
    """Formats a value of `metric`: records as an integer, the others as decimal strings at the metric's places."""
    if metric == "records":
        return int
    places = PLACES[metric]
    return lambda value: fixed(value, places)


def metric_texts(metric: str, values: list) -> list[str | int]:
    """`metric_formatter`'s of each value, in one call."""
    return list(map(int, values)) if metric == "records" else fixed_texts(values, PLACES[metric])


@extend_schema_field(METRIC_VALUE_SCHEMA)
class MetricValueField(serializers.Field):
    """A value of the question's metric (`context["metric"]`)."""

    def to_representation(self, value):
        return metric_formatter(self.context["metric"])(value)


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "period": PERIOD_SCHEMA,
                "value": METRIC_VALUE_SCHEMA,
            },
            "required": ["period", "value"],
        },
        "description": "One per period of the range, zero-filled.",
    }
)
class PointsField(serializers.Field):
    """A series' points as {period, value}, written a series at a time: an hourly month of a few series has thousands.

    The series of an answer share their periods, the same objects: their texts are written for the first series and
    kept while the next ones' periods are the same.
    """

    _periods: list | tuple = ()
    _texts: list[str] | tuple = ()

    def to_representation(self, points):
        periods = [period for period, _ in points]
        if len(periods) != len(self._periods) or not all(map(is_, periods, self._periods)):
            self._periods, self._texts = periods, [period_text(period) for period in periods]
        values = metric_texts(self.context["metric"], [value for _, value in points])
        return [{"period": text, "value": value} for text, value in zip(self._texts, values)]


class AnswerSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=True, read_only=True)


def range_fields() -> dict:
    return {
        "from": serializers.DateField(help_text="First day (UTC)."),
        "to": serializers.DateField(help_text="Last day (UTC, inclusive)."),
    }


# `from` is a Python keyword: these two classes are built with type() to carry fields of that name.
RangeAnswerSerializer = type("RangeAnswerSerializer", (AnswerSerializer,), range_fields())
SpendFiltersSerializer = type(
    "SpendFiltersSerializer",
    (serializers.Serializer,),
    {
        **range_fields(),
        "agent_id": serializers.UUIDField(allow_null=True),
        "status": serializers.CharField(allow_null=True),
    },
)


class UsageSeriesSerializer(AnswerSerializer):
    days = serializers.IntegerField()
    tokens = DailyPointsField(help_text="Tokens (units of records counted in tokens) per day.")
    conversations = DailyPointsField(help_text="Interactions started per day.")
    messages = DailyPointsField(help_text="Messages of the interactions started per day.")


class UsageSnapshotSerializer(AnswerSerializer):
    outlet_id = serializers.UUIDField()
    period_start = serializers.DateField(help_text="The billing period's first day (the outlet's billing_cycle_day).")
    period_end = serializers.DateField(help_text="Its last day; the totals run to today.")
    tokens = CountField()
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    records = serializers.IntegerField()
    credits = credits()
    cost = cost()
    units = units_by_unit()


class SummaryGroupSerializer(serializers.Serializer):
    outlet_id = serializers.UUIDField()
    outlet_name = serializers.CharField(required=False, help_text="group_by=OUTLET only.")
    agent_id = serializers.UUIDField(required=False, help_text="group_by=AGENT only.")
    agent_name = serializers.CharField(required=False, help_text="group_by=AGENT only.")
    external_id = serializers.CharField(required=False, help_text="group_by=AGENT only.")
    records = serializers.IntegerField()
    units = units_by_unit()
    credits = credits()
    cost = cost()


class UsageSummarySerializer(RangeAnswerSerializer):
    group_by = serializers.CharField()
    items = SummaryGroupSerializer(many=True, help_text="The largest credits first.")


class LatencySerializer(serializers.Serializer):
    avg_ms = serializers.FloatField(allow_null=True, help_text="Over the records that report a latency.")
    p50_ms = serializers.IntegerField(allow_null=True, help_text="From a log-scale histogram: within 13%.")
    p95_ms = serializers.IntegerField(allow_null=True)
    p99_ms = serializers.IntegerField(allow_null=True)


class ModelUsageItemSerializer(serializers.Serializer):
    type = serializers.CharField()
    model = serializers.CharField()
    unit = serializers.CharField()
    calls = serializers.IntegerField(help_text="Records.")
    units = units()
    credits = credits()
    cost = cost()
    latency = LatencySerializer()


class ModelUsageSerializer(RangeAnswerSerializer):
    model_type = serializers.CharField(allow_null=True)
    items = ModelUsageItemSerializer(many=True, help_text="One per (type, model, unit), the largest cost first.")


class TelecomCostsSerializer(serializers.Serializer):
    total_minutes = minutes(help_text="TELEPHONY records counted in seconds, in minutes.")
    cost_usd = cost(help_text="Cost of every TELEPHONY record.")


class SpendDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    calls = serializers.IntegerField()
    minutes = minutes()
    cost = cost()


class StatusDistributionSerializer(serializers.Serializer):
    in_progress = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()


class SentimentDistributionSerializer(serializers.Serializer):
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()
    unknown = serializers.IntegerField()


class AgentSpendSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField()
    calls = serializers.IntegerField()
    minutes = minutes()
    cost = cost()


class DropOffSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=DROP_OFF_BUCKETS)
    count = serializers.IntegerField(help_text="Calls whose duration falls in the bucket.")


class SpendOverviewSerializer(AnswerSerializer):
    total_calls = serializers.IntegerField()
    completed_calls = serializers.IntegerField()
    in_progress_calls = serializers.IntegerField()
    average_duration_seconds = serializers.IntegerField(help_text="Rounded down; 0 without calls.")
    success_rate = RatioField(help_text="completed_calls / total_calls, 4 places; 0 without calls.")
    telecom_costs = TelecomCostsSerializer()
    total_spent = cost(help_text="Cost of every usage record in the range (of the agent, if given).")
    time_series = SpendDaySerializer(many=True, help_text="One per day of the range.")
    status_distribution = StatusDistributionSerializer()
    sentiment_distribution = SentimentDistributionSerializer()
    agent_performance = AgentSpendSerializer(many=True, help_text="Most calls first.")
    drop_off_points = DropOffSerializer(many=True, help_text="Calls by duration: <30s, 30-60s, 1-3m, 3-5m, >5m.")
    filters = SpendFiltersSerializer()


class BreakdownSeriesSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="The breakdown's value; null for the `other` series.")
    unit = serializers.CharField(required=False, help_text="metric=units only: one series per (key, unit).")
    other = serializers.IntegerField(required=False, help_text="The `other` series only: how many series it adds up.")
    total = MetricValueField()
    points = PointsField()


class UsageBreakdownSerializer(RangeAnswerSerializer):
    metric = serializers.CharField()
    breakdown = serializers.CharField()
    interval = serializers.CharField()
    series = BreakdownSeriesSerializer(many=True, help_text="The largest totals first, then `other`.")


class HistoryPeriodSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="The period's first day (a Monday for weeks).")
    consumed = credits(help_text="Credits of the usage that occurred in the period.")
    added = credits(help_text="Positive ADD, SET, CLEAR (a debt forgiven), ADJUST and ALLOCATE entries.")
    removed = credits(help_text="Negative SET, CLEAR, ADJUST and RECLAIM entries, as a positive amount.")
    expired = credits(help_text="EXPIRE entries: grants' remaining written off at their expiry, as a positive amount.")
    voided = credits(help_text="VOID entries: grants' remaining written off by hand, as a positive amount.")


def burn_fields() -> dict:
    return {
        "balance": credits(),
        "average_daily_burn": credits(help_text="Credits consumed over the last 30 days (to today), per day."),
        "runway_days": amount(
            DAYS_PLACES, allow_null=True, help_text="balance / average_daily_burn; null without burn, 0 once spent."
        ),
    }


AgentHistorySerializer = type(
    "AgentHistorySerializer",
    (serializers.Serializer,),
    {
        "agent_id": serializers.UUIDField(),
        "agent_name": serializers.CharField(),
        "outlet_id": serializers.UUIDField(),
        **burn_fields(),
        "consumed": credits(),
        "added": credits(),
        "removed": credits(),
        "expired": credits(),
        "voided": credits(),
    },
)

CreditHistorySerializer = type(
    "CreditHistorySerializer",
    (RangeAnswerSerializer,),
    {
        "interval": serializers.CharField(),
        **burn_fields(),
        "periods": HistoryPeriodSerializer(many=True),
        "agents": AgentHistorySerializer(many=True, help_text="The shortest runway first; no burn last."),
    },
)
