"""Reads of usage records and interactions, scoped to an outlet (None: every outlet, staff only).

A record belongs to an interaction by `(outlet_id, interaction_id)`: the platform's id as a
string, not a foreign key, so records may arrive before their interaction does.
"""

from decimal import Decimal
from typing import TypedDict
from uuid import UUID

from django.db.models import Count, QuerySet, Sum

from config.db import for_outlet, get_or_not_found
from config.errors import DomainError, NotFoundError
from config.money import quantum
from usage.models import Interaction, UsageRecord

LATENCY_PLACES = 1
# Summed columns; SQLite sums decimals as floats, so each sum is brought back to its column's places.
SUMMED = ("count", "credits", "cost_usd")
QUANTA = {name: quantum(UsageRecord._meta.get_field(name).decimal_places) for name in SUMMED}


class UsageTotals(TypedDict):
    """Sums over a set of usage records.

    `count` adds units up only where they share one `unit` (tokens and seconds do not add up):
    overall, both are None when the records mix units. `latency_ms_avg` averages the records
    that report a latency, weighted by record, not an average of averages.
    """

    unit: str | None
    records: int
    count: Decimal | None
    credits: Decimal
    cost_usd: Decimal
    latency_ms_avg: float | None


class UsageTotalsByType(UsageTotals):
    type: str


class InteractionUsageTotals(TypedDict):
    by_type: list[UsageTotalsByType]
    overall: UsageTotals


def usage_record_list(*, outlet_id: UUID | None = None) -> QuerySet[UsageRecord]:
    return for_outlet(UsageRecord.objects.all(), outlet_id)


def usage_record_get(*, outlet_id: UUID | None, record_id: int) -> UsageRecord:
    return get_or_not_found(usage_record_list(outlet_id=outlet_id), "Usage record not found.", pk=record_id)


def interaction_list(*, outlet_id: UUID | None = None) -> QuerySet[Interaction]:
    return for_outlet(Interaction.objects.all(), outlet_id)


def interaction_get(*, outlet_id: UUID | None, interaction_id: str) -> Interaction:
    """The outlet's interaction; staff without an outlet get it only if exactly one outlet has that id."""
    found = list(interaction_list(outlet_id=outlet_id).filter(interaction_id=interaction_id).order_by()[:2])
    if not found:
        raise NotFoundError("Interaction not found.")
    if len(found) > 1:
        raise DomainError(
            f"Several outlets have an interaction '{interaction_id}': pass outlet_id.",
            errors={"outlet_id": ["Required: this interaction_id exists in several outlets."]},
        )
    return found[0]


def interaction_usage_records(*, outlet_id: UUID, interaction_id: str) -> QuerySet[UsageRecord]:
    """Every usage record of one interaction, oldest first."""
    return UsageRecord.objects.filter(outlet_id=outlet_id, interaction_id=interaction_id).order_by("occurred_at", "id")


def _latency_avg(latency_sum: int | None, latency_records: int) -> float | None:
    if not latency_records:
        return None
    return round(latency_sum / latency_records, LATENCY_PLACES)


def _sum(values, name: str) -> Decimal:
    return sum(values, Decimal(0)).quantize(QUANTA[name])


def interaction_usage_totals(*, outlet_id: UUID, interaction_id: str) -> InteractionUsageTotals:
    """Records, units, credits, cost and average latency per type (and unit) and overall, from one aggregate query."""
    rows = list(
        UsageRecord.objects.filter(outlet_id=outlet_id, interaction_id=interaction_id)
        .values("type", "unit")
        .annotate(
            records=Count("id"),
            latency_sum=Sum("latency_ms"),
            latency_records=Count("latency_ms"),
            **{f"{name}_sum": Sum(name) for name in SUMMED},
        )
        .order_by("type", "unit")  # the model's ordering would split the groups
    )
    by_type: list[UsageTotalsByType] = [
        {
            "type": row["type"],
            "unit": row["unit"],
            "records": row["records"],
            **{name: _sum([row[f"{name}_sum"]], name) for name in SUMMED},
            "latency_ms_avg": _latency_avg(row["latency_sum"], row["latency_records"]),
        }
        for row in rows
    ]
    units = {row["unit"] for row in rows}
    overall: UsageTotals = {
        "unit": next(iter(units)) if len(units) == 1 else None,
        "records": sum(row["records"] for row in rows),
        "count": _sum((row["count"] for row in by_type), "count") if len(units) <= 1 else None,
        "credits": _sum((row["credits"] for row in by_type), "credits"),
        "cost_usd": _sum((row["cost_usd"] for row in by_type), "cost_usd"),
        # Weighted by the records that report a latency, not an average of the groups' averages.
        "latency_ms_avg": _latency_avg(
            sum(row["latency_sum"] or 0 for row in rows), sum(row["latency_records"] for row in rows)
        ),
    }
    return {"by_type": by_type, "overall": overall}
