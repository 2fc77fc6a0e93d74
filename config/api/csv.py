"""`?format=csv` on lists: the whole filtered list, streamed, never held in memory."""

import csv
import json
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

FORMATS = ("json", "csv")


def parse_format(params) -> str:
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise ValidationError({"format": [f"Must be 'json' or 'csv', not '{fmt}'."]})
    return fmt


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def csv_lines(rows: Iterable[dict], columns: list[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([_cell(row.get(column)) for column in columns])


def csv_response(rows: Iterable[dict], columns: list[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows, columns), content_type="text/csv; charset=utf-8")
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
