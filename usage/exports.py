"""Usage records as an export writes them: the API list's rows for the same parameters, as CSV or JSON lines.

The rows are the API's (`UsageRecordFilterSet`, its date range, its order) and so are the lines: the CSV is
the API's `?format=csv`, a JSON line is the API's JSON item of the record. One outlet's export reads its dates
as the outlet's local dates and its CSV writes times with the outlet's offset, as that outlet's key asks the
API; an export of every outlet is in UTC. JSON lines write times in UTC with a `Z`, as the API's JSON does.
Both read plain database rows through `.iterator()`, a server-side cursor on PostgreSQL, so memory stays flat
whatever the count.
"""

import json
from collections.abc import Iterator
from datetime import UTC
from typing import NamedTuple

from django.db.models import QuerySet
from django_filters.utils import translate_validation

from config.api.csv import CHUNK_SIZE, queryset_csv_rows
from config.api.dates import DateRange, parse_date_range
from config.api.pagination import parse_order
from credits.models import Outlet
from usage import selectors
from usage.api import UsageRecordListView, UsageRecordSerializer
from usage.filtersets import UsageRecordFilterSet

FORMATS = ("csv", "jsonl")


class RecordExport(NamedTuple):
    records: QuerySet
    date_range: DateRange


def usage_record_export(*, outlet: Outlet | None, params) -> RecordExport:
    """Every record the API's list answers for `params` (a QueryDict of its parameters), in its order: one
    outlet's (its dates local to it) or every outlet's (dates in UTC).

    A bad parameter raises the API's ValidationError, `{parameter: [message]}`.
    """
    outlet_id = outlet.pk if outlet is not None else None
    filterset = UsageRecordFilterSet(params, queryset=selectors.usage_record_list(outlet_id=outlet_id))
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    date_range = parse_date_range(params, zone=outlet.zone if outlet is not None else UTC)
    field = UsageRecordListView.date_field
    prefix = "-" if parse_order(params) == "desc" else ""
    records = filterset.qs.filter(
        **{f"{field}__gte": date_range.start_at, f"{field}__lt": date_range.end_before}
    ).order_by(*(prefix + name for name in UsageRecordListView.cursor_fields))
    return RecordExport(records, date_range)


def csv_lines(export: RecordExport) -> Iterator[str]:
    """The header, then one line per record: the API's records CSV, times in the export's zone."""
    return queryset_csv_rows(export.records, UsageRecordSerializer, zone=export.date_range.zone)


def jsonl_lines(records: QuerySet) -> Iterator[str]:
    """One line per record, its API JSON item, built from plain rows by the serializer's own fields."""
    fields = UsageRecordSerializer().fields
    paths = list(dict.fromkeys(field.source for field in fields.values()))
    # As Serializer.to_representation does: None stays null, anything else goes through its field.
    columns = [(name, paths.index(field.source), field.to_representation) for name, field in fields.items()]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # the API's renderer's settings
    for row in records.values_list(*paths).iterator(chunk_size=CHUNK_SIZE):
        item = {name: None if row[position] is None else show(row[position]) for name, position, show in columns}
        yield encode(item) + "\n"
