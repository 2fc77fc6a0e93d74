from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from config.api.fields import AwareDateTimeField, CaseInsensitiveChoiceField
from config.api.inputs import StrictInput
from config.money import COUNT_PLACES, quantum
from credits.auth import request_actor
from credits.prices import selectors, services
from credits.prices.filtersets import PriceFilterSet
from credits.prices.models import TYPE_PATTERN, Price
from credits.scoping import WRITE_OUTLET_PARAMETER, ScopedListView, caller_outlet


class PriceSerializer(serializers.ModelSerializer):
    outlet_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="null: the platform default.")

    class Meta:
        model = Price
        fields = [
            "id", "outlet_id", "type", "model", "unit", "credits_per_unit", "cost_usd_per_unit", "increment",
            "minimum", "effective_from", "created_at", "created_by",
        ]


def per_unit(name: str, **kwargs) -> serializers.DecimalField:
    """A decimal input with its column's digits and places, 0 or more unless told."""
    column = Price._meta.get_field(name)
    kwargs.setdefault("min_value", Decimal(0))
    return serializers.DecimalField(max_digits=column.max_digits, decimal_places=column.decimal_places, **kwargs)


class PriceInput(StrictInput):
    """A new version; a later `effective_from` for the same (outlet, type, model, unit) supersedes the earlier."""

    default = serializers.BooleanField(
        default=False, help_text="Staff only: a platform default (no outlet) rather than the outlet's own price."
    )
    type = serializers.RegexField(TYPE_PATTERN, max_length=32, help_text="An upper-case slug, as usage types.")
    model = serializers.CharField(max_length=128, required=False, allow_blank=True, default="", help_text="Empty: any model.")
    unit = CaseInsensitiveChoiceField(choices=Price.Unit.choices)
    credits_per_unit = per_unit("credits_per_unit")
    cost_usd_per_unit = per_unit("cost_usd_per_unit")
    increment = per_unit("increment", default=1, min_value=quantum(COUNT_PLACES), help_text="Greater than 0.")
    minimum = per_unit("minimum", default=0)
    effective_from = AwareDateTimeField(help_text="When it starts pricing records (their occurred_at), with its offset.")


class PriceListView(ScopedListView):
    """The price book, version by version: the caller's outlet's prices and the platform defaults."""

    read_permissions = ("credits.view_price",)
    write_scope = "credits:write"
    write_permissions = ("credits.add_price",)
    serializer_class = PriceSerializer
    filterset_class = PriceFilterSet
    cursor_fields = ("effective_from", "id")
    csv_filename = "prices"

    def scoped_queryset(self, outlet_id):
        return selectors.price_list(outlet_id=outlet_id)

    @extend_schema(
        request=PriceInput,
        parameters=[WRITE_OUTLET_PARAMETER],
        responses={
            201: inline_serializer("PriceCreated", {"success": serializers.BooleanField(), "price": PriceSerializer()}),
            400: OpenApiResponse(description="A bad field, or this version exists already."),
            403: OpenApiResponse(description="Without `credits:write`, or a platform default asked by an API key."),
        },
    )
    def post(self, request):
        serializer = PriceInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("default"):
            if not request.user.is_staff:
                raise PermissionDenied("Only staff add platform default prices.")
            outlet = None
        else:
            outlet = caller_outlet(request)
        price = services.price_create(actor=request_actor(request), outlet=outlet, **data)
        return Response({"price": PriceSerializer(price).data}, status=status.HTTP_201_CREATED)
