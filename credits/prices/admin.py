"""The price book in the admin: versions listed, added, superseded; a version that priced usage is read-only."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin import amount_display
from credits.prices import services
from credits.prices.forms import PRICE_FIELDS, PriceForm
from credits.prices.models import Price
from credits.services import Actor


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    form = PriceForm
    list_display = (
        "type", "model_or_any", "unit", "outlet_or_default", "credits_column", "cost_column", "increment", "minimum",
        "effective_from", "used", "supersede_link",
    )
    list_filter = ("unit", "type", ("outlet", admin.EmptyFieldListFilter), "outlet", "effective_from")
    search_fields = ("type", "model")
    date_hierarchy = "effective_from"
    list_select_related = ("outlet",)
    ordering = ("type", "model", "unit", "-effective_from", "-id")

    credits_column = amount_display("credits_per_unit", "credits", full=True, description="credits per unit")
    cost_column = amount_display("cost_usd_per_unit", "cost", full=True, description="cost per unit")

    def get_queryset(self, request):
        used = Price.objects.filter(pk=OuterRef("pk"), usage_records__isnull=False)
        return super().get_queryset(request).annotate(was_used=Exists(used))

    def get_fields(self, request, obj=None):
        return PRICE_FIELDS if obj is None else (*PRICE_FIELDS, "created_at", "created_by", "supersede_link")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("created_at", "created_by", "supersede_link")

    def has_change_permission(self, request, obj=None):
        # A version that priced usage is never changed: staff see it read-only and supersede it.
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_used)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_used)

    def get_changeform_initial_data(self, request):
        """With `?supersede=<id>`: that version's fields, effective from now (or just after it, if later)."""
        superseded = request.GET.get("supersede", "")
        price = Price.objects.filter(pk=superseded).first() if superseded.isdigit() else None
        if price is None:
            return super().get_changeform_initial_data(request)
        initial = {name: getattr(price, name) for name in PRICE_FIELDS}
        initial["effective_from"] = max(timezone.now(), price.effective_from + timedelta(minutes=1)).replace(microsecond=0)
        return initial

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # an unused version: its model refuses a used one
            return
        created = services.price_create(
            actor=Actor.for_user(request.user), **{name: form.cleaned_data[name] for name in PRICE_FIELDS}
        )
        obj.pk, obj.created_at, obj.created_by, obj._state.adding = created.pk, created.created_at, created.created_by, False

    @admin.display(description="model", ordering="model")
    def model_or_any(self, price):
        return price.model or "(any)"

    @admin.display(description="outlet", ordering="outlet__name")
    def outlet_or_default(self, price):
        return price.outlet or "(platform default)"

    @admin.display(description="used", boolean=True)
    def used(self, price):
        return getattr(price, "was_used", None)

    @admin.display(description="supersede")
    def supersede_link(self, price):
        url = reverse("admin:credits_price_add") + f"?supersede={price.pk}"
        return format_html('<a href="{}">Supersede</a>', url)
