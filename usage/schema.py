"""The ingest bodies as the OpenAPI schema shows them: serializers that only describe, never validate.

Ingest parses bodies by hand (`usage.validation`, for speed); these are built from its constants (lengths,
places, units, the field sets) so that the documented body cannot drift from the one accepted.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from credits.models import Agent
from usage.models import ID_LENGTH, TYPE_PATTERN
from usage.validation import (
    AMOUNT_FIELDS,
    DURATION_FIELD,
    EARLIEST,
    FUTURE_TOLERANCE,
    INTERACTION_TEXT_FIELDS,
    MAX_BATCH,
    MAX_META_BYTES,
    SENTIMENTS,
    STATUSES,
    TEXT_FIELDS,
    UNITS,
)

LARGEST_INTEGER = 2**31 - 1  # a PostgreSQL integer column
PRICED = dict.fromkeys(("credits", "cost_usd"), "priced by the price book (an item error with code price_not_found when it has no price)")
ONE_AGENT = "Give the agent as `agent_id` or `agent_external_id`: exactly one."


class AmountInput(serializers.DecimalField):
    """A non-negative amount with bounded digits: documented as an exact decimal string (a JSON number is accepted)."""

    def __init__(self, places: int, digits: int, *, absent: str, **kwargs):
        help_text = f"A decimal string (a JSON number is accepted too). Absent: {absent}."
        super().__init__(max_digits=places + digits, decimal_places=places, min_value=0, help_text=help_text, **kwargs)


class AmountInputScheme(OpenApiSerializerFieldExtension):
    target_class = AmountInput

    def map_serializer_field(self, auto_schema, direction):
        digits, places = self.target.max_whole_digits, self.target.decimal_places
        return {
            "type": "string",
            "format": "decimal",
            "pattern": rf"^\d{{1,{digits}}}(?:\.\d{{1,{places}}})?$",
            "example": "0." + "0" * (places - 1) + "1",
        }


def _agent_reference_fields() -> dict[str, serializers.Field]:
    return {
        "agent_id": serializers.UUIDField(required=False, allow_null=True, help_text=f"The agent's id. {ONE_AGENT}"),
        "agent_external_id": serializers.CharField(
            required=False, allow_null=True, min_length=1, max_length=Agent._meta.get_field("external_id").max_length,
            help_text=f"The platform's id for the agent. {ONE_AGENT}",
        ),
    }


def _moment(note: str = "", **kwargs) -> serializers.DateTimeField:
    minutes = int(FUTURE_TOLERANCE.total_seconds()) // 60
    return serializers.DateTimeField(
        help_text=f"ISO 8601 with its offset (Z or +hh:mm); from {EARLIEST.year}, at most {minutes} minutes ahead.{note}",
        **kwargs,
    )


def _json_object(name: str) -> serializers.DictField:
    return serializers.DictField(
        required=False, allow_null=True, help_text=f"Free-form JSON object ({name}), at most {MAX_META_BYTES} bytes encoded."
    )


def _record_fields() -> dict[str, serializers.Field]:
    return {
        "event_id": serializers.CharField(
            min_length=1, max_length=ID_LENGTH, help_text="The platform's idempotency key: a repeat is a duplicate."
        ),
        **_agent_reference_fields(),
        "type": serializers.RegexField(TYPE_PATTERN, help_text="An upper-case slug: CONVERSATION, TTS, TELEPHONY..."),
        "unit": serializers.ChoiceField(choices=sorted(UNITS)),
        **{
            name: serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=length)
            for name, length in TEXT_FIELDS.items()
        },
        **{
            name: AmountInput(places, digits, absent=PRICED.get(name, "0"), required=False, allow_null=True)
            for name, places, digits in AMOUNT_FIELDS
        },
        "latency_ms": serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=LARGEST_INTEGER),
        "meta": _json_object("filterable with `meta[key]=value`"),
        "occurred_at": _moment(),
        "hold_id": serializers.UUIDField(
            required=False, allow_null=True,
            help_text="The hold the record's credits capture (its agent's). Left out, the agent's live hold whose "
            "reference is the record's interaction_id captures it, if there is one.",
        ),
    }


def _interaction_fields() -> dict[str, serializers.Field]:
    new_only = " Required for a new interaction; an update may leave it out."
    return {
        "interaction_id": serializers.CharField(
            min_length=1, max_length=ID_LENGTH, help_text="The platform's id: an upsert key."
        ),
        **_agent_reference_fields(),
        **{
            name: serializers.CharField(required=False, allow_blank=True, max_length=length)
            for name, length in INTERACTION_TEXT_FIELDS.items()
        },
        "status": serializers.ChoiceField(choices=sorted(STATUSES), required=False),
        "sentiment": serializers.ChoiceField(choices=sorted(SENTIMENTS), required=False),
        "started_at": _moment(new_only, required=False),
        "ended_at": _moment(required=False, allow_null=True),
        "duration_seconds": AmountInput(*DURATION_FIELD[1:], absent="unchanged (0 when new)", required=False),
        "message_count": serializers.IntegerField(required=False, min_value=0, max_value=LARGEST_INTEGER),
        "metadata": _json_object("the interaction's"),
    }


UsageRecordInput = type("UsageRecordInput", (serializers.Serializer,), _record_fields())
InteractionInput = type("InteractionInput", (serializers.Serializer,), _interaction_fields())


def batch_body(name: str, key: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """`{"<key>": [item, ...]}`: 1 to MAX_BATCH items (a bare JSON array of them is accepted too)."""
    items = serializers.ListField(
        child=item(), min_length=1, max_length=MAX_BATCH,
        help_text=f"1 to {MAX_BATCH} items, all valid or none stored; a bare JSON array of them is accepted too.",
    )
    return type(name, (serializers.Serializer,), {key: items})


UsageBatchInput = batch_body("UsageBatchInput", "records", UsageRecordInput)
InteractionBatchInput = batch_body("InteractionBatchInput", "interactions", InteractionInput)
