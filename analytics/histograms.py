"""Histograms of a measured column: a count per bucket as measures, and quantiles read back from the counts.

The buckets' floors are defined with the rollup columns that store them (`analytics.models`).
"""

import math
from collections.abc import Callable

from django.db.models import Count, Q

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
