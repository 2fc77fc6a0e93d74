"""Billing periods."""

from datetime import date

import pytest

from analytics.periods import billing_period
from config.api.dates import DateRange
from tests.factories import OutletFactory


@pytest.mark.parametrize(
    ("cycle_day", "today", "start", "end"),
    [
        (1, date(2026, 3, 15), date(2026, 3, 1), date(2026, 3, 31)),
        (1, date(2026, 2, 28), date(2026, 2, 1), date(2026, 2, 28)),
        (1, date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29)),
        (15, date(2026, 1, 14), date(2025, 12, 15), date(2026, 1, 14)),
        (15, date(2026, 1, 15), date(2026, 1, 15), date(2026, 2, 14)),
        (28, date(2026, 3, 28), date(2026, 3, 28), date(2026, 4, 27)),
        (28, date(2026, 3, 27), date(2026, 2, 28), date(2026, 3, 27)),
        (28, date(2026, 1, 31), date(2026, 1, 28), date(2026, 2, 27)),
        (28, date(2026, 2, 28), date(2026, 2, 28), date(2026, 3, 27)),
        (28, date(2026, 12, 30), date(2026, 12, 28), date(2027, 1, 27)),
        (28, date(2024, 2, 29), date(2024, 2, 28), date(2024, 3, 27)),
    ],
)
def test_billing_period_runs_from_the_cycle_day_to_the_day_before_the_next(cycle_day, today, start, end):
    outlet = OutletFactory.build(billing_cycle_day=cycle_day)
    assert billing_period(outlet, today) == DateRange(start, end)
