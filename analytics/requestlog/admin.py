"""The request log in the admin: read-only, filtered by status class, error code, method and outlet, searched by
key, route or request id."""

from django.contrib import admin

from analytics.models import RequestLog
from analytics.requestlog.filtersets import ERROR_CODES, HTTP_METHODS, status_class
from config.admin import BigTableMixin, ViewOnlyMixin, amount_display, time_display
from credits.admin_zones import OutletTimes


class StatusClassFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [(str(digit), f"{digit}xx") for digit in range(2, 6)]

    def queryset(self, request, queryset):
        if self.value() not in {str(digit) for digit in range(2, 6)}:
            return queryset
        return queryset.filter(status_class(int(self.value())))


class MethodFilter(admin.SimpleListFilter):
    """A fixed list: Django's own would DISTINCT the whole table on every page view."""

    title = parameter_name = "method"

    def lookups(self, request, model_admin):
        return [(method, method) for method in HTTP_METHODS]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(method=self.value())


class ErrorCodeFilter(admin.SimpleListFilter):
    """The documented codes as choices (a DISTINCT over the table would scan it); any other by URL, ?code=..."""

    title = "error code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        return [(code, code) for code in ERROR_CODES]

    def queryset(self, request, queryset):
        return queryset if not self.value() else queryset.filter(code=self.value())


@admin.register(RequestLog)
class RequestLogAdmin(OutletTimes, ViewOnlyMixin, BigTableMixin, admin.ModelAdmin):
    list_display = (
        "time_in_zone", "method", "route", "status", "code", "latency", "in_flight_count", "outlet", "key_prefix", "user",
        "request_id",
    )
    list_filter = (StatusClassFilter, ErrorCodeFilter, MethodFilter, "outlet")
    # The key's prefix or a request id exactly; a route by any part of its pattern (e.g. usage/records).
    search_fields = ("key_prefix__exact", "request_id__exact", "route__contains")
    search_help_text = "An API key prefix, a request id, or part of a route pattern such as usage/records."
    date_hierarchy = "time"
    sortable_by = ("time_in_zone",)  # the only order an index serves
    ordering = ("-time", "-id")
    list_select_related = ("outlet", "user")
    fields = readonly_fields = (
        "time_in_zone", "method", "route", "status", "code", "message", "query", "request_id", "latency",
        "in_flight_count", "outlet", "api_key", "key_prefix", "user",
    )
    time_in_zone = time_display("time")  # a staff request without an outlet: UTC

    latency = amount_display("latency_ms", "units", unit="ms", description="latency")
    in_flight_count = amount_display("in_flight", "units", description="in flight")
