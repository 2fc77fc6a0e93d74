"""Exact sums over any range: rollups for the clean days, raw rows for the stale ones.

A day is stale for an outlet while any of its hours is in the dirty-bucket queue: its
rollup rows may miss records (or interactions) that arrived since they were built. The
answer is the rollup's sums over the clean days plus the raw aggregates over the stale
days, so it equals an aggregation of the raw table whether or not the worker has run.
"""

import operator
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from uuid import UUID

from django.db.models import Q
from django.db.models.functions import Trunc

from analytics.facts import Fact, Rollup
from analytics.models import DirtyBucket
from config.api.dates import DateRange

# (outlet id, first instant, first instant after) of consecutive stale days
Window = tuple[UUID, datetime, datetime]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_windows(outlet_days: Iterable[tuple[UUID, date]]) -> list[Window]:
    """Runs of consecutive days per outlet, as half-open time windows."""
    windows: list[Window] = []
    for outlet_id, day in sorted(set(outlet_days)):
        start, end = midnight(day), midnight(day + timedelta(days=1))
        if windows and windows[-1][0] == outlet_id and windows[-1][2] == start:
            windows[-1] = (outlet_id, windows[-1][1], end)
        else:
            windows.append((outlet_id, start, end))
    return windows


def windows_filter(field: str, windows: list[Window]) -> Q:
    return reduce(
        operator.or_,
        (Q(outlet_id=outlet_id, **{f"{field}__gte": start, f"{field}__lt": end}) for outlet_id, start, end in windows),
    )


def stale_windows(outlet_id: UUID | None, date_range: DateRange) -> list[Window]:
    dirty = DirtyBucket.objects.filter(hour__gte=date_range.start_at, hour__lt=date_range.end_before)
    if outlet_id is not None:
        dirty = dirty.filter(outlet_id=outlet_id)
    days = dirty.annotate(day=Trunc("hour", "day", tzinfo=UTC)).values_list("outlet_id", "day").distinct()
    return day_windows((outlet, moment.date()) for outlet, moment in days)


def aggregate(
    fact: Fact,
    *,
    outlet_id: UUID | None,
    date_range: DateRange,
    measures: Iterable[str],
    group_by: Iterable[str] = (),
    period: str | None = None,
    filters: dict[str, list] | None = None,
) -> list[dict]:
    """The sums of `measures` per group (and per `period` start, as `period`), over whole UTC days.

    `filters` maps a dimension to the values it may take; `outlet_id` None means every outlet.
    """
    measures, group_by, filters = set(measures), list(group_by), filters or {}
    unknown = (set(group_by) | set(filters)) - fact.dimensions | measures - fact.measures.keys()
    if unknown:
        raise ValueError(f"{fact.name} has no {', '.join(sorted(unknown))}")
    rollup = fact.rollup_for(set(group_by) | set(filters), period, measures)
    stale = stale_windows(outlet_id, date_range) if rollup else []
    totals: dict[tuple, dict] = {}
    if rollup:
        rows = rollup.model.objects.filter(bucket__gte=date_range.start_at, bucket__lt=date_range.end_before)
        if stale:
            rows = rows.exclude(windows_filter("bucket", stale))
        sums = {f"sum_{name}": rollup.sum_of(name, fact.slices) for name in measures}
        _add(totals, _grouped(rows, rollup, outlet_id, filters, group_by, period, sums), group_by, period, measures)
    if rollup is None or stale:
        time_range = {f"{fact.time_field}__gte": date_range.start_at, f"{fact.time_field}__lt": date_range.end_before}
        rows = fact.raw.objects.filter(**time_range)
        if stale:
            rows = rows.filter(windows_filter(fact.time_field, stale))
        sums = {f"sum_{name}": fact.measures[name]() for name in measures}
        _add(totals, _grouped(rows, fact, outlet_id, filters, group_by, period, sums), group_by, period, measures)
    return list(totals.values())


def _grouped(rows, source: Fact | Rollup, outlet_id, filters, group_by, period, sums) -> list[dict]:
    if outlet_id is not None:
        rows = rows.filter(outlet_id=outlet_id)
    rows = rows.filter(**{f"{name}__in": values for name, values in filters.items()})
    if period:
        rows = rows.annotate(period=source.period_expression(period))
    fields = [*group_by, "period"] if period else group_by
    if not fields:
        return [rows.aggregate(**sums)]
    return list(rows.order_by().values(*fields).annotate(**sums))


def _add(totals: dict[tuple, dict], rows: list[dict], group_by: list[str], period: str | None, measures: set[str]):
    keys = [*group_by, "period"] if period else group_by
    for row in rows:
        key = tuple(row[name] for name in keys)
        total = totals.get(key)
        if total is None:
            total = totals[key] = {name: row[name] for name in keys} | dict.fromkeys(measures, 0)
        for name in measures:
            total[name] += row[f"sum_{name}"] or 0
