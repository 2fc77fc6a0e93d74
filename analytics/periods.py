"""Periods: the week, month or year holding a day, every period of a range, an outlet's billing period.

Days are an outlet's local dates; weeks start on Monday (ISO 8601, and what PostgreSQL's week truncation does).
"""

from datetime import UTC, date, datetime, timedelta, tzinfo

from analytics.zones import local_hours, period_start, wall_hours
from config.api.dates import DateRange
from credits.models import Outlet

INTERVALS = ("hour", "day", "week", "month", "year", "cumulative")  # a usage breakdown's point widths
HISTORY_INTERVALS = ("day", "week", "month")  # the credit history's period widths


def period_starts(date_range: DateRange, interval: str, zone: tzinfo | None = UTC) -> list:
    """Every period of the range in order: period starts (as dates) or hours.

    An hour is its first instant with the offset of `zone` (a DST day has 23 or 25), or over outlets
    of several zones (`zone` None) a wall-clock hour without a zone.
    """
    if interval == "hour":
        return list(local_hours(date_range, zone)) if zone else wall_hours(date_range)
    days = (date_range.start + timedelta(days=offset) for offset in range(date_range.days))
    return list(dict.fromkeys(period_start(day, interval) for day in days))


def period_key(moment: datetime, interval: str):
    """The period holding `moment` (as `aggregate` gives it), as `period_starts` lists it: the hour itself, or its
    period's start."""
    return moment if interval == "hour" else period_start(moment.astimezone(UTC).date(), interval)


def billing_period(outlet: Outlet, today: date) -> DateRange:
    """The billing period holding the local date `today`: from the last `billing_cycle_day` to the day before the
    next, in the outlet's zone (it starts at local midnight)."""
    cycle_day = outlet.billing_cycle_day
    start = today.replace(day=cycle_day)
    if today.day < cycle_day:
        start = (start.replace(day=1) - timedelta(days=1)).replace(day=cycle_day)
    next_start = (start.replace(day=28) + timedelta(days=4)).replace(day=cycle_day)
    return DateRange(start, next_start - timedelta(days=1), outlet.zone)
