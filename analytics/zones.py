"""Local time, in SQL and in Python: the outlet's day, hour, week, month or year an instant falls in.

An outlet's days and hours are local to its zone. A daily rollup keys a local date by that date's
midnight UTC (as the series' points do), so a range of dates reads the same rows whatever the
zone. An hourly rollup keys a local hour by the instant it began at the offset in force then: a
Kolkata hour starts at :30 UTC, and the hour DST repeats is two hours, the one it skips none.
"""

import functools
import operator
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import NotSupportedError
from django.db.models import DateField, DateTimeField, Func, Q

from config.api.dates import DateRange, local_midnight

HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)
# (outlet id, its zone, first day, the day after the last) of consecutive local days
Window = tuple[UUID, str, date, date]
# Every offset in use since 2000 is a multiple of 15 minutes: a step this short meets every local hour.
OFFSET_STEP = timedelta(minutes=15)


class _InZone(Func):
    """An expression of an instant and a zone (a name's Value, or a column), in PostgreSQL's or SQLite's SQL."""

    output_field = DateTimeField()

    def compiled(self, compiler) -> tuple[str, tuple, str, tuple]:
        """The instant's SQL (parenthesised: AT TIME ZONE binds tighter than +) and params, the zone's and params."""
        (moment, moment_params), (zone, zone_params) = (compiler.compile(part) for part in self.get_source_expressions())
        return f"({moment})", tuple(moment_params), zone, tuple(zone_params)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"{type(self).__name__}: Ledgerline runs on PostgreSQL and SQLite, not {connection.vendor}")


class LocalTrunc(_InZone):
    """The start of the local `period` holding an instant in `zone`, as wall-clock time without a zone.

    Read back as UTC, a local day is its date's midnight UTC: the daily rollups' key.
    """

    def __init__(self, expression, period: str, zone):
        self.period = period
        super().__init__(expression, zone)

    def as_postgresql(self, compiler, connection, **extra_context):
        moment, moment_params, zone, zone_params = self.compiled(compiler)
        return f"DATE_TRUNC(%s, {moment} AT TIME ZONE {zone})", (self.period, *moment_params, *zone_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        moment, moment_params, zone, zone_params = self.compiled(compiler)
        return f"ledgerline_local_trunc(%s, {moment}, {zone})", (self.period, *moment_params, *zone_params)


class LocalHourStart(_InZone):
    """The instant the local hour holding an instant began in `zone`, as UTC wall-clock time without a zone.

    It is the instant less the local minutes and seconds past the hour: the offset in force at the
    instant decides, so the two hours DST's end repeats stay two.
    """

    def as_postgresql(self, compiler, connection, **extra_context):
        moment, moment_params, zone, zone_params = self.compiled(compiler)
        local = f"({moment} AT TIME ZONE {zone})"
        sql = f"({moment} - ({local} - DATE_TRUNC('hour', {local}))) AT TIME ZONE 'UTC'"
        return sql, (*moment_params, *moment_params, *zone_params, *moment_params, *zone_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        moment, moment_params, zone, zone_params = self.compiled(compiler)
        return f"ledgerline_local_hour_start({moment}, {zone})", (*moment_params, *zone_params)


def local_date_sql(vendor: str, moment: str, zone: str) -> str:
    """SQL of the local date of an instant (its SQL, parenthesised) in a zone (a name's SQL or a column)."""
    if vendor == "postgresql":
        return f"({moment} AT TIME ZONE {zone})::date"
    if vendor == "sqlite":
        return f"ledgerline_local_date({moment}, {zone})"
    raise NotSupportedError(f"Ledgerline runs on PostgreSQL and SQLite, not {vendor}")


class LocalDate(_InZone):
    """The local date of an instant in `zone`."""

    output_field = DateField()

    def as_sql(self, compiler, connection, **extra_context):
        moment, moment_params, zone, zone_params = self.compiled(compiler)
        return local_date_sql(connection.vendor, moment, zone), (*moment_params, *zone_params)


def local_hour_start(moment: datetime, zone: tzinfo) -> datetime:
    """The local hour holding `moment`, as the instant it began with its offset (what LocalHourStart computes)."""
    local = moment.astimezone(zone)
    offset = timezone(local.utcoffset())
    return local.replace(minute=0, second=0, microsecond=0, tzinfo=offset)


def _sqlite_local(moment: str, zone: str) -> datetime:
    """A stored time (naive UTC text) in `zone`: ZoneInfo's reading of the name (Django's own functions take
    Etc/GMT+10 for UTC+10; it is UTC-10)."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC).astimezone(ZoneInfo(zone))


def _sqlite_local_trunc(period: str, moment: str | None, zone: str | None) -> str | None:
    if moment is None or zone is None:
        return None
    local = _sqlite_local(moment, zone).replace(tzinfo=None)
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0).isoformat(" ")
    day = period_start(local.date(), period)
    return datetime.combine(day, time.min).isoformat(" ")


def _sqlite_local_date(moment: str | None, zone: str | None) -> str | None:
    return None if moment is None or zone is None else _sqlite_local(moment, zone).date().isoformat()


def _sqlite_local_hour_start(moment: str | None, zone: str | None) -> str | None:
    if moment is None or zone is None:
        return None
    start = local_hour_start(datetime.fromisoformat(moment).replace(tzinfo=UTC), ZoneInfo(zone))
    return start.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """`connection_created`: SQLite has no time zones, so Python computes the local times."""
    if connection.vendor == "sqlite":
        functions = (
            ("ledgerline_local_trunc", 3, _sqlite_local_trunc),
            ("ledgerline_local_date", 2, _sqlite_local_date),
            ("ledgerline_local_hour_start", 2, _sqlite_local_hour_start),
        )
        for name, arguments, function in functions:
            connection.connection.create_function(name, arguments, function, deterministic=True)


def period_start(day: date, interval: str) -> date:
    """The first day of the week (Monday), month or year holding `day`; the day itself otherwise."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


@functools.lru_cache(maxsize=64)  # the answers of a range ask for its hours again
def local_hours(date_range: DateRange, zone: tzinfo) -> tuple[datetime, ...]:
    """Every local hour of the range's dates in `zone`, in order, each as `local_hour_start` gives it: 23 on the day
    DST starts, 25 on the day it ends, and a 30-minute shift's short hour too."""
    hours: list[datetime] = []
    day_start = local_midnight(date_range.start, zone)
    for offset in range(date_range.days):
        day_end = local_midnight(date_range.start + timedelta(days=offset + 1), zone)
        first = local_hour_start(day_start, zone)
        if first.utcoffset() == (day_end - TICK).astimezone(zone).utcoffset():  # one offset all day: no transition
            hours.extend(first + HOUR * hour for hour in range(round((day_end - day_start) / HOUR)))
        else:
            hours.extend(_hours_across_a_transition(day_start, day_end, zone))
        day_start = day_end
    return tuple(hours)


def _hours_across_a_transition(moment: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    hours = []
    while moment < end:
        start = local_hour_start(moment, zone)
        hours.append(start)
        after = start + HOUR
        if moment.astimezone(zone).utcoffset() != (after - TICK).astimezone(zone).utcoffset():
            # The offset changes inside this hour: the next local hour begins where it does.
            after = moment + OFFSET_STEP
            while local_hour_start(after, zone) == start:
                after += OFFSET_STEP
        moment = after
    return hours


def wall_hours(date_range: DateRange) -> list[datetime]:
    """Every wall-clock hour of the range's dates, without a zone: outlets of several zones add their hours by them."""
    days = (date_range.start + timedelta(days=offset) for offset in range(date_range.days))
    return [datetime.combine(day, datetime.min.time()) + timedelta(hours=hour) for day in days for hour in range(24)]


def as_utc(moment: datetime) -> datetime:
    """A time these expressions computed: PostgreSQL's comes as UTC wall-clock time without a zone, SQLite's with UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def date_of(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def midnight(day: date) -> datetime:
    """A date's midnight UTC: how a daily rollup keys a local date."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_windows(outlet_days: Iterable[tuple[UUID, str, date]]) -> list[Window]:
    """Runs of consecutive days per outlet (in its zone)."""
    windows: list[Window] = []
    for outlet_id, zone, day in sorted(set(outlet_days)):
        if windows and windows[-1][0] == outlet_id and windows[-1][3] == day:
            windows[-1] = (outlet_id, zone, windows[-1][2], day + timedelta(days=1))
        else:
            windows.append((outlet_id, zone, day, day + timedelta(days=1)))
    return windows


def window_bounds(window: Window, *, dated: bool) -> tuple[datetime, datetime]:
    """The window as a half-open range: of local dates keyed by their midnight UTC (`dated`), else of instants."""
    _, zone, first, after = window
    if dated:
        return midnight(first), midnight(after)
    local = ZoneInfo(zone)
    return local_midnight(first, local), local_midnight(after, local)


def windows_filter(field: str, windows: list[Window], *, dated: bool) -> Q:
    """Rows of the windows' outlets whose `field` falls in them: local dates (`dated`) or instants."""
    ranges = []
    for window in windows:
        start, end = window_bounds(window, dated=dated)
        ranges.append(Q(outlet_id=window[0], **{f"{field}__gte": start, f"{field}__lt": end}))
    return functools.reduce(operator.or_, ranges)
