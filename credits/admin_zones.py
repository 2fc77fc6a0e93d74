"""Every time on a screen of one outlet's rows in that outlet's zone, named; a row without an outlet in UTC.

The ModelAdmins of the ledger, grants, alerts, holds, top-ups, usage, interactions and the request log mix in
`OutletTimes` and list their times as `config.admin.time_display` columns, which read `row_zone`.
"""

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone

from config.admin import rendered_in_zone
from config.api.dates import zone_name
from credits.models import Outlet

# A changelist filtered by one of these lists one outlet's rows: the lookup that finds that outlet.
ONE_OUTLET_FILTERS = {
    "outlet__id__exact": "pk",
    "account__agent__id__exact": "agents__pk",  # the account page's links
    "agent__id__exact": "agents__pk",
    "alert__outlet__id__exact": "pk",
}


def filtered_outlet_zone(request) -> tzinfo | None:
    """The zone of the one outlet a changelist is filtered to (by outlet or by agent); None when it lists several."""
    for parameter, lookup in ONE_OUTLET_FILTERS.items():
        if value := request.GET.get(parameter):
            try:
                name = Outlet.objects.filter(**{lookup: value}).values_list("timezone", flat=True).first()
            except ValidationError:
                return None  # not an id: the changelist says so itself
            return ZoneInfo(name) if name else None
    return None


class PageZoneTimes:
    """An inline's times in its page's zone: the page of one outlet's row is rendered in that outlet's zone."""

    def row_zone(self, obj) -> tzinfo:
        return timezone.get_current_timezone()


class OutletTimes:
    """A row's page in its outlet's zone; a list filtered to one outlet in that outlet's zone, else in UTC.

    The zone of a list is the zone of its date drill-down and date filters (Django reads them in the current
    zone): one outlet's list drills down by its local days, a list of several by UTC days. The rows need their
    outlet selected with them (list_select_related), or each would cost a query.
    """

    def row_zone(self, obj) -> tzinfo:
        return obj.outlet.zone if obj.outlet_id else UTC

    def changelist_view(self, request, extra_context=None):
        zone = filtered_outlet_zone(request)
        if self.date_hierarchy:
            dates = f"Dates in {zone_name(zone)}, the outlet's zone." if zone else (
                "Dates in UTC; filtered to one outlet, the list reads dates in its zone."
            )
            extra_context = {"dates_zone": dates, **(extra_context or {})}
        return rendered_in_zone(zone or UTC, super().changelist_view, request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Rendered once the row is read: its fields, inlines and tables are shown in the template, in its zone.
        response = super().change_view(request, object_id, form_url, extra_context)
        row = (getattr(response, "context_data", None) or {}).get("original")
        if row is not None:
            with timezone.override(self.row_zone(row)):
                response.render()
        return response
