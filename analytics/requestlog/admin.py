"""The request log in the admin: read-only, filtered by status class, method and outlet, searched by key or route."""

from django.contrib import admin

from analytics.models import RequestLog
from analytics.requestlog.filtersets import HTTP_METHODS, status_class
from config.admin import BigTableMixin, ViewOnlyMixin


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


@admin.register(RequestLog)
class RequestLogAdmin(ViewOnlyMixin, BigTableMixin, admin.ModelAdmin):
    list_display = ("time", "method", "route", "status", "latency_ms", "in_flight", "outlet", "key_prefix", "user")
    list_filter = (StatusClassFilter, MethodFilter, "outlet")
    # The key's prefix exactly; a route by any part of its pattern (e.g. usage/records).
    search_fields = ("key_prefix__exact", "route__contains")
    search_help_text = "An API key prefix, or part of a route pattern such as usage/records."
    date_hierarchy = "time"
    sortable_by = ("time",)  # the only order an index serves
    ordering = ("-time", "-id")
    list_select_related = ("outlet", "user")
