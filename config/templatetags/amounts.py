"""`{% load amounts %}`: config.money.display_amount for templates, `{{ value|amount:"credits" }}`."""

from django import template

from config.money import display_amount

register = template.Library()


@register.filter
def amount(value, kind: str) -> str:
    """Two places, as in lists: `{{ entry.balance_after|amount:"credits" }}`."""
    return display_amount(value, kind)


@register.filter
def amount_in_full(value, kind: str) -> str:
    """Every place the column keeps, as on detail pages: `{{ balance|amount_in_full:"credits" }}`."""
    return display_amount(value, kind, full=True)
