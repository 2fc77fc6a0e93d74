"""Reconcile's proof for the rollups: on every local day with no dirty mark, each rollup row holds its raw rows' sums.

Days are each outlet's local dates, and the raw rows are bucketed in its zone. A day a dirty mark
overlaps is read from raw rows (the tail) and rebuilt by the next run, so it is left out, as is an
outlet whose rollups were built in another zone than its own (read raw until rebuilt); on the other
days a missing, extra or different rollup row would make an answer wrong. Each
rollup is compared with one grouped query of the raw rows, built from the fact's own measure
expressions, in Python: decimals are compared at the rollup column's places (SQLite sums them as
floats), everything else exactly.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.db.models import F

from analytics.facts import FACTS, Fact, Rollup, rollup_rows
from analytics.models import RollupZone
from analytics.scope import dirty_days
from analytics.services import BUILD_WORK_MEM
from analytics.zones import as_utc, date_of
from config.checks import CheckResult
from config.commands import plural
from config.money import quantum
from credits.models import Outlet

ROWS_SHOWN = 20  # mismatching rows listed per rollup; the rest are counted
MEASURES_SHOWN = 4  # differing measures named per row; the rest are counted
EXACT = Context(prec=60)  # wider than any column: quantizing a sum never raises

Key = tuple  # (outlet id, bucket, *dimension values in sorted dimension order)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One view of marks, rollups and raw rows: a build or an ingest committing meanwhile shows as no mismatch."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:  # only a transaction's first statement may set it (a test's transaction is already open)
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(f"SET LOCAL work_mem = '{BUILD_WORK_MEM}'")  # group in memory, as the builds do
        yield  # SQLite: a transaction reads one snapshot already


def _dirty_days() -> set[tuple[UUID, date]]:
    """(outlet, local day) of each day a dirty hour overlaps."""
    return {(outlet_id, day) for outlet_id, _, day in dirty_days()}


def _exact(value, places: int | None):
    if places is None:
        return int(value)
    if isinstance(value, float):
        value = repr(value)  # the shortest decimal that is this float, not its binary expansion
    return Decimal(value).quantize(quantum(places), context=EXACT)


def _day(rollup: Rollup, bucket: datetime, zone: ZoneInfo) -> date:
    """The local date of a rollup's bucket: a daily key is the date's midnight UTC, an hourly one an instant."""
    return date_of(bucket, zone) if rollup.grain == "hour" else bucket.astimezone(UTC).date()


def check_rollups() -> CheckResult:
    """Every rollup row of a clean day equals the raw aggregation of its bucket and dimensions, and none is missing."""
    problems: list[str] = []
    rows = 0
    with _snapshot():
        dirty_days = _dirty_days()
        zones = {pk: ZoneInfo(name) for pk, name in Outlet.objects.values_list("pk", "timezone")}
        rezoned = set(RollupZone.objects.exclude(timezone=F("outlet__timezone")).values_list("outlet_id", flat=True))
        for fact in FACTS:
            for rollup in fact.rollups:
                checked, found = _compare(fact, rollup, _Skipped(dirty_days, rezoned, zones))
                rows += checked
                problems.extend(found)
    checked = plural(rows, "rollup row")
    if dirty_days:
        checked += f" ({plural(len(dirty_days), 'dirty outlet day')} left to raw rows)"
    if rezoned:
        checked += f" ({plural(len(rezoned), 'outlet')} in a new zone, left to raw rows until rebuilt)"
    return CheckResult(checked=checked, problems=problems)


@dataclass(frozen=True)
class _Skipped:
    """What the check leaves to raw rows: dirty outlet days and rezoned outlets; the outlets' zones to tell days."""

    dirty_days: set[tuple[UUID, date]]
    rezoned: set[UUID]
    zones: dict[UUID, ZoneInfo]

    def __contains__(self, row: tuple[Rollup, UUID, datetime]) -> bool:
        rollup, outlet_id, bucket = row
        return outlet_id in self.rezoned or (outlet_id, _day(rollup, bucket, self.zones[outlet_id])) in self.dirty_days


def _compare(fact: Fact, rollup: Rollup, skipped: _Skipped) -> tuple[int, list[str]]:
    """The rollup's rows on clean days, and one line per row that differs from the raw rows (at most ROWS_SHOWN)."""
    dimensions = sorted(rollup.dimensions)
    measures = fact.stored_measures(rollup)
    places = {}
    for name in measures:
        model_field = rollup.model._meta.get_field(name)
        places[name] = model_field.decimal_places if isinstance(model_field, models.DecimalField) else None

    raw_rows = rollup_rows(fact, rollup, fact.raw.objects.all(), F("outlet__timezone"))
    expected: dict[Key, tuple] = {}
    for row in raw_rows.iterator(chunk_size=5000):
        bucket = as_utc(row["rollup_bucket"])
        if (rollup, row["outlet_id"], bucket) not in skipped:
            key = (row["outlet_id"], bucket, *(row[name] for name in dimensions))
            expected[key] = tuple(_exact(row[f"sum_{name}"], places[name]) for name in measures)

    checked = 0
    differing: list[tuple[Key, tuple | None, tuple | None]] = []
    stored_rows = rollup.model.objects.values("outlet_id", "bucket", *dimensions, *measures).order_by()
    for row in stored_rows.iterator(chunk_size=5000):
        if (rollup, row["outlet_id"], row["bucket"]) in skipped:
            continue
        checked += 1
        key = (row["outlet_id"], row["bucket"], *(row[name] for name in dimensions))
        stored = tuple(_exact(row[name], places[name]) for name in measures)
        raw = expected.pop(key, None)
        if stored != raw:
            differing.append((key, stored, raw))
    differing.extend((key, None, raw) for key, raw in expected.items())  # raw rows with no rollup row

    differing.sort(key=lambda item: tuple(map(str, item[0])))
    lines = [_describe(rollup, dimensions, measures, *item) for item in differing[:ROWS_SHOWN]]
    if len(differing) > ROWS_SHOWN:
        lines.append(
            f"{rollup.model.__name__}: {len(differing) - ROWS_SHOWN} more rows differ from the raw rows "
            f"({len(differing)} in all)."
        )
    return checked, lines


def _describe(rollup: Rollup, dimensions: list[str], measures: list[str], key: Key, stored, raw) -> str:
    """One line: the rollup, the row's outlet, bucket and dimensions, and the measures that differ."""
    outlet_id, bucket, *values = key
    when = f"{bucket.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if rollup.grain == "hour" else f"{bucket.date()}"
    where = " ".join(f"{name}={value}" if value != "" else f'{name}=""' for name, value in zip(dimensions, values))
    row = f"{rollup.model.__name__} outlet {outlet_id} {when} {where}"
    if stored is None:
        sums = [f"{name} {value}" for name, value in zip(measures, raw) if value]
        return f"{row}: no rollup row; the raw rows add up to {_listed(sums, ', ')}"
    if raw is None:
        sums = [f"{name} {value}" for name, value in zip(measures, stored) if value]
        return f"{row}: no raw rows, yet the rollup row holds {_listed(sums, ', ') if sums else 'only zeros.'}"
    changes = [
        f"{name} {mine} in the rollup, {theirs} in the raw rows"
        for name, mine, theirs in zip(measures, stored, raw)
        if mine != theirs
    ]
    return f"{row}: {_listed(changes, '; ')}"


def _listed(items: list[str], separator: str) -> str:
    """The first MEASURES_SHOWN items, and how many more there are; ends the sentence."""
    more = len(items) - MEASURES_SHOWN
    return separator.join(items[:MEASURES_SHOWN]) + (f" (and {more} more measures)." if more > 0 else ".")
