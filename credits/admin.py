"""Staff screens for credits: thin, every write goes through credits.services."""

from uuid import uuid4
from zoneinfo import ZoneInfo

import rest_framework_api_key.models
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin import ViewOnlyMixin, amount_display, low_badge
from config.errors import DomainError
from config.money import display_amount
from credits import selectors, services, webhooks
from credits.forms import (
    AddCreditsForm,
    ApiKeyCreateForm,
    BalanceChangeForm,
    PoolAddForm,
    ReasonForm,
    TransferForm,
    add_domain_errors,
)
from credits.grants import grants_usable_total, usable
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
POOL_OPERATIONS = {"add": "Add to pool", "allocate": "Allocate", "reclaim": "Reclaim"}
RECENT_ENTRIES = 25
RECENT_GRANTS = RECENT_MOVEMENTS = 50

# Staff manage keys through ApiKeyAdmin; the package's own screen edits a model we do not use.
admin.site.unregister(rest_framework_api_key.models.APIKey)


def render_page(model_admin, request, template, *, title, form=None, **context):
    """One of our pages, in the admin's own chrome and fieldset markup."""
    request.current_app = model_admin.admin_site.name
    if form is not None:
        context["adminform"] = helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {})
        context["media"] = model_admin.media + form.media
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "title": title, **context}
    return TemplateResponse(request, template, context)


def in_outlet_zone(outlet: Outlet, view, *args, **kwargs):
    """Runs a view in the outlet's time zone and renders it there: every time typed or shown on it is the outlet's."""
    with timezone.override(ZoneInfo(outlet.timezone)):
        response = view(*args, **kwargs)
        if isinstance(response, TemplateResponse):
            response.render()
    return response


def can_move_credits(request) -> bool:
    """Django's change permission on credit accounts: every button that moves credits needs it."""
    return request.user.has_perm("credits.change_creditaccount")


def credits_in_full(value) -> str:
    return display_amount(value, "credits", full=True)


def confirmed_write(model_admin, request, form, *, title, original, intro, done_url, confirm, write):
    """The flow of every button that moves credits: a form; once valid, a confirmation page listing `confirm()`'s
    rows (label, value, and True to stress it); posting that page (it carries an idempotency key, so posting it
    again replays the first write) calls `write(key)`, which returns the message and whether it was a replay.
    A service's error lands on the form."""
    idempotency_key = request.POST.get("idempotency_key")
    if form.is_valid() and not idempotency_key:
        return render_page(
            model_admin, request, "admin/credits/confirm.html", title=title, original=original, **confirm(),
            confirm_form=form, idempotency_key=f"admin-{uuid4().hex}", submit_label="Confirm",
        )
    if form.is_valid():
        try:
            message, replayed = write(idempotency_key)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if replayed:
                model_admin.message_user(request, f"Already applied, nothing changed. {message}", messages.INFO)
            else:
                model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(done_url)
    return render_page(
        model_admin, request, "admin/credits/form_page.html", title=title, original=original, form=form, intro=intro,
        submit_label="Continue", cancel_url=done_url,
    )


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


class ApiKeyInline(ViewOnlyMixin, admin.TabularInline):
    model = ApiKey
    fields = readonly_fields = ("prefix", "name", "scope_list", "revoked", "expiry_date", "last_used_at")
    extra = 0
    show_change_link = True
    scope_list = scope_list


@admin.register(Outlet)
class OutletAdmin(admin.ModelAdmin):
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
    )
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

    def pool_view(self, request, object_id, operation):
        """Add to the outlet's pool, allocate from it to an agent or reclaim into it: a form, a confirmation, a write."""
        if operation not in POOL_OPERATIONS:
            raise Http404
        if not can_move_credits(request):
            raise PermissionDenied
        outlet = self.get_object(request, unquote(object_id))
        if outlet is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        pool_change = self.pool_add if operation == "add" else self.pool_transfer
        return in_outlet_zone(outlet, pool_change, request, outlet, operation)

    def pool_add(self, request, outlet, operation):
        pool = selectors.pool_account_get(outlet_id=outlet.pk)
        form = PoolAddForm(request.POST or None)
        label = POOL_OPERATIONS[operation]

        def confirm():
            amount = form.cleaned_data["amount"]
            return {"rows": [
                ("Outlet", outlet.name), ("Operation", label), ("Amount", credits_in_full(amount)), *form.terms_display(),
                ("Reason", form.cleaned_data["reason"]), ("Pool balance before", credits_in_full(pool.balance)),
                ("Pool balance after", credits_in_full(pool.balance + amount), True),
            ]}

        def write(idempotency_key):
            result = services.pool_add(
                outlet=outlet, amount=form.cleaned_data["amount"], actor=services.Actor.for_user(request.user),
                reason=form.cleaned_data["reason"], idempotency_key=idempotency_key, terms=form.cleaned_data["terms"],
            )
            before, after = credits_in_full(result.balance_before), credits_in_full(result.balance_after)
            return f"{label} of {outlet}: {before} -> {after}.", result.replayed

        return confirmed_write(
            self, request, form, title=f"{label}: {outlet}", original=outlet,
            intro=f"Pool balance: {credits_in_full(pool.balance)}",
            done_url=reverse("admin:credits_outlet_change", args=[quote(outlet.pk)]), confirm=confirm, write=write,
        )

    def pool_transfer(self, request, outlet, operation):
        pool = selectors.pool_account_get(outlet_id=outlet.pk)
        label, now = POOL_OPERATIONS[operation], timezone.now()
        if operation == "allocate":
            move, holder = services.pool_allocate, "the pool holds"

            def available(agent):
                return grants_usable_total(pool, now=now)
        else:
            move, holder = services.pool_reclaim, "the agent's unused allocations hold"

            def available(agent):
                return grants_usable_total(agent.account, now=now, sources=[CreditGrant.Source.ALLOCATION])

        agents = Agent.objects.filter(outlet=outlet).select_related("account").order_by("name")
        form = TransferForm(request.POST or None, agents=agents, available=available, holder=holder)
        to_agent = 1 if operation == "allocate" else -1

        def confirm():
            agent, amount = form.cleaned_data["agent"], form.cleaned_data["amount"]
            return {"rows": [
                ("Outlet", outlet.name), ("Operation", label), ("Agent", agent.name), ("Amount", credits_in_full(amount)),
                ("Reason", form.cleaned_data["reason"]),
                ("Pool balance before", credits_in_full(pool.balance)),
                ("Pool balance after", credits_in_full(pool.balance - to_agent * amount), True),
                (f"{agent.name}'s balance before", credits_in_full(agent.account.balance)),
                (f"{agent.name}'s balance after", credits_in_full(agent.account.balance + to_agent * amount), True),
            ]}

        def write(idempotency_key):
            agent = form.cleaned_data["agent"]
            result = move(
                agent=agent, amount=form.cleaned_data["amount"], actor=services.Actor.for_user(request.user),
                reason=form.cleaned_data["reason"], idempotency_key=idempotency_key,
            )
            pool_change, agent_change = (
                " -> ".join(credits_in_full(value) for value in (entry.balance_after - entry.amount, entry.balance_after))
                for entry in (result.pool_entry, result.agent_entry)
            )
            return f"{label} {credits_in_full(form.cleaned_data['amount'])}, {agent}: pool {pool_change}, " \
                f"agent {agent_change}.", result.replayed

        return confirmed_write(
            self, request, form, title=f"{label}: {outlet}", original=outlet,
            intro=f"Pool balance: {credits_in_full(pool.balance)}",
            done_url=reverse("admin:credits_outlet_change", args=[quote(outlet.pk)]), confirm=confirm, write=write,
        )

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
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "external_id", "outlet", "balance", "is_active")
    list_filter = ("outlet", "is_active")
    search_fields = ("name", "external_id")
    list_select_related = ("outlet", "account")
    balance = agent_balance

    def get_readonly_fields(self, request, obj=None):
        # Ledger entries and usage keep the outlet they were written under, so an agent never moves.
        return ("outlet", "balance") if obj else ("balance",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "outlet", "scope_list", "revoked", "expiry_date", "last_used_at", "created")
    list_filter = ("outlet", "revoked")
    search_fields = ("name", "prefix")
    list_select_related = ("outlet",)
    fields = readonly_fields = (
        "outlet", "name", "prefix", "scope_list", "revoked", "expiry_date", "last_used_at", "created"
    )
    actions = ("revoke_keys",)
    scope_list = scope_list

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
class CreditAccountAdmin(ViewOnlyMixin, admin.ModelAdmin):
    # The balance is a cache of the ledger: no form edits it, only the buttons and the action below.
    list_display = ("agent", "outlet", "balance_column", "threshold", "low", "updated_at")
    list_filter = ("outlet",)
    search_fields = ("agent__name", "agent__external_id")
    list_select_related = ("agent", "outlet")
    fields = readonly_fields = (
        "agent", "outlet", "balance_in_full", "threshold_in_full", "low", "created_at", "updated_at",
    )
    actions = ("clear_balances",)
    balance_column = amount_display("balance", "credits")
    balance_in_full = amount_display("balance", "credits", full=True)
    threshold = amount_display("threshold", "credits", description="effective threshold")
    threshold_in_full = amount_display("threshold", "credits", full=True, description="effective threshold")

    def get_queryset(self, request):
        # The changelist skips list_select_related for a queryset that already selects related rows.
        return selectors.balance_list().select_related("agent", "outlet")

    def get_urls(self):
        balance, void = self.admin_site.admin_view(self.balance_view), self.admin_site.admin_view(self.void_view)
        return [
            path("<path:object_id>/balance/<slug:operation>/", balance, name="credits_creditaccount_balance"),
            path("<path:object_id>/grants/<int:grant_id>/void/", void, name="credits_creditaccount_void"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return super().change_view(request, object_id, form_url, extra_context)
        return in_outlet_zone(account.outlet, super().change_view, request, object_id, form_url, extra_context)

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

    def void_view(self, request, object_id, grant_id):
        """Void one of the account's active grants: a reason, a confirmation, then one VOID entry."""
        if not self.has_change_balance_permission(request):
            raise PermissionDenied
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        grant = account.grants.filter(pk=grant_id).first()
        if grant is None:
            raise Http404("No such grant on this account.")
        return in_outlet_zone(account.outlet, self.void_grant, request, account, grant)

    def void_grant(self, request, account, grant):
        form = ReasonForm(request.POST or None)

        def confirm():
            expires = f"{timezone.localtime(grant.expires_at):%Y-%m-%d %H:%M %Z}" if grant.expires_at else "Never"
            return {"rows": [
                ("Agent", str(account.agent)), ("Grant", f"{grant.pk}: {grant}"), ("Expires", expires),
                ("Remaining, voided", credits_in_full(grant.remaining)), ("Reason", form.cleaned_data["reason"]),
                ("Balance before", credits_in_full(account.balance)),
                ("Balance after", credits_in_full(account.balance - grant.remaining), True),
            ]}

        def write(idempotency_key):
            result = services.grant_void(
                grant_id=grant.pk, outlet_id=None, actor=services.Actor.for_user(request.user),
                reason=form.cleaned_data["reason"], idempotency_key=idempotency_key,
            )
            before, after = credits_in_full(result.balance_before), credits_in_full(result.balance_after)
            return f"Voided grant {grant.pk} of {account.agent}: {before} -> {after}.", result.replayed

        return confirmed_write(
            self, request, form, title=f"Void grant {grant.pk}: {account.agent}", original=account,
            intro=f"{grant} holds {credits_in_full(grant.remaining)}; voiding writes it off with one VOID entry.",
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
class CreditLedgerEntryAdmin(ViewOnlyMixin, admin.ModelAdmin):
    # Append-only for everyone: corrections are new entries written by the services.
    # Listed and drilled down by when each change took effect; `created_at` is when it was posted.
    list_display = (
        "effective_at", "agent", "outlet", "kind", "amount_column", "balance_after_column", "actor_label", "reason",
    )
    list_filter = ("kind", "outlet")
    search_fields = ("reason", "actor_label", "idempotency_key", "account__agent__name")
    date_hierarchy = "effective_at"
    list_select_related = ("account__agent", "outlet")
    fields = readonly_fields = (
        "effective_at", "created_at", "outlet", "account", "kind", "amount_in_full", "balance_after_in_full", "actor_label",
        "actor_user", "actor_api_key", "reason", "idempotency_key", "ingest_batch_id",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    balance_after_column = amount_display("balance_after", "credits")
    balance_after_in_full = amount_display("balance_after", "credits", full=True)

    def lookup_allowed(self, lookup, value, request=None):
        # The account page links here filtered to its entries.
        return lookup == "account__agent__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(ordering="account__agent__name")
    def agent(self, entry):
        return "Pool" if entry.account.is_pool else entry.account.agent


@admin.register(CreditGrant)
class CreditGrantAdmin(ViewOnlyMixin, admin.ModelAdmin):
    # Opened, drawn down, expired and voided by the services only; Void is on the account page.
    list_display = (
        "id", "agent", "outlet", "source", "amount_column", "remaining_column", "priority", "expires_at", "status",
        "created_at",
    )
    list_filter = ("status", "source", "outlet")
    search_fields = ("=id", "account__agent__name")
    list_select_related = ("account__agent", "account__outlet", "outlet")
    fields = readonly_fields = (
        "outlet", "account", "entry", "source", "amount_in_full", "remaining_in_full", "priority", "effective_at",
        "expires_at", "status", "reason", "actor_label", "metadata", "created_at",
    )
    amount_column = amount_display("amount", "credits")
    amount_in_full = amount_display("amount", "credits", full=True)
    remaining_column = amount_display("remaining", "credits")
    remaining_in_full = amount_display("remaining", "credits", full=True)

    def lookup_allowed(self, lookup, value, request=None):
        # The account page links here filtered to its grants.
        return lookup == "account__agent__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(ordering="account__agent__name")
    def agent(self, grant):
        return grant.account.owner_label


class WebhookDeliveryInline(ViewOnlyMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = readonly_fields = ("created_at", "event", "attempt", "status", "response_code", "duration_ms", "error")
    extra = 0
    ordering = ("created_at", "id")
    show_change_link = True


@admin.register(CreditAlert)
class CreditAlertAdmin(ViewOnlyMixin, admin.ModelAdmin):
    # Opened and resolved by the ledger services and the check_low_balances task, never by hand.
    list_display = (
        "opened_at", "agent", "outlet", "kind", "status", "threshold_column", "opening_balance_column",
        "current_balance", "resolved_at",
    )
    list_filter = ("status", "kind", "outlet")
    search_fields = ("account__agent__name", "account__agent__external_id")
    date_hierarchy = "opened_at"
    list_select_related = ("account__agent", "outlet")
    fields = readonly_fields = (
        "outlet", "account", "kind", "status", "threshold_in_full", "opening_balance_in_full", "opened_at",
        "depleted_at", "resolved_at", "resolution_balance_in_full", "current_balance_in_full",
    )
    inlines = (WebhookDeliveryInline,)
    threshold_column = amount_display("threshold", "credits")
    threshold_in_full = amount_display("threshold", "credits", full=True)
    opening_balance_column = amount_display("opening_balance", "credits")
    opening_balance_in_full = amount_display("opening_balance", "credits", full=True)
    resolution_balance_in_full = amount_display("resolution_balance", "credits", full=True)

    @admin.display(ordering="account__agent__name")
    def agent(self, alert):
        return alert.account.agent

    @admin.display(description="balance now", ordering="account__balance")
    def current_balance(self, alert):
        return display_amount(alert.account.balance, "credits")

    @admin.display(description="balance now")
    def current_balance_in_full(self, alert):
        return display_amount(alert.account.balance, "credits", full=True)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "event", "event_id", "attempt", "outlet", "url", "status", "response_code", "duration_ms")
    list_filter = ("status", "event", "alert__outlet")
    search_fields = ("event_id", "url")
    date_hierarchy = "created_at"
    list_select_related = ("alert__outlet",)
    fields = readonly_fields = (
        "created_at", "alert", "event", "event_id", "attempt", "url", "status", "response_code", "duration_ms", "error",
    )

    @admin.display(ordering="alert__outlet__name")
    def outlet(self, delivery):
        return delivery.alert.outlet
