"""Exact sums over any range: rollups for the clean days, raw rows for the stale ones.

A day is stale for an outlet while any of its hours is in the dirty-bucket queue: its
rollup rows may miss records (or interactions) that arrived since they were built. The
answer is the rollup's sums over the clean days plus the raw aggregates over the stale
days, so it equals an aggregation of the raw table whether or not the worker has run.
"""

import operator
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from uuid import UUID

from django.db.models import DateTimeField, F, Func, Q
from django.db.models.functions import Trunc

from analytics.facts import Fact, Rollup
from analytics.models import DirtyBucket
from config.api.dates import DateRange

# (outlet id, first instant, first instant after) of consecutive stale days
Window = tuple[UUID, datetime, datetime]
# Inside `one_staleness`: the stale windows read so far, per (outlet id, date range).
_staleness: ContextVar[dict | None] = ContextVar("staleness", default=None)


class PeriodStart(Func):
    """The start of the UTC `period` holding a moment; on PostgreSQL, as UTC wall-clock time, without a zone.

    Django reads a timestamp with a zone through a Python loader, a few microseconds a row; psycopg's C
    loader reads one without, so an hourly month of points loads in half the time. `_add` puts UTC back.
    """

    output_field = DateTimeField()

    def __init__(self, field: str, period: str, *, truncate: bool):
        self.period, self.truncate = period, truncate
        super().__init__(Trunc(field, period, tzinfo=UTC) if truncate else F(field))

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.get_source_expressions()[0])

    def as_postgresql(self, compiler, connection, **extra_context):
        (moment,) = self.get_source_expressions()
        if self.truncate:
            (moment,) = moment.get_source_expressions()
        sql, params = compiler.compile(moment)
        if self.truncate:
            return f"DATE_TRUNC(%s, {sql} AT TIME ZONE 'UTC')", (self.period, *params)
        return f"({sql} AT TIME ZONE 'UTC')", tuple(params)


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


@contextmanager
def one_staleness():
    """Every `aggregate` inside reads the dirty queue once per outlet and range: the parts of one answer
    see one state of the queue, and an answer of several aggregates saves a query for each after the first.
    """
    if _staleness.get() is not None:  # inside another: share its reads
        yield
        return
    token = _staleness.set({})
    try:
        yield
    finally:
        _staleness.reset(token)


def _stale_windows_once(outlet_id: UUID | None, date_range: DateRange) -> list[Window]:
    read = _staleness.get()
    if read is None:
        return stale_windows(outlet_id, date_range)
    if (outlet_id, date_range) not in read:
        read[outlet_id, date_range] = stale_windows(outlet_id, date_range)
    return read[outlet_id, date_range]


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
    stale = _stale_windows_once(outlet_id, date_range) if rollup else []
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
        rows = rows.annotate(period=PeriodStart(source.time_field, period, truncate=period != source.grain))
    fields = [*group_by, "period"] if period else group_by
    if not fields:
        return [rows.aggregate(**sums)]
    return list(rows.order_by().values(*fields).annotate(**sums))


def _add(totals: dict[tuple, dict], rows: list[dict], group_by: list[str], period: str | None, measures: set[str]):
    keys = [*group_by, "period"] if period else group_by
    for row in rows:
        if period and row["period"].tzinfo is None:
            row["period"] = row["period"].replace(tzinfo=UTC)
        key = tuple(row[name] for name in keys)
        total = totals.get(key)
        if total is None:
            total = totals[key] = {name: row[name] for name in keys} | dict.fromkeys(measures, 0)
        for name in measures:
            total[name] += row[f"sum_{name}"] or 0
