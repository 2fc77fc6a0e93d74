"""Which of an answer's days its rollups cannot answer: the scope of outlets, their zones and their stale days.

An outlet's days are local to its zone (`analytics.zones`). A day is stale for an outlet while any
hour it overlaps is in the dirty-bucket queue, or while the outlet's rollups were bucketed in
another zone than its own (`RollupZone`): its rollup rows may miss records (or interactions) that
arrived since they were built. `analytics.aggregation` sums those days from the raw rows.
"""

from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, timedelta, tzinfo
from functools import reduce
from operator import or_
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import DateField, F, Q, Value

from analytics.models import DirtyBucket, RollupZone
from analytics.zones import Window, day_windows, local_date_sql, midnight
from config.api.dates import DateRange, local_midnight
from credits.models import Outlet

# Inside `one_staleness`: the scope reads made so far, per outlet id (None: every outlet).
_staleness: ContextVar[dict | None] = ContextVar("staleness", default=None)
# A mark's last instant: the hour it covers may end on the next local day (a Kolkata hour, 18:00 to 19:00 UTC).
REST_OF_HOUR = timedelta(hours=1) - timedelta(microseconds=1)
# Local dates lie within a day of UTC's (offsets run from -12 to +14 hours): the marks that may touch a range.
ZONE_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    """The outlets an answer covers, their zones, and the windows of days their rollups cannot answer."""

    outlet_id: UUID | None
    zones: tuple[str, ...]  # the zones of its outlets
    stale: list[Window]

    @property
    def zone(self) -> str | None:
        """The zone of every outlet it covers; None when they are in several."""
        return self.zones[0] if len(self.zones) == 1 else None

    @property
    def zone_expression(self):
        """Each row's zone in SQL: the one zone, or the row's outlet's."""
        return Value(self.zone) if self.zone else F("outlet__timezone")

    def range_filter(self, field: str, date_range: DateRange, *, dated: bool) -> Q:
        """Rows whose `field` falls on the range's local dates: keyed by their midnight UTC (`dated`), or instants."""
        after = date_range.end + timedelta(days=1)
        if dated:
            return Q(**{f"{field}__gte": midnight(date_range.start), f"{field}__lt": midnight(after)})
        starts, ends, ranges = [], [], []
        for name in self.zones:
            zone = ZoneInfo(name)
            starts.append(local_midnight(date_range.start, zone))
            ends.append(local_midnight(after, zone))
            bounds = {f"{field}__gte": starts[-1], f"{field}__lt": ends[-1]}
            ranges.append(Q(**bounds) if self.zone else Q(outlet__timezone=name, **bounds))
        # Over several zones, one range around them all too: an index scans it, where it would not scan an OR.
        return Q(**{f"{field}__gte": min(starts), f"{field}__lt": max(ends)}) & reduce(or_, ranges)


@contextmanager
def one_staleness():
    """Every `aggregate` inside reads the zones and the dirty queue once per outlet and range (a range inside one
    read before is served by that read): the parts of one answer see one state of the queue, and an answer of
    several aggregates saves the reads after the first.
    """
    if _staleness.get() is not None:  # inside another: share its reads
        yield
        return
    token = _staleness.set({})
    try:
        yield
    finally:
        _staleness.reset(token)


@dataclass(frozen=True)
class _ScopeRead:
    """The zones of an answer's outlets, those whose rollups were built in another zone (id -> its zone), and
    (outlet, zone, local day) of each day that a dirty hour overlaps within `covered`'s dates (None: none read)."""

    zones: tuple[str, ...]
    rezoned: dict[UUID, str]
    marked: frozenset[tuple[UUID, str, date]]
    covered: DateRange | None

    def covers(self, date_range: DateRange | None) -> bool:
        return date_range is None or (
            self.covered is not None and self.covered.start <= date_range.start and date_range.end <= self.covered.end
        )


def _scope_read(outlet_id: UUID | None, covering: DateRange | None) -> _ScopeRead:
    """A read of `outlet_id`'s scope whose dirty days cover `covering`'s: inside `one_staleness`, one made before."""
    reads = _staleness.get()
    if reads is None:
        return _read_scope(outlet_id, covering)
    done = reads.setdefault(outlet_id, [])
    read = next((read for read in done if read.covers(covering)), None)
    if read is None:
        read = _read_scope(outlet_id, covering)
        if done:  # one answer, one view of the zones: the first read's
            read = replace(read, zones=done[0].zones, rezoned=done[0].rezoned)
        done.append(read)
    return read


def scope_of(outlet_id: UUID | None, date_range: DateRange) -> Scope:
    """The scope of an answer over `outlet_id` (None: every outlet) and the range's dates: every day of a rezoned
    outlet is stale, and every other outlet's days that a dirty hour overlaps."""
    read = _scope_read(outlet_id, date_range)
    days = {(pk, zone, day) for pk, zone, day in read.marked if date_range.start <= day <= date_range.end}
    every_day = [date_range.start + timedelta(days=offset) for offset in range(date_range.days)]
    days.update((pk, zone, day) for pk, zone in read.rezoned.items() for day in every_day)
    return Scope(outlet_id, read.zones, day_windows(days))


def answer_zone(outlet_id: UUID | None, around: DateRange | None = None) -> tzinfo | None:
    """The zone an answer's days and hours are in: its outlets' one zone, or None over several (wall-clock hours).

    `around`: dates the answer will read, whose dirty days are then read in the same statement.
    """
    zones = _scope_read(outlet_id, around).zones
    return ZoneInfo(zones[0]) if len(zones) == 1 else None


def _read_scope(outlet_id: UUID | None, covered: DateRange | None) -> _ScopeRead:
    """The outlet's (None: every outlet's) zones and rezoned outlets, and the dirty days of `covered`: one statement.

    Written as SQL: through the ORM, these reads cost more Python than the rest of a one-outlet answer.
    """
    sql, params = _zones_sql(outlet_id)
    if covered is not None:
        marks_sql, marks_params = _dirty_days_sql(outlet_id, covered)
        sql, params = f"{sql} UNION ALL {marks_sql}", [*params, *marks_params]
    rows = _fetch(sql, params)
    zones, rezoned = set(), {}
    for is_mark, zone, pk, _, _ in rows:
        if not is_mark:
            zones.add(zone)
            if pk is not None:
                rezoned[Outlet._meta.pk.to_python(pk)] = zone
    marked = _marked_days(row for row in rows if row[0])
    return _ScopeRead(tuple(sorted(zones)) or ("UTC",), rezoned, frozenset(marked), covered)


def dirty_days() -> set[tuple[UUID, str, date]]:
    """(outlet, zone, local day) of each day that a dirty hour overlaps, of every outlet, in its zone."""
    return _marked_days(_fetch(*_dirty_days_sql(None, None)))


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _marked_days(rows: Iterable[tuple]) -> set[tuple[UUID, str, date]]:
    """The days of `_dirty_days_sql`'s rows."""
    to_id, to_date = Outlet._meta.pk.to_python, DateField().to_python
    return {(to_id(pk), zone, to_date(day)) for _, zone, pk, first, last in rows for day in (first, last)}


def _names(model, *fields: str) -> list[str]:
    """The model's table, then each field's column, quoted."""
    quote = connection.ops.quote_name
    return [quote(model._meta.db_table), *(quote(model._meta.get_field(name).column) for name in fields)]


def _zones_sql(outlet_id: UUID | None) -> tuple[str, list]:
    """(0, zone, the outlet's id where its rollups were built in another zone) of the outlet, or of every outlet."""
    outlets, pk, zone = _names(Outlet, "id", "timezone")
    rollup_zones, rollup_outlet, built_in = _names(RollupZone, "outlet", "timezone")
    sql = (
        f"SELECT DISTINCT 0, o.{zone}, CASE WHEN z.{built_in} <> o.{zone} THEN o.{pk} END, "
        "CAST(NULL AS date), CAST(NULL AS date) "  # typed: a union's first branch decides its columns' types
        f"FROM {outlets} o LEFT JOIN {rollup_zones} z ON z.{rollup_outlet} = o.{pk}"
    )
    if outlet_id is None:
        return sql, []
    return f"{sql} WHERE o.{pk} = %s", [Outlet._meta.pk.get_db_prep_value(outlet_id, connection)]


def _dirty_days_sql(outlet_id: UUID | None, covered: DateRange | None) -> tuple[str, list]:
    """(1, zone, outlet id, first local day, last local day) of each dirty hour of the outlet (None: of every
    outlet) that may overlap `covered`'s dates (None: of every dirty hour), each in its outlet's zone."""
    outlets, pk, zone = _names(Outlet, "id", "timezone")
    marks, marked_outlet, hour = _names(DirtyBucket, "outlet", "hour")
    if connection.vendor == "postgresql":
        last_instant = f"(b.{hour} + INTERVAL '1 hour' - INTERVAL '1 microsecond')"
    else:  # a millisecond short: a mark is a whole hour, and local days begin at whole minutes
        last_instant = f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', b.{hour}, '+3599.999 seconds')"
    first, last = (local_date_sql(connection.vendor, moment, f"o.{zone}") for moment in (f"(b.{hour})", last_instant))
    conditions, params = [], []
    if covered is not None:
        conditions.append(f"b.{hour} >= %s")
        params.append(midnight(covered.start) - ZONE_MARGIN - REST_OF_HOUR)
        if covered.end < date.max - ZONE_MARGIN - ZONE_MARGIN:  # the last days a range may name have no bound after
            conditions.append(f"b.{hour} < %s")
            params.append(midnight(covered.end + timedelta(days=1)) + ZONE_MARGIN)
    params = [connection.ops.adapt_datetimefield_value(moment) for moment in params]
    if outlet_id is not None:
        conditions.append(f"b.{marked_outlet} = %s")
        params.append(Outlet._meta.pk.get_db_prep_value(outlet_id, connection))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT DISTINCT 1, o.{zone}, b.{marked_outlet}, {first}, {last} "
        f"FROM {marks} b JOIN {outlets} o ON o.{pk} = b.{marked_outlet}{where}"
    )
    return sql, params
