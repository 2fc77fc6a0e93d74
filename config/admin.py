"""The admin kit every app's screens share: view-only screens, and changelists that stay cheap on big tables."""

from datetime import date, datetime, time, tzinfo

from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from config.api.dates import zone_name
from config.money import display_amount

DOMAIN_APPS = ("credits", "usage", "analytics")  # the sidebar's order: what staff come for
INTERNALS_HEADING = "Analytics internals"


class LedgerlineAdminSite(admin.AdminSite):
    """The sidebar and the index list the domain first and the internals last, under one heading.

    Apps come in DOMAIN_APPS order, then Django's and the packages' (alphabetically, as Django
    does); each app's screens in the order its admin.py registers them; every screen whose
    ModelAdmin says `internal = True` (the rollups, the dirty buckets) under INTERNALS_HEADING.
    """

    def get_app_list(self, request, app_label=None):
        app_dict = self._build_app_dict(request, app_label)
        registered = list(self._registry)
        internals = []
        for app in app_dict.values():
            app["models"].sort(key=lambda entry: registered.index(entry["model"]))
            internals += [entry for entry in app["models"] if getattr(self._registry[entry["model"]], "internal", False)]
            app["models"] = [entry for entry in app["models"] if entry not in internals]

        def rank(app):
            label = app["app_label"]
            return (DOMAIN_APPS.index(label) if label in DOMAIN_APPS else len(DOMAIN_APPS), app["name"].lower())

        app_list = sorted((app for app in app_dict.values() if app["models"]), key=rank)
        if internals:
            home = app_dict[internals[0]["model"]._meta.app_label]
            app_list.append({**home, "name": INTERNALS_HEADING, "models": internals})
        return app_list


def amount_display(
    attname: str, kind: str, *, full: bool = False, unit: str = "", description: str | None = None, ordering=None
):
    """A column (two places) or, with `full`, a detail field (every place) showing an amount as people read it.

    A `unit` ("ms") follows the number on the same line.
    """

    @admin.display(description=description or attname.replace("_", " "), ordering=ordering or attname)
    def show(model_admin, obj):
        value = getattr(obj, attname)
        shown = display_amount(value, kind, full=full)
        if not unit or value is None:
            return shown
        return format_html('<span class="nowrap">{} {}</span>', shown, unit)

    return show


def low_badge(is_low: bool) -> str:
    """A low balance is a warning, not Django's green check of a True boolean."""
    if not is_low:
        return ""
    return format_html('<img src="{}" alt="Low balance" class="low-badge"> low', static("admin/img/icon-alert.svg"))


def zone_label(local: datetime) -> str:
    """The zone of a local time as written beside it: its abbreviation then its name, IST (Asia/Kolkata); UTC alone.

    The name too, as abbreviations are ambiguous (IST is also Israel's and Ireland's) or only an offset (+04).
    """
    abbreviation, name = local.tzname(), zone_name(local.tzinfo)
    return abbreviation if name == abbreviation else f"{abbreviation} ({name})"


def zoned_text(value: datetime, zone: tzinfo, *, seconds: bool = True) -> str:
    """A time in a zone, named, as plain text: 2026-03-08 01:30:00 IST (Asia/Kolkata)."""
    local = value.astimezone(zone)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{local:%Y-%m-%d} {clock} {zone_label(local)}"


def compact_time(value: datetime, zone: tzinfo) -> str:
    """A time in a zone, named, for list columns: 2026-03-08 01:30:00 IST (Asia/Kolkata), wrapping only between
    the date, the time, the zone's abbreviation and its name."""
    local = value.astimezone(zone)
    parts = [f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}", *zone_label(local).split(" ", 1)]
    return format_html_join(" ", '<span class="nowrap">{}</span>', ((part,) for part in parts))


def time_display(attname: str, *, description: str | None = None):
    """A column or detail field showing a time in the zone of its row (the ModelAdmin's `row_zone(obj)`), named."""

    @admin.display(description=description or attname.replace("_", " "), ordering=attname)
    def show(model_admin, obj):
        value = getattr(obj, attname)
        if value is None:
            return model_admin.get_empty_value_display()
        return compact_time(value, model_admin.row_zone(obj))

    return show


def rendered_in_zone(zone: tzinfo, view, *args, **kwargs):
    """Runs a view in `zone` and renders it there: every time typed, shown or filtered on it is that zone's."""
    with timezone.override(zone):
        response = view(*args, **kwargs)
        if isinstance(response, TemplateResponse):
            response.render()
    return response


def clock_duration(seconds) -> str:
    """A call's length as a call centre reads it: 0:07, 4:05, 1:02:03 (whole seconds, rounded down)."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02}:{second:02}" if hours else f"{minute}:{second:02}"


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


class DateRangeFilter(admin.FieldListFilter):
    """Two date inputs, `<field>__gte` and `<field>__lt`, in the current zone; a bad date is a message, not an error page.

    Dates rather than free lookups: each bound is one index range on the big tables' date column.
    """

    template = "admin/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.from_parameter, self.before_parameter = f"{field_path}__gte", f"{field_path}__lt"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.bounds = {name: self.parse(request, name) for name in self.expected_parameters()}
        start, end = self.bounds.values()
        if start and end and start >= end:
            messages.error(request, f"The range's start ({start}) must be before its end ({end}); showing all dates.")
            self.bounds = dict.fromkeys(self.bounds)

    def parse(self, request, name) -> date | None:
        text = (self.used_parameters.get(name) or [""])[-1].strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            messages.error(request, f"'{text}' is not a date: write it as YYYY-MM-DD. Ignored it.")
            return None

    def expected_parameters(self):
        return [self.from_parameter, self.before_parameter]

    def queryset(self, request, queryset):
        lookups = {
            name: timezone.make_aware(datetime.combine(day, time.min))
            for name, day in self.bounds.items() if day is not None
        }
        return queryset.filter(**lookups)

    def choices(self, changelist):
        # The form replaces the query string: it carries every other parameter but the page along.
        dropped = {*self.bounds, PAGE_VAR, ERROR_FLAG}
        kept = {name: values for name, values in changelist.filter_params.items() if name not in dropped}
        yield {
            "bounds": [(name, day.isoformat() if day else "") for name, day in self.bounds.items()],
            "kept": [(name, value) for name, values in kept.items() for value in values],
            "reset_link": changelist.get_query_string(remove=self.expected_parameters()),
        }
