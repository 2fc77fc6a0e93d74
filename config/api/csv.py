"""`?format=csv` on lists: the whole filtered list, streamed, never held in memory."""

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from functools import partial

from django.core.exceptions import FieldError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from config.api.dates import zone_iso
from config.api.fields import canonical_choice

FORMATS = ("json", "csv")
CHUNK_SIZE = 2000  # rows fetched per round trip (a server-side cursor on PostgreSQL)
LINES_PER_WRITE = 500  # lines joined per chunk of the response, so the server writes a few large chunks


def parse_format(params) -> str:
    fmt = canonical_choice(params.get("format") or "json", FORMATS)  # blank is absent, as for every parameter
    if fmt not in FORMATS:
        raise ValidationError({"format": [f"Must be 'json' or 'csv', not '{fmt}'."]})
    return fmt


class _Echo:
    """A file for csv.writer that hands each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value, zone: tzinfo = UTC) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return zone_iso(value, zone)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _batched(lines: Iterator[str]) -> Iterator[str]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) >= LINES_PER_WRITE:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


def dict_csv_lines(rows: Iterable[dict], columns: list[str], *, zone: tzinfo = UTC) -> Iterator[str]:
    """The header, then a line per row; a time is ISO 8601 with `zone`'s offset (one outlet's rows: its zone)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([_cell(row.get(column), zone) for column in columns])


def _formatter(field: serializers.Field, zone: tzinfo) -> Callable[[object], str]:
    """How a column reads in the CSV: the JSON item's text (times with `zone`'s offset), without a serializer
    call per cell."""
    if isinstance(field, serializers.DateTimeField):
        return partial(zone_iso, zone=zone)
    if isinstance(field, serializers.DecimalField):
        return f"{{:.{field.decimal_places}f}}".format
    return _cell


def _database_lines(queryset: QuerySet, fields: dict[str, serializers.Field], zone: tzinfo) -> Iterator[str] | None:
    """Lines read straight from `values_list` rows; None when a column is computed in Python."""
    paths = [field.source.replace(".", "__") for field in fields.values()]
    if "*" in paths:
        return None
    unique_paths = list(dict.fromkeys(paths))
    try:
        rows = queryset.values_list(*unique_paths)
    except FieldError:
        return None
    positions = [unique_paths.index(path) for path in paths]
    formatters = [_formatter(field, zone) for field in fields.values()]

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(list(fields))
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            cells = (row[position] for position in positions)
            yield writer.writerow(["" if cell is None else fmt(cell) for cell, fmt in zip(cells, formatters)])

    return lines()


def _write_times_in(fields: dict[str, serializers.Field], zone: tzinfo) -> None:
    """Points every time field, nested ones included, at `zone` (DRF's `default_timezone`, set after the fact)."""
    for field in fields.values():
        field = getattr(field, "child", field)  # a list of a serializer or a field: its items
        if isinstance(field, serializers.DateTimeField):
            field.timezone = zone
        elif isinstance(field, serializers.Serializer):
            _write_times_in(field.fields, zone)


def queryset_csv_rows(queryset: QuerySet, serializer_for: Callable, *, zone: tzinfo = UTC) -> Iterator[str]:
    """The header, then one CSV line per row (a cell may hold a newline), times with `zone`'s offset: from plain
    database rows when every column is stored, else object by object through one serializer."""
    serializer = serializer_for()
    lines = _database_lines(queryset, serializer.fields, zone)
    if lines is None:
        _write_times_in(serializer.fields, zone)
        rows = (serializer.to_representation(obj) for obj in queryset.iterator(chunk_size=CHUNK_SIZE))
        lines = dict_csv_lines(rows, list(serializer.fields))
    return lines


def queryset_csv_lines(queryset: QuerySet, serializer_for: Callable, *, zone: tzinfo = UTC) -> Iterator[str]:
    """`queryset_csv_rows` joined into a few large chunks, for a response."""
    return _batched(queryset_csv_rows(queryset, serializer_for, zone=zone))


def csv_response(lines: Iterable[str], filename: str) -> StreamingHttpResponse:
    """The lines streamed as a CSV file. The first chunk is taken before the answer starts: it runs the query (on
    PostgreSQL a held cursor computes its rows when declared), so a failure there, a statement timeout say, is
    still a JSON error rather than a 200 cut short."""
    lines = iter(lines)
    first = next(lines, "")
    response = StreamingHttpResponse(itertools.chain([first], lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    enum=list(FORMATS),
    default="json",
    description="`csv` streams every matching row as CSV (cursor and take are ignored).",
)
