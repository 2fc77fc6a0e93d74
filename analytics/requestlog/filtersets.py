"""The request log list's filters: status codes or classes, error codes, methods, the route pattern, the key's prefix.

What a status class is, which methods and error codes there are, the admin's list filters take from here too.
"""

import re

import django_filters
from django import forms
from django.db.models import Q

from analytics.models import RequestLog
from config.api.exceptions import ERROR_CODES as API_ERROR_CODES
from config.api.filters import CaseInsensitiveMultipleChoiceFilter

STATUS_VALUE = re.compile(r"\A(?:[1-5][0-9][0-9]|[1-5]xx)\Z")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
ERROR_CODE_VALUE = re.compile(r"\A[a-z0-9_]{1,64}\Z")
# The codes the API answers with: the admin's fixed choices (any other filters by its URL, ?code=...).
ERROR_CODES = tuple(dict.fromkeys(API_ERROR_CODES.values()))


def status_class(digit: int) -> Q:
    """The statuses of one class: 4 is 4xx, 400 to 499."""
    floor = digit * 100
    return Q(status__gte=floor, status__lt=floor + 100)


class ValueListField(forms.Field):
    """Values repeated or comma separated, each matching `pattern` (else the `invalid` message); any of them matches."""

    widget = forms.MultipleHiddenInput
    pattern: re.Pattern
    invalid: str

    def to_python(self, value) -> list[str]:
        values = [part.strip().lower() for item in value or [] for part in str(item).split(",") if part.strip()]
        for item in values:
            if not self.pattern.match(item):
                raise forms.ValidationError(self.invalid, params={"value": item})
        return sorted(set(values))


class StatusField(ValueListField):
    """`status`: codes (`404`) or classes (`4xx`)."""

    pattern = STATUS_VALUE
    invalid = "'%(value)s' is not a status: use a code such as 404 or a class such as 4xx."


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


class ErrorCodeField(ValueListField):
    """`code`: error codes such as `not_found`."""

    pattern = ERROR_CODE_VALUE
    invalid = "'%(value)s' is not an error code: use one such as not_found."


class ErrorCodeFilter(django_filters.Filter):
    field_class = ErrorCodeField

    def filter(self, qs, value):
        return qs.filter(code__in=value) if value else qs


class RouteFilter(django_filters.CharFilter):
    """The route pattern exactly, with or without its leading slash."""

    def filter(self, qs, value):
        return super().filter(qs, value.lstrip("/") if value else value)


class RequestLogFilterSet(django_filters.FilterSet):
    status = StatusFilter(help_text="A code (404) or a class (2xx, 4xx, 5xx); repeat or comma separate for any of several.")
    code = ErrorCodeFilter(
        help_text="An error code (not_found, invalid_parameter, ...); repeat or comma separate for any of several."
    )
    method = CaseInsensitiveMultipleChoiceFilter(
        choices=[(method, method) for method in HTTP_METHODS], help_text="Repeat to match any of several methods."
    )
    route = RouteFilter(
        field_name="route", help_text="The URL pattern exactly, e.g. api/v1/usage/records/<int:pk>/, or <unmatched>."
    )
    key = django_filters.CharFilter(field_name="key_prefix", help_text="The API key's prefix.")

    class Meta:
        model = RequestLog
        fields = ["status", "code", "method", "route", "key"]
