"""What can be added up: the raw tables, their measures, and the rollups that hold them.

A fact is a raw table (usage records, interactions) with a time field, the dimensions a
question may group or filter by, and each measure as an aggregate over raw rows. Every
rollup stores those same measures, under the same names, for a time grain and a subset of
the dimensions; it is built with the raw aggregates and read with plain sums, so a rollup
row and the raw rows it came from always add up to the same numbers.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import ClassVar

from django.db import models
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from analytics.models import (
    DURATION_COLUMNS,
    DURATION_FLOORS_S,
    LATENCY_COLUMNS,
    LATENCY_FLOORS_MS,
    InteractionAgentDailyRollup,
    InteractionDailyRollup,
    InteractionStatusDailyRollup,
    UsageAgentDailyRollup,
    UsageAgentTotalsDailyRollup,
    UsageDailyRollup,
    UsageDimensionDailyRollup,
    UsageEndUserDailyRollup,
    UsageHourlyRollup,
)
from usage.models import Interaction, UsageRecord

# Every rollup row belongs to one outlet, so every question may group or filter by it.
OUTLET = "outlet_id"


@dataclass(frozen=True)
class Slice:
    """A measure that is another measure where one dimension has one value: units_tokens is units where unit = tokens."""

    measure: str
    dimension: str
    value: str


@dataclass(frozen=True)
class Rollup:
    model: type[models.Model]
    grain: str
    dimensions: frozenset[str]
    # A dimension an index holds every outlet's rows in order of, with every measure: ranking by it sums in that order.
    ranked_in_order: str | None = None
    time_field: ClassVar[str] = "bucket"

    @property
    def measures(self) -> frozenset[str]:
        """The measures it stores, one column each."""
        return frozenset(model_field.name for model_field in self.model._meta.concrete_fields)

    def can_sum(self, name: str, slices: dict[str, Slice]) -> bool:
        piece = slices.get(name)
        return name in self.measures or (piece is not None and piece.measure in self.measures and piece.dimension in self.dimensions)

    def sum_of(self, name: str, slices: dict[str, Slice]) -> models.Aggregate:
        if name in self.measures:
            return Sum(name)
        piece = slices[name]
        return Sum(piece.measure, filter=Q(**{piece.dimension: piece.value}))

    def can_answer(self, dimensions: set[str], period: str | None, measures: set[str], slices: dict[str, Slice]) -> bool:
        fine_enough = period != "hour" or self.grain == "hour"
        return (
            fine_enough
            and dimensions <= self.dimensions | {OUTLET}
            and all(self.can_sum(name, slices) for name in measures)
        )


@dataclass(frozen=True)
class Fact:
    name: str
    raw: type[models.Model]
    time_field: str
    dimensions: frozenset[str]
    # Each measure as an aggregate over raw rows; a rollup stores the ones it has columns for.
    measures: dict[str, Callable[[], models.Aggregate]]
    rollups: tuple[Rollup, ...]  # coarsest first: the first that can answer a question does
    # Measures a rollup without their column can still sum, from the measure and dimension they slice.
    slices: dict[str, Slice] = field(default_factory=dict)
    grain: ClassVar[None] = None  # raw rows: every period is a truncation

    def rollup_for(self, dimensions: set[str], period: str | None, measures: set[str]) -> Rollup | None:
        return next(
            (rollup for rollup in self.rollups if rollup.can_answer(dimensions, period, measures, self.slices)), None
        )

    def stored_measures(self, rollup: Rollup) -> list[str]:
        """The measures `rollup` has a column for, in the fact's order."""
        return [name for name in self.measures if name in rollup.measures]

    def sums(self, source: "Fact | Rollup", measures: Iterable[str]) -> dict[str, models.Aggregate]:
        """sum_<name> of each measure over `source`'s rows: the raw aggregate, or the sum of a rollup's column or slice."""
        if source is self:
            return {f"sum_{name}": self.measures[name]() for name in measures}
        return {f"sum_{name}": source.sum_of(name, self.slices) for name in measures}


def rollup_rows(fact: Fact, rollup: Rollup, rows: models.QuerySet, source: Rollup | None = None) -> models.QuerySet:
    """`rows` of the raw table, or of `source` (a finer rollup), summed into `rollup`'s rows.

    Each row: outlet_id, rollup_bucket (the start of its hour or day, UTC), the rollup's dimensions, and
    sum_<name> for each measure it stores. A finer rollup's sums add up to the same sums.
    """
    measures = fact.stored_measures(rollup)
    origin = fact if source is None else source
    sums = fact.sums(origin, measures)
    if source is not None:  # a slice's filtered sum is NULL where no row has its value; the rollup's columns are not
        sums = {
            f"sum_{name}": Coalesce(sums[f"sum_{name}"], Value(0), output_field=rollup.model._meta.get_field(name))
            for name in measures
        }
    bucket = F(origin.time_field) if rollup.grain == origin.grain else Trunc(origin.time_field, rollup.grain, tzinfo=UTC)
    return (
        rows.annotate(rollup_bucket=bucket)
        .values("outlet_id", "rollup_bucket", *sorted(rollup.dimensions))
        .annotate(**sums)
        .order_by()
    )


def histogram_measures(column: str, floors: tuple, names: tuple[str, ...]) -> dict[str, Callable[[], Count]]:
    """One count per bucket: rows whose `column` is from `floors[i]` to the next floor (the last is open-ended)."""
    measures = {}
    for index, name in enumerate(names):
        bounds = Q(**{f"{column}__gte": floors[index]})
        if index + 1 < len(floors):
            bounds &= Q(**{f"{column}__lt": floors[index + 1]})
        measures[name] = lambda bounds=bounds: Count("pk", filter=bounds)
    return measures


def _units_of(unit: str) -> Callable[[], models.Aggregate]:
    return lambda: Coalesce(Sum("count", filter=Q(unit=unit)), Value(0), output_field=models.DecimalField())


UNIT_SLICES = {f"units_{unit}": Slice("units", "unit", unit) for unit in UsageRecord.Unit.values}


USAGE = Fact(
    name="usage",
    raw=UsageRecord,
    time_field="occurred_at",
    dimensions=frozenset(
        {OUTLET, "type", "model", "unit", "agent_id", "voice", "product", "api_key_label", "end_user_id", "provider"}
    ),
    measures={
        "records": lambda: Count("pk"),
        "units": lambda: Coalesce(Sum("count"), Value(0), output_field=models.DecimalField()),
        "credits": lambda: Coalesce(Sum("credits"), Value(0), output_field=models.DecimalField()),
        "cost": lambda: Coalesce(Sum("cost_usd"), Value(0), output_field=models.DecimalField()),
        "latency_sum": lambda: Coalesce(Sum("latency_ms"), Value(0), output_field=models.BigIntegerField()),
        "latency_count": lambda: Count("latency_ms"),
        # Units per unit as separate measures, for rollups that do not keep the unit in their key.
        **{name: _units_of(piece.value) for name, piece in UNIT_SLICES.items()},
        **histogram_measures("latency_ms", LATENCY_FLOORS_MS, LATENCY_COLUMNS),
    },
    rollups=(
        Rollup(UsageDailyRollup, "day", frozenset({"type", "model", "unit"})),
        Rollup(
            UsageDimensionDailyRollup, "day",
            frozenset({"type", "model", "unit", "voice", "product", "api_key_label"}),
        ),
        Rollup(UsageAgentTotalsDailyRollup, "day", frozenset({"agent_id"})),
        Rollup(UsageEndUserDailyRollup, "day", frozenset({"end_user_id"}), ranked_in_order="end_user_id"),
        Rollup(UsageHourlyRollup, "hour", frozenset({"type", "model", "unit"})),
        Rollup(UsageAgentDailyRollup, "day", frozenset({"agent_id", "type", "model", "unit"})),
    ),
    slices=UNIT_SLICES,
)

INTERACTIONS = Fact(
    name="interactions",
    raw=Interaction,
    time_field="started_at",
    dimensions=frozenset({OUTLET, "agent_id", "status", "sentiment"}),
    measures={
        "calls": lambda: Count("pk"),
        "duration_sum": lambda: Coalesce(Sum("duration_seconds"), Value(0), output_field=models.DecimalField()),
        "messages": lambda: Coalesce(Sum("message_count"), Value(0), output_field=models.BigIntegerField()),
        **histogram_measures("duration_seconds", DURATION_FLOORS_S, DURATION_COLUMNS),
    },
    rollups=(
        Rollup(InteractionStatusDailyRollup, "day", frozenset({"status", "sentiment"})),
        Rollup(InteractionAgentDailyRollup, "day", frozenset({"agent_id"})),
        Rollup(InteractionDailyRollup, "day", frozenset({"agent_id", "status", "sentiment"})),
    ),
)

FACTS = (USAGE, INTERACTIONS)

LATENCY_MEASURES = frozenset({"latency_sum", "latency_count", *LATENCY_COLUMNS})


def latency_quantile(histogram: list[int], quantile: float) -> int | None:
    """The nearest-rank quantile from a latency histogram: the middle of the bucket that holds it.

    The exact value lies in the same bucket, so the error is at most half a bucket's width:
    exact below 4 ms, and within 13% of the value above it (the last bucket, from 131,072 ms,
    reports its floor).
    """
    total = sum(histogram)
    if not total:
        return None
    rank = max(1, math.ceil(quantile * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            if index + 1 == len(LATENCY_FLOORS_MS):
                return LATENCY_FLOORS_MS[index]
            return (LATENCY_FLOORS_MS[index] + LATENCY_FLOORS_MS[index + 1] - 1) // 2
    raise AssertionError("unreachable: the ranks add up to the total")
