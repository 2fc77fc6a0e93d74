"""Rollups and the dirty-bucket queue, read-only, with a "Recompute" action that rebuilds from raw rows."""

from datetime import UTC

from django.contrib import admin, messages

from analytics import services
from analytics.models import (
    DirtyBucket,
    InteractionDailyRollup,
    UsageAgentDailyRollup,
    UsageDimensionDailyRollup,
    UsageHourlyRollup,
)
from credits.admin import ViewOnlyMixin
from usage.admin import EstimatedCountPaginator


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


@admin.register(InteractionDailyRollup)
class InteractionDailyRollupAdmin(RollupAdmin):
    list_display = ("bucket", "outlet", "agent", "status", "sentiment", "calls", "duration_sum", "messages")
    list_filter = ("outlet", "status", "sentiment")
    list_select_related = ("outlet", "agent")


@admin.register(DirtyBucket)
class DirtyBucketAdmin(ViewOnlyMixin, admin.ModelAdmin):
    actions = [recompute]
    list_display = ("hour", "outlet", "marked_at")
    list_filter = ("outlet",)
    list_select_related = ("outlet",)
    ordering = ("marked_at",)
