"""What can be added up: the raw tables, their dimensions and measures, and the rollups that hold them.

A fact is a raw table (usage records, interactions) with a time field, the dimensions a
question may group or filter by, and each measure as an aggregate over raw rows. Every
rollup stores those same measures, under the same names, for a time grain and a subset of
the dimensions; it is built with the raw aggregates and read with plain sums, so a rollup
row and the raw rows it came from always add up to the same numbers.

A dimension is one entry in its fact: its column and, where the usage API breaks down and
filters by it, its name and help text there; the API's breakdowns are derived from those
entries. A rollup that holds a dimension names it and has its column.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

from django.db import models
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from analytics.histograms import ColumnSums, Counts, histogram_measures
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
    UsageHourlyTypeRollup,
)
from analytics.zones import LocalHourStart, LocalTrunc
from usage.models import Interaction, UsageRecord

# Every rollup row belongs to one outlet, so every question may group or filter by it.
OUTLET = "outlet_id"
# A histogram as one measure: its buckets' counts (each a measure of its own, which rollups store) in a list.
HISTOGRAMS = {"latency_histogram": LATENCY_COLUMNS}


@dataclass(frozen=True)
class Dimension:
    """A column of a fact's raw rows that a question may group or filter by.

    `api_name`: the usage API offers it as a breakdown and as a filter of that name, described by `help_text`.
    """

    column: str
    api_name: str | None = None
    help_text: str = ""
    # Thousands of values (agents, end users): a breakdown ranks their totals before it reads any points.
    many_valued: bool = False
    agent_ids: bool = False  # its values are agent UUIDs (an API filter parses them as such)


@dataclass(frozen=True)
class Slice:
    """A measure that is another measure where one dimension has one value: units_tokens is units where unit = tokens."""

    measure: str
    dimension: str
    value: str


class ColumnSum(Sum):
    """A rollup column's SUM as the column's own type, with no per-row conversion by the ORM.

    The ORM's `Decimal(value)` or `int(value)` per row of values that already are decimals and integers cost more
    than anything else done to an hourly answer's thousands of rows. PostgreSQL sums bigints as numeric: cast back.
    The backend's converters (SQLite's decimals) still apply.
    """

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = self.as_sql(compiler, connection, **extra_context)
        integral = self.output_field.get_internal_type().endswith("IntegerField")
        return (f"({sql})::bigint", params) if integral else (sql, params)

    @cached_property
    def convert_value(self):
        return self._convert_value_noop


@dataclass(frozen=True)
class Rollup:
    model: type[models.Model]
    grain: str
    dimensions: frozenset[str]
    # A dimension an index holds every outlet's rows in order of, with every measure: ranking by it sums in that order.
    ranked_in_order: str | None = None
    time_field: ClassVar[str] = "bucket"

    @cached_property  # asked of every measure of every part of an answer: dozens of times a request
    def measures(self) -> frozenset[str]:
        """The measures it stores, one column each."""
        return frozenset(model_field.name for model_field in self.model._meta.concrete_fields)

    def can_sum(self, name: str, slices: dict[str, Slice]) -> bool:
        piece = slices.get(name)
        return (
            name in self.measures
            or (name in HISTOGRAMS and set(HISTOGRAMS[name]) <= self.measures)
            or (piece is not None and piece.measure in self.measures and piece.dimension in self.dimensions)
        )

    def sum_of(self, name: str, slices: dict[str, Slice]) -> models.Expression:
        if name in self.measures:
            return ColumnSum(name)
        if name in HISTOGRAMS:
            return ColumnSums(HISTOGRAMS[name])
        piece = slices[name]
        return ColumnSum(piece.measure, filter=Q(**{piece.dimension: piece.value}))

    def can_answer(self, dimensions: set[str], period: str | None, measures: set[str], slices: dict[str, Slice]) -> bool:
        fine_enough = period != "hour" or self.grain == "hour"  # a local date's rows hold no hour
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
    dimensions: tuple[Dimension, ...]
    # Each measure as an aggregate over raw rows; a rollup stores the ones it has columns for.
    measures: dict[str, Callable[[], models.Aggregate]]
    rollups: tuple[Rollup, ...]  # coarsest first: the first that can answer a question does
    # Measures a rollup without their column can still sum, from the measure and dimension they slice.
    slices: dict[str, Slice] = field(default_factory=dict)
    grain: ClassVar[None] = None  # raw rows: every period is a truncation

    @property
    def dimension_columns(self) -> frozenset[str]:
        """The dimensions' columns: what a question may group or filter by."""
        return frozenset(dimension.column for dimension in self.dimensions)

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


def rollup_rows(
    fact: Fact, rollup: Rollup, rows: models.QuerySet, zone: models.Expression, source: Rollup | None = None
) -> models.QuerySet:
    """`rows` of the raw table, or of `source` (a rollup of the same grain), summed into `rollup`'s rows.

    Each row: outlet_id, rollup_bucket (its local hour's first instant, or its local date as midnight UTC,
    in `zone`: a name's Value, or each row's outlet's), the rollup's dimensions, and sum_<name> for each
    measure it stores. A finer rollup's sums add up to the same sums.
    """
    measures = fact.stored_measures(rollup)
    origin = fact if source is None else source
    sums = fact.sums(origin, measures)
    if source is not None:  # a slice's filtered sum is NULL where no row has its value; the rollup's columns are not
        sums = {
            f"sum_{name}": Coalesce(sums[f"sum_{name}"], Value(0), output_field=rollup.model._meta.get_field(name))
            for name in measures
        }
    if rollup.grain == origin.grain:
        bucket = F(origin.time_field)
    elif rollup.grain == "hour":
        bucket = LocalHourStart(origin.time_field, zone)
    else:
        bucket = LocalTrunc(origin.time_field, rollup.grain, zone)
    return (
        rows.annotate(rollup_bucket=bucket)
        .values("outlet_id", "rollup_bucket", *sorted(rollup.dimensions))
        .annotate(**sums)
        .order_by()
    )


def _units_of(unit: str) -> Callable[[], models.Aggregate]:
    return lambda: Coalesce(Sum("count", filter=Q(unit=unit)), Value(0), output_field=models.DecimalField())


LATENCY_MEASURES = histogram_measures("latency_ms", LATENCY_FLOORS_MS, LATENCY_COLUMNS)
UNIT_SLICES = {f"units_{unit}": Slice("units", "unit", unit) for unit in UsageRecord.Unit.values}
UNIT_MEASURES = {piece.value: name for name, piece in UNIT_SLICES.items()}  # unit -> its units measure


USAGE = Fact(
    name="usage",
    raw=UsageRecord,
    time_field="occurred_at",
    dimensions=(
        Dimension(OUTLET),
        # The usage API's breakdowns, in the order it lists them.
        Dimension("voice", api_name="voice", help_text="Only these voices (repeat or comma separate)."),
        Dimension("product", api_name="product", help_text="Only these products."),
        Dimension("api_key_label", api_name="api_key", help_text="Only these API key labels."),
        Dimension("end_user_id", api_name="user", help_text="Only these end users.", many_valued=True),
        Dimension(
            "agent_id", api_name="agent", help_text="Only these agents (UUIDs).", many_valued=True, agent_ids=True
        ),
        Dimension("model", api_name="model", help_text="Only these models."),
        Dimension("type", api_name="type", help_text="Only these record types."),
        Dimension("unit"),
        Dimension("provider"),
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
        **LATENCY_MEASURES,
        "latency_histogram": lambda: Counts(*(count() for count in LATENCY_MEASURES.values())),
    },
    rollups=(
        Rollup(UsageDailyRollup, "day", frozenset({"type", "model", "unit"})),
        Rollup(
            UsageDimensionDailyRollup, "day",
            frozenset({"type", "model", "unit", "voice", "product", "api_key_label"}),
        ),
        Rollup(UsageAgentTotalsDailyRollup, "day", frozenset({"agent_id"})),
        Rollup(UsageEndUserDailyRollup, "day", frozenset({"end_user_id"}), ranked_in_order="end_user_id"),
        Rollup(UsageHourlyTypeRollup, "hour", frozenset({"type", "unit"})),
        Rollup(UsageHourlyRollup, "hour", frozenset({"type", "model", "unit"})),
        Rollup(UsageAgentDailyRollup, "day", frozenset({"agent_id", "type", "model", "unit"})),
    ),
    slices=UNIT_SLICES,
)

INTERACTIONS = Fact(
    name="interactions",
    raw=Interaction,
    time_field="started_at",
    dimensions=(
        Dimension(OUTLET),
        Dimension("agent_id", many_valued=True, agent_ids=True),
        Dimension("status"),
        Dimension("sentiment"),
    ),
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

# The usage totals most answers report.
USAGE_SUMS = frozenset({"records", "units", "credits", "cost"})

# The usage API's breakdowns (and its filters of the same names), in the order it lists them.
BREAKDOWN_DIMENSIONS = tuple(dimension for dimension in USAGE.dimensions if dimension.api_name)
BREAKDOWNS = {dimension.api_name: dimension.column for dimension in BREAKDOWN_DIMENSIONS}  # name in the API -> column
MANY_VALUED_BREAKDOWNS = frozenset(dimension.api_name for dimension in BREAKDOWN_DIMENSIONS if dimension.many_valued)
