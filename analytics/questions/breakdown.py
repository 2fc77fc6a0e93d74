"""Usage by breakdown: a series of a metric per value of a dimension, the largest kept, the rest as `other`."""

import heapq
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from uuid import UUID

from analytics.aggregation import aggregate_series, largest
from analytics.facts import BREAKDOWNS, MANY_VALUED_BREAKDOWNS, UNIT_MEASURES, USAGE
from analytics.periods import period_key, period_starts
from analytics.scope import answer_zone, one_staleness
from config.api.dates import DateRange

METRICS = {"credits": "credits", "units": "units", "cost": "cost", "records": "records"}
UNIT_OF_MEASURE = {name: unit for unit, name in UNIT_MEASURES.items()}


@dataclass(frozen=True)
class Breakdown:
    metric: str
    breakdown: str
    interval: str
    filters: dict  # breakdown name -> values
    limit: int


@dataclass(frozen=True)
class _Reading:
    """What a breakdown asks `aggregate` for, and how the rows it gets back become series."""

    dimension: str
    metric: str  # the measure each series sums (but pivoted units: a measure per unit)
    by_unit: bool  # units: a series per value and unit, as units of different kinds never add up
    pivoted: bool  # units come as a measure per unit
    measures: set[str]
    group_by: list[str]
    filters: dict[str, list]  # dimension -> values
    period: str  # the points' grain in the database
    bucket_interval: str  # the points' width: the interval, or days for a running total

    def unit_of(self, key: tuple):
        return key[-1] if self.by_unit else None


@dataclass
class _Kept:
    """The series kept, largest first, with their points and totals; per unit, the others' points and count."""

    keys: list[tuple]
    series: dict[tuple, list]  # key -> a value per period
    totals: dict[tuple, Decimal | int]
    other: dict  # unit -> a value per period
    merged_counts: Counter


@one_staleness()
def usage_breakdown(*, outlet_id: UUID | None, date_range: DateRange, question: Breakdown) -> dict:
    """A series of `metric` per breakdown value (and unit, for units), the largest `limit` first, the rest as other.

    `cumulative` is a running total per day.
    """
    reading = _reading_of(question)
    scope = dict(outlet_id=outlet_id, date_range=date_range, measures=reading.measures)
    periods = period_starts(date_range, reading.bucket_interval, answer_zone(outlet_id, date_range))
    positions = {period: position for position, period in enumerate(periods)}
    if question.breakdown in MANY_VALUED_BREAKDOWNS:
        kept = _kept_by_ranking_in_the_database(reading, scope, question.limit, positions)
    else:
        kept = _kept_by_ranking_every_series(reading, scope, question.limit, positions)
    return {
        "metric": question.metric, "breakdown": question.breakdown, "interval": question.interval,
        "from": date_range.start, "to": date_range.end,
        "series": _series_items(reading, kept, periods, cumulative=question.interval == "cumulative"),
    }


def _reading_of(question: Breakdown) -> _Reading:
    dimension = BREAKDOWNS[question.breakdown]
    metric = METRICS[question.metric]
    by_unit = question.metric == "units"
    # A many-valued breakdown's units come pivoted (a measure per unit): the per-agent and per-user rollups keep no unit.
    pivoted = by_unit and question.breakdown in MANY_VALUED_BREAKDOWNS
    bucket_interval = "day" if question.interval == "cumulative" else question.interval
    return _Reading(
        dimension=dimension,
        metric=metric,
        by_unit=by_unit,
        pivoted=pivoted,
        measures=set(UNIT_MEASURES.values()) if pivoted else {metric},
        group_by=[dimension, "unit"] if by_unit and not pivoted else [dimension],
        filters={BREAKDOWNS[name]: values for name, values in question.filters.items()},
        period="hour" if question.interval == "hour" else "day",
        bucket_interval=bucket_interval,
    )


def _series(reading: _Reading, scope: dict, positions: dict, group_by: list[str], filters: dict) -> dict[tuple, list]:
    """Per key (the values of `group_by`, then the unit for units), the metric per period, in the periods' order.

    A unit's series exists where it has units, pivoted or not.
    """
    interval = reading.bucket_interval
    groups = aggregate_series(
        USAGE, **scope, group_by=group_by, period=reading.period, filters=filters, width=len(positions),
        slot_of=lambda moment: positions[period_key(moment, interval)],
    )
    if reading.pivoted:
        return {
            (*key, unit): values
            for key, sums in groups.items() for unit, name in UNIT_MEASURES.items() if any(values := sums[name])
        }
    metric = reading.metric
    return {key: sums[metric] for key, sums in groups.items() if not reading.by_unit or any(sums[metric])}


def _kept_by_ranking_in_the_database(reading: _Reading, scope: dict, limit: int, positions: dict) -> _Kept:
    """Rank in the database, then ask for the points of the kept values only: a breakdown by agent
    or user has thousands of values, each with a point per period.
    """
    ranked, counts = largest(
        USAGE, **scope, dimension=reading.dimension, filters=reading.filters, limit=limit, nonzero=reading.by_unit,
    )
    kept = [(value, UNIT_OF_MEASURE[measure]) if reading.pivoted else (value,) for value, measure in ranked]
    merged_counts = Counter({UNIT_OF_MEASURE.get(measure): count for measure, count in counts.items()})
    merged_counts.subtract(reading.unit_of(key) for key in kept)
    kept_filters = {**reading.filters, reading.dimension: sorted({key[0] for key in kept}, key=str)}
    series = _series(reading, scope, positions, reading.group_by, kept_filters)
    none = [0] * len(positions)
    totals = {key: sum(series.get(key, none)) for key in kept}
    other: dict = {}  # per unit: units of different kinds never add up
    if any(merged_counts.values()):
        _add_everything_but_the_kept(other, reading, scope, kept, series, positions)
    return _Kept(kept, series, totals, other, merged_counts)


def _add_everything_but_the_kept(
    other: dict, reading: _Reading, scope: dict, kept: list[tuple], series: dict, positions: dict
) -> None:
    """`other` per unit: the points of every value, less the kept values' points."""
    for unit_key, values in _series(reading, scope, positions, [], reading.filters).items():
        unit = reading.unit_of(unit_key)
        for key in kept:
            if reading.unit_of(key) == unit and key in series:
                values = [value - kept_value for value, kept_value in zip(values, series[key])]
        _add_values(other, unit, values)


def _kept_by_ranking_every_series(reading: _Reading, scope: dict, limit: int, positions: dict) -> _Kept:
    """Read every value's points, keep the largest totals, and add the rest up as `other`."""
    series = _series(reading, scope, positions, reading.group_by, reading.filters)
    totals = {key: sum(values) for key, values in series.items()}
    kept = heapq.nsmallest(limit, totals, key=lambda key: (-totals[key], [str(part) for part in key]))
    kept_keys = set(kept)
    merged_counts = Counter(reading.unit_of(key) for key in totals if key not in kept_keys)
    other: dict = {}  # per unit: units of different kinds never add up
    for key in totals:
        if key not in kept_keys:
            _add_values(other, reading.unit_of(key), series[key])
    return _Kept(kept, series, totals, other, merged_counts)


def _add_values(other: dict, unit, values: list) -> None:
    """Adds a series' values, period by period, into the unit's `other`."""
    merged = other.get(unit)
    other[unit] = values if merged is None else [total + value for total, value in zip(merged, values)]


def _series_items(reading: _Reading, kept: _Kept, periods: list, *, cumulative: bool) -> list[dict]:
    """The kept series, then an `other` series per unit that merges any, each with a point per period."""
    none = [0] * len(periods)

    def points_of(values: list) -> list:
        return [[period, value] for period, value in zip(periods, accumulate(values) if cumulative else values)]

    items = []
    for key in kept.keys:
        item = {"key": key[0], "total": kept.totals[key], "points": points_of(kept.series.get(key, none))}
        if reading.by_unit:
            item["unit"] = reading.unit_of(key)
        items.append(item)
    for unit, merged in sorted(kept.other.items(), key=lambda pair: str(pair[0])):
        merged_count = kept.merged_counts[unit]
        if not merged_count:  # every value of this unit kept its own series
            continue
        item = {"key": None, "other": merged_count, "total": sum(merged), "points": points_of(merged)}
        if unit is not None:
            item["unit"] = unit
        items.append(item)
    return items
