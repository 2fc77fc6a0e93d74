"""Period arithmetic: period starts, every period of a range, the period of a moment, billing periods."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from analytics.periods import billing_period, period_key, period_start, period_starts
from config.api.dates import DateRange
from tests.factories import OutletFactory


@pytest.mark.parametrize(
    ("interval", "start"),
    [
        ("day", date(2026, 3, 4)),
        ("cumulative", date(2026, 3, 4)),
        ("week", date(2026, 3, 2)),  # Wednesday 4 March: the week starts on Monday 2 March
        ("month", date(2026, 3, 1)),
        ("year", date(2026, 1, 1)),
    ],
)
def test_a_period_starts_on_its_first_day(interval, start):
    assert period_start(date(2026, 3, 4), interval) == start


def test_a_week_holding_a_monday_starts_that_day_and_one_across_a_year_starts_in_the_old_year():
    assert period_start(date(2026, 3, 2), "week") == date(2026, 3, 2)
    assert period_start(date(2026, 1, 1), "week") == date(2025, 12, 29)


def test_period_starts_lists_every_period_of_the_range_once_in_order():
    march = DateRange(date(2026, 2, 27), date(2026, 3, 17))
    assert period_starts(march, "month") == [date(2026, 2, 1), date(2026, 3, 1)]
    assert period_starts(march, "week") == [date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert period_starts(march, "day")[:3] == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    assert len(period_starts(march, "day")) == march.days == 19


def test_hourly_periods_are_every_hour_of_every_day_in_utc():
    hours = period_starts(DateRange(date(2026, 3, 1), date(2026, 3, 2)), "hour")
    assert len(hours) == 48
    assert hours[0] == datetime(2026, 3, 1, tzinfo=UTC) and hours[-1] == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert all(later - earlier == timedelta(hours=1) for earlier, later in zip(hours, hours[1:]))


def test_a_moment_falls_in_the_period_period_starts_lists():
    moment = datetime(2026, 3, 4, 13, tzinfo=UTC)
    assert period_key(moment, "hour") == moment
    assert period_key(moment, "day") == date(2026, 3, 4)
    assert period_key(moment, "week") == date(2026, 3, 2)
    assert period_key(moment, "month") in period_starts(DateRange(date(2026, 3, 1), date(2026, 3, 31)), "month")


def test_a_moment_s_period_is_its_utc_day_whatever_its_zone():
    late_in_new_york = datetime(2026, 3, 31, 21, tzinfo=timezone(timedelta(hours=-5)))  # 1 April, 02:00 UTC
    assert period_key(late_in_new_york, "day") == date(2026, 4, 1)
    assert period_key(late_in_new_york, "month") == date(2026, 4, 1)


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
    assert billing_period(outlet, today) == DateRange(start, end, outlet.zone)
