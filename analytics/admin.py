"""Rollups and the dirty-bucket queue, read-only, with a "Recompute" action that rebuilds from raw rows; the request log."""

from datetime import UTC

from django.contrib import admin, messages

from analytics import services
from analytics.models import (
    DirtyBucket,
    InteractionAgentDailyRollup,
    InteractionDailyRollup,
    InteractionStatusDailyRollup,
    RequestLog,
    UsageAgentDailyRollup,
    UsageAgentTotalsDailyRollup,
    UsageDailyRollup,
    UsageDimensionDailyRollup,
    UsageEndUserDailyRollup,
    UsageHourlyRollup,
)
from config.admin import BigTableMixin, EstimatedCountPaginator, ViewOnlyMixin


@admin.action(description="Recompute the selected rows' outlet days from raw records")
def recompute(model_admin, request, queryset):
    field = "hour" if queryset.model is DirtyBucket else "bucket"
    outlet_days = {(outlet_id, moment.astimezone(UTC).date()) for outlet_id, moment in queryset.values_list("outlet_id", field)}
    by_outlet: dict = {}
    for outlet_id, day in outlet_days:
        by_outlet.setdefault(outlet_id, set()).add(day)
    for outlet_id, days in by_outlet.items():
        services.rollups_rebuild_days(outlet_id=outlet_id, days=days)
    model_admin.message_user(
        request, f"Recomputed {len(outlet_days)} outlet day(s) from raw records.", messages.SUCCESS
    )


class RollupAdmin(ViewOnlyMixin, admin.ModelAdmin):
    actions = [recompute]
    date_hierarchy = "bucket"
    list_filter = ("outlet", "type", "unit")
    list_select_related = ("outlet",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-bucket", "-id")
    list_display = ("bucket", "outlet", "type", "model", "unit", "records", "units", "credits", "cost")


@admin.register(UsageDailyRollup)
class UsageDailyRollupAdmin(RollupAdmin):
    pass


@admin.register(UsageHourlyRollup)
class UsageHourlyRollupAdmin(RollupAdmin):
    pass


@admin.register(UsageAgentDailyRollup)
class UsageAgentDailyRollupAdmin(RollupAdmin):
    list_display = ("bucket", "outlet", "agent", "type", "model", "unit", "records", "units", "credits", "cost")
    list_select_related = ("outlet", "agent")


@admin.register(UsageDimensionDailyRollup)
class UsageDimensionDailyRollupAdmin(RollupAdmin):
    list_display = (
        "bucket", "outlet", "type", "model", "unit", "voice", "product", "api_key_label", "records", "credits", "cost",
    )


class PivotedRollupAdmin(RollupAdmin):
    """Rollups with no unit in their key: one column of units per unit."""

    list_filter = ("outlet",)
    unit_columns = ("units_tokens", "units_characters", "units_seconds", "units_requests")


@admin.register(UsageAgentTotalsDailyRollup)
class UsageAgentTotalsDailyRollupAdmin(PivotedRollupAdmin):
    list_display = ("bucket", "outlet", "agent", "records", *PivotedRollupAdmin.unit_columns, "credits", "cost")
    list_select_related = ("outlet", "agent")


@admin.register(UsageEndUserDailyRollup)
class UsageEndUserDailyRollupAdmin(PivotedRollupAdmin):
    list_display = ("bucket", "outlet", "end_user_id", "records", *PivotedRollupAdmin.unit_columns, "credits", "cost")
    search_fields = ("=end_user_id",)


class InteractionRollupAdmin(RollupAdmin):
    """Rollups of interactions: calls, seconds and messages by the day they started."""

    measures = ("calls", "duration_sum", "messages")


@admin.register(InteractionDailyRollup)
class InteractionDailyRollupAdmin(InteractionRollupAdmin):
    list_display = ("bucket", "outlet", "agent", "status", "sentiment", *InteractionRollupAdmin.measures)
    list_filter = ("outlet", "status", "sentiment")
    list_select_related = ("outlet", "agent")


@admin.register(InteractionStatusDailyRollup)
class InteractionStatusDailyRollupAdmin(InteractionRollupAdmin):
    list_display = ("bucket", "outlet", "status", "sentiment", *InteractionRollupAdmin.measures)
    list_filter = ("outlet", "status", "sentiment")


@admin.register(InteractionAgentDailyRollup)
class InteractionAgentDailyRollupAdmin(InteractionRollupAdmin):
    list_display = ("bucket", "outlet", "agent", *InteractionRollupAdmin.measures)
    list_filter = ("outlet",)
    list_select_related = ("outlet", "agent")


@admin.register(DirtyBucket)
class DirtyBucketAdmin(ViewOnlyMixin, admin.ModelAdmin):
    actions = [recompute]
    list_display = ("hour", "outlet", "marked_at")
    list_filter = ("outlet",)
    list_select_related = ("outlet",)
    ordering = ("marked_at",)


class StatusClassFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [(str(digit), f"{digit}xx") for digit in range(2, 6)]

    def queryset(self, request, queryset):
        if self.value() not in {str(digit) for digit in range(2, 6)}:
            return queryset
        floor = int(self.value()) * 100
        return queryset.filter(status__gte=floor, status__lt=floor + 100)


class MethodFilter(admin.SimpleListFilter):
    """A fixed list: Django's own would DISTINCT the whole table on every page view."""

    title = parameter_name = "method"

    def lookups(self, request, model_admin):
        return [(method, method) for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")]

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
