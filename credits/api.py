from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import AwareDateTimeField, CaseInsensitiveChoiceField
from config.api.inputs import StrictInput
from config.money import CREDIT_DIGITS, CREDIT_PLACES, CREDIT_QUANTUM, format_credits
from credits import selectors, services
from credits.auth import ApiPrincipal, mint_access_token, request_actor
from credits.controls import MAX_TOP_UPS_PER_DAY, Enforcement, TopUpSource
from credits.filtersets import AgentFilterSet, BalanceFilterSet, LedgerEntryFilterSet
from credits.grants import MANUAL_SOURCES, MAX_PRIORITY, GrantTerms
from credits.holds.policy import spend_policy, top_up_rule
from credits.models import Agent, CreditAccount, CreditGrant, CreditLedgerEntry, Outlet
from credits.scoping import OUTLET_PARAMETER, ScopedListView, caller_outlet, caller_outlet_id

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retrying with the same key and body returns the first result; another body gives 409.",
)
GRANT_TERMS = ("expires_at", "priority", "source")


def credit_amount(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=CREDIT_DIGITS, decimal_places=CREDIT_PLACES, **kwargs)


class OutletSerializer(serializers.ModelSerializer):
    class Meta:
        model = Outlet
        fields = ["id", "name", "timezone", "currency", "billing_cycle_day", "low_balance_threshold", "is_active", "created_at"]


class TopUpRuleSerializer(serializers.Serializer):
    threshold = credit_amount(min_value=0, help_text="A posting that takes the balance below this tops it up (once per crossing).")
    amount = credit_amount(min_value=CREDIT_QUANTUM, help_text="Credits each top-up adds; greater than 0.")
    source = CaseInsensitiveChoiceField(
        choices=TopUpSource.choices, help_text="`pool`: allocate from the outlet pool; `external`: ask the platform by webhook."
    )
    max_per_day = serializers.IntegerField(
        min_value=0, max_value=MAX_TOP_UPS_PER_DAY, help_text="Top-ups per outlet-local day at most; 0 turns the rule off."
    )


class SpendPolicySerializer(serializers.Serializer):
    enforcement = serializers.ChoiceField(choices=Enforcement.choices)
    overdraft_limit = credit_amount()
    auto_top_up = TopUpRuleSerializer(source="top_up", allow_null=True)


class AgentSerializer(serializers.ModelSerializer):
    outlet_id = serializers.UUIDField(read_only=True)
    threshold = credit_amount(source="effective_threshold", read_only=True, help_text="The agent's threshold, else the outlet's.")
    balance = credit_amount(source="account.balance", read_only=True)
    enforcement = serializers.ChoiceField(
        choices=Enforcement.choices, read_only=True, allow_null=True, help_text="The agent's own; null: the outlet's applies."
    )
    overdraft_limit = credit_amount(read_only=True, allow_null=True, help_text="The agent's own; null: the outlet's applies.")
    auto_top_up = serializers.SerializerMethodField(help_text="The agent's own rule; null: the outlet's applies.")
    effective = serializers.SerializerMethodField(
        help_text="What applies: the agent's own controls where set, else its outlet's, else off, 0 and no rule."
    )

    class Meta:
        model = Agent
        fields = [
            "id", "outlet_id", "name", "external_id", "low_balance_threshold", "threshold", "balance", "enforcement",
            "overdraft_limit", "auto_top_up", "effective", "is_active", "created_at",
        ]

    @extend_schema_field(TopUpRuleSerializer(allow_null=True))
    def get_auto_top_up(self, agent: Agent) -> dict | None:
        rule = top_up_rule(agent)
        return None if rule is None else TopUpRuleSerializer(rule).data

    @extend_schema_field(SpendPolicySerializer)
    def get_effective(self, agent: Agent) -> dict:
        return SpendPolicySerializer(spend_policy(agent, agent.outlet)).data


class NextExpirySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="next_expiry_at", help_text="When the soonest usable grant expires.")
    amount = credit_amount(source="next_expiry_amount", help_text="What the grants expiring then still hold.")

    def to_representation(self, account):
        return None if account.next_expiry_at is None else super().to_representation(account)


class BalanceSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(read_only=True)
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    external_id = serializers.CharField(source="agent.external_id", read_only=True)
    outlet_id = serializers.UUIDField(read_only=True)
    available = credit_amount(
        read_only=True,
        help_text="The balance less what live holds reserve and less grants already past their expiry (written off or not yet).",
    )
    held = credit_amount(read_only=True, help_text="What the agent's live holds reserve and usage has not captured yet.")
    threshold = credit_amount(read_only=True)
    low = serializers.BooleanField(source="is_low", read_only=True, help_text="Available below threshold.")
    next_expiry = NextExpirySerializer(
        source="*", read_only=True, allow_null=True, help_text="The soonest expiry of a usable grant; null when none expires."
    )

    class Meta:
        model = CreditAccount
        fields = [
            "agent_id", "agent_name", "external_id", "outlet_id", "balance", "available", "held", "debt", "next_expiry",
            "threshold", "low", "updated_at",
        ]
        extra_kwargs = {"debt": {"help_text": "Consumption no grant could pay; the next grant pays it first."}}


class BalanceTotalsSerializer(serializers.Serializer):
    balance = credit_amount(help_text="Summed over every matching agent, not only this page.")
    held = credit_amount(help_text="What live holds reserve, summed over every matching agent.")
    agents = serializers.IntegerField(help_text="Matching agents.")
    low = serializers.IntegerField(help_text="Matching agents whose balance is below their threshold.")


@extend_schema_serializer(many=False)  # the page itself: not a list to paginate again
class BalancePageSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    items = BalanceSerializer(many=True)
    cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page; null on the last.")
    totals = BalanceTotalsSerializer()


class LedgerEntrySerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(source="account.agent_id", read_only=True, allow_null=True, help_text="Null for the pool.")
    pool = serializers.BooleanField(source="account.is_pool", read_only=True, help_text="An entry of the outlet's pool.")
    outlet_id = serializers.UUIDField(read_only=True)
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = CreditLedgerEntry
        fields = [
            "id", "agent_id", "pool", "outlet_id", "kind", "amount", "balance_after", "actor", "reason",
            "idempotency_key", "ingest_batch_id", "effective_at", "created_at",
        ]


class StatusNowField(serializers.ChoiceField):
    """A grant's or a hold's status as of now: an active one past its expiry reads `expired` before the task that
    writes it off or marks it has run (`live(row, now)`: whether it still counts)."""

    def __init__(self, *, choices, live: Callable[[Any, datetime], bool], **kwargs):
        super().__init__(choices=choices, source="*", read_only=True, **kwargs)
        self.live = live

    def to_representation(self, row):
        if row.status == "active" and not self.live(row, timezone.now()):
            return "expired"
        return row.status


class GrantSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(source="account.agent_id", read_only=True, allow_null=True, help_text="Null for the pool.")
    pool = serializers.BooleanField(source="account.is_pool", read_only=True, help_text="A grant of the outlet's pool.")
    outlet_id = serializers.UUIDField(read_only=True)
    status = StatusNowField(
        choices=CreditGrant.Status.choices, live=CreditGrant.is_usable,
        help_text="As of now: a grant past its expiry is `expired` at once.",
    )
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = CreditGrant
        fields = [
            "id", "agent_id", "pool", "outlet_id", "source", "amount", "remaining", "priority", "effective_at",
            "expires_at", "status", "reason", "actor", "metadata", "created_at",
        ]
        read_only_fields = fields


class GrantTermsInput(StrictInput):
    """The terms of a new grant, as the bodies that open one take them."""

    expires_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When the grant stops counting, with its offset; in the future. Default: never."
    )
    priority = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_PRIORITY, help_text="Lower is drawn first. Default 100."
    )
    source = CaseInsensitiveChoiceField(
        choices=MANUAL_SOURCES, required=False, help_text="Where the credits came from. Default purchase."
    )


def grant_terms(data: dict) -> GrantTerms | None:
    """The terms a body gives (the defaults for those it leaves out), or None when it gives none."""
    given = {name: data[name] for name in GRANT_TERMS if data.get(name) is not None}
    return GrantTerms(**given) if given else None


class CreditOperationInput(GrantTermsInput):
    """Add to, set or clear one agent's balance: the agent by `agent_id` or `agent_external_id`, exactly one.
    `expires_at`, `priority` and `source` go with mode add only."""

    agent_id = serializers.UUIDField(
        required=False, help_text="The agent's id; or give `agent_external_id`. Exactly one is required."
    )
    agent_external_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=Agent._meta.get_field("external_id").max_length,
        help_text=(
            "The platform's id for the agent in the caller's outlet (staff: with outlet_id), as at ingest; "
            "or give `agent_id`. Exactly one is required."
        ),
    )
    mode = CaseInsensitiveChoiceField(choices=["add", "set", "clear"])
    amount = credit_amount(required=False, allow_null=True, help_text="Required for add (> 0) and set (>= 0).")
    reason = serializers.CharField(max_length=services.MAX_REASON_LENGTH, trim_whitespace=True)
    effective_at = AwareDateTimeField(
        required=False,
        help_text=(
            "When the change took effect (e.g. when a payment was received), with its offset; now or earlier, "
            "default now. The entry is still posted now (`created_at`)."
        ),
    )

    def validate(self, attrs):
        if ("agent_id" in attrs) == ("agent_external_id" in attrs):
            message = "Give exactly one of agent_id and agent_external_id."
            raise serializers.ValidationError({"agent_id": [message], "agent_external_id": [message]})
        if attrs["mode"] != "clear" and attrs.get("amount") is None:
            raise serializers.ValidationError({"amount": [f"Required for mode '{attrs['mode']}'."]})
        misplaced = [name for name in GRANT_TERMS if attrs.get(name) is not None and attrs["mode"] != "add"]
        if misplaced:
            message = f"Only mode add opens a grant: not with mode '{attrs['mode']}'."
            raise serializers.ValidationError({name: [message] for name in misplaced})
        return attrs


class OutletListView(ScopedListView):
    read_permissions = ("credits.view_outlet",)
    serializer_class = OutletSerializer
    csv_filename = "outlets"

    def scoped_queryset(self, outlet_id):
        return selectors.outlet_list(outlet_id=outlet_id)


class AgentListView(ScopedListView):
    read_permissions = ("credits.view_agent",)
    serializer_class = AgentSerializer
    filterset_class = AgentFilterSet
    csv_filename = "agents"

    def scoped_queryset(self, outlet_id):
        return selectors.agent_list(outlet_id=outlet_id)


@extend_schema_view(get=extend_schema(responses=BalancePageSerializer))
class BalanceListView(ScopedListView):
    read_permissions = ("credits.view_creditaccount",)
    serializer_class = BalanceSerializer
    filterset_class = BalanceFilterSet
    cursor_fields = ("created_at", "agent_id")
    csv_filename = "balances"

    def scoped_queryset(self, outlet_id):
        return selectors.balance_list(outlet_id=outlet_id)

    def extra_payload(self, queryset) -> dict:
        totals = selectors.balance_totals(queryset)
        return {"totals": {**totals, "balance": format_credits(totals["balance"]), "held": format_credits(totals["held"])}}


class LedgerEntryListView(ScopedListView):
    read_permissions = ("credits.view_creditledgerentry",)
    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilterSet
    # When the changes took effect, as the history reads them; balance_after follows posting (id) order.
    cursor_fields = ("effective_at", "id")
    date_field = "effective_at"
    csv_filename = "ledger"

    def scoped_queryset(self, outlet_id):
        return selectors.ledger_entry_list(outlet_id=outlet_id)


class CreditOperationView(APIView):
    """Add to, set or clear an agent's balance; retries with the same `Idempotency-Key` apply once."""

    write_scope = "credits:write"
    write_permissions = ("credits.change_creditaccount",)  # what the admin's Add / Set / Clear ask

    @extend_schema(
        request=CreditOperationInput,
        parameters=[OUTLET_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            200: inline_serializer(
                "CreditOperationResult",
                {
                    "success": serializers.BooleanField(),
                    "entry": LedgerEntrySerializer(),
                    "grant": GrantSerializer(allow_null=True, help_text="The grant the change opened (an add, a raise); else null."),
                    "balance_before": credit_amount(),
                    "balance": credit_amount(),
                    "replayed": serializers.BooleanField(),
                },
            ),
            404: OpenApiResponse(description="No such agent in the caller's outlet."),
        },
    )
    def post(self, request):
        serializer = CreditOperationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        agent = operation_agent(request, data)
        result = services.credits_apply(
            agent=agent,
            kind=data["mode"].upper(),
            amount=data.get("amount"),
            actor=request_actor(request),
            reason=data["reason"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            effective_at=data.get("effective_at"),
            terms=grant_terms(data),
        )
        return Response(ledger_result_body(result, result.grant), headers=replay_headers(result.replayed))


def ledger_result_body(result: services.LedgerResult, grant: CreditGrant | None) -> dict:
    """An entry posted on one account, the grant it opened or wrote off (or null), and the balance either side of it."""
    return {
        "entry": LedgerEntrySerializer(result.entry).data,
        "grant": None if grant is None else GrantSerializer(grant).data,
        "balance_before": format_credits(result.balance_before),
        "balance": format_credits(result.balance_after),
        "replayed": result.replayed,
    }


def replay_headers(replayed: bool) -> dict | None:
    return {"Idempotent-Replayed": "true"} if replayed else None


def operation_agent(request, data: dict) -> Agent:
    """The agent an operation names: by id within the caller's scope, or by external id within its one outlet."""
    if "agent_id" in data:
        return selectors.agent_get(outlet_id=caller_outlet_id(request), agent_id=data["agent_id"])
    return selectors.agent_get_by_external_id(outlet_id=caller_outlet(request).pk, external_id=data["agent_external_id"])


class AccessTokenView(APIView):
    """Exchange the API key in `Authorization: Bearer` for a short-lived JWT acting for the same outlet."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "AccessToken",
                {
                    "success": serializers.BooleanField(),
                    "access_token": serializers.CharField(),
                    "token_type": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request):
        principal = request.user
        if not isinstance(principal, ApiPrincipal) or principal.via_token:
            raise PermissionDenied("Only an API key can be exchanged for a token.")
        token = mint_access_token(principal.api_key)
        return Response(
            {"access_token": str(token), "token_type": "Bearer", "expires_in": int(token.lifetime.total_seconds())}
        )
