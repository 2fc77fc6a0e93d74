"""Serializer fields for exact amounts, at the places `config.money` gives each kind; enums in any case; times with offsets."""

from collections.abc import Iterable

from django.utils import timezone
from rest_framework import serializers

from config.money import COST_PLACES, COUNT_PLACES, CREDIT_PLACES


def amount(places: int, **kwargs) -> serializers.DecimalField:
    """A sum as a decimal string of `places` places, with as many digits as it needs (a sum of bounded columns is not)."""
    return serializers.DecimalField(max_digits=None, decimal_places=places, **kwargs)


def credits(**kwargs) -> serializers.DecimalField:
    return amount(CREDIT_PLACES, **kwargs)


def cost(**kwargs) -> serializers.DecimalField:
    return amount(COST_PLACES, **kwargs)


def units(**kwargs) -> serializers.DecimalField:
    return amount(COUNT_PLACES, **kwargs)


def canonical_choice(value, choices: Iterable):
    """The choice `value` names in any case (`agent`, `Agent`: AGENT); anything else unchanged, for the caller to refuse."""
    if not isinstance(value, str):
        return value
    return next((choice for choice in choices if str(choice).lower() == value.lower()), value)


class CaseInsensitiveChoiceField(serializers.ChoiceField):
    """A ChoiceField that takes its choices in any case and gives the canonical value; the schema lists those."""

    def to_internal_value(self, data):
        return super().to_internal_value(canonical_choice(data, self.choices))


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that names its offset: a time without one is refused, not read in the server's zone."""

    default_error_messages = {"naive": "Give the offset (Z or +hh:mm): a time without one is ambiguous."}

    def to_internal_value(self, value):
        if isinstance(value, str) and "\x00" in value:  # Python's ISO parser reads past a trailing NUL
            self.fail("invalid", format="ISO 8601 with its offset")
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)
