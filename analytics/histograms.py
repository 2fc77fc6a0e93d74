"""Histograms of a measured column: a count per bucket as measures, and quantiles read back from the counts.

The buckets' floors are defined with the rollup columns that store them (`analytics.models`).
"""

import math
from collections.abc import Callable

from django.db.models import Count, Expression, Func, JSONField, Q

from analytics.models import LATENCY_FLOORS_MS


def histogram_measures(column: str, floors: tuple, names: tuple[str, ...]) -> dict[str, Callable[[], Count]]:
    """One count per bucket: rows whose `column` is from `floors[i]` to the next floor (the last is open-ended)."""
    measures = {}
    for index, name in enumerate(names):
        bounds = Q(**{f"{column}__gte": floors[index]})
        if index + 1 < len(floors):
            bounds &= Q(**{f"{column}__lt": floors[index + 1]})
        measures[name] = lambda bounds=bounds: Count("pk", filter=bounds)
    return measures


# A JSON array of values, by vendor: on PostgreSQL a jsonb, which Django reads back as text, as SQLite's.
JSON_ARRAY = {"postgresql": "JSONB_BUILD_ARRAY", "sqlite": "JSON_ARRAY"}


class Counts(Func):
    """A histogram's counts over raw rows (its measures' expressions) as one JSON array."""

    output_field = JSONField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function=JSON_ARRAY[connection.vendor], **extra_context)


class ColumnSums(Expression):
    """The sum of each of a rollup's histogram `fields` as one JSON array.

    One expression with its SQL written out: fifty `Sum`s cost fifty resolutions and compilations through
    the ORM, more than the query itself takes. It reads the queried table's own columns, as `aggregate`'s
    queries of a rollup do; it has no source expressions, so it is not for a subquery Django would relabel.
    """

    contains_aggregate = True

    def __init__(self, fields: tuple[str, ...]):
        super().__init__(output_field=JSONField())
        self.fields = fields
        self.table, self.columns = None, ()

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        resolved = self.copy()
        resolved.table = query.get_initial_alias()
        resolved.columns = tuple(query.model._meta.get_field(name).column for name in self.fields)
        return resolved

    def as_sql(self, compiler, connection, **extra_context):
        table = compiler.quote_name_unless_alias(self.table)
        sums = ", ".join(f"SUM({table}.{connection.ops.quote_name(column)})" for column in self.columns)
        return f"{JSON_ARRAY[connection.vendor]}({sums})", []

    def get_group_by_cols(self):
        return []


def histogram_counts(value: list | None, buckets: int) -> list[int]:
    """A histogram measure's value as counts: no rows (NULL sums) count 0."""
    return [count or 0 for count in value] if value else [0] * buckets


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
