"""Admin forms: they parse what staff type; the services decide what is allowed."""

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils import timezone

from config.admin import zoned_text
from config.errors import DomainError
from config.money import display_amount
from credits import services
from credits.controls import TOP_UP_FIELDS
from credits.grants import MANUAL_SOURCES, GrantTerms, check_grant_terms
from credits.models import ApiKey, CreditGrant, CreditLedgerEntry, Outlet


def add_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Puts a service's error on the fields it names, anything else on the form as a whole."""
    for field, errors in exc.errors.items():
        form.add_error(field if field in form.fields else None, errors)
    if not exc.errors:
        form.add_error(None, exc.message)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=services.MAX_REASON_LENGTH)


class AmountForm(ReasonForm):
    """An amount of credits and the reason for moving it."""

    amount = forms.CharField(max_length=40)
    field_order = ("amount", "reason")
    kind = CreditLedgerEntry.Kind.ADD  # whose amount rule applies: moving credits takes a positive amount

    def clean_amount(self):
        try:
            amount = services.parse_amount(self.cleaned_data["amount"])
            # The service's own rule, so a negative "add" is refused here rather than after the confirmation.
            services.check_amount(self.kind, amount)
        except DomainError as exc:
            raise forms.ValidationError(exc.errors.get("amount", exc.message)) from None
        return amount


class GrantTermsMixin(forms.Form):
    """The new grant's expiry (typed in the current zone: the views set the outlet's), priority and source."""

    expires_at = forms.SplitDateTimeField(
        label="Expires", required=False, widget=AdminSplitDateTime,
        help_text="In the outlet's time zone. Empty: the credits never expire.",
    )
    priority = forms.IntegerField(required=False, initial=services.PURCHASE.priority, help_text="Lower is drawn first.")
    source = forms.ChoiceField(
        choices=[(source.value, source.label) for source in MANUAL_SOURCES], initial=services.PURCHASE.source,
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            priority = cleaned.get("priority")
            terms = GrantTerms(
                source=cleaned.get("source") or services.PURCHASE.source, priority=services.PURCHASE.priority if priority is None else priority,
                expires_at=cleaned.get("expires_at"),
            )
            try:
                cleaned["terms"] = check_grant_terms(terms, now=timezone.now())
            except DomainError as exc:
                add_domain_errors(self, exc)
        return cleaned

    def terms_display(self) -> list[tuple[str, str]]:
        """The grant's terms as the confirmation page lists them, the expiry in the current zone."""
        terms = self.cleaned_data["terms"]
        expires = zoned_text(terms.expires_at, timezone.get_current_timezone(), seconds=False) if terms.expires_at else "Never"
        return [
            ("Source", CreditGrant.Source(terms.source).label), ("Priority", str(terms.priority)), ("Expires", expires),
        ]


class BalanceChangeForm(AmountForm):
    """Add credits or set a balance (with an amount), or clear it (without)."""

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind == CreditLedgerEntry.Kind.CLEAR:
            del self.fields["amount"]


class AddCreditsForm(GrantTermsMixin, BalanceChangeForm):
    """Add credits: a new grant, with its terms."""

    field_order = ("amount", "expires_at", "priority", "source", "reason")


class PoolAddForm(GrantTermsMixin, AmountForm):
    field_order = ("amount", "expires_at", "priority", "source", "reason")


class TransferForm(AmountForm):
    """Allocate to (or reclaim from) one of the outlet's agents; `available` is what the source holds now."""

    agent = forms.ModelChoiceField(queryset=None)
    field_order = ("agent", "amount", "reason")

    def __init__(self, *args, agents, available, holder: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents
        self.available, self.holder = available, holder

    def clean(self):
        cleaned = super().clean()
        agent, amount = cleaned.get("agent"), cleaned.get("amount")
        if agent is not None and amount is not None and amount > (held := self.available(agent)):
            shown = (display_amount(value, "credits", full=True) for value in (held, amount))
            self.add_error("amount", "Only {} available: {} less than {}.".format(next(shown), self.holder, next(shown)))
        return cleaned


class ApiKeyCreateForm(forms.Form):
    outlet = forms.ModelChoiceField(queryset=Outlet.objects.all())
    name = forms.CharField(max_length=50)
    # Not required here: the service decides what a valid set of scopes is.
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    expiry_date = forms.SplitDateTimeField(
        label="Expires", required=False, widget=AdminSplitDateTime, help_text="Empty: the key never expires."
    )


class SpendControlsForm(forms.ModelForm):
    """The agent's and the outlet's forms: enforcement, overdraft and the top-up rule, whose four fields go together."""

    class Meta:
        error_messages = {"top_up_amount": {"min_value": "A top-up adds more than 0 credits."}}

    def clean(self):
        cleaned = super().clean()
        given = [name for name in TOP_UP_FIELDS if cleaned.get(name) not in (None, "")]
        if given and len(given) < len(TOP_UP_FIELDS):
            message = "A top-up rule takes all four: threshold, amount, source and max per day (or none of them)."
            # On each missing field: the whole-rule constraint then skips them rather than saying it was violated.
            for name in TOP_UP_FIELDS:
                if name not in given and name not in self.errors:
                    self.add_error(name, message)
        return cleaned
