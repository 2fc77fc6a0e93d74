"""Admin forms: they parse what staff type; the services decide what is allowed."""

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime

from config.errors import DomainError
from credits import services
from credits.models import ApiKey, CreditLedgerEntry, Outlet


def add_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Puts a service's error on the fields it names, anything else on the form as a whole."""
    for field, errors in exc.errors.items():
        form.add_error(field if field in form.fields else None, errors)
    if not exc.errors:
        form.add_error(None, exc.message)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=services.MAX_REASON_LENGTH)


class BalanceChangeForm(ReasonForm):
    """Add credits or set a balance (with an amount), or clear it (without)."""

    amount = forms.CharField(max_length=40)
    field_order = ("amount", "reason")

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind == CreditLedgerEntry.Kind.CLEAR:
            del self.fields["amount"]

    def clean_amount(self):
        try:
            amount = services.parse_amount(self.cleaned_data["amount"])
            # The service's own rule, so a negative "add" is refused here rather than after the confirmation.
            services.check_amount(self.kind, amount)
        except DomainError as exc:
            raise forms.ValidationError(exc.errors.get("amount", exc.message)) from None
        return amount


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
