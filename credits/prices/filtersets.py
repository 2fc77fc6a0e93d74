from datetime import date, datetime

import django_filters
from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from config.api.dates import local_midnight
from config.api.filters import CaseInsensitiveMultipleChoiceFilter
from credits.prices.models import Price
from credits.prices.selectors import prices_in_effect


class MomentField(forms.Field):
    """A date, or an ISO 8601 time with its offset."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            day = parse_date(value) if len(value) == 10 else None
            moment = None if day else parse_datetime(value)
        except ValueError:  # well formed, but no such day or time
            day = moment = None
        if day is not None:
            return day
        if moment is None or moment.tzinfo is None:
            raise forms.ValidationError(f"'{value[:40]}' is not a date (YYYY-MM-DD) or a time with its offset.")
        return moment


@extend_schema_field(OpenApiTypes.STR)  # a date or a date-time: neither format alone
class MomentFilter(django_filters.Filter):
    field_class = MomentField


class PriceFilterSet(django_filters.FilterSet):
    type = django_filters.CharFilter()
    model = django_filters.CharFilter()
    unit = CaseInsensitiveMultipleChoiceFilter(choices=Price.Unit.choices)
    effective_at = MomentFilter(
        method="filter_effective_at",
        help_text="A date (YYYY-MM-DD: its start in the outlet's zone; staff without outlet_id: UTC) or a time with its "
        "offset: only the versions in effect then.",
    )

    class Meta:
        model = Price
        fields = ["type", "model", "unit", "effective_at"]

    def filter_effective_at(self, queryset, name, value: date | datetime):
        if not isinstance(value, datetime):  # a date starts at its midnight in the list's zone (DRF's request knows the view)
            value = local_midnight(value, self.request.parser_context["view"].date_zone(self.request))
        return prices_in_effect(queryset, value)
