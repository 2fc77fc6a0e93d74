"""Exact sums over any range of local dates: rollups for the clean days, raw rows for the stale ones.

The answer is the rollup's sums over the clean days plus the raw aggregates over the stale days
(`analytics.scope` tells them apart), so it equals an aggregation of the raw table whether or not
the worker has run.

An answer over outlets of one zone is in that zone. Over outlets of several zones, each outlet's
days add up by date, and its hours by wall-clock hour.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from operator import add
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import DateTimeField, F, Field, Func, QuerySet, Value
from django.db.models.functions import Trunc

from analytics.facts import HISTOGRAMS, Fact, Rollup
from analytics.histograms import histogram_counts
from analytics.scope import Scope, scope_of
from analytics.zones import LocalHourStart, LocalTrunc, windows_filter
from config.api.dates import DateRange
from config.money import PLACES

# Every measure's sums are exact at the most places any kind keeps: rounding there drops only SQLite's float error.
SUM_PLACES = max(PLACES.values())


class PeriodStart(Func):
    """The start of the `period` holding a daily rollup's key; on PostgreSQL, as UTC wall-clock time, without a zone.

    A daily rollup keys a local date by its midnight UTC, so its week, month or year is UTC's truncation.
    Django reads a timestamp with a zone through a Python loader, a few microseconds a row; psycopg's C
    loader reads one without, so an hourly month of points loads in half the time. Its readers put UTC back.
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
    """The sums of `measures` per group (and per `period` start, as `period`), over the range's local dates.

    `filters` maps a dimension to the values it may take; `outlet_id` None means every outlet. A period is
    a UTC datetime: a local date's midnight UTC, or for hours the local hour's first instant (over outlets
    of several zones, its wall-clock time without a zone).
    """
    measures, group_by = list(measures), list(group_by)
    scope = scope_of(outlet_id, date_range)
    fields = [*group_by, "period"] if period else group_by
    zone = _period_zone(period, scope)
    parts = [
        _named(rows, fields, measures, zone=zone)
        for rows in _grouped_parts(fact, scope, date_range, measures, group_by, period, filters or {})
    ]
    return parts[0] if len(parts) == 1 else _added(parts, fields, set(measures))


def aggregate_series(
    fact: Fact,
    *,
    outlet_id: UUID | None,
    date_range: DateRange,
    measures: Iterable[str],
    group_by: Iterable[str] = (),
    period: str,
    slot_of: Callable[[datetime], int],
    width: int,
    filters: dict[str, list] | None = None,
) -> dict[tuple, dict[str, list]]:
    """`aggregate`'s sums as series: per group (its values of `group_by`, a tuple), per measure, `width` sums, each
    period's (a period as `aggregate` gives it) at `slot_of(period)` and 0 where no row is. No histograms.

    Each row is added into its series as it is read: an hourly month is thousands of rows, and a dict per row cost
    more than the query. The parts of an answer add up in the same lists.
    """
    measures, group_by = list(measures), list(group_by)
    if HISTOGRAMS.keys() & set(measures):
        raise ValueError("aggregate_series sums no histogram")
    scope = scope_of(outlet_id, date_range)
    zone, keys = _period_zone(period, scope), len(group_by)
    slots: dict[datetime, int] = {}  # each period's slot found once: the series share their periods
    series: dict[tuple, list[list]] = {}
    for rows in _grouped_parts(fact, scope, date_range, measures, group_by, period, filters or {}):
        for row in rows:
            moment = row[keys]
            slot = slots.get(moment)
            if slot is None:
                slot = slots[moment] = slot_of(moment if moment.tzinfo is zone else moment.replace(tzinfo=zone))
            sums = series.get(key := row[:keys])
            if sums is None:
                sums = series[key] = [[0] * width for _ in measures]
            for values, value in zip(sums, row[keys + 1 :]):
                if value:  # NULL where no row was summed
                    values[slot] += value
    return {key: dict(zip(measures, sums)) for key, sums in series.items()}


def _period_zone(period: str | None, scope: Scope):
    """The zone of an answer's periods: UTC, or none for wall-clock hours over outlets of several zones."""
    return None if period == "hour" and scope.zone is None else UTC


def _grouped_parts(
    fact: Fact, scope: Scope, date_range: DateRange, measures: list[str], group_by: list[str], period: str | None,
    filters: dict[str, list],
) -> Iterator[Iterable[tuple]]:
    """Each part's rows of sums as tuples: the values of `group_by`, the period's start (if `period`), each measure's
    sum; its histograms' as `ColumnSums` reads them, a period as the database gives it."""
    fields = [*group_by, "period"] if period else group_by
    for source, rows in _parts(fact, scope, date_range, set(group_by), period, set(measures), filters):
        sums = fact.sums(source, measures)
        if _period_zone(period, scope) is None and source.grain == "hour" and connection.vendor == "postgresql":
            yield _wall_hours_of_keys(rows, group_by, sums)
        elif fields:
            if period:
                rows = rows.annotate(period=_period_start(source, period, scope))
            if _rows_are_groups(source, scope, group_by, period, measures):
                yield rows.order_by().values_list(*fields, *measures)
            else:
                yield rows.order_by().values(*fields).annotate(**sums).values_list(*fields, *sums)
        else:
            totals = rows.aggregate(**sums)
            yield [tuple(totals[name] for name in sums)]


def _rows_are_groups(
    source: Fact | Rollup, scope: Scope, group_by: list[str], period: str | None, measures: list[str]
) -> bool:
    """One outlet's rows of a rollup keyed by the question's groups at the period's grain: each row is its group's
    sums already, read as they are (a GROUP BY that changes nothing was most of an hourly breakdown's SQL)."""
    return (
        isinstance(source, Rollup) and scope.outlet_id is not None and period == source.grain
        and source.dimensions <= set(group_by) and set(measures) <= source.measures
    )


def _wall_hours_of_keys(rows: QuerySet, group_by: list[str], sums: dict) -> list[tuple]:
    """An hourly rollup's sums over outlets of several zones, per wall-clock hour, on PostgreSQL: summed per key
    and zone first, so that only those few thousand sums are put in their zone, not every row."""
    keyed = rows.annotate(zone=F("outlet__timezone")).order_by().values(*group_by, "bucket", "zone").annotate(**sums)
    inner, params = keyed.query.sql_with_params()
    quote = connection.ops.quote_name
    wall = f"DATE_TRUNC('hour', {quote('bucket')} AT TIME ZONE {quote('zone')})"
    keys = "".join(f"{quote(name)}, " for name in group_by)
    totals = ", ".join(f"SUM({quote(name)}) AS {quote(name)}" for name in sums)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {keys}{wall}, {totals} FROM ({inner}) AS keyed GROUP BY {keys}{wall}", params)
        return cursor.fetchall()


def _period_start(source: Fact | Rollup, period: str, scope: Scope) -> Func:
    """The start of the local `period` holding each of `source`'s rows."""
    if source.grain == "day":
        return PeriodStart(source.time_field, period, truncate=period != "day")
    if period == "hour" and scope.zone:
        if source.grain == "hour":
            return PeriodStart(source.time_field, period, truncate=False)
        return LocalHourStart(source.time_field, Value(scope.zone))
    return LocalTrunc(source.time_field, period, scope.zone_expression)


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
    parts = _sums_per_value(fact, scope_of(outlet_id, date_range), date_range, dimension, measures, filters or {})
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
    fact: Fact, scope: Scope, date_range: DateRange, dimension: str, measures: list[str], filters: dict[str, list],
) -> list[tuple[str, tuple]]:
    """Each part's statement and parameters: sum_<name> of each measure per value of `dimension`."""

    def in_order(source: Fact | Rollup) -> bool:
        """Over every outlet, from an index in the value's order; one outlet's few rows are found by outlet."""
        return (
            scope.outlet_id is None and isinstance(source, Rollup) and source.ranked_in_order == dimension
            and set(measures) <= source.measures
        )

    return [
        _sums_in_order(rows, dimension, measures)
        if in_order(source)
        else rows.order_by().values(dimension).annotate(**fact.sums(source, measures)).query.sql_with_params()
        for source, rows in _parts(fact, scope, date_range, {dimension}, None, set(measures), filters)
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
    fact: Fact, scope: Scope, date_range: DateRange, dimensions: set[str], period: str | None,
    measures: set[str], filters: dict[str, list],
) -> list[tuple[Fact | Rollup, QuerySet]]:
    """The rows whose sums add up to the answer, each with its source: a rollup's rows for the clean days
    (when one can answer) and the raw rows of the stale days (of every day, when none can).
    """
    unknown = (dimensions | set(filters)) - fact.dimension_columns | measures - fact.measures.keys()
    if unknown:
        raise ValueError(f"{fact.name} has no {', '.join(sorted(unknown))}")
    rollup = fact.rollup_for(dimensions | set(filters), period, measures)
    stale = scope.stale if rollup else []
    # One filter call a part: each call copies the query.
    chosen = {f"{name}__in": values for name, values in filters.items()}
    if scope.outlet_id is not None:
        chosen["outlet_id"] = scope.outlet_id
    parts: list[tuple[Fact | Rollup, QuerySet]] = []
    if rollup:
        dated = rollup.grain == "day"
        rows = rollup.model.objects.filter(scope.range_filter("bucket", date_range, dated=dated), **chosen)
        parts.append((rollup, rows.exclude(windows_filter("bucket", stale, dated=dated)) if stale else rows))
    if rollup is None or stale:
        # The stale windows lie inside the range, each on its outlet's own days.
        days = windows_filter(fact.time_field, stale, dated=False) if stale else None
        rows = fact.raw.objects.filter(days or scope.range_filter(fact.time_field, date_range, dated=False), **chosen)
        parts.append((fact, rows))
    return parts


def _named(rows: Iterable[tuple], fields: list[str], measures: list[str], *, zone) -> list[dict]:
    """Each row of `fields` then a sum per measure as a dict of them by name (a zero or NULL sum: 0), its period in
    `zone` (`_period_zone`) and its histograms bucket counts.

    Rows are read as tuples and named here once: a dict per row from the ORM, renamed, cost more than the SQL.
    """
    names = [*fields, *measures]
    sums = [name for name in measures if name not in HISTOGRAMS]
    histograms = [(name, len(HISTOGRAMS[name])) for name in measures if name in HISTOGRAMS]
    periods: dict[datetime, datetime] = {}  # each period made once: the rows of a few series share them
    named = []
    for values in rows:
        row = dict(zip(names, values))
        period = row.get("period")
        if period is not None and period.tzinfo is not zone:
            row["period"] = periods.get(period) or periods.setdefault(period, period.replace(tzinfo=zone))
        for name in sums:
            if not row[name]:  # NULL where no row was summed; any zero reads as the int 0, as it always has
                row[name] = 0
        for name, buckets in histograms:
            row[name] = histogram_counts(row[name], buckets)
        named.append(row)
    return named


def _added(parts: list[list[dict]], keys: list[str], measures: set[str]) -> list[dict]:
    """The parts' named rows added up by `keys`: histograms bucket by bucket."""
    totals: dict[tuple, dict] = {}
    for rows in parts:
        for row in rows:
            key = tuple([row[name] for name in keys])
            total = totals.get(key)
            if total is None:
                totals[key] = row
                continue
            for name in measures:
                total[name] = [*map(add, total[name], row[name])] if name in HISTOGRAMS else total[name] + row[name]
    return list(totals.values())
