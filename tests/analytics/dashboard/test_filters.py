"""The dashboard's filters: preset ranges, from/to, the billing period, and what a bad filter says."""

from datetime import date

import pytest

from analytics.dashboard.filters import MAX_DAYS
from config.api.dates import DateRange
from tests.analytics.dashboard.pages import INDEX
from tests.analytics.handbuilt import TODAY
from tests.factories import OutletFactory


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, date(2026, 10, 1), TODAY),  # this month, every outlet: the calendar month so far
        ({"range": "7d"}, date(2026, 10, 9), TODAY),
        ({"range": "30d"}, date(2026, 9, 16), TODAY),
        ({"range": "90d"}, date(2026, 7, 18), TODAY),
        ({"from": "2026-03-02", "to": "2026-03-04", "range": "7d"}, date(2026, 3, 2), date(2026, 3, 4)),  # dates win
        ({"to": "2026-03-30"}, date(2026, 3, 1), date(2026, 3, 30)),
        ({"from": "2026-10-01"}, date(2026, 10, 1), TODAY),
    ],
)
def test_ranges_from_presets_and_dates(staff, today, params, start, end):
    page = staff.get(INDEX, params)
    assert page.context["dashboard"]["filters"].date_range == DateRange(start, end)


def test_this_month_is_the_chosen_outlets_billing_period(staff, today):
    outlet = OutletFactory(billing_cycle_day=20)
    page = staff.get(INDEX, {"outlet": outlet.pk})
    assert page.context["dashboard"]["filters"].date_range == DateRange(date(2026, 9, 20), TODAY)
    assert "the outlet's billing period so far" in page.content.decode()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-03-05", "to": "2026-03-04"}, "The range starts (2026-03-05) after it ends (2026-03-04)."),
        ({"from": "2024-01-01", "to": "2026-01-01"}, f"A range may span at most {MAX_DAYS} days."),
        ({"from": "yesterday"}, "Enter a valid date."),
        ({"to": "0001-01-01"}, "That date is out of range."),
        ({"to": "9999-12-31"}, "That date is out of range."),
        ({"from": "9999-12-31"}, "That date is out of range."),
        ({"outlet": "not-an-outlet"}, "Select a valid choice."),
    ],
)
def test_a_bad_filter_says_why_and_shows_the_default(staff, today, params, says):
    page = staff.get(INDEX, params)

    assert page.status_code == 200
    assert says in page.content.decode()
    filters = page.context["dashboard"]["filters"]
    assert (filters.preset, filters.date_range) == ("month", DateRange(date(2026, 10, 1), TODAY))


@pytest.mark.parametrize(
    ("params", "breakdown", "interval"),
    [
        ({}, "voice", "day"),
        ({"breakdown": "api_key", "interval": "cumulative"}, "api_key", "cumulative"),
        ({"breakdown": "user", "interval": "week", "range": "7d"}, "user", "week"),
        ({"breakdown": "agent"}, "voice", "day"),  # the top agents table ranks agents
        ({"breakdown": "voice", "interval": "hour"}, "voice", "day"),
    ],
)
def test_the_breakdown_is_chosen_by_dimension_and_interval_and_kept_by_the_other_links(
    staff, today, params, breakdown, interval
):
    page = staff.get(INDEX, params)

    filters = page.context["dashboard"]["filters"]
    assert (filters.breakdown, filters.interval) == (breakdown, interval)
    if (breakdown, interval) != ("voice", "day"):
        assert filters.url(range="90d").endswith(f"breakdown={breakdown}&interval={interval}")
    else:
        assert "breakdown" not in filters.url()


def test_a_bad_breakdown_says_why(staff, today):
    page = staff.get(INDEX, {"breakdown": "secrets", "interval": "fortnight"})

    assert page.status_code == 200
    assert page.content.decode().count("Select a valid choice.") == 2
