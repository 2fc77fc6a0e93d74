"""The API's doors to spending in real time: check before a call, hold at answer, extend the lease, release; and the
controls (enforcement, overdraft, auto top-up) an agent has of its own."""

from uuid import UUID

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import CaseInsensitiveChoiceField
from config.api.inputs import StrictInput, shown_name
from config.api.views import KnownQueryParametersMixin
from config.money import CREDIT_DIGITS, CREDIT_PLACES, format_credits
from credits import selectors
from credits.agents import agent_controls_update
from credits.api import (
    IDEMPOTENCY_PARAMETER,
    AgentSerializer,
    StatusNowField,
    TopUpRuleSerializer,
    credit_amount,
    replay_headers,
)
from credits.auth import request_actor
from credits.controls import Enforcement
from credits.filtersets import HoldFilterSet
from credits.holds.models import CreditHold
from credits.holds.selectors import hold_list, spend_check
from credits.holds.services import (
    DEFAULT_TTL_SECONDS,
    MAX_REFERENCE_LENGTH,
    MAX_TTL_SECONDS,
    HoldResult,
    hold_extend,
    hold_place,
    hold_release,
)
from credits.models import ZERO
from credits.scoping import OUTLET_PARAMETER, ScopedListView, caller_outlet_id

HOLD_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The hold's id.")
AGENT_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The agent's id.")
REFUSED = OpenApiResponse(
    description=(
        "`insufficient_credits`: under `block`, reserving `amount` would take available credit below the "
        "agent's -overdraft_limit. The body also carries `available` and `requested` (decimal strings); nothing was "
        "reserved."
    )
)
CONFLICT = "`idempotency_conflict`: the `Idempotency-Key` was used with a different request; or `hold_conflict`: "


def path_uuid(raw: str) -> UUID:
    """The id in the URL; not a UUID is a 400 naming it (a 404 would say no such object, which is not the mistake)."""
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationError({"id": [f"'{shown_name(raw)}' is not a valid UUID."]}) from None


def valid(input_class: type[serializers.Serializer], data) -> dict:
    serializer = input_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class HeldField(serializers.DecimalField):
    """What the hold reserves now: its uncaptured rest while live, else nothing."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=CREDIT_DIGITS, decimal_places=CREDIT_PLACES, source="*", read_only=True, **kwargs)

    def to_representation(self, hold):
        return super().to_representation(hold.uncaptured if hold.is_live(timezone.now()) else ZERO)


class HoldSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(source="account_id", read_only=True)
    outlet_id = serializers.UUIDField(read_only=True)
    held = HeldField(help_text="What it reserves now: amount less captured while live, else 0.")
    status = StatusNowField(
        choices=CreditHold.Status.choices, live=CreditHold.is_live,
        help_text="As of now: a hold past its expiry is `expired` at once.",
    )
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = CreditHold
        fields = [
            "id", "agent_id", "outlet_id", "amount", "captured", "held", "status", "reference", "ttl_seconds", "expires_at",
            "ended_at", "actor", "created_at", "updated_at",
        ]
        read_only_fields = fields


def ttl_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=1, max_value=MAX_TTL_SECONDS, help_text=help_text)


class HoldPlaceInput(StrictInput):
    """Credits to reserve on an agent's account for a call."""

    agent_id = serializers.UUIDField()
    amount = credit_amount(help_text="Greater than 0: what the call is expected to spend before its first extension.")
    ttl_seconds = ttl_field(f"How long the hold lives unless extended: 1 to {MAX_TTL_SECONDS}, default {DEFAULT_TTL_SECONDS}.")
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_REFERENCE_LENGTH,
        help_text="The call's interaction id: its usage captures the hold. One live hold per reference and agent.",
    )


class HoldExtendInput(StrictInput):
    """The lease: more credits and/or a new lifetime for a live hold."""

    amount = credit_amount(required=False, help_text="0 or more to reserve on top (default 0: only renew).")
    ttl_seconds = ttl_field(f"The hold now lives this long from now: 1 to {MAX_TTL_SECONDS}; default its last ttl.")


class HoldReleaseInput(StrictInput):
    """Nothing: `{}` or no body."""


# drf-spectacular leaves out a body without fields: the empty object, said outright.
RELEASE_BODY = {"application/json": {"type": "object", "additionalProperties": False, "description": "Empty: `{}`, or no body."}}


HOLD_RESULT = inline_serializer(
    "HoldResult",
    {
        "success": serializers.BooleanField(),
        "hold": HoldSerializer(),
        "available": credit_amount(help_text="The agent's available credit after the request."),
        "replayed": serializers.BooleanField(),
    },
)


def hold_answer(result: HoldResult, *, status: int = 200) -> Response:
    """The hold and the agent's available credit; a replay answers 200 with `Idempotent-Replayed`."""
    body = {"hold": HoldSerializer(result.hold).data, "available": format_credits(result.available), "replayed": result.replayed}
    return Response(body, status=200 if result.replayed else status, headers=replay_headers(result.replayed))


class HoldListView(ScopedListView):
    """GET: holds, newest first. POST: reserve credits for a call (`credits:write`); retries with the same
    `Idempotency-Key` reserve once."""

    read_permissions = ("credits.view_credithold",)
    write_scope = "credits:write"
    write_permissions = ("credits.change_credithold",)
    serializer_class = HoldSerializer
    filterset_class = HoldFilterSet
    csv_filename = "holds"

    def scoped_queryset(self, outlet_id):
        return hold_list(outlet_id=outlet_id)

    @extend_schema(
        request=HoldPlaceInput,
        parameters=[OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            201: HOLD_RESULT,
            200: OpenApiResponse(HOLD_RESULT, description="A replay of an earlier request with the same Idempotency-Key."),
            402: REFUSED,
            404: OpenApiResponse(description="No such agent for the caller."),
            409: OpenApiResponse(description=CONFLICT + "a live hold already has this reference (extend it)."),
        },
    )
    def post(self, request):
        data = valid(HoldPlaceInput, request.data)
        agent = selectors.agent_get(outlet_id=caller_outlet_id(request), agent_id=data["agent_id"])
        result = hold_place(
            agent=agent, amount=data["amount"], actor=request_actor(request), ttl_seconds=data.get("ttl_seconds"),
            reference=data.get("reference", ""), idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return hold_answer(result, status=201)


class HoldExtendView(APIView):
    """Extends a live hold (`credits:write`): reserves `amount` more and renews it for `ttl_seconds` from now.
    Under `block` an extension past the overdraft limit is a 402 and the hold stays as it was: wind the call down."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_credithold",)

    @extend_schema(
        request=HoldExtendInput,
        parameters=[HOLD_ID_PARAMETER, OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            200: HOLD_RESULT,
            402: REFUSED,
            404: OpenApiResponse(description="No such hold in the caller's outlet."),
            409: OpenApiResponse(description=CONFLICT + "the hold has ended (released, captured or expired): place a new one."),
        },
    )
    def post(self, request, pk: str):
        hold_id = path_uuid(pk)
        data = valid(HoldExtendInput, request.data)
        result = hold_extend(
            outlet_id=caller_outlet_id(request), hold_id=hold_id, actor=request_actor(request),
            amount=data.get("amount", ZERO), ttl_seconds=data.get("ttl_seconds"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return hold_answer(result)


class HoldReleaseView(APIView):
    """Releases a hold (`credits:write`): what usage has not captured is available again. Releasing a hold that
    already ended changes nothing and answers it as it is."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_credithold",)

    @extend_schema(
        request=RELEASE_BODY,
        parameters=[HOLD_ID_PARAMETER, OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={200: HOLD_RESULT, 404: OpenApiResponse(description="No such hold in the caller's outlet.")},
    )
    def post(self, request, pk: str):
        hold_id = path_uuid(pk)
        valid(HoldReleaseInput, request.data)
        result = hold_release(
            outlet_id=caller_outlet_id(request), hold_id=hold_id, actor=request_actor(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return hold_answer(result)


class CreditCheckQuery(serializers.Serializer):
    agent_id = serializers.UUIDField(help_text="The agent about to spend.")
    amount = credit_amount(min_value=ZERO, help_text="What it would reserve: 0 or more.")


class CreditCheckView(KnownQueryParametersMixin, APIView):
    """Whether a hold of `amount` for the agent would be granted now, and what it has; reserves nothing."""

    read_permissions = ("credits.view_creditaccount",)

    def query_parameters(self) -> set[str]:
        return set(CreditCheckQuery().fields)

    @extend_schema(
        parameters=[CreditCheckQuery, OUTLET_PARAMETER],
        responses={
            200: inline_serializer(
                "CreditCheck",
                {
                    "success": serializers.BooleanField(),
                    "allowed": serializers.BooleanField(help_text="A hold of `amount` would be granted now."),
                    "available": credit_amount(help_text="The balance less held and less expired grants not written off."),
                    "balance": credit_amount(),
                    "held": credit_amount(help_text="What live holds reserve and usage has not captured."),
                },
            ),
            404: OpenApiResponse(description="No such agent for the caller."),
        },
    )
    def get(self, request):
        query = valid(CreditCheckQuery, request.query_params)
        check = spend_check(outlet_id=caller_outlet_id(request), agent_id=query["agent_id"], amount=query["amount"])
        return Response({
            "allowed": check.allowed,
            "available": format_credits(check.available),
            "balance": format_credits(check.balance),
            "held": format_credits(check.held),
        })


class TopUpRuleInput(StrictInput, TopUpRuleSerializer):
    """A whole auto top-up rule: all four fields."""


class AgentControlsInput(StrictInput):
    """An agent's own controls: each field optional; null resets it, so the outlet's default applies."""

    low_balance_threshold = credit_amount(required=False, allow_null=True, help_text="0 or more; null: the outlet's.")
    enforcement = CaseInsensitiveChoiceField(
        choices=Enforcement.choices, required=False, allow_null=True,
        help_text="`off`: holds always granted; `block`: refused past the overdraft limit. null: the outlet's.",
    )
    overdraft_limit = credit_amount(
        required=False, allow_null=True, help_text="0 or more: how far below 0 holds may take available credit. null: the outlet's."
    )
    auto_top_up = TopUpRuleInput(
        required=False, allow_null=True, help_text="The agent's own rule, whole; null: the outlet's rule applies."
    )


class AgentControlsView(APIView):
    """Changes an agent's own spend controls (`credits:write`); answers the agent with its own and effective ones."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_agent",)

    @extend_schema(
        request=AgentControlsInput,
        parameters=[AGENT_ID_PARAMETER, OUTLET_PARAMETER],
        responses={
            200: inline_serializer("AgentResult", {"success": serializers.BooleanField(), "agent": AgentSerializer()}),
            404: OpenApiResponse(description="No such agent for the caller."),
        },
    )
    def patch(self, request, pk: str):
        agent_id = path_uuid(pk)
        changes = valid(AgentControlsInput, request.data)
        agent = selectors.agent_get(outlet_id=caller_outlet_id(request), agent_id=agent_id)
        agent = agent_controls_update(agent=agent, changes=changes)
        return Response({"agent": AgentSerializer(agent).data})
