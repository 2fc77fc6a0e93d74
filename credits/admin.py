"""Staff screens for credits: thin, every write goes through credits.services."""

import rest_framework_api_key.models
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin import ViewOnlyMixin, amount_display, low_badge, time_display
from config.errors import DomainError
from config.money import display_amount
from credits import selectors, services, webhooks
from credits.admin_buttons import (
    POOL_OPERATIONS,
    PoolButtons,
    ReleaseButton,
    VoidButton,
    can_move_credits,
    confirmed_write,
    credits_in_full,
    in_outlet_zone,
    render_page,
)
from credits.admin_webhooks import WebhookDeliveryAdmin, WebhookDeliveryInline
from credits.admin_zones import OutletTimes, PageZoneTimes
from credits.controls import TOP_UP_FIELDS
from credits.forms import (
    AddCreditsForm,
    ApiKeyCreateForm,
    BalanceChangeForm,
    ReasonForm,
    SpendControlsForm,
    add_domain_errors,
)
from credits.grants import usable
from credits.holds import selectors as hold_selectors
from credits.holds.admin_controls import EffectiveControls, spend_policy_display
from credits.holds.policy import spend_policy
from credits.models import (
    Agent,
    ApiKey,
    CreditAccount,
    CreditAlert,
    CreditGrant,
    CreditLedgerEntry,
    Outlet,
    WebhookDelivery,
)

Kind = CreditLedgerEntry.Kind
BALANCE_OPERATIONS = {
    "add": ("Add credits", Kind.ADD),
    "set": ("Set balance", Kind.SET),
    "clear": ("Clear balance", Kind.CLEAR),
}
RECENT_ENTRIES = 25
RECENT_GRANTS = RECENT_MOVEMENTS = RECENT_HOLDS = 50
SPEND_CONTROLS = ("enforcement", "overdraft_limit", *TOP_UP_FIELDS)

# Staff manage keys through ApiKeyAdmin; the package's own screen edits a model we do not use.
admin.site.unregister(rest_framework_api_key.models.APIKey)


@admin.display(description="balance", ordering="account__balance")
def agent_balance(model_admin, agent):
    url = reverse("admin:credits_creditaccount_change", args=[quote(agent.pk)])
    return format_html('<a href="{}">{}</a>', url, display_amount(agent.account.balance, "credits"))


@admin.display(description="scopes")
def scope_list(model_admin, key):
    return ", ".join(key.scopes)


class AgentInline(admin.TabularInline):
    model = Agent
    fields = ("name", "external_id", "low_balance_threshold", "is_active", "balance")
    readonly_fields = ("balance",)
    extra = 0
    can_delete = False  # ledger entries protect their agent
    show_change_link = True
    balance = agent_balance

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


class ApiKeyInline(PageZoneTimes, ViewOnlyMixin, admin.TabularInline):
    model = ApiKey
    fields = readonly_fields = ("prefix", "name", "scope_list", "revoked", "expiry_date_in_zone", "last_used_at_in_zone")
    extra = 0
    show_change_link = True
    scope_list = scope_list
    expiry_date_in_zone, last_used_at_in_zone = time_display("expiry_date"), time_display("last_used_at")


@admin.register(Outlet)
class OutletAdmin(PoolButtons, admin.ModelAdmin):
    list_display = ("name", "currency", "billing_cycle_day", "threshold", "is_active", "agent_count")
    list_filter = ("is_active",)
    search_fields = ("name",)
    inlines = (AgentInline, ApiKeyInline)
    fieldsets = (
        (
            None,
            {"fields": ("name", "timezone", "currency", "billing_cycle_day", "low_balance_threshold", "is_active", "pool_balance")},
        ),
        (
            "Low-balance alerts",
            {
                "fields": ("billing_contacts", "webhook_url", "webhook_secret"),
                "description": "Alerts are emailed to the billing contacts and POSTed to the webhook URL, "
                "signed with the secret (docs/webhooks.md). Rotate the secret with the action on the outlets list.",
            },
        ),
        (
            "Spend controls: the default of agents without their own",
            {"fields": SPEND_CONTROLS, "description": "Empty: off, no overdraft, no auto top-up. A top-up rule takes all "
             "four of its fields or none (docs/webhooks.md)."},
        ),
    )
    form = SpendControlsForm
    readonly_fields = ("webhook_secret", "pool_balance")
    actions = ("rotate_webhook_secrets",)
    threshold = amount_display("low_balance_threshold", "credits")
    # A URL typed without a scheme is taken as https (Django 6's default), never as plain http.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(agent_count=Count("agents"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.pool_view)
        return [path("<path:object_id>/pool/<slug:operation>/", view, name="credits_outlet_pool"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        outlet = self.get_object(request, unquote(object_id))
        if outlet is None:
            return super().change_view(request, object_id, form_url, extra_context)
        return in_outlet_zone(outlet, super().change_view, request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, obj=None, **kwargs):
        if obj is not None and not obj._state.adding:
            pool = selectors.pool_account_get(outlet_id=obj.pk)
            context.update(
                pool=pool,
                pool_grants=selectors.grant_list(outlet_id=obj.pk).filter(usable(timezone.now()), account=pool),
                pool_operations=POOL_OPERATIONS.items() if can_move_credits(request) else (),
            )
        return super().render_change_form(request, context, obj=obj, **kwargs)


    @admin.display(description="agents", ordering="agent_count")
    def agent_count(self, outlet):
        return outlet.agent_count

    @admin.display(description="pool balance")
    def pool_balance(self, outlet):
        if outlet._state.adding:
            return "-"  # opened when the outlet is saved
        return display_amount(selectors.pool_account_get(outlet_id=outlet.pk).balance, "credits", full=True)

    @admin.action(description="Rotate webhook secrets", permissions=["change"])
    def rotate_webhook_secrets(self, request, queryset):
        count = webhooks.webhook_secret_rotate(outlets=queryset)
        self.message_user(
            request, f"Rotated the webhook secret of {count} outlet(s); their receivers need the new one.", messages.SUCCESS
        )


@admin.register(Agent)
class AgentAdmin(EffectiveControls, admin.ModelAdmin):
    list_display = ("name", "external_id", "outlet", "balance", "is_active")
    list_filter = ("outlet", "is_active")
    search_fields = ("name", "external_id")
    list_select_related = ("outlet", "account")
    balance = agent_balance
    form = SpendControlsForm
    fieldsets = (
        (None, {"fields": ("outlet", "name", "external_id", "low_balance_threshold", "is_active", "balance")}),
        (
            "Spend controls",
            {"fields": (*SPEND_CONTROLS, "effective_controls"), "description": "Empty: the outlet's. A top-up rule "
             "is taken whole, from the agent or else from the outlet."},
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Ledger entries and usage keep the outlet they were written under, so an agent never moves.
        return ("outlet", "balance", "effective_controls") if obj else ("balance", "effective_controls")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(OutletTimes, admin.ModelAdmin):
    list_display = (
        "name", "prefix", "outlet", "scope_list", "revoked", "expiry_date_in_zone", "last_used_at_in_zone", "created_in_zone",
    )
    list_filter = ("outlet", "revoked")
    search_fields = ("name", "prefix")
    list_select_related = ("outlet",)
    fields = readonly_fields = (
        "outlet", "name", "prefix", "scope_list", "revoked", "expiry_date_in_zone", "last_used_at_in_zone", "created_in_zone"
    )
    actions = ("revoke_keys",)
    scope_list = scope_list
    expiry_date_in_zone, last_used_at_in_zone = time_display("expiry_date"), time_display("last_used_at")
    created_in_zone = time_display("created")

    def has_change_permission(self, request, obj=None):
        return False  # a key never changes; it can only be revoked

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return super().has_change_permission(request)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        count = services.api_key_revoke(api_keys=queryset)
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)

    def add_view(self, request, form_url="", extra_context=None):
        # Our own view rather than the ModelForm flow, so the service creates the key and its errors land on the form.
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(request.POST or None, initial=self.get_changeform_initial_data(request))
        if form.is_valid():
            data = form.cleaned_data
            try:
                key, raw_key = services.api_key_create(
                    outlet=data["outlet"], name=data["name"], scopes=data["scopes"], expires_at=data["expiry_date"]
                )
            except DomainError as exc:
                add_domain_errors(form, exc)
            else:
                self.log_addition(request, key, [{"added": {}}])
                self.message_user(
                    request,
                    f"The API key for {key.name} is: {raw_key} — copy it now: "
                    "it is stored hashed and will not be shown again.",
                    messages.WARNING,
                )
                return HttpResponseRedirect(reverse("admin:credits_apikey_changelist"))
        return render_page(
            self, request, "admin/credits/form_page.html", title="Add API key", form=form, submit_label="Create key",
            cancel_url=reverse("admin:credits_apikey_changelist"),
        )


@admin.register(CreditAccount)
class CreditAccountAdmin(OutletTimes, VoidButton, ReleaseButton, ViewOnlyMixin, admin.ModelAdmin):
    # The balance is a cache of the ledger: no form edits it, only the buttons and the action below.
    list_display = ("agent", "outlet", "balance_column", "threshold", "low", "updated_at_in_zone")
    list_filter = ("outlet",)
    search_fields = ("agent__name", "agent__external_id")
    list_select_related = ("agent", "outlet")
    fields = readonly_fields = (
        "agent", "outlet", "balance_in_full", "threshold_in_full", "low", "created_at_in_zone", "updated_at_in_zone",
    )
    actions = ("clear_balances",)
    balance_column = amount_display("balance", "credits")
    balance_in_full = amount_display("balance", "credits", full=True)
    threshold = amount_display("threshold", "credits", description="effective threshold")
    threshold_in_full = amount_display("threshold", "credits", full=True, description="effective threshold")
    created_at_in_zone, updated_at_in_zone = time_display("created_at"), time_display("updated_at")

    def get_queryset(self, request):
        # The changelist skips list_select_related for a queryset that already selects related rows.
        return selectors.balance_list().select_related("agent", "outlet")

    def get_urls(self):
        balance, void = self.admin_site.admin_view(self.balance_view), self.admin_site.admin_view(self.void_view)
        release = self.admin_site.admin_view(self.release_view)
        return [
            path("<path:object_id>/balance/<slug:operation>/", balance, name="credits_creditaccount_balance"),
            path("<path:object_id>/grants/<int:grant_id>/void/", void, name="credits_creditaccount_void"),
            path("<path:object_id>/holds/<uuid:hold_id>/release/", release, name="credits_creditaccount_release"),
            *super().get_urls(),
        ]

    def has_change_balance_permission(self, request):
        # Django's own change permission, which ViewOnlyMixin hides from the form.
        return can_move_credits(request)

    @admin.display(description="low", ordering="is_low")
    def low(self, account):
        return low_badge(account.is_low)

    def render_change_form(self, request, context, obj=None, **kwargs):
        if obj is not None:
            ledger = reverse("admin:credits_creditledgerentry_changelist")
            context.update(
                recent_entries=obj.entries.all()[:RECENT_ENTRIES],
                ledger_url=f"{ledger}?account__agent__id__exact={obj.pk}",
                grants=selectors.grant_list().filter(account=obj)[:RECENT_GRANTS],
                grants_url=f"{reverse('admin:credits_creditgrant_changelist')}?account__agent__id__exact={obj.pk}",
                movements=selectors.grant_movement_list().filter(grant__account=obj).order_by("-id")[:RECENT_MOVEMENTS],
                holds=hold_selectors.hold_list().filter(account=obj)[:RECENT_HOLDS],
                holds_url=f"{reverse('admin:credits_credithold_changelist')}?account__agent__id__exact={obj.pk}",
                spend_controls=spend_policy_display(spend_policy(obj.agent, obj.outlet)),
                now=timezone.now(),
                can_change_balance=self.has_change_balance_permission(request),
            )
        return super().render_change_form(request, context, obj=obj, **kwargs)

    def balance_view(self, request, object_id, operation):
        """Add credits, set or clear the balance: a form, then a confirmation, then one ledger entry."""
        if operation not in BALANCE_OPERATIONS:
            raise Http404
        if not self.has_change_balance_permission(request):
            raise PermissionDenied
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return in_outlet_zone(account.outlet, self.balance_change, request, account, operation)

    def balance_change(self, request, account, operation):
        label, kind = BALANCE_OPERATIONS[operation]
        form = (AddCreditsForm if kind == Kind.ADD else BalanceChangeForm)(request.POST or None, kind=kind)

        def confirm():
            amount = form.cleaned_data.get("amount")
            before = credits_in_full(account.balance)
            after = credits_in_full(services.balance_after(kind=kind, balance=account.balance, amount=amount))
            rows = [
                ("Agent", str(account.agent)), ("Operation", label),
                *([("Amount", credits_in_full(amount))] if amount is not None else []),
                *(form.terms_display() if kind == Kind.ADD else []),
                ("Reason", form.cleaned_data["reason"]), ("Balance before", before), ("Balance after", after, True),
            ]
            return {"rows": rows, "label": label, "balance_before": before, "balance_after": after}

        def write(idempotency_key):
            result = services.credits_apply(
                agent=account.agent, kind=kind, amount=form.cleaned_data.get("amount"),
                actor=services.Actor.for_user(request.user), reason=form.cleaned_data["reason"],
                idempotency_key=idempotency_key, terms=form.cleaned_data.get("terms"),
            )
            before, after = credits_in_full(result.balance_before), credits_in_full(result.balance_after)
            return f"{label} for {account.agent}: {before} -> {after}.", result.replayed

        return confirmed_write(
            self, request, form, title=f"{label}: {account.agent}", original=account,
            intro=f"Current balance: {credits_in_full(account.balance)}",
            done_url=reverse("admin:credits_creditaccount_change", args=[quote(account.pk)]), confirm=confirm, write=write,
        )

    @admin.action(description="Clear balances", permissions=["change_balance"])
    def clear_balances(self, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            try:
                count = services.credits_clear_many(
                    agents=[account.agent for account in queryset],
                    actor=services.Actor.for_user(request.user),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                add_domain_errors(form, exc)
            else:
                self.message_user(request, f"Cleared {count} balance(s).", messages.SUCCESS)
                return None
        return render_page(
            self, request, "admin/credits/creditaccount/clear_balances.html", title="Clear balances", form=form,
            accounts=queryset.select_related("agent__outlet"), action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            submit_label="Clear these balances", cancel_url=reverse("admin:credits_creditaccount_changelist"),
        )


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(OutletTimes, ViewOnlyMixin, admin.ModelAdmin):
    # Append-only for everyone: corrections are new entries written by the services.
    # Listed and drilled down by when each change took effect; `created_at` is when it was posted.
    list_display = (
        "effective_at_in_zone", "agent", "outlet", "kind", "amount_column", "balance_after_column", "actor_label", "reason",
    )
    list_filter = ("kind", "outlet")
    search_fields = ("reason", "actor_label", "idempotency_key", "account__agent__name")
    date_hierarchy = "effective_at"
    list_select_related = ("account__agent", "outlet")
    fields = readonly_fields = (
        "effective_at_in_zone", "created_at_in_zone", "outlet", "account", "kind", "amount_in_full", "balance_after_in_full",
        "actor_label", "actor_user", "actor_api_key", "reason", "idempotency_key", "ingest_batch_id",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    balance_after_column = amount_display("balance_after", "credits")
    balance_after_in_full = amount_display("balance_after", "credits", full=True)
    effective_at_in_zone, created_at_in_zone = time_display("effective_at"), time_display("created_at")

    def lookup_allowed(self, lookup, value, request=None):
        # The account page links here filtered to its entries.
        return lookup == "account__agent__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(ordering="account__agent__name")
    def agent(self, entry):
        return "Pool" if entry.account.is_pool else entry.account.agent


@admin.register(CreditGrant)
class CreditGrantAdmin(OutletTimes, ViewOnlyMixin, admin.ModelAdmin):
    # Opened, drawn down, expired and voided by the services only; Void is on the account page.
    list_display = (
        "id", "agent", "outlet", "source", "amount_column", "remaining_column", "priority", "expires_at_in_zone", "status",
        "created_at_in_zone",
    )
    list_filter = ("status", "source", "outlet")
    search_fields = ("=id", "account__agent__name")
    list_select_related = ("account__agent", "account__outlet", "outlet")
    fields = readonly_fields = (
        "outlet", "account", "entry", "source", "amount_in_full", "remaining_in_full", "priority", "effective_at_in_zone",
        "expires_at_in_zone", "status", "reason", "actor_label", "metadata", "created_at_in_zone",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    remaining_column = amount_display("remaining", "credits")
    remaining_in_full = amount_display("remaining", "credits", full=True)
    effective_at_in_zone, expires_at_in_zone = time_display("effective_at"), time_display("expires_at")
    created_at_in_zone = time_display("created_at")

    def lookup_allowed(self, lookup, value, request=None):
        # The account page links here filtered to its grants.
        return lookup == "account__agent__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(ordering="account__agent__name")
    def agent(self, grant):
        return grant.account.owner_label


@admin.register(CreditAlert)
class CreditAlertAdmin(OutletTimes, ViewOnlyMixin, admin.ModelAdmin):
    # Opened and resolved by the ledger services and the check_low_balances task, never by hand.
    list_display = (
        "opened_at_in_zone", "agent", "outlet", "kind", "status", "threshold_column", "opening_balance_column",
        "current_balance", "resolved_at_in_zone",
    )
    list_filter = ("status", "kind", "outlet")
    search_fields = ("account__agent__name", "account__agent__external_id")
    date_hierarchy = "opened_at"
    list_select_related = ("account__agent", "outlet")
    fields = readonly_fields = (
        "outlet", "account", "kind", "status", "threshold_in_full", "opening_balance_in_full", "opened_at_in_zone",
        "depleted_at_in_zone", "resolved_at_in_zone", "resolution_balance_in_full", "current_balance_in_full",
    )
    inlines = (WebhookDeliveryInline,)
    threshold_column = amount_display("threshold", "credits")
    threshold_in_full = amount_display("threshold", "credits", full=True)
    opening_balance_column = amount_display("opening_balance", "credits")
    opening_balance_in_full = amount_display("opening_balance", "credits", full=True)
    resolution_balance_in_full = amount_display("resolution_balance", "credits", full=True)
    opened_at_in_zone, depleted_at_in_zone = time_display("opened_at"), time_display("depleted_at")
    resolved_at_in_zone = time_display("resolved_at")

    @admin.display(ordering="account__agent__name")
    def agent(self, alert):
        return alert.account.agent

    @admin.display(description="balance now", ordering="account__balance")
    def current_balance(self, alert):
        return display_amount(alert.account.balance, "credits")

    @admin.display(description="balance now")
    def current_balance_in_full(self, alert):
        return display_amount(alert.account.balance, "credits", full=True)


admin.site.register(WebhookDelivery, WebhookDeliveryAdmin)  # after the alerts, in the sidebar too

from credits.holds import admin as holds_admin  # noqa: E402, F401 - the holds' and top-ups' screens register themselves
from credits.prices import admin as prices_admin  # noqa: E402, F401 - the price book's screens register themselves
