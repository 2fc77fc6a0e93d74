"""Periods: the week, month or year holding a day, every period of a range, an outlet's billing period.

Days are UTC days; weeks start on Monday.
"""

from datetime import UTC, date, datetime, timedelta

from config.api.dates import DateRange
from credits.models import Outlet

INTERVALS = ("hour", "day", "week", "month", "year", "cumulative")  # a usage breakdown's point widths
HISTORY_INTERVALS = ("day", "week", "month")  # the credit history's period widths


def period_start(day: date, interval: str) -> date:
    """The first day of the week (Monday), month or year holding `day`; the day itself otherwise."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


def period_starts(date_range: DateRange, interval: str) -> list:
    """Every period of the range in order: hours (as datetimes) or period starts (as dates)."""
    if interval == "hour":
        return [date_range.start_at + timedelta(hours=hour) for hour in range(date_range.days * 24)]
    days = (date_range.start + timedelta(days=offset) for offset in range(date_range.days))
    return list(dict.fromkeys(period_start(day, interval) for day in days))


def period_key(moment: datetime, interval: str):
    """The period holding `moment`, as `period_starts` lists it: the hour itself, or its period's start."""
    return moment if interval == "hour" else period_start(moment.astimezone(UTC).date(), interval)


def billing_period(outlet: Outlet, today: date) -> DateRange:
    """The billing period holding `today`: from the last `billing_cycle_day` to the day before the next."""
    cycle_day = outlet.billing_cycle_day
    start = today.replace(day=cycle_day)
    if today.day < cycle_day:
        start = (start.replace(day=1) - timedelta(days=1)).replace(day=cycle_day)
    next_start = (start.replace(day=28) + timedelta(days=4)).replace(day=cycle_day)
    return DateRange(start, next_start - timedelta(days=1))
