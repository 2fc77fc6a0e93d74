"""Histograms: a count per bucket as measures, and quantiles read back from the counts."""

import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from analytics.aggregation import aggregate
from analytics.facts import USAGE
from analytics.histograms import histogram_measures, latency_quantile
from analytics.models import LATENCY_COLUMNS, LATENCY_FLOORS_MS
from analytics.services import rollup_dirty_buckets
from config.api.dates import DateRange
from tests.analytics.handbuilt import D1, at, ingest, record
from usage.models import UsageRecord


def counts(column: str, floors: tuple, names: tuple[str, ...]) -> dict:
    measures = histogram_measures(column, floors, names)
    return UsageRecord.objects.aggregate(**{name: measure() for name, measure in measures.items()})


def test_each_row_counts_once_in_the_bucket_from_its_floor_to_the_next(agent):
    ingest(agent.outlet, *(record(agent, f"r{count}", at(D1), count=count) for count in (0, 9, 10, 99, 100, 5000)))
    assert counts("count", (0, 10, 100), ("low", "mid", "high")) == {"low": 2, "mid": 2, "high": 2}


def test_the_latency_histogram_s_last_bucket_is_open_ended_and_a_record_without_latency_counts_nowhere(agent):
    latencies = (0, 1, 131071, 131072, 10_000_000)
    ingest(
        agent.outlet,
        *(record(agent, f"r{latency}", at(D1), latency_ms=latency) for latency in latencies),
        record(agent, "no-latency", at(D1)),
    )
    histogram = counts("latency_ms", LATENCY_FLOORS_MS, LATENCY_COLUMNS)
    assert sum(histogram.values()) == len(latencies)
    assert (histogram[LATENCY_COLUMNS[0]], histogram[LATENCY_COLUMNS[1]]) == (1, 1)
    assert (histogram[LATENCY_COLUMNS[-2]], histogram[LATENCY_COLUMNS[-1]]) == (1, 2)


def test_an_empty_histogram_has_no_quantile():
    assert latency_quantile([0] * len(LATENCY_FLOORS_MS), 0.95) is None


@given(st.lists(st.integers(0, 300000), min_size=1, max_size=300), st.sampled_from((0.5, 0.95, 0.99)))
def test_a_histogram_quantile_lies_in_the_bucket_of_the_exact_one(latencies, quantile):
    histogram = [0] * len(LATENCY_FLOORS_MS)
    for value in latencies:
        histogram[max(index for index, floor in enumerate(LATENCY_FLOORS_MS) if value >= floor)] += 1
    exact = sorted(latencies)[max(1, math.ceil(len(latencies) * quantile)) - 1]
    estimate = latency_quantile(histogram, quantile)

    def bucket(value):
        return max(index for index, floor in enumerate(LATENCY_FLOORS_MS) if value >= floor)

    assert bucket(estimate) == bucket(exact)
    if exact < LATENCY_FLOORS_MS[-1]:
        assert abs(estimate - exact) <= max(1, 0.13 * exact)


def test_the_histogram_measure_is_its_bucket_counts_in_one_list_zero_where_no_row_falls(agent):
    ingest(agent.outlet, record(agent, "fast", at(D1), latency_ms=3), record(agent, "slow", at(D1), latency_ms=5000))

    def histogram(day):
        (row,) = aggregate(USAGE, outlet_id=agent.outlet_id, date_range=DateRange(day, day), measures={"latency_histogram"})
        return row["latency_histogram"]

    expected = [0] * len(LATENCY_COLUMNS)
    expected[3] = expected[max(i for i, floor in enumerate(LATENCY_FLOORS_MS) if floor <= 5000)] = 1
    assert histogram(D1) == expected  # from the raw rows
    rollup_dirty_buckets()
    assert histogram(D1) == expected  # from the rollup's columns
    assert histogram(D1 + timedelta(days=1)) == [0] * len(LATENCY_COLUMNS)  # no rollup row: NULL sums count 0
