"""The API's doors to grants and the outlet pool: list, add and void grants; read the pool; allocate and reclaim."""

from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.inputs import StrictInput
from config.api.views import KnownQueryParametersMixin
from config.money import format_credits
from credits import pool, selectors, services, writeoffs
from credits.api import (
    IDEMPOTENCY_PARAMETER,
    GrantSerializer,
    GrantTermsInput,
    LedgerEntrySerializer,
    credit_amount,
    grant_terms,
    ledger_result_body,
    replay_headers,
)
from credits.auth import request_actor
from credits.filtersets import GrantFilterSet
from credits.scoping import ONE_OUTLET_PARAMETER, OUTLET_PARAMETER, ScopedListView, caller_outlet, caller_outlet_id


class GrantInput(GrantTermsInput):
    """A new grant on an agent's account (`agent_id`) or on the outlet's pool (`"pool": true`): exactly one."""

    agent_id = serializers.UUIDField(required=False, help_text="The agent's id; or give `pool` true. Exactly one is required.")
    pool = serializers.BooleanField(
        required=False, help_text="true: a grant on the caller's outlet pool (staff: with outlet_id); or give `agent_id`."
    )
    amount = credit_amount(help_text="Greater than 0.")
    reason = serializers.CharField(max_length=services.MAX_REASON_LENGTH, trim_whitespace=True)

    def validate(self, attrs):
        if ("agent_id" in attrs) == bool(attrs.get("pool")):
            message = 'Give exactly one of agent_id and "pool": true.'
            raise serializers.ValidationError({"agent_id": [message], "pool": [message]})
        return attrs


class VoidInput(StrictInput):
    """Why the grant's remaining credits are written off."""

    reason = serializers.CharField(max_length=services.MAX_REASON_LENGTH, trim_whitespace=True)


class TransferInput(StrictInput):
    """An amount to move between the agent and its outlet's pool."""

    agent_id = serializers.UUIDField()
    amount = credit_amount(help_text="Greater than 0, and at most what the giving side holds.")
    reason = serializers.CharField(max_length=services.MAX_REASON_LENGTH, trim_whitespace=True)


GRANT_OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Staff: the outlet, required for its pool (an agent is found in every outlet). An API key acts for its own.",
)


GRANT_RESULT = inline_serializer(
    "GrantResult",
    {
        "success": serializers.BooleanField(),
        "grant": GrantSerializer(),
        "entry": LedgerEntrySerializer(),
        "balance_before": credit_amount(),
        "balance": credit_amount(),
        "replayed": serializers.BooleanField(),
    },
)


class GrantListView(ScopedListView):
    """GET: grants, newest first (`agent_id`, or `pool=true` for the outlet pool). POST: a new grant (`credits:write`)."""

    read_permissions = ("credits.view_creditgrant",)
    write_scope = "credits:write"
    write_permissions = ("credits.change_creditaccount",)  # what the admin's Add credits asks
    serializer_class = GrantSerializer
    filterset_class = GrantFilterSet
    csv_filename = "grants"

    def scoped_queryset(self, outlet_id):
        return selectors.grant_list(outlet_id=outlet_id)

    @extend_schema(
        request=GrantInput,
        parameters=[GRANT_OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={201: GRANT_RESULT, 404: OpenApiResponse(description="No such agent (or outlet) for the caller.")},
    )
    def post(self, request):
        serializer = GrantInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "amount": data["amount"], "actor": request_actor(request), "reason": data["reason"],
            "idempotency_key": request.headers.get("Idempotency-Key"), "terms": grant_terms(data) or services.PURCHASE,
        }
        if data.get("pool"):
            result = services.pool_add(outlet=caller_outlet(request), **common)
        else:
            agent = selectors.agent_get(outlet_id=caller_outlet_id(request), agent_id=data["agent_id"])
            result = services.credits_add(agent=agent, **common)
        return Response(ledger_result_body(result, result.grant), status=201, headers=replay_headers(result.replayed))


class GrantVoidView(APIView):
    """Writes off what is left of an active grant with one VOID entry (`credits:write`); retries with the same
    `Idempotency-Key` apply once."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_creditaccount",)

    @extend_schema(
        request=VoidInput,
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The grant's id."),
            OUTLET_PARAMETER,
            IDEMPOTENCY_PARAMETER,
        ],
        responses={
            200: GRANT_RESULT,
            400: OpenApiResponse(description="A bad body, or a grant that is not active (`errors.grant`): nothing to void."),
            404: OpenApiResponse(description="No such grant in the caller's outlet."),
        },
    )
    def post(self, request, pk: int):
        serializer = VoidInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        outlet_id = caller_outlet_id(request)
        result = writeoffs.grant_void(
            grant_id=pk, outlet_id=outlet_id, actor=request_actor(request), reason=serializer.validated_data["reason"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        grant = selectors.grant_get(outlet_id=outlet_id, grant_id=pk)
        return Response(ledger_result_body(result, grant), headers=replay_headers(result.replayed))


class PoolView(KnownQueryParametersMixin, APIView):
    """The outlet's pool: its balance, what is available, and the grants it may still hand out, in draw-down order."""

    read_permissions = ("credits.view_creditaccount", "credits.view_creditgrant")

    @extend_schema(
        parameters=[ONE_OUTLET_PARAMETER],
        responses={
            200: inline_serializer(
                "Pool",
                {
                    "success": serializers.BooleanField(),
                    "outlet_id": serializers.UUIDField(),
                    "balance": credit_amount(),
                    "available": credit_amount(help_text="The balance less grants already past their expiry."),
                    "grants": GrantSerializer(many=True, help_text="The usable grants, in draw-down order."),
                },
            ),
            404: OpenApiResponse(description="No such outlet."),
        },
    )
    def get(self, request):
        account = selectors.pool_account_get(outlet_id=caller_outlet(request).pk)
        grants = selectors.grant_usable_list(account=account)
        return Response({
            "outlet_id": account.outlet_id,
            "balance": format_credits(account.balance),
            "available": format_credits(account.available),
            "grants": GrantSerializer(grants, many=True).data,
        })


TRANSFER_RESULT = inline_serializer(
    "TransferResult",
    {
        "success": serializers.BooleanField(),
        "agent_entry": LedgerEntrySerializer(help_text="The entry on the agent's account."),
        "pool_entry": LedgerEntrySerializer(help_text="The entry on the outlet's pool."),
        "balance": credit_amount(help_text="The agent's balance after."),
        "pool_balance": credit_amount(help_text="The pool's balance after."),
        "grants": GrantSerializer(many=True, help_text="The allocation grants opened on the receiving side."),
        "replayed": serializers.BooleanField(),
    },
)


class TransferView(APIView):
    """Moves credits between an agent and its outlet's pool in one transaction (`credits:write`)."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_creditaccount",)
    transfer: Callable[..., pool.TransferResult]  # the service: pool_allocate or pool_reclaim

    @extend_schema(
        request=TransferInput,
        parameters=[OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            200: TRANSFER_RESULT,
            400: OpenApiResponse(description="A bad body, or more than the giving side holds (`errors.amount`): nothing moved."),
            404: OpenApiResponse(description="No such agent in the caller's outlet."),
        },
    )
    def post(self, request):
        serializer = TransferInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        agent = selectors.agent_get(outlet_id=caller_outlet_id(request), agent_id=data["agent_id"])
        result = self.transfer(
            agent=agent, amount=data["amount"], actor=request_actor(request), reason=data["reason"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        receiving = result.agent_entry if result.agent_entry.amount > 0 else result.pool_entry
        return Response(
            {
                "agent_entry": LedgerEntrySerializer(result.agent_entry).data,
                "pool_entry": LedgerEntrySerializer(result.pool_entry).data,
                "balance": format_credits(result.agent_entry.balance_after),
                "pool_balance": format_credits(result.pool_entry.balance_after),
                "grants": GrantSerializer(selectors.grants_opened_by(entry=receiving), many=True).data,
                "replayed": result.replayed,
            },
            headers=replay_headers(result.replayed),
        )


class AllocateView(TransferView):
    """Moves credits from the outlet's pool to the agent: each pool grant drawn becomes an allocation grant that
    keeps its priority and expiry. More than the pool holds is a 400 that moves nothing."""

    transfer = staticmethod(pool.pool_allocate)


class ReclaimView(TransferView):
    """Moves credits the agent was allocated and has not used back to the outlet's pool. More than its unused
    allocations hold is a 400 that moves nothing."""

    transfer = staticmethod(pool.pool_reclaim)
