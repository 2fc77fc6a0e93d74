"""Staff screens for holds and auto top-ups: read-only lists (holds are released from the account page).

Registered by the import at the end of credits.admin, so that they follow the credits screens in the sidebar."""

from django.contrib import admin

from config.admin import ViewOnlyMixin, amount_display, time_display
from credits.admin_zones import OutletTimes
from credits.holds import selectors
from credits.holds.models import CreditHold, CreditTopUp


class AgentColumn:
    """The agent whose account the row is on."""

    @admin.display(ordering="account__agent__name")
    def agent(self, row):
        return row.account.agent


@admin.register(CreditHold)
class CreditHoldAdmin(OutletTimes, AgentColumn, ViewOnlyMixin, admin.ModelAdmin):
    # Placed, extended and captured over the API and by ingest; released there or with the account page's Release.
    list_display = (
        "created_at_in_zone", "id", "agent", "outlet", "amount_column", "captured_column", "reference", "status",
        "expires_at_in_zone",
    )
    list_filter = ("status", "outlet")
    search_fields = ("=id", "reference")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "id", "outlet", "account", "amount_in_full", "captured_in_full", "reference", "status", "ttl_seconds",
        "expires_at_in_zone", "ended_at_in_zone", "actor_label", "created_at_in_zone", "updated_at_in_zone",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    captured_column = amount_display("captured", "credits")
    captured_in_full = amount_display("captured", "credits", full=True)
    created_at_in_zone, updated_at_in_zone = time_display("created_at"), time_display("updated_at")
    expires_at_in_zone, ended_at_in_zone = time_display("expires_at"), time_display("ended_at")

    def get_queryset(self, request):
        return selectors.hold_list()

    def lookup_allowed(self, lookup, value, request=None):
        # The account page links here filtered to its holds.
        return lookup == "account__agent__id__exact" or super().lookup_allowed(lookup, value, request)


@admin.register(CreditTopUp)
class CreditTopUpAdmin(OutletTimes, AgentColumn, ViewOnlyMixin, admin.ModelAdmin):
    # Written by the postings that cross an agent's threshold, never by hand.
    list_display = (
        "created_at_in_zone", "agent", "outlet", "source", "status", "amount_column", "threshold_column",
        "balance_column", "local_date", "event_id",
    )
    list_filter = ("status", "source", "outlet")
    search_fields = ("=event_id", "account__agent__name")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "id", "event_id", "outlet", "account", "source", "status", "amount_in_full", "threshold_in_full",
        "balance_in_full", "local_date", "transfer_id", "created_at_in_zone",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    threshold_column = amount_display("threshold", "credits")
    threshold_in_full = amount_display("threshold", "credits", full=True)
    balance_column = amount_display("balance", "credits")
    balance_in_full = amount_display("balance", "credits", full=True)
    created_at_in_zone = time_display("created_at")

    def get_queryset(self, request):
        return selectors.top_up_list()

