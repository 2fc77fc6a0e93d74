"""Analytics endpoints: parse the question, answer it with a selector (cached), render JSON or CSV.

Every view is an `AnalyticsView`: it reads the caller's outlet scope and the parameters, then
renders the selector's result through one serializer, which is also the response's OpenAPI
schema. The rendered answer is cached (`cached_answer`) and the CSV table is cut from it, so
JSON and CSV always agree.
"""

import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.services import ALL_OUTLETS, answers_version
from config.api.csv import FORMATS, csv_response, dict_csv_lines, parse_format
from config.api.dates import DATE_RANGE_PARAMETERS, DateRange, parse_date_range, utc_iso
from config.money import COST_PLACES, COUNT_PLACES, CREDIT_PLACES, PLACES, fixed
from credits.scoping import caller_outlet, caller_outlet_id
from credits.selectors import agent_get, ledger_entry_newest_id
from usage.models import TYPE_PATTERN, Interaction, UsageRecord

SERIES_MAX_DAYS = 90
# The widest range (days) each point width answers, so that an answer's points and the work behind them stay
# bounded: a month of hours, a year of days, five years of weeks or months, ten of years.
MAX_DAYS_BY_INTERVAL = {"hour": 31, "day": 366, "cumulative": 366, "week": 1830, "month": 1830, "year": 3660}


def range_caps(intervals: Iterable[str]) -> str:
    """The caps of these point widths, for the parameter's help text."""
    return "The range spans at most " + ", ".join(f"{MAX_DAYS_BY_INTERVAL[name]} days for {name}" for name in intervals) + "."
FILTER_VALUE_MAX_LENGTH = 255
MINUTES_PLACES = 2
DAYS_PLACES = 2
RATIO_PLACES = 4
UNITS = tuple(UsageRecord.Unit.values)


# --- the answer cache ----------------------------------------------------------------------------

def answer_cache_key(name: str, outlet_id: UUID | None, question: dict) -> str:
    """The endpoint, the outlet scope, the scope's answers version and a digest of the normalised question."""
    scope = str(outlet_id) if outlet_id is not None else ALL_OUTLETS
    digest = hashlib.sha256(json.dumps(question, sort_keys=True, default=str).encode()).hexdigest()
    return f"analytics:answer:{name}:{scope}:{answers_version(outlet_id)}:{digest}"


def cached_answer(name: str, outlet_id: UUID | None, question: dict, compute: Callable[[], dict]) -> dict:
    """The rendered answer, from the cache when the same question was answered since the outlet's usage last changed.

    The version is read before computing: usage stored meanwhile moves it on, so an answer that
    may have missed that usage is cached under a key nobody asks for again.
    """
    if settings.ANALYTICS_CACHE_SECONDS <= 0:
        return compute()
    key = answer_cache_key(name, outlet_id, {**question, "today": selectors.today_utc()})
    answer = cache.get(key)
    if answer is None:
        answer = compute()
        cache.set(key, answer, settings.ANALYTICS_CACHE_SECONDS)
    return answer


# --- reading parameters --------------------------------------------------------------------------

def read_query(serializer_class: type[serializers.Serializer], params: QueryDict) -> dict:
    """The validated parameters; a blank parameter is an absent one, as for dates."""
    data = QueryDict(mutable=True)
    for name, values in params.lists():
        kept = [value for value in values if value != ""]
        if kept:
            data.setlist(name, kept)
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def choice(values: Iterable[str], *, default=None, help_text: str = "") -> serializers.ChoiceField:
    values = list(values)
    return serializers.ChoiceField(
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
    metric = choice(selectors.METRICS, default="credits", help_text="What each series adds up.")
    breakdown = choice(selectors.BREAKDOWNS, default="type", help_text="One series per value of this dimension.")
    interval = choice(
        selectors.INTERVALS,
        default="day",
        help_text=f"Point width; cumulative is a running daily total. {range_caps(selectors.INTERVALS)}",
    )
    limit = whole_number(1, 100, 10, "The largest series kept; the rest add up to one `other` series (per unit).")
    voice = ValuesField(help_text="Only these voices (repeat or comma separate).")
    product = ValuesField(help_text="Only these products.")
    api_key = ValuesField(help_text="Only these API key labels.")
    user = ValuesField(help_text="Only these end users.")
    agent = AgentIdsField(help_text="Only these agents (UUIDs).")
    model = ValuesField(help_text="Only these models.")
    type = ValuesField(help_text="Only these record types.")


class HistoryQuery(serializers.Serializer):
    interval = choice(
        selectors.HISTORY_INTERVALS,
        default="day",
        help_text=f"Period width (weeks start on Monday). {range_caps(selectors.HISTORY_INTERVALS)}",
    )
    agent_id = agent_id_field("Only this agent; another outlet's agent is a 404.")


# --- rendering -----------------------------------------------------------------------------------

def json_number(value) -> int | float:
    """A count as a JSON number: whole counts as integers."""
    if isinstance(value, int):
        return value
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def decimal(places: int, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=places, **kwargs)


def credits(**kwargs) -> serializers.DecimalField:
    return decimal(CREDIT_PLACES, **kwargs)


def cost(**kwargs) -> serializers.DecimalField:
    return decimal(COST_PLACES, **kwargs)


def units_by_unit() -> serializers.DictField:
    return serializers.DictField(child=decimal(COUNT_PLACES), help_text=f"Units summed per unit ({', '.join(UNITS)}).")


def minutes(**kwargs) -> serializers.DecimalField:
    return decimal(MINUTES_PLACES, **kwargs)


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


PERIOD_SCHEMA = {"type": "string", "description": "The period's start: YYYY-MM-DD, or for interval=hour an ISO 8601 UTC hour."}


@functools.lru_cache(maxsize=4096)  # every series of an answer has the same periods
def period_text(value: date) -> str:
    return utc_iso(value) if isinstance(value, datetime) else value.isoformat()


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
    """A series' points as {period, value}: a hand-written loop, since an hourly month of a few series has thousands."""

    def to_representation(self, points):
        value_text = metric_formatter(self.context["metric"])
        return [{"period": period_text(period), "value": value_text(value)} for period, value in points]


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
    units = decimal(COUNT_PLACES)
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
    bucket = serializers.ChoiceField(choices=selectors.DROP_OFF_BUCKETS)
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
    added = credits(help_text="Positive ADD, SET and ADJUST entries.")
    removed = credits(help_text="Negative SET, CLEAR and ADJUST entries, as a positive amount.")


def burn_fields() -> dict:
    return {
        "balance": credits(),
        "average_daily_burn": credits(help_text="Credits consumed over the last 30 days (to today), per day."),
        "runway_days": decimal(
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


# --- the views -----------------------------------------------------------------------------------

DATE_PARAMETERS = [
    OpenApiParameter(parameter["name"], OpenApiTypes.DATE, OpenApiParameter.QUERY, description=parameter["description"])
    for parameter in DATE_RANGE_PARAMETERS
]
OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Staff: one outlet's answer (default: every outlet). An API key always gets its own outlet's.",
)
SNAPSHOT_OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id", OpenApiTypes.UUID, OpenApiParameter.QUERY, description="Staff: required. An API key gets its own outlet's."
)
ERRORS = {
    400: OpenApiResponse(description="A bad parameter; `errors` names it."),
    404: OpenApiResponse(description="No such outlet (or agent) for the caller."),
}


def answer_schema(*, csv: str, outlet=OUTLET_PARAMETER):
    """The OpenAPI description of an analytics view, from the view itself: its parameters, its answer, its CSV."""

    def describe(view: type["AnalyticsView"]) -> type["AnalyticsView"]:
        query = view.query_serializer_class
        parameters = [*([query] if query else []), *(DATE_PARAMETERS if view.dated else []), outlet]
        parameters.append(
            OpenApiParameter(
                "format", str, OpenApiParameter.QUERY, enum=list(FORMATS), default="json", description=f"`csv`: {csv}"
            )
        )
        responses = {200: view.serializer_class, **ERRORS}
        return extend_schema_view(get=extend_schema(parameters=parameters, responses=responses))(view)

    return describe


class AnalyticsView(APIView):
    """One analytics question: the caller's scope and parameters in, the rendered answer (JSON or CSV) out.

    Subclasses say how to read the parameters (`question`), which selector answers (`answer`)
    and which table the CSV holds (`csv_table`); caching and rendering happen here, once.
    """

    name: str  # the cache namespace and the CSV file name
    serializer_class: type[serializers.Serializer]
    query_serializer_class: type[serializers.Serializer] | None = None
    dated = True  # the question has a date range (`start_date`/`end_date`, `from`/`to`)
    max_days = MAX_DAYS_BY_INTERVAL["day"]  # the widest range of a question without `interval`
    cached = True

    def get(self, request):
        export_format = parse_format(request.query_params)
        outlet_id = self.scope(request)
        question = self.question(request, outlet_id)
        if self.cached:
            extra = self.cache_extra(outlet_id)
            data = cached_answer(self.name, outlet_id, {**question, **extra}, lambda: self.render(outlet_id, question))
        else:
            data = self.render(outlet_id, question)
        if export_format == "csv":
            columns, rows = self.csv_table(data)
            return csv_response(dict_csv_lines(rows, columns), self.name)
        return Response(data)

    def scope(self, request) -> UUID | None:
        """The outlet the answer covers; None: every outlet (staff only)."""
        return caller_outlet_id(request)

    def question(self, request, outlet_id: UUID | None) -> dict:
        """Everything the answer depends on besides the scope, normalised: it is the cache key."""
        question = read_query(self.query_serializer_class, request.query_params) if self.query_serializer_class else {}
        if not self.dated:
            return question
        max_days = MAX_DAYS_BY_INTERVAL.get(question.get("interval"), self.max_days)
        date_range = parse_date_range(request.query_params, max_days=max_days)
        return {**question, "from": date_range.start, "to": date_range.end}

    def cache_extra(self, outlet_id: UUID | None) -> dict:
        """What else the answer depends on that the usage version does not track."""
        return {}

    def answer(self, outlet_id: UUID | None, question: dict) -> dict:
        raise TypeError(f"{type(self).__name__} must define answer()")

    def render(self, outlet_id: UUID | None, question: dict) -> dict:
        return self.serializer_class(self.answer(outlet_id, question), context=question).data

    def csv_table(self, data: dict) -> tuple[list[str], Iterable[dict]]:
        raise TypeError(f"{type(self).__name__} must define csv_table()")


def date_range_of(question: dict) -> DateRange:
    return DateRange(question["from"], question["to"])


def check_agent(outlet_id: UUID | None, agent_id: UUID | None) -> None:
    """An agent outside the caller's scope is a 404, as everywhere else in the API."""
    if agent_id is not None:
        agent_get(outlet_id=outlet_id, agent_id=agent_id)


def units_columns(units: dict) -> dict:
    return {f"units_{unit}": units.get(unit, fixed(0, COUNT_PLACES)) for unit in UNITS}


UNITS_COLUMNS = [f"units_{unit}" for unit in UNITS]


@answer_schema(csv="one row per day: date, tokens, conversations, messages.")
class UsageSeriesView(AnalyticsView):
    """The last `days` days (today included): tokens, conversations and messages per day, zero-filled."""

    name = "usage-series"
    read_permissions = ("usage.view_usagerecord", "usage.view_interaction")
    serializer_class = UsageSeriesSerializer
    query_serializer_class = SeriesQuery
    dated = False  # `days`, ending today

    def answer(self, outlet_id, question):
        return selectors.usage_series(outlet_id=outlet_id, days=question["days"])

    def csv_table(self, data):
        rows = (
            {
                "date": datetime.fromtimestamp(tokens[0] / 1000, UTC).date(),
                "tokens": tokens[1],
                "conversations": conversations[1],
                "messages": messages[1],
            }
            for tokens, conversations, messages in zip(data["tokens"], data["conversations"], data["messages"])
        )
        return ["date", "tokens", "conversations", "messages"], rows


@answer_schema(
    outlet=SNAPSHOT_OUTLET_PARAMETER,
    csv=f"one row: outlet_id, period_start, period_end, tokens, conversations, messages, records, credits, cost, "
    f"{', '.join(UNITS_COLUMNS)}.",
)
class UsageSnapshotView(AnalyticsView):
    """One outlet's current billing period (from its billing_cycle_day) so far."""

    name = "usage-snapshot"
    read_permissions = ("usage.view_usagerecord", "usage.view_interaction")
    serializer_class = UsageSnapshotSerializer
    dated = False  # the current billing period

    def scope(self, request):
        self.outlet = caller_outlet(request)
        return self.outlet.pk

    def question(self, request, outlet_id):
        return {"billing_cycle_day": self.outlet.billing_cycle_day}

    def answer(self, outlet_id, question):
        return selectors.usage_snapshot(outlet=self.outlet)

    def csv_table(self, data):
        columns = [
            "outlet_id", "period_start", "period_end", "tokens", "conversations", "messages", "records", "credits",
            "cost", *UNITS_COLUMNS,
        ]
        return columns, [{**data, **units_columns(data["units"])}]


@answer_schema(
    csv="one row per group: outlet_id, outlet_name (OUTLET) or agent_id, agent_name, external_id, outlet_id (AGENT); "
    f"records, credits, cost, {', '.join(UNITS_COLUMNS)}.",
)
class UsageSummaryView(AnalyticsView):
    """Records, units per unit, credits and cost per outlet or per agent over the range."""

    name = "usage-summary"
    read_permissions = ("usage.view_usagerecord",)
    serializer_class = UsageSummarySerializer
    max_days = MAX_DAYS_BY_INTERVAL["month"]  # totals without points: five years
    query_serializer_class = SummaryQuery

    def answer(self, outlet_id, question):
        items = selectors.usage_summary(
            outlet_id=outlet_id, date_range=date_range_of(question), group_by=question["group_by"]
        )
        return {"from": question["from"], "to": question["to"], "group_by": question["group_by"], "items": items}

    def csv_table(self, data):
        if data["group_by"] == "AGENT":
            names = ["agent_id", "agent_name", "external_id", "outlet_id"]
        else:
            names = ["outlet_id", "outlet_name"]
        columns = [*names, "records", "credits", "cost", *UNITS_COLUMNS]
        return columns, ({**item, **units_columns(item["units"])} for item in data["items"])


@answer_schema(
    csv="one row per (type, model, unit): type, model, unit, calls, units, credits, cost, latency_avg_ms, "
    "latency_p50_ms, latency_p95_ms, latency_p99_ms.",
)
class ModelUsageView(AnalyticsView):
    """Per (type, model, unit): calls, units, credits, cost and latency average and percentiles."""

    name = "analytics-models"
    read_permissions = ("usage.view_usagerecord",)
    serializer_class = ModelUsageSerializer
    max_days = MAX_DAYS_BY_INTERVAL["month"]  # totals without points: five years
    query_serializer_class = ModelsQuery

    def answer(self, outlet_id, question):
        items = selectors.model_usage(
            outlet_id=outlet_id, date_range=date_range_of(question), model_type=question["model_type"]
        )
        return {"from": question["from"], "to": question["to"], "model_type": question["model_type"], "items": items}

    def csv_table(self, data):
        latency = ["avg_ms", "p50_ms", "p95_ms", "p99_ms"]
        columns = ["type", "model", "unit", "calls", "units", "credits", "cost", *(f"latency_{name}" for name in latency)]
        rows = (
            {**item, **{f"latency_{name}": item["latency"][name] for name in latency}} for item in data["items"]
        )
        return columns, rows


@answer_schema(csv="the time_series: one row per day: date, calls, minutes, cost.")
class SpendOverviewView(AnalyticsView):
    """Calls, minutes, outcomes and spend over the range."""

    name = "analytics-spend"
    read_permissions = ("usage.view_usagerecord", "usage.view_interaction")
    serializer_class = SpendOverviewSerializer
    query_serializer_class = SpendQuery

    def question(self, request, outlet_id):
        question = super().question(request, outlet_id)
        check_agent(outlet_id, question["agent_id"])
        return question

    def answer(self, outlet_id, question):
        return selectors.spend_overview(
            outlet_id=outlet_id, date_range=date_range_of(question), agent_id=question["agent_id"],
            status=question["status"],
        )

    def csv_table(self, data):
        return ["date", "calls", "minutes", "cost"], data["time_series"]


@answer_schema(
    csv="one row per (series, period): key, unit, other, period, value.",
)
class UsageBreakdownView(AnalyticsView):
    """A series of `metric` per value of `breakdown`, at `interval`: the largest `limit`, the rest as `other`."""

    name = "analytics-usage"
    read_permissions = ("usage.view_usagerecord",)
    serializer_class = UsageBreakdownSerializer
    query_serializer_class = UsageQuery

    def answer(self, outlet_id, question):
        breakdown = selectors.Breakdown(
            metric=question["metric"],
            breakdown=question["breakdown"],
            interval=question["interval"],
            filters={name: question[name] for name in selectors.BREAKDOWNS if question[name]},
            limit=question["limit"],
        )
        return selectors.usage_breakdown(outlet_id=outlet_id, date_range=date_range_of(question), question=breakdown)

    def csv_table(self, data):
        rows = (
            {"key": series["key"], "unit": series.get("unit"), "other": series.get("other"), **point}
            for series in data["series"]
            for point in series["points"]
        )
        return ["key", "unit", "other", "period", "value"], rows


@answer_schema(
    csv="the periods: one row per period: period, consumed, added, removed.",
)
class CreditHistoryView(AnalyticsView):
    """Credits consumed and added or removed per period, the average daily burn and the runway, per agent too."""

    name = "credits-history"
    read_permissions = ("credits.view_creditledgerentry",)
    serializer_class = CreditHistorySerializer
    query_serializer_class = HistoryQuery

    def question(self, request, outlet_id):
        question = super().question(request, outlet_id)
        check_agent(outlet_id, question["agent_id"])
        return question

    def cache_extra(self, outlet_id):
        return {"ledger": ledger_entry_newest_id(outlet_id=outlet_id)}

    def answer(self, outlet_id, question):
        return selectors.credit_history(
            outlet_id=outlet_id, date_range=date_range_of(question), interval=question["interval"],
            agent_id=question["agent_id"],
        )

    def csv_table(self, data):
        return ["period", "consumed", "added", "removed"], data["periods"]
