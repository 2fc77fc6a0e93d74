"""The admin kit every app's screens share: view-only screens, and changelists that stay cheap on big tables."""

from datetime import date

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst


class ViewOnlyMixin:
    """Staff may look but not add, change or delete, superusers included; writes go through services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False



def table_row_estimate(queryset) -> int:
    """PostgreSQL's row estimate for the queryset's table as of its last ANALYZE; -1 when unknown or elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return -1
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row else -1


class EstimatedCountPaginator(Paginator):
    """Counts a big unfiltered table from the planner's statistics: COUNT(*) reads every row on each page view."""

    estimate_above = 10_000

    @cached_property
    def count(self):
        if not self.object_list.query.where:
            estimate = table_row_estimate(self.object_list)
            if estimate > self.estimate_above:
                return estimate
        return super().count


def date_hierarchy(cl) -> dict:
    """Django's date drill-down with its choices spanning the first to the last date.

    Django lists the years, months or days that have rows with a DISTINCT over every row in
    view, which on a big table is a full scan per page view; MIN and MAX are two index reads.
    The price: a year, month or day without rows between the two is offered too, and lists nothing.
    """
    field = cl.date_hierarchy
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))

    def link(**parts):
        return cl.get_query_string({f"{field}__{name}": value for name, value in parts.items()}, [f"{field}__"])

    def title(fmt, *parts):
        return capfirst(formats.date_format(date(*map(int, parts)), fmt))

    if year and month and day:
        back = {"link": link(year=year, month=month), "title": title("YEAR_MONTH_FORMAT", year, month, 1)}
        return {"show": True, "back": back, "choices": [{"title": title("MONTH_DAY_FORMAT", year, month, day)}]}
    span = cl.queryset.aggregate(first=Min(field), last=Max(field))
    first, last = (timezone.localtime(span[end]) if span[end] else None for end in ("first", "last"))
    if first and not year and first.year == last.year:
        year = first.year
        if first.month == last.month:
            month = first.month
    if year and month:
        days = range(first.day, last.day + 1) if first else ()
        choices = [{"link": link(year=year, month=month, day=d), "title": title("MONTH_DAY_FORMAT", year, month, d)}
                   for d in days]
        return {"show": True, "back": {"link": link(year=year), "title": str(year)}, "choices": choices}
    if year:
        months = range(first.month, last.month + 1) if first else ()
        choices = [{"link": link(year=year, month=m), "title": title("YEAR_MONTH_FORMAT", year, m, 1)} for m in months]
        return {"show": True, "back": {"link": link(), "title": "All dates"}, "choices": choices}
    years = range(first.year, last.year + 1) if first else ()
    return {"show": True, "back": None, "choices": [{"link": link(year=y), "title": str(y)} for y in years]}


class BigTableMixin:
    """A changelist that stays cheap on a table of millions: no full counts, facets or DISTINCT scans."""

    change_list_template = "admin/big_table_change_list.html"  # shows the `date_hierarchy` computed below
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # one count per filter choice over every row

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = (getattr(response, "context_data", None) or {}).get("cl")
        if cl is not None and cl.date_hierarchy:
            response.context_data["date_hierarchy"] = date_hierarchy(cl)
        return response
