"""Reads of the price book, scoped to an outlet: its own versions and the platform defaults."""

from datetime import datetime
from uuid import UUID

from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, When

from credits.prices.models import Price


def price_list(*, outlet_id: UUID | None = None) -> QuerySet[Price]:
    """An outlet's versions and the defaults (None: every version of every outlet, staff only)."""
    prices = Price.objects.select_related("outlet")
    return prices if outlet_id is None else prices.filter(Q(outlet_id=outlet_id) | Q(outlet__isnull=True))


def prices_in_effect(queryset: QuerySet[Price], at: datetime) -> QuerySet[Price]:
    """Of each (outlet or default, type, model, unit), the version in effect at `at`: the latest not after it."""
    same_key = Price.objects.filter(
        type=OuterRef("type"), model=OuterRef("model"), unit=OuterRef("unit"), effective_from__lte=at
    ).order_by("-effective_from")
    latest_of_outlet = same_key.filter(outlet_id=OuterRef("outlet_id")).values("pk")[:1]
    latest_default = same_key.filter(outlet__isnull=True).values("pk")[:1]  # NULL = NULL would match nothing
    return queryset.filter(effective_from__lte=at).filter(
        pk=Case(When(outlet__isnull=True, then=Subquery(latest_default)), default=Subquery(latest_of_outlet))
    )
