from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.auth import request_actor
from config.api.parsers import DecimalJSONParser
from config.api.scoping import caller_outlet
from config.api.views import ApiListView
from config.errors import PayloadTooLargeError
from usage import selectors, services
from usage.models import UsageRecord

MAX_BATCH = 1000


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
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = UsageRecord
        fields = [
            "id", "event_id", "outlet_id", "agent_id", "interaction_id", "type", "model", "provider", "product",
            "voice", "api_key_label", "end_user_id", "count", "unit", "credits", "cost_usd", "latency_ms",
            "conversation_id", "message_id", "task_id", "contact_id", "blueprint_id", "bot_id", "dataset_id",
            "skillset_id", "ability_id", "meta", "ingest_batch_id", "occurred_at", "created_at", "updated_at",
        ]


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


class UsageRecordListView(ApiListView):
    """GET: the outlet's usage records. POST: ingest a batch (scope `ingest`)."""

    serializer_class = UsageRecordSerializer
    parser_classes = [DecimalJSONParser]
    write_scope = "ingest"
    cursor_fields = ("occurred_at", "id")
    date_field = "occurred_at"
    csv_filename = "usage-records"

    def scoped_queryset(self, outlet_id):
        return selectors.usage_record_list(outlet_id=outlet_id)

    @extend_schema(
        request=inline_serializer("UsageBatch", {"records": serializers.ListField(child=serializers.DictField())}),
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


class InteractionUpsertView(APIView):
    parser_classes = [DecimalJSONParser]
    write_scope = "ingest"

    @extend_schema(
        request=inline_serializer("InteractionBatch", {"interactions": serializers.ListField(child=serializers.DictField())}),
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
        return Response({"created": result.created, "updated": result.updated, "interaction_ids": result.interaction_ids})
