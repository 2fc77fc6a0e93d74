"""Analytics endpoints: parse the question, answer it with a selector (cached), render JSON or CSV.

Every view is an `AnalyticsView`: it reads the caller's outlet scope and the parameters, then
renders the selector's result through one serializer, which is also the response's OpenAPI
schema. The rendered answer is cached (`cached_answer`) and the CSV table is cut from it, so
JSON and CSV always agree.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.params import (
    MAX_DAYS_BY_INTERVAL,
    HistoryQuery,
    ModelsQuery,
    SeriesQuery,
    SpendQuery,
    SummaryQuery,
    UsageQuery,
    query_serializer,
    read_query,
)
from analytics.api.serializers import (
    UNITS,
    CreditHistorySerializer,
    ModelUsageSerializer,
    SpendOverviewSerializer,
    UsageBreakdownSerializer,
    UsageSeriesSerializer,
    UsageSnapshotSerializer,
    UsageSummarySerializer,
)
from analytics.cache import cached_answer
from analytics.facts import BREAKDOWNS
from analytics.questions.breakdown import Breakdown, usage_breakdown
from analytics.questions.credit_history import credit_history
from analytics.questions.series import usage_series
from analytics.questions.snapshot import usage_snapshot
from analytics.questions.spend import spend_overview
from analytics.questions.summary import model_usage, usage_summary
from config.api.csv import FORMAT_PARAMETER, FORMATS, csv_response, dict_csv_lines, parse_format
from config.api.dates import DATE_RANGE_PARAMETERS, DateRange, parse_date_range, zone_name
from config.api.representation import represented
from config.api.views import DATE_RANGE_NAMES, KnownQueryParametersMixin
from config.money import COUNT_PLACES, fixed
from credits.scoping import OUTLET_PARAMETER, caller_outlet, caller_outlet_id, caller_zone
from credits.selectors import agent_get, ledger_entry_newest_id

DATE_PARAMETERS = [
    OpenApiParameter(parameter["name"], OpenApiTypes.DATE, OpenApiParameter.QUERY, description=parameter["description"])
    for parameter in DATE_RANGE_PARAMETERS
]
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


class AnalyticsView(KnownQueryParametersMixin, APIView):
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

    def query_parameters(self) -> set[str]:
        """The query serializer's fields, the date range if the question has one, and `format`."""
        query = query_serializer(self.query_serializer_class).fields if self.query_serializer_class else ()
        return {FORMAT_PARAMETER.name, *query, *(DATE_RANGE_NAMES if self.dated else ())}

    def scope(self, request) -> UUID | None:
        """The outlet the answer covers; None: every outlet (staff only)."""
        return caller_outlet_id(request)

    def question(self, request, outlet_id: UUID | None) -> dict:
        """Everything the answer depends on besides the scope, normalised: it is the cache key."""
        question = read_query(self.query_serializer_class, request.query_params) if self.query_serializer_class else {}
        if not self.dated:
            return question
        max_days = MAX_DAYS_BY_INTERVAL.get(question.get("interval"), self.max_days)
        zone = caller_zone(request, outlet_id)
        date_range = parse_date_range(request.query_params, max_days=max_days, zone=zone)
        return {**question, "from": date_range.start, "to": date_range.end, "zone": zone_name(zone)}

    def cache_extra(self, outlet_id: UUID | None) -> dict:
        """What else the answer depends on that the usage version does not track."""
        return {}

    def answer(self, outlet_id: UUID | None, question: dict) -> dict:
        raise TypeError(f"{type(self).__name__} must define answer()")

    def render(self, outlet_id: UUID | None, question: dict) -> dict:
        return represented(self.serializer_class, self.answer(outlet_id, question), context=question)

    def csv_table(self, data: dict) -> tuple[list[str], Iterable[dict]]:
        raise TypeError(f"{type(self).__name__} must define csv_table()")


def date_range_of(question: dict) -> DateRange:
    return DateRange(question["from"], question["to"], ZoneInfo(question["zone"]))


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
        return usage_series(outlet_id=outlet_id, days=question["days"])

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
        return usage_snapshot(outlet=self.outlet)

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
        items = usage_summary(
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
        items = model_usage(
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
        return spend_overview(
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
        breakdown = Breakdown(
            metric=question["metric"],
            breakdown=question["breakdown"],
            interval=question["interval"],
            filters={name: question[name] for name in BREAKDOWNS if question[name]},
            limit=question["limit"],
        )
        return usage_breakdown(outlet_id=outlet_id, date_range=date_range_of(question), question=breakdown)

    def csv_table(self, data):
        rows = (
            {"key": series["key"], "unit": series.get("unit"), "other": series.get("other"), **point}
            for series in data["series"]
            for point in series["points"]
        )
        return ["key", "unit", "other", "period", "value"], rows


@answer_schema(
    csv="the periods: one row per period: period, consumed, added, removed, expired, voided.",
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
        return credit_history(
            outlet_id=outlet_id, date_range=date_range_of(question), interval=question["interval"],
            agent_id=question["agent_id"],
        )

    def csv_table(self, data):
        return ["period", "consumed", "added", "removed", "expired", "voided"], data["periods"]
