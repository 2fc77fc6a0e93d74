"""Serializer fields for exact amounts, at the places `config.money` gives each kind."""

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
