"""The API request log's reads: an outlet's log or everyone's, its figures per period and route, the failures."""

from collections import defaultdict
from datetime import date, datetime
from uuid import UUID

from django.db.models import Count, Max, Q, QuerySet, Sum, Value

from analytics.histograms import histogram_measures, latency_quantile
from analytics.models import LATENCY_COLUMNS, LATENCY_FLOORS_MS, RequestLog
from analytics.periods import period_start, period_starts
from analytics.requestlog.filtersets import status_class
from analytics.zones import LocalDate, LocalHourStart, as_utc
from config.api.dates import DateRange, zone_name
from config.db import for_outlet

REQUEST_INTERVALS = ("hour", "day", "month")
SUCCESS_BELOW_STATUS = 400  # 2xx and 3xx are successes; 4xx and 5xx are failures
REQUEST_MEASURES = {
    "count": lambda: Count("pk"),
    "successes": lambda: Count("pk", filter=Q(status__lt=SUCCESS_BELOW_STATUS)),
    "errors_4xx": lambda: Count("pk", filter=status_class(4)),
    "errors_5xx": lambda: Count("pk", filter=Q(status__gte=500)),
    "latency_sum": lambda: Sum("latency_ms"),
    "peak_in_flight": lambda: Max("in_flight"),
    # The usage histogram's buckets, so request p95 has the same (documented) error bound.
    **histogram_measures("latency_ms", LATENCY_FLOORS_MS, LATENCY_COLUMNS),
}


def request_log_list(*, outlet_id: UUID | None) -> QuerySet:
    """The logged API requests of one outlet (its keys' calls), or of every caller (None: staff)."""
    return for_outlet(RequestLog.objects.all(), outlet_id)


class _RequestTotals:
    """Request figures that add up: counts, the latency sum and histogram, and the peak."""

    def __init__(self):
        self.count = self.successes = self.errors_4xx = self.errors_5xx = self.latency_sum = self.peak_in_flight = 0
        self.histogram = [0] * len(LATENCY_COLUMNS)

    def add(self, row: dict) -> None:
        self.count += row["count"]
        self.successes += row["successes"]
        self.errors_4xx += row["errors_4xx"]
        self.errors_5xx += row["errors_5xx"]
        self.latency_sum += row["latency_sum"] or 0
        self.peak_in_flight = max(self.peak_in_flight, row["peak_in_flight"] or 0)
        for index, name in enumerate(LATENCY_COLUMNS):
            self.histogram[index] += row[name]

    def figures(self) -> dict:
        return {
            "count": self.count,
            "success_rate": self.successes / self.count if self.count else None,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "avg_latency_ms": round(self.latency_sum / self.count, 1) if self.count else None,
            "p95_latency_ms": latency_quantile(self.histogram, 0.95),
            "peak_in_flight": self.peak_in_flight,
        }


def request_analytics(*, outlet_id: UUID | None, date_range: DateRange, interval: str) -> dict:
    """API requests per local period (of the range's zone) and per route: count, success rate, errors, average and
    p95 latency, peak in flight.

    One grouped query over the log (per period and route); the overall, per-period and per-route
    figures add those groups up, merging latency histograms for p95 (within 13%, as for usage).
    `periods` has every period of the range; a route's `periods` only those it was called in.
    """
    zone = Value(zone_name(date_range.zone))
    rows = (
        request_log_list(outlet_id=outlet_id)
        .filter(time__gte=date_range.start_at, time__lt=date_range.end_before)
        .annotate(period=LocalHourStart("time", zone) if interval == "hour" else LocalDate("time", zone))
        .values("period", "route")
        .annotate(**{name: measure() for name, measure in REQUEST_MEASURES.items()})
        .order_by()
    )
    total = _RequestTotals()
    periods: dict = defaultdict(_RequestTotals)
    routes: dict[str, _RequestTotals] = defaultdict(_RequestTotals)
    route_periods: dict[str, dict] = defaultdict(lambda: defaultdict(_RequestTotals))
    starts = period_starts(date_range, interval, date_range.zone)
    listed = {start: start for start in starts}  # a row's hour as listed: with its local offset
    for row in rows:
        period = _period_of(row["period"], interval)
        period = listed.get(period, period)
        for totals in (total, periods[period], routes[row["route"]], route_periods[row["route"]][period]):
            totals.add(row)
    route_items = [
        {
            "route": route,
            **totals.figures(),
            "periods": [
                {"period": period, **route_periods[route][period].figures()} for period in sorted(route_periods[route])
            ],
        }
        for route, totals in routes.items()
    ]
    return {
        "from": date_range.start,
        "to": date_range.end,
        "interval": interval,
        **total.figures(),
        "periods": [{"period": period, **periods[period].figures()} for period in starts],
        "routes": sorted(route_items, key=lambda item: (-item["count"], item["route"])),
    }


def _period_of(start: datetime | date, interval: str) -> datetime | date:
    """A row's local hour, or its local date's period."""
    return as_utc(start) if interval == "hour" else period_start(start, interval)


def failed_request_list(*, outlet_id: UUID | None, since: datetime) -> QuerySet[RequestLog]:
    """Logged API requests that failed (4xx and 5xx) since `since`, the newest first."""
    failed = request_log_list(outlet_id=outlet_id).filter(time__gte=since, status__gte=SUCCESS_BELOW_STATUS)
    return failed.select_related("outlet").order_by("-time", "-id")
