"""Staff screens for webhook deliveries: read-only, each time in its outlet's zone.

credits.admin registers WebhookDeliveryAdmin after the alerts (the sidebar's order) and puts the inline on an alert's page.
"""

from django.contrib import admin

from config.admin import ViewOnlyMixin, time_display
from credits.admin_zones import OutletTimes, PageZoneTimes
from credits.models import WebhookDelivery


class WebhookDeliveryInline(PageZoneTimes, ViewOnlyMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = readonly_fields = (
        "created_at_in_zone", "event", "attempt", "status", "response_code", "duration_ms", "error",
    )
    extra = 0
    ordering = ("created_at", "id")
    show_change_link = True
    created_at_in_zone = time_display("created_at")


class WebhookDeliveryAdmin(OutletTimes, ViewOnlyMixin, admin.ModelAdmin):
    list_display = (
        "created_at_in_zone", "event", "event_id", "attempt", "outlet", "url", "status", "response_code", "duration_ms",
    )
    list_filter = ("status", "event", "alert__outlet")
    search_fields = ("event_id", "url")
    date_hierarchy = "created_at"
    list_select_related = ("alert__outlet", "top_up__outlet")
    fields = readonly_fields = (
        "created_at_in_zone", "alert", "top_up", "event", "event_id", "attempt", "url", "status", "response_code",
        "duration_ms", "error",
    )
    created_at_in_zone = time_display("created_at")

    @admin.display(ordering="alert__outlet__name")
    def outlet(self, delivery):
        return (delivery.alert or delivery.top_up).outlet  # an event is an alert's or an auto top-up's

    def row_zone(self, delivery):
        return self.outlet(delivery).zone
