"""The price book's admin form: what staff type; `services.price_create` decides what is stored."""

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime

from credits.prices.models import Price

PRICE_FIELDS = (
    "outlet", "type", "model", "unit", "credits_per_unit", "cost_usd_per_unit", "increment", "minimum",
    "effective_from",
)


class PriceForm(forms.ModelForm):
    effective_from = forms.SplitDateTimeField(widget=AdminSplitDateTime, help_text=Price._meta.get_field("effective_from").help_text)

    class Meta:
        model = Price
        fields = PRICE_FIELDS
