"""The request log's endpoints: the list of logged API requests, and their figures per period and route."""

import itertools

from rest_framework import serializers

from analytics.api.params import choice, range_caps
from analytics.api.serializers import PeriodField, RangeAnswerSerializer, RatioField
from analytics.api.views import AnalyticsView, answer_schema, date_range_of
from analytics.models import RequestLog
from analytics.requestlog.filtersets import RequestLogFilterSet
from analytics.requestlog.selectors import REQUEST_INTERVALS, request_analytics, request_log_list
from credits.scoping import ScopedListView


class RequestLogSerializer(serializers.ModelSerializer):
    outlet_id = serializers.UUIDField(read_only=True, allow_null=True)
    user_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="Staff calls: the admin user.")

    class Meta:
        model = RequestLog
        fields = [
            "id", "time", "outlet_id", "key_prefix", "user_id", "method", "route", "status", "latency_ms", "in_flight",
            "request_id", "code", "message", "query",
        ]


class RequestLogListView(ScopedListView):
    """The caller's logged API requests, newest first: an outlet's key sees its outlet's; staff see all."""

    read_permissions = ("analytics.view_requestlog",)

    serializer_class = RequestLogSerializer
    filterset_class = RequestLogFilterSet
    cursor_fields = ("time", "id")
    date_field = "time"
    csv_filename = "request-log"

    def scoped_queryset(self, outlet_id):
        return request_log_list(outlet_id=outlet_id)


class RequestsQuery(serializers.Serializer):
    interval = choice(REQUEST_INTERVALS, default="day", help_text=f"Period width. {range_caps(REQUEST_INTERVALS)}")


def request_figures() -> dict:
    return {
        "count": serializers.IntegerField(help_text="Requests."),
        "success_rate": RatioField(allow_null=True, help_text="Share with a 2xx or 3xx status, 4 places; null without requests."),
        "errors_4xx": serializers.IntegerField(),
        "errors_5xx": serializers.IntegerField(),
        "avg_latency_ms": serializers.FloatField(allow_null=True),
        "p95_latency_ms": serializers.IntegerField(allow_null=True, help_text="From a log-scale histogram: within 13%."),
        "peak_in_flight": serializers.IntegerField(
            help_text="The most requests one server process was serving when one of these arrived (0 without requests)."
        ),
    }


RequestPeriodSerializer = type(
    "RequestPeriodSerializer", (serializers.Serializer,), {"period": PeriodField(), **request_figures()}
)
RequestRouteSerializer = type(
    "RequestRouteSerializer",
    (serializers.Serializer,),
    {
        "route": serializers.CharField(),
        **request_figures(),
        "periods": RequestPeriodSerializer(many=True, help_text="Only the periods the route was called in."),
    },
)
RequestAnalyticsSerializer = type(
    "RequestAnalyticsSerializer",
    (RangeAnswerSerializer,),
    {
        "interval": serializers.CharField(),
        **request_figures(),
        "periods": RequestPeriodSerializer(many=True, help_text="Every period of the range."),
        "routes": RequestRouteSerializer(many=True, help_text="The most called first."),
    },
)
REQUEST_FIGURES = list(request_figures())


@answer_schema(
    csv=f"one row per period (route empty: every route) and per (route, period) called: period, route, "
    f"{', '.join(REQUEST_FIGURES)}.",
)
class RequestAnalyticsView(AnalyticsView):
    """API requests per period and per route: count, success rate, errors, latency average and p95, peak in flight."""

    name = "analytics-requests"
    read_permissions = ("analytics.view_requestlog",)
    serializer_class = RequestAnalyticsSerializer
    query_serializer_class = RequestsQuery
    cached = False  # every API request (this one too) adds a row: a cached answer would be stale at once

    def answer(self, outlet_id, question):
        return request_analytics(
            outlet_id=outlet_id, date_range=date_range_of(question), interval=question["interval"]
        )

    def csv_table(self, data):
        overall = ({"route": None, **period} for period in data["periods"])
        by_route = ({"route": route["route"], **period} for route in data["routes"] for period in route["periods"])
        return ["period", "route", *REQUEST_FIGURES], itertools.chain(overall, by_route)
