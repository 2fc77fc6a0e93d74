
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import fields
from config.api.views import KnownQueryParametersMixin
from config.errors import PayloadTooLargeError
from credits.auth import request_actor
from credits.scoping import WRITE_OUTLET_PARAMETER, ScopedListView, caller_outlet, caller_outlet_id
from usage import selectors, services
from usage.filtersets import META_PARAMETERS, InteractionFilterSet, UsageRecordFilterSet
from usage.models import Interaction, UsageRecord
from usage.schema import InteractionBatchInput, UsageBatchInput
from usage.validation import MAX_BATCH


def batch_items(data, key: str) -> list:
    """The items of a batch body: `{"<key>": [...]}` or a bare array; at most MAX_BATCH of them."""
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise serializers.ValidationError({key: [f"Send {{\"{key}\": [...]}} or a JSON array."]})
    if not items:
        raise serializers.ValidationError({key: ["The batch is empty."]})
    if len(items) > MAX_BATCH:
        raise PayloadTooLargeError(f"A batch holds at most {MAX_BATCH} {key}, not {len(items)}: split it.")
    return items


class UsageRecordSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(read_only=True)
    outlet_id = serializers.UUIDField(read_only=True)
    updated_at = serializers.DateTimeField(source="created_at", read_only=True, help_text="Equals created_at: records never change.")
    price_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The price book version that priced it.")
    hold_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The hold it captured.")

    class Meta:
        model = UsageRecord
        fields = [
            "id", "event_id", "outlet_id", "agent_id", "interaction_id", "type", "model", "provider", "product",
            "voice", "api_key_label", "end_user_id", "count", "unit", "credits", "cost_usd", "price_id", "hold_id",
            "latency_ms", "conversation_id", "message_id", "task_id", "contact_id", "blueprint_id", "bot_id", "dataset_id",
            "skillset_id", "ability_id", "meta", "ingest_batch_id", "occurred_at", "created_at", "updated_at",
        ]


class InteractionSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(read_only=True)
    outlet_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Interaction
        fields = [
            "interaction_id", "outlet_id", "agent_id", "channel", "status", "started_at", "ended_at",
            "duration_seconds", "sentiment", "end_user_id", "message_count", "metadata", "created_at", "updated_at",
        ]


class UsageTotalsSerializer(serializers.Serializer):
    unit = serializers.CharField(allow_null=True, help_text="The records' unit; null overall when they mix units.")
    records = serializers.IntegerField()
    # Sums of many records: as many digits as they need (one record's columns are bounded, their sum is not).
    count = fields.units(allow_null=True, help_text="Units summed; null when units differ.")
    credits = fields.credits()
    cost_usd = fields.cost()
    latency_ms_avg = serializers.FloatField(allow_null=True, help_text="Over the records that report a latency.")


class UsageTotalsByTypeSerializer(UsageTotalsSerializer):
    type = serializers.CharField()


class InteractionTotalsSerializer(serializers.Serializer):
    by_type = UsageTotalsByTypeSerializer(many=True)
    overall = UsageTotalsSerializer()


INGEST_RESULT = inline_serializer(
    "IngestResult",
    {
        "success": serializers.BooleanField(),
        "batch_id": serializers.UUIDField(),
        "accepted": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "ids": serializers.ListField(child=serializers.IntegerField()),
        "duplicate_event_ids": serializers.ListField(child=serializers.CharField()),
    },
)


@extend_schema_view(get=extend_schema(parameters=META_PARAMETERS))
class UsageRecordListView(ScopedListView):
    """GET: the outlet's usage records. POST: ingest a batch (scope `ingest`)."""

    serializer_class = UsageRecordSerializer
    filterset_class = UsageRecordFilterSet
    write_scope = "ingest"
    read_permissions = ("usage.view_usagerecord",)
    write_permissions = ("usage.add_usagerecord",)
    cursor_fields = ("occurred_at", "id")
    date_field = "occurred_at"
    csv_filename = "usage-records"

    def scoped_queryset(self, outlet_id):
        return selectors.usage_record_list(outlet_id=outlet_id)

    @extend_schema(
        request=UsageBatchInput,
        parameters=[WRITE_OUTLET_PARAMETER],
        responses={
            200: INGEST_RESULT,
            400: OpenApiResponse(description="Per-item errors in `errors.records`; nothing was stored."),
            413: OpenApiResponse(description="More than 1000 records."),
        },
    )
    def post(self, request):
        records = batch_items(request.data, "records")
        result = services.ingest_records(outlet=caller_outlet(request), records=records, actor=request_actor(request))
        return Response(
            {
                "batch_id": result.batch_id,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "ids": result.ids,
                "duplicate_event_ids": result.duplicate_event_ids,
            }
        )


class UsageRecordDetailView(KnownQueryParametersMixin, APIView):
    read_permissions = ("usage.view_usagerecord",)

    @extend_schema(
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The record's id.")
        ],
        responses={
            200: inline_serializer(
                "UsageRecordDetail", {"success": serializers.BooleanField(), "record": UsageRecordSerializer()}
            ),
            404: OpenApiResponse(description="No such record in the caller's outlet."),
        },
    )
    def get(self, request, pk: int):
        record = selectors.usage_record_get(outlet_id=caller_outlet_id(request), record_id=pk)
        return Response({"record": UsageRecordSerializer(record).data})


class InteractionListView(ScopedListView):
    """GET: the outlet's interactions. POST: upsert a batch by `interaction_id` (scope `ingest`)."""

    serializer_class = InteractionSerializer
    filterset_class = InteractionFilterSet
    write_scope = "ingest"
    read_permissions = ("usage.view_interaction",)
    write_permissions = ("usage.add_interaction", "usage.change_interaction")  # an upsert
    cursor_fields = ("started_at", "id")
    date_field = "started_at"
    csv_filename = "interactions"

    def scoped_queryset(self, outlet_id):
        return selectors.interaction_list(outlet_id=outlet_id)

    @extend_schema(
        request=InteractionBatchInput,
        parameters=[WRITE_OUTLET_PARAMETER],
        responses={
            200: inline_serializer(
                "InteractionUpsertResult",
                {
                    "success": serializers.BooleanField(),
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "interaction_ids": serializers.ListField(child=serializers.CharField()),
                },
            ),
            400: OpenApiResponse(description="Per-item errors in `errors.interactions`; nothing was stored."),
            413: OpenApiResponse(description="More than 1000 interactions."),
        },
    )
    def post(self, request):
        items = batch_items(request.data, "interactions")
        result = services.upsert_interactions(outlet=caller_outlet(request), interactions=items)
        return Response(
            {"created": result.created, "updated": result.updated, "interaction_ids": result.interaction_ids}
        )


class InteractionDetailView(KnownQueryParametersMixin, APIView):
    """One interaction with every usage record of it (oldest first) and its totals by type."""

    read_permissions = ("usage.view_interaction", "usage.view_usagerecord")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "interaction_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The platform's id."
            )
        ],
        responses={
            200: inline_serializer(
                "InteractionDrillDown",
                {
                    "success": serializers.BooleanField(),
                    "interaction": InteractionSerializer(),
                    "records": UsageRecordSerializer(many=True),
                    "totals": InteractionTotalsSerializer(),
                },
            ),
            404: OpenApiResponse(description="No such interaction in the caller's outlet."),
        },
    )
    def get(self, request, interaction_id: str):
        interaction = selectors.interaction_get(outlet_id=caller_outlet_id(request), interaction_id=interaction_id)
        scope = {"outlet_id": interaction.outlet_id, "interaction_id": interaction.interaction_id}
        records = selectors.interaction_usage_records(**scope)
        totals = selectors.interaction_usage_totals(**scope)
        return Response(
            {
                "interaction": InteractionSerializer(interaction).data,
                "records": UsageRecordSerializer(records, many=True).data,
                "totals": InteractionTotalsSerializer(totals).data,
            }
        )
