"""The request log list's filters: status codes or classes, methods, the route pattern, the key's prefix.

What a status class is and which methods there are, the admin's list filters take from here too.
"""

import re

import django_filters
from django import forms
from django.db.models import Q

from analytics.models import RequestLog
from config.api.filters import CaseInsensitiveMultipleChoiceFilter

STATUS_VALUE = re.compile(r"\A(?:[1-5][0-9][0-9]|[1-5]xx)\Z")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def status_class(digit: int) -> Q:
    """The statuses of one class: 4 is 4xx, 400 to 499."""
    floor = digit * 100
    return Q(status__gte=floor, status__lt=floor + 100)


class StatusField(forms.Field):
    """`status`: codes (`404`) or classes (`4xx`), repeated or comma separated; any of them matches."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        values = [part.strip().lower() for item in value or [] for part in str(item).split(",") if part.strip()]
        for item in values:
            if not STATUS_VALUE.match(item):
                raise forms.ValidationError(
                    "'%(value)s' is not a status: use a code such as 404 or a class such as 4xx.", params={"value": item}
                )
        return sorted(set(values))


class StatusFilter(django_filters.Filter):
    field_class = StatusField

    def filter(self, qs, value):
        if not value:
            return qs
        condition = Q()
        for item in value:
            if item.endswith("xx"):
                condition |= status_class(int(item[0]))
            else:
                condition |= Q(status=int(item))
        return qs.filter(condition)


class RouteFilter(django_filters.CharFilter):
    """The route pattern exactly, with or without its leading slash."""

    def filter(self, qs, value):
        return super().filter(qs, value.lstrip("/") if value else value)


class RequestLogFilterSet(django_filters.FilterSet):
    status = StatusFilter(help_text="A code (404) or a class (2xx, 4xx, 5xx); repeat or comma separate for any of several.")
    method = CaseInsensitiveMultipleChoiceFilter(
        choices=[(method, method) for method in HTTP_METHODS], help_text="Repeat to match any of several methods."
    )
    route = RouteFilter(
        field_name="route", help_text="The URL pattern exactly, e.g. api/v1/usage/records/<int:pk>/, or <unmatched>."
    )
    key = django_filters.CharFilter(field_name="key_prefix", help_text="The API key's prefix.")

    class Meta:
        model = RequestLog
        fields = ["status", "method", "route", "key"]
