"""Histograms: a count per bucket as measures, and quantiles read back from the counts."""

import math

from hypothesis import given
from hypothesis import strategies as st

from analytics.histograms import latency_quantile
from analytics.models import LATENCY_FLOORS_MS


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
