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
from decimal import Decimal
from functools import reduce
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import DateTimeField, F, Field, Func, Q, QuerySet
from django.db.models.functions import Trunc

from analytics.facts import Fact, Rollup
from analytics.models import DirtyBucket
from config.api.dates import DateRange
from config.money import PLACES

# (outlet id, first instant, first instant after) of consecutive stale days
Window = tuple[UUID, datetime, datetime]
# Inside `one_staleness`: the stale windows read so far, per (outlet id, date range).
_staleness: ContextVar[dict | None] = ContextVar("staleness", default=None)
# Every measure's sums are exact at the most places any kind keeps: rounding there drops only SQLite's float error.
SUM_PLACES = max(PLACES.values())


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


def number(total) -> Decimal | int:
    """A sum as the questions report it: a count stays an int, any other sum is a Decimal."""
    return total if isinstance(total, int) else Decimal(total)


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
    measures, group_by = set(measures), list(group_by)
    fields = [*group_by, "period"] if period else group_by
    totals: dict[tuple, dict] = {}
    for source, rows in _parts(fact, outlet_id, date_range, set(group_by), period, measures, filters or {}):
        sums = fact.sums(source, measures)
        if period:
            rows = rows.annotate(period=PeriodStart(source.time_field, period, truncate=period != source.grain))
        grouped = list(rows.order_by().values(*fields).annotate(**sums)) if fields else [rows.aggregate(**sums)]
        _add(totals, grouped, fields, measures)
    return list(totals.values())


def largest(
    fact: Fact,
    *,
    outlet_id: UUID | None,
    date_range: DateRange,
    measures: Iterable[str],
    dimension: str,
    filters: dict[str, list] | None = None,
    limit: int,
    nonzero: bool,
) -> tuple[list[tuple[Any, str]], dict[str, int]]:
    """The `limit` largest totals of (a value of `dimension`, one of `measures`) over the range, largest first
    (ties by value, then measure), and how many such pairs there are per measure.

    `nonzero`: a total of 0 makes no pair. One statement ranks the sums of every part of the answer (the
    rollup's clean days and the stale days' raw rows) so that, of thousands of values, only the kept leave
    the database.
    """
    measures = sorted(measures)
    parts = _sums_per_value(fact, outlet_id, date_range, dimension, measures, filters or {})
    field = fact.raw._meta.get_field(dimension)
    sql = _ranking_sql(parts, dimension, measures, field, nonzero)
    params = [*(param for _, part_params in parts for param in part_params), *measures, *measures, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return [], dict.fromkeys(measures, 0)
    return [(field.to_python(value), measure) for value, measure, *_ in rows], dict(zip(measures, rows[0][2:]))


def _sums_per_value(
    fact: Fact, outlet_id: UUID | None, date_range: DateRange, dimension: str, measures: list[str],
    filters: dict[str, list],
) -> list[tuple[str, tuple]]:
    """Each part's statement and parameters: sum_<name> of each measure per value of `dimension`."""

    def in_order(source: Fact | Rollup) -> bool:
        """Over every outlet, from an index in the value's order; one outlet's few rows are found by outlet."""
        return (
            outlet_id is None and isinstance(source, Rollup) and source.ranked_in_order == dimension
            and set(measures) <= source.measures
        )

    return [
        _sums_in_order(rows, dimension, measures)
        if in_order(source)
        else rows.order_by().values(dimension).annotate(**fact.sums(source, measures)).query.sql_with_params()
        for source, rows in _parts(fact, outlet_id, date_range, {dimension}, None, set(measures), filters)
    ]


def _ranking_sql(parts: list[tuple[str, tuple]], dimension: str, measures: list[str], field: Field, nonzero: bool) -> str:
    """One statement: the parts' sums added up per value, a (value, measure) pair per value and measure ranked by
    its total, the largest first, each row with how many pairs every measure has.

    Its parameters: the parts', the measures twice (naming the pairs, then counting them), the limit.
    """
    quote = connection.ops.quote_name
    one_part = len(parts) == 1  # already one row per value: nothing to add up across parts

    def total(name: str) -> str:
        column = quote(f"sum_{name}")
        return column if one_part else f"SUM({column})"

    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS part{index}" for index, (sql, _) in enumerate(parts))
    sums = ", ".join(f"COALESCE({total(name)}, 0) AS {quote(name)}" for name in measures)
    grouped = f"SELECT {quote(dimension)} AS value, {sums} FROM ({union}) AS parts" + (
        "" if one_part else f" GROUP BY {quote(dimension)}"
    )
    pairs = " UNION ALL ".join(
        f"SELECT value, %s AS measure, ROUND({quote(name)}, {SUM_PLACES}) AS total FROM grouped"
        + (f" WHERE {quote(name)} <> 0" if nonzero else "")
        for name in measures
    )
    counts = ", ".join(f"COUNT(*) FILTER (WHERE measure = %s) OVER () AS {quote(f'count_{name}')}" for name in measures)
    # Ties go by the value's characters, as Python compares strings (PostgreSQL would use the locale's order).
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" and field.get_internal_type() == "CharField" else ""
    return (
        f"WITH grouped AS ({grouped}), "
        f"pairs AS ({pairs}) "
        f"SELECT value, measure, {counts} FROM pairs ORDER BY total DESC, value{collate}, measure LIMIT %s"
    )


def _sums_in_order(rows: QuerySet, dimension: str, measures: list[str]) -> tuple[str, tuple]:
    """sum_<name> of each measure column per value of `dimension`, over `rows` taken in that value's order.

    Ordered first, the rows come from an index in that order and are summed one value after another;
    PostgreSQL's planner would rather hash each row into one of tens of thousands of groups, which
    misses the CPU's caches on almost every row and took 1.5 times as long, measured.
    """
    quote = connection.ops.quote_name
    ordered, params = rows.order_by(dimension).values(dimension, *measures).query.sql_with_params()
    sums = ", ".join(f"SUM({quote(name)}) AS {quote(f'sum_{name}')}" for name in measures)
    return f"SELECT {quote(dimension)}, {sums} FROM ({ordered}) AS ordered GROUP BY {quote(dimension)}", params


def _parts(
    fact: Fact, outlet_id: UUID | None, date_range: DateRange, dimensions: set[str], period: str | None,
    measures: set[str], filters: dict[str, list],
) -> list[tuple[Fact | Rollup, QuerySet]]:
    """The rows whose sums add up to the answer, each with its source: a rollup's rows for the clean days
    (when one can answer) and the raw rows of the stale days (of every day, when none can).
    """
    unknown = (dimensions | set(filters)) - fact.dimension_columns | measures - fact.measures.keys()
    if unknown:
        raise ValueError(f"{fact.name} has no {', '.join(sorted(unknown))}")
    rollup = fact.rollup_for(dimensions | set(filters), period, measures)
    stale = _stale_windows_once(outlet_id, date_range) if rollup else []
    # One filter call a part: each call copies the query.
    chosen = {f"{name}__in": values for name, values in filters.items()}
    if outlet_id is not None:
        chosen["outlet_id"] = outlet_id
    parts: list[tuple[Fact | Rollup, QuerySet]] = []
    if rollup:
        rows = rollup.model.objects.filter(bucket__gte=date_range.start_at, bucket__lt=date_range.end_before, **chosen)
        parts.append((rollup, rows.exclude(windows_filter("bucket", stale)) if stale else rows))
    if rollup is None or stale:
        time_range = {f"{fact.time_field}__gte": date_range.start_at, f"{fact.time_field}__lt": date_range.end_before}
        rows = fact.raw.objects.filter(windows_filter(fact.time_field, stale) if stale else Q(), **time_range, **chosen)
        parts.append((fact, rows))
    return parts


def _add(totals: dict[tuple, dict], rows: list[dict], keys: list[str], measures: set[str]):
    sums = [(name, f"sum_{name}") for name in measures]
    aware: dict[datetime, datetime] = {}  # each period in UTC, made once: the rows of a few series share them
    for row in rows:
        period = row.get("period")
        if period is not None and period.tzinfo is None:
            row["period"] = aware.get(period) or aware.setdefault(period, period.replace(tzinfo=UTC))
        key = tuple([row[name] for name in keys])
        total = totals.get(key)
        if total is None:
            total = totals[key] = {name: row[name] for name in keys}
            for name, column in sums:
                total[name] = row[column] or 0
        else:
            for name, column in sums:
                total[name] += row[column] or 0
