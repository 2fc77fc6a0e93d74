"""Staff screens for usage: read-only, and shaped for tables of tens of millions of rows."""

import json
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin import BigTableMixin, DateRangeFilter, ViewOnlyMixin, amount_display, clock_duration, time_display
from config.api.csv import csv_response, dict_csv_lines
from config.money import display_amount
from credits.admin_zones import OutletTimes
from credits.models import Agent
from usage import selectors
from usage.models import RELATION_IDS, Interaction, UsageRecord

RECORDS_ON_INTERACTION_PAGE = 200
CSV_COLUMNS = [field.attname for field in UsageRecord._meta.concrete_fields]


def uuid_or_none(value) -> UUID | None:
    try:
        return UUID(value)
    except (TypeError, ValueError):
        return None


def pretty_json(value):
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def latest_values(request, model_admin, sample: int) -> list[dict]:
    """The latest rows' columns of every RecentValuesFilter of the list, read once per request for all of them."""
    memo = request.__dict__.setdefault("_latest_values", {})
    if model_admin not in memo:
        columns = [
            choice.parameter_name for choice in model_admin.list_filter
            if isinstance(choice, type) and issubclass(choice, RecentValuesFilter)
        ]
        memo[model_admin] = list(model_admin.model.objects.order_by("-pk").values(*columns)[:sample])
    return memo[model_admin]


class RecentValuesFilter(admin.SimpleListFilter):
    """The values of the latest rows: a DISTINCT over the whole table would scan it on every page view."""

    sample = 5000

    def lookups(self, request, model_admin):
        latest = latest_values(request, model_admin, self.sample)
        values = ({row[self.parameter_name] for row in latest} | {self.value()}) - {None, ""}
        return [(value, value) for value in sorted(values)]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(**{self.parameter_name: self.value()})


class TypeFilter(RecentValuesFilter):
    title = parameter_name = "type"


class ModelFilter(RecentValuesFilter):
    title = parameter_name = "model"


class ProductFilter(RecentValuesFilter):
    title = parameter_name = "product"


class ChannelFilter(RecentValuesFilter):
    title = parameter_name = "channel"


class AgentFilter(admin.SimpleListFilter):
    """The agents of the chosen outlet: every agent of every outlet would be thousands of links."""

    title = "agent"
    parameter_name = "agent__id__exact"
    outlet_parameter = "outlet__id__exact"

    def lookups(self, request, model_admin):
        outlet_id, agent_id = uuid_or_none(request.GET.get(self.outlet_parameter)), uuid_or_none(self.value())
        if not (outlet_id or agent_id):
            return []
        return Agent.objects.filter(Q(outlet_id=outlet_id) | Q(pk=agent_id)).values_list("pk", "name")

    def has_output(self):
        return bool(self.lookup_choices) or self.value() is not None  # a given agent always filters

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if (agent_id := uuid_or_none(self.value())) is None:
            raise IncorrectLookupParameters(f"'{self.value()}' is not an agent id.")
        return queryset.filter(agent_id=agent_id)


@admin.register(UsageRecord)
class UsageRecordAdmin(OutletTimes, ViewOnlyMixin, BigTableMixin, admin.ModelAdmin):
    # Immutable for everyone, superusers included; only ingestion writes records.
    # Eight narrow columns that fit 1440 px; the ids and the outlet are on the record's page and in the filters.
    list_display = ("time", "agent", "type", "model", "count_with_unit", "credits_column", "cost_column", "latency")
    list_filter = (("occurred_at", DateRangeFilter), "outlet", AgentFilter, TypeFilter, ModelFilter, ProductFilter)
    # `__exact` rather than `=`, which means iexact: UPPER(column) cannot use the column's index.
    search_fields = ("event_id__exact", "interaction_id__exact", "conversation_id__exact", "message_id__exact")
    search_help_text = (
        "An exact event, interaction, conversation or message id. For a model or a product, use the filters."
    )
    date_hierarchy = "occurred_at"
    sortable_by = ("time",)  # the only order an index serves; any other sorts the whole table
    list_select_related = ("outlet", "agent")
    actions = ("export_csv",)
    fieldsets = (
        (None, {"fields": (
            "event_id", "occurred_at_in_zone", "created_at_in_zone", "outlet", "agent", "interaction", "ingest_batch_id",
        )}),
        ("What", {"fields": ("type", "model", "provider", "product", "voice", "api_key_label", "end_user_id")}),
        ("Amounts", {"fields": ("count_in_full", "unit", "credits_in_full", "cost_in_full", "price", "hold", "latency")}),
        ("Relations", {"fields": RELATION_IDS}),
        ("Meta", {"fields": ("meta_json",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    credits_column = amount_display("credits", "credits")
    cost_column = amount_display("cost_usd", "cost", description="cost")
    count_in_full = amount_display("count", "units", full=True)
    credits_in_full = amount_display("credits", "credits", full=True)
    cost_in_full = amount_display("cost_usd", "cost", full=True, description="cost")
    latency = amount_display("latency_ms", "units", unit="ms", description="latency")
    time = time_display("occurred_at", description="time")
    occurred_at_in_zone, created_at_in_zone = time_display("occurred_at"), time_display("created_at")

    @admin.display(description="count")
    def count_with_unit(self, record):
        return format_html('<span class="nowrap">{}</span> {}', display_amount(record.count, "units"), record.unit)

    @admin.display(description="interaction")
    def interaction(self, record):
        found = record.interaction_id and (
            Interaction.objects.filter(outlet_id=record.outlet_id, interaction_id=record.interaction_id)
            .values_list("pk", flat=True)
            .first()
        )
        if not found:
            return record.interaction_id or self.get_empty_value_display()
        url = reverse("admin:usage_interaction_change", args=[found])
        return format_html('<a href="{}">{}</a>', url, record.interaction_id)

    @admin.display(description="meta")
    def meta_json(self, record):
        return pretty_json(record.meta)

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        rows = queryset.values(*CSV_COLUMNS).iterator()
        return csv_response(dict_csv_lines(rows, CSV_COLUMNS, zone=timezone.get_current_timezone()), "usage-records")


@admin.register(Interaction)
class InteractionAdmin(OutletTimes, ViewOnlyMixin, BigTableMixin, admin.ModelAdmin):
    # Interactions change only through the API's upsert, which keeps their status moving forward.
    list_display = (
        "interaction_id", "outlet", "agent", "status", "sentiment", "channel", "started_at_in_zone", "duration",
        "message_count",
    )
    list_filter = (("started_at", DateRangeFilter), "outlet", "status", "sentiment", ChannelFilter)
    search_fields = ("interaction_id__exact", "end_user_id__exact")
    date_hierarchy = "started_at"
    list_select_related = ("outlet", "agent")
    fields = readonly_fields = (
        "interaction_id", "outlet", "agent", "channel", "status", "started_at_in_zone", "ended_at_in_zone",
        "duration_seconds", "sentiment", "end_user_id", "message_count", "metadata_json", "created_at_in_zone",
        "updated_at_in_zone",
    )
    started_at_in_zone, ended_at_in_zone = time_display("started_at"), time_display("ended_at")
    created_at_in_zone, updated_at_in_zone = time_display("created_at"), time_display("updated_at")

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, interaction):
        return clock_duration(interaction.duration_seconds)

    @admin.display(description="metadata")
    def metadata_json(self, interaction):
        return pretty_json(interaction.metadata)

    def render_change_form(self, request, context, obj=None, **kwargs):
        if obj is not None:
            # Records point at their interaction by (outlet, interaction_id), not by a foreign key: no inline.
            records = UsageRecord.objects.filter(outlet_id=obj.outlet_id, interaction_id=obj.interaction_id)
            query = urlencode({"outlet__id__exact": obj.outlet_id, "interaction_id": obj.interaction_id})
            context.update(
                usage_records=list(records.order_by("-occurred_at", "-id")[:RECORDS_ON_INTERACTION_PAGE]),
                usage_totals=selectors.interaction_usage_totals(outlet_id=obj.outlet_id, interaction_id=obj.interaction_id),
                usage_records_url=f"{reverse('admin:usage_usagerecord_changelist')}?{query}",
            )
        return super().render_change_form(request, context, obj=obj, **kwargs)
