"""The buttons that move credits, in one flow: a form, a confirmation page, then one write through credits.services.

Every time typed or shown on these pages is in the outlet's zone. The ModelAdmins in credits.admin mix these in.
"""

from uuid import uuid4

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from config.admin import rendered_in_zone, zoned_text
from config.errors import DomainError
from config.money import display_amount
from credits import selectors, services, writeoffs
from credits.forms import PoolAddForm, ReasonForm, TransferForm, add_domain_errors
from credits.grants import grants_usable_total
from credits.holds.models import CreditHold
from credits.holds.services import hold_release
from credits.models import Agent, CreditGrant, Outlet
from credits.pool import pool_allocate, pool_reclaim

POOL_OPERATIONS = {"add": "Add to pool", "allocate": "Allocate", "reclaim": "Reclaim"}


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
    return rendered_in_zone(outlet.zone, view, *args, **kwargs)


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


class PoolButtons:
    """The outlet page's Add to pool, Allocate and Reclaim."""

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
            move, holder = pool_allocate, "the pool holds"

            def available(agent):
                return grants_usable_total(pool, now=now)
        else:
            move, holder = pool_reclaim, "the agent's unused allocations hold"

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


class VoidButton:
    """The account page's Void, on each active grant."""

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
        if not grant.is_usable(timezone.now()):
            state = "past its expiry" if grant.status == CreditGrant.Status.ACTIVE else grant.get_status_display().lower()
            messages.error(request, f"Grant {grant.pk} is {state}: it holds nothing to void.")
            return HttpResponseRedirect(reverse("admin:credits_creditaccount_change", args=[quote(account.pk)]))
        return in_outlet_zone(account.outlet, self.void_grant, request, account, grant)

    def void_grant(self, request, account, grant):
        form = ReasonForm(request.POST or None)

        def confirm():
            expires = zoned_text(grant.expires_at, account.outlet.zone, seconds=False) if grant.expires_at else "Never"
            return {"rows": [
                ("Agent", str(account.agent)), ("Grant", str(grant)), ("Expires", expires),
                ("Remaining, voided", credits_in_full(grant.remaining)), ("Reason", form.cleaned_data["reason"]),
                ("Balance before", credits_in_full(account.balance)),
                ("Balance after", credits_in_full(account.balance - grant.remaining), True),
            ]}

        def write(idempotency_key):
            result = writeoffs.grant_void(
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


class ReleaseButton:
    """The account page's Release, on each live hold."""

    def release_view(self, request, object_id, hold_id):
        """Release one of the account's live holds: a confirmation, then hold_release."""
        if not self.has_change_balance_permission(request):
            raise PermissionDenied
        account = self.get_object(request, unquote(object_id))
        if account is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        hold = account.holds.filter(pk=hold_id).first()
        if hold is None:
            raise Http404("No such hold on this account.")
        if not hold.is_live(timezone.now()):
            state = "past its expiry" if hold.status == CreditHold.Status.ACTIVE else hold.get_status_display().lower()
            messages.error(request, f"Hold {hold.pk} is {state}: it reserves nothing to release.")
            return HttpResponseRedirect(reverse("admin:credits_creditaccount_change", args=[quote(account.pk)]))
        return in_outlet_zone(account.outlet, self.release_hold, request, account, hold)

    def release_hold(self, request, account, hold):
        form = forms.Form(request.POST or {})  # nothing to type: the confirmation page is the whole form

        def confirm():
            return {"note": "It ends the hold and gives back what it reserves; no ledger entry is written.", "rows": [
                ("Agent", str(account.agent)), ("Hold", str(hold.pk)), ("Reference", hold.reference or "-"),
                ("Amount", credits_in_full(hold.amount)), ("Captured", credits_in_full(hold.captured)),
                ("Expires", zoned_text(hold.expires_at, account.outlet.zone)),
                ("Given back", credits_in_full(hold.uncaptured), True),
            ]}

        def write(idempotency_key):
            result = hold_release(
                outlet_id=None, hold_id=hold.pk, actor=services.Actor.for_user(request.user), idempotency_key=idempotency_key,
            )
            status = result.hold.get_status_display().lower()
            return f"Released hold {hold.pk} of {account.agent} ({status}): {credits_in_full(result.available)} " \
                "available.", result.replayed

        return confirmed_write(
            self, request, form, title=f"Release hold: {account.agent}", original=account,
            intro=f"{hold} reserves {credits_in_full(hold.uncaptured)}.",
            done_url=reverse("admin:credits_creditaccount_change", args=[quote(account.pk)]), confirm=confirm, write=write,
        )
