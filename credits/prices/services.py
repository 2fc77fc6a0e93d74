"""Writes to the price book: a new version, or a whole file of them; never a change to one that priced usage."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from config.errors import DomainError
from credits.prices.models import Price
from credits.services import Actor


def _checked(price: Price) -> dict[str, list[str]]:
    """The version's errors by field (empty when it may be stored)."""
    try:
        price.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


@transaction.atomic
def price_create(*, actor: Actor, **fields) -> Price:
    """Adds a version: a later `effective_from` for the same (outlet, type, model, unit) supersedes the earlier."""
    price = Price(created_by=actor.label, **fields)
    errors = _checked(price)
    if errors:
        raise DomainError("The price is invalid; nothing was stored.", errors=errors)
    try:
        with transaction.atomic():
            price.save()
    except IntegrityError:  # another request stored the same version at the same moment
        raise DomainError("This version exists already.", errors={"effective_from": ["Taken for this price."]}) from None
    return price


def price_rows_errors(prices: list[tuple[int, Price]]) -> dict[str, list[str]]:
    """Each bad (line, version)'s errors, keyed `line N`: its own checks, and a version given twice."""
    problems, seen = {}, {}
    for line, price in prices:
        errors = _checked(price)
        key = (price.outlet_id, price.type, price.model, price.unit, price.effective_from)
        if not errors and key in seen:
            errors = {"effective_from": [f"The same version as line {seen[key]}."]}
        seen.setdefault(key, line)
        if errors:
            problems[f"line {line}"] = [f"{name}: {' '.join(messages)}" for name, messages in errors.items()]
    return problems


def prices_import(*, rows: list[tuple[int, dict]], actor: Actor) -> list[Price]:
    """Stores every (line, fields) row as a version, or none: a DomainError names each bad line."""
    prices = [(line, Price(created_by=actor.label, **fields)) for line, fields in rows]
    problems = price_rows_errors(prices)
    if problems:
        raise DomainError(f"{len(problems)} of {len(prices)} rows are invalid; nothing was stored.", errors=problems)
    with transaction.atomic():
        return Price.objects.bulk_create([price for _, price in prices])
