from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from rest_framework.exceptions import ValidationError

from config.api.dates import (
    DateRange,
    SpansTooLong,
    StartsAfterEnd,
    day_allowed,
    parse_date_range,
    valid_range,
    zone_iso,
)


def test_range_is_end_inclusive_in_utc():
    date_range = parse_date_range({"start_date": "2026-03-01", "end_date": "2026-03-31"})
    assert date_range.start_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert date_range.end_before == datetime(2026, 4, 1, tzinfo=UTC)
    assert date_range.days == 31


def test_from_and_to_are_aliases():
    assert parse_date_range({"from": "2026-01-02", "to": "2026-01-03"}).start == date(2026, 1, 2)


def test_default_is_the_last_30_days_ending_today(time_machine_today):
    date_range = parse_date_range({})
    assert (date_range.start, date_range.end) == (date(2026, 10, 23), date(2026, 11, 21))


def test_a_missing_start_counts_back_from_the_end():
    assert parse_date_range({"end_date": "2026-02-10"}, default_days=7).start == date(2026, 2, 4)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"from": "yesterday"}, "from"),
        ({"end_date": "2026/01/01"}, "end_date"),
        ({"start_date": "2026-02-02", "end_date": "2026-02-01"}, "start_date"),
    ],
)
def test_bad_dates_name_the_parameter(params, field):
    with pytest.raises(ValidationError) as raised:
        parse_date_range(params)
    assert field in raised.value.detail


def test_a_range_longer_than_allowed_is_refused():
    with pytest.raises(ValidationError, match="at most 90 days"):
        parse_date_range({"start_date": "2026-01-01", "end_date": "2026-06-01"}, max_days=90)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-01-01", "to": "2026-06-01"}, "from", "The range may span at most 90 days, not 152."),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from", "from 2026-02-01 is after to 2026-01-01."),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date",
         "start_date 2026-02-01 is after end_date 2026-01-01."),
    ],
)
def test_a_bad_range_is_named_as_the_caller_sent_it(params, field, message):
    with pytest.raises(ValidationError) as raised:
        parse_date_range(params, max_days=90)
    assert raised.value.detail == {field: [message]}


@pytest.fixture
def time_machine_today(monkeypatch):
    monkeypatch.setattr("config.api.dates.timezone.now", lambda: datetime(2026, 11, 21, 23, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end_date": "9999-12-31"}, "end_date"),
        ({"to": "9999-12-31"}, "to"),
        ({"start_date": "0001-01-01"}, "start_date"),
        ({"end_date": "0001-01-01"}, "end_date"),
        ({"start_date": "1999-12-31", "end_date": "2000-01-05"}, "start_date"),
    ],
)
def test_days_outside_the_range_any_usage_can_have_are_a_400_naming_the_parameter(params, field):
    with pytest.raises(ValidationError) as raised:
        parse_date_range(params)
    assert "out of range" in str(raised.value.detail[field][0])


def test_the_last_and_first_days_allowed_compute_their_bounds():
    date_range = parse_date_range({"start_date": "2000-01-01", "end_date": "9999-12-30"})
    assert date_range.end_before == datetime(9999, 12, 31, tzinfo=UTC) and date_range.start_at.year == 2000


def test_a_default_start_never_precedes_the_first_day():
    assert parse_date_range({"end_date": "2000-01-05"}).start == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("day", "allowed"),
    [
        (date(1999, 12, 31), False), (date(2000, 1, 1), True), (date(2026, 3, 1), True),
        (date(9999, 12, 30), True), (date(9999, 12, 31), False),
    ],
)
def test_a_day_is_allowed_from_the_first_day_to_the_day_before_the_last(day, allowed):
    assert day_allowed(day) is allowed


def test_a_valid_range_runs_from_start_to_end_inclusive():
    assert valid_range(date(2026, 3, 1), date(2026, 3, 1)) == DateRange(date(2026, 3, 1), date(2026, 3, 1))
    assert valid_range(date(2026, 1, 1), date(2026, 3, 31), max_days=90).days == 90


def test_a_range_that_starts_after_it_ends_says_both_days():
    with pytest.raises(StartsAfterEnd) as raised:
        valid_range(date(2026, 3, 2), date(2026, 3, 1))
    assert (raised.value.start, raised.value.end) == (date(2026, 3, 2), date(2026, 3, 1))


def test_a_range_over_its_days_says_how_many_it_spans():
    with pytest.raises(SpansTooLong) as raised:
        valid_range(date(2026, 1, 1), date(2026, 4, 1), max_days=90)
    assert (raised.value.days, raised.value.max_days) == (91, 90)


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("Asia/Kolkata", "2026-03-08T01:30:00+05:30"),
        ("America/New_York", "2026-03-07T15:00:00-05:00"),
        ("Europe/London", "2026-03-07T20:00:00Z"),  # a zero offset is a Z, as in the API's times
    ],
)
def test_a_moment_in_a_zone_carries_its_offset(zone, text):
    assert zone_iso(datetime(2026, 3, 7, 20, 0, tzinfo=UTC), ZoneInfo(zone)) == text
