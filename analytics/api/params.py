"""The analytics API's query parameters: the fields that read them and one serializer per question.

Each `*Query` serializer is also the question's OpenAPI parameter list.
"""

import functools
from collections.abc import Iterable
from uuid import UUID

from django.http import QueryDict
from rest_framework import serializers

from analytics.facts import BREAKDOWN_DIMENSIONS, BREAKDOWNS
from analytics.periods import HISTORY_INTERVALS, INTERVALS
from analytics.questions.breakdown import METRICS
from config.api.fields import CaseInsensitiveChoiceField
from usage.models import TYPE_PATTERN, Interaction

SERIES_MAX_DAYS = 90
FILTER_VALUE_MAX_LENGTH = 255
# The widest range (days) each point width answers, so that an answer's points and the work behind them stay
# bounded: a month of hours, a year of days, five years of weeks or months, ten of years.
MAX_DAYS_BY_INTERVAL = {"hour": 31, "day": 366, "cumulative": 366, "week": 1830, "month": 1830, "year": 3660}


def range_caps(intervals: Iterable[str]) -> str:
    """The caps of these point widths, for the parameter's help text."""
    return "The range spans at most " + ", ".join(f"{MAX_DAYS_BY_INTERVAL[name]} days for {name}" for name in intervals) + "."


def read_query(serializer_class: type[serializers.Serializer], params: QueryDict) -> dict:
    """The validated parameters; a blank parameter is an absent one, as for dates."""
    data = QueryDict(mutable=True)
    for name, values in params.lists():
        kept = [value for value in values if value != ""]
        if kept:
            data.setlist(name, kept)
    return dict(query_serializer(serializer_class).run_validation(data))


@functools.cache  # binding a serializer deep-copies its fields (UsageQuery's builds a filter per dimension first)
def query_serializer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One instance per query serializer, read for its fields and run on every query: validating keeps no state on
    it, as DRF's nested serializers validate item after item."""
    return serializer_class()


def choice(values: Iterable[str], *, default=None, help_text: str = "") -> serializers.ChoiceField:
    values = list(values)
    return CaseInsensitiveChoiceField(
        choices=values,
        required=False,
        default=default,
        help_text=help_text,
        error_messages={"invalid_choice": f"Must be one of {', '.join(values)}; not '{{input}}'."},
    )


def whole_number(minimum: int, maximum: int, default: int, help_text: str) -> serializers.IntegerField:
    message = f"Must be a whole number from {minimum} to {maximum}."
    return serializers.IntegerField(
        min_value=minimum,
        max_value=maximum,
        default=default,
        help_text=help_text,
        error_messages={"invalid": message, "min_value": message, "max_value": message, "max_string_length": message},
    )


def agent_id_field(help_text: str) -> serializers.UUIDField:
    return serializers.UUIDField(required=False, default=None, help_text=help_text)


class ValuesField(serializers.ListField):
    """A filter's values: the parameter repeated, comma separated, or both (so a value cannot hold a comma)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=FILTER_VALUE_MAX_LENGTH))
        super().__init__(required=False, default=list, **kwargs)

    def to_internal_value(self, data):
        values = {self.parse(part.strip()) for item in data for part in str(item).split(",") if part.strip()}
        return sorted(values, key=str)

    def parse(self, value: str):
        if len(value) > FILTER_VALUE_MAX_LENGTH:
            raise serializers.ValidationError(f"A value may have at most {FILTER_VALUE_MAX_LENGTH} characters.")
        return value


class AgentIdsField(ValuesField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.UUIDField(), **kwargs)

    def parse(self, value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            raise serializers.ValidationError(f"'{value}' is not a valid UUID.") from None


class SeriesQuery(serializers.Serializer):
    days = whole_number(1, SERIES_MAX_DAYS, SERIES_MAX_DAYS, "How many days, ending today (UTC).")


class SummaryQuery(serializers.Serializer):
    group_by = choice(("OUTLET", "AGENT"), default="OUTLET", help_text="One row per outlet or per agent.")


class ModelsQuery(serializers.Serializer):
    model_type = serializers.RegexField(
        TYPE_PATTERN,
        required=False,
        default=None,
        help_text="Only records of this type: CONVERSATION, TRANSITION, TTS, STT, TELEPHONY or any upper-case slug.",
        error_messages={"invalid": "Must be an upper-case record type such as CONVERSATION or TTS."},
    )


class SpendQuery(serializers.Serializer):
    agent_id = agent_id_field("Only this agent's calls and spend; another outlet's agent is a 404.")
    status = choice(Interaction.Status.values, help_text="Only calls with this status (spend is not narrowed).")


class UsageQuery(serializers.Serializer):
    metric = choice(METRICS, default="credits", help_text="What each series adds up.")
    breakdown = choice(BREAKDOWNS, default="type", help_text="One series per value of this dimension.")
    interval = choice(
        INTERVALS,
        default="day",
        help_text=f"Point width; cumulative is a running daily total. {range_caps(INTERVALS)}",
    )
    limit = whole_number(1, 100, 10, "The largest series kept; the rest add up to one `other` series (per unit).")

    def get_fields(self):
        """The question, then one filter per breakdown dimension, in the registry's order."""
        return {**super().get_fields(), **breakdown_filters()}


def breakdown_filters() -> dict[str, serializers.Field]:
    """A filter per breakdown dimension of `analytics.facts`: agent UUIDs, or values."""
    return {
        dimension.api_name: (AgentIdsField if dimension.agent_ids else ValuesField)(help_text=dimension.help_text)
        for dimension in BREAKDOWN_DIMENSIONS
    }


class HistoryQuery(serializers.Serializer):
    interval = choice(
        HISTORY_INTERVALS,
        default="day",
        help_text=f"Period width (weeks start on Monday). {range_caps(HISTORY_INTERVALS)}",
    )
    agent_id = agent_id_field("Only this agent; another outlet's agent is a 404.")
