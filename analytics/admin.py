"""Rollups and the dirty-bucket queue, read-only, with a "Recompute" action that rebuilds from raw rows.

The request log's admin is its own (analytics.requestlog.admin), imported here so that autodiscovery registers it.
"""

from django.contrib import admin, messages

from analytics import services
from analytics.models import (
    DirtyBucket,
    InteractionAgentDailyRollup,
    InteractionDailyRollup,
    InteractionStatusDailyRollup,
    UsageAgentDailyRollup,
    UsageAgentTotalsDailyRollup,
    UsageDailyRollup,
    UsageDimensionDailyRollup,
    UsageEndUserDailyRollup,
    UsageHourlyRollup,
    UsageHourlyTypeRollup,
)
from analytics.requestlog import admin as requestlog_admin  # noqa: F401 - registers the request log's admin
from config.admin import EstimatedCountPaginator, ViewOnlyMixin, amount_display


@admin.action(description="Recompute the selected rows' outlet days from raw records")
def recompute(model_admin, request, queryset):
    by_outlet = services.local_days_of(queryset)
    for outlet_id, days in by_outlet.items():
        services.rollups_rebuild_days(outlet_id=outlet_id, days=days)
    outlet_days = sum(len(days) for days in by_outlet.values())
    model_admin.message_user(request, f"Recomputed {outlet_days} outlet day(s) from raw records.", messages.SUCCESS)


class RollupAdmin(ViewOnlyMixin, admin.ModelAdmin):
    """A rollup's rows, amounts as people read them: two places in lists, credits and cost in full on a row's page."""

    internal = True  # listed last in the sidebar, under "Analytics internals"
    actions = [recompute]
    date_hierarchy = "bucket"
    list_filter = ("outlet", "type", "unit")
    list_select_related = ("outlet",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-bucket", "-id")
    list_display = (
        "bucket", "outlet", "type", "model", "unit", "records_column", "units_column", "credits_column", "cost_column",
    )

    records_column = amount_display("records", "units", description="records")
    units_column = amount_display("units", "units")
    credits_column = amount_display("credits", "credits")
    cost_column = amount_display("cost", "cost")
    credits_in_full = amount_display("credits", "credits", full=True)
    cost_in_full = amount_display("cost", "cost", full=True)

    def get_fields(self, request, obj=None):
        """Every column of the row; an amount by its `_in_full` display if lists shorten it, else by its `_column`."""
        names = [field.name for field in self.model._meta.concrete_fields if not field.primary_key]
        return [
            next((shown for shown in (f"{name}_in_full", f"{name}_column") if hasattr(self, shown)), name)
            for name in names
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


@admin.register(UsageDailyRollup)
class UsageDailyRollupAdmin(RollupAdmin):
    pass


@admin.register(UsageHourlyRollup)
class UsageHourlyRollupAdmin(RollupAdmin):
    pass


@admin.register(UsageHourlyTypeRollup)
class UsageHourlyTypeRollupAdmin(RollupAdmin):
    list_display = tuple(name for name in RollupAdmin.list_display if name != "model")  # it keys no model


@admin.register(UsageAgentDailyRollup)
class UsageAgentDailyRollupAdmin(RollupAdmin):
    list_display = (
        "bucket", "outlet", "agent", "type", "model", "unit", "records_column", "units_column", "credits_column",
        "cost_column",
    )
    list_select_related = ("outlet", "agent")


@admin.register(UsageDimensionDailyRollup)
class UsageDimensionDailyRollupAdmin(RollupAdmin):
    list_display = (
        "bucket", "outlet", "type", "model", "unit", "voice", "product", "api_key_label", "records_column",
        "credits_column", "cost_column",
    )


class PivotedRollupAdmin(RollupAdmin):
    """Rollups with no unit in their key: one column of units per unit."""

    list_filter = ("outlet",)
    unit_columns = ("units_tokens_column", "units_characters_column", "units_seconds_column", "units_requests_column")

    units_tokens_column = amount_display("units_tokens", "units", description="tokens")
    units_characters_column = amount_display("units_characters", "units", description="characters")
    units_seconds_column = amount_display("units_seconds", "units", description="seconds")
    units_requests_column = amount_display("units_requests", "units", description="requests")


@admin.register(UsageAgentTotalsDailyRollup)
class UsageAgentTotalsDailyRollupAdmin(PivotedRollupAdmin):
    list_display = (
        "bucket", "outlet", "agent", "records_column", *PivotedRollupAdmin.unit_columns, "credits_column",
        "cost_column",
    )
    list_select_related = ("outlet", "agent")


@admin.register(UsageEndUserDailyRollup)
class UsageEndUserDailyRollupAdmin(PivotedRollupAdmin):
    list_display = (
        "bucket", "outlet", "end_user_id", "records_column", *PivotedRollupAdmin.unit_columns, "credits_column",
        "cost_column",
    )
    search_fields = ("=end_user_id",)


class InteractionRollupAdmin(RollupAdmin):
    """Rollups of interactions: calls, seconds and messages by the day they started."""

    measures = ("calls_column", "duration_sum_column", "messages_column")

    calls_column = amount_display("calls", "units", description="calls")
    duration_sum_column = amount_display("duration_sum", "units", unit="s", description="duration")
    messages_column = amount_display("messages", "units", description="messages")


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
    internal = True
    actions = [recompute]
    list_display = ("hour", "outlet", "marked_at")
    list_filter = ("outlet",)
    list_select_related = ("outlet",)
    ordering = ("marked_at",)
