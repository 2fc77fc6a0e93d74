"""Pricing from the book: which version prices a record, and what it charges.

A record's price is the most specific match (the outlet's over the platform default, then the exact model over any)
whose `effective_from` is at or before the record's `occurred_at`, the latest such. A batch's candidates are
read in one query; each record then finds its version among them without touching the database.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from uuid import UUID

from django.db.models import Q

from config.money import COST_PLACES, CREDIT_DIGITS, CREDIT_PLACES, quantum
from credits.prices.models import Price

PRICE_NOT_FOUND = "price_not_found"
CREDIT_STEP, COST_STEP = quantum(CREDIT_PLACES), quantum(COST_PLACES)
CREDIT_LIMIT = Decimal(10) ** (CREDIT_DIGITS - CREDIT_PLACES)
COST_LIMIT = Decimal(10) ** (Price._meta.get_field("cost_usd_per_unit").max_digits - COST_PLACES)

Key = tuple[str, str, str]  # (type, model, unit)


@dataclass(frozen=True)
class Charge:
    price_id: int
    credits: Decimal
    cost_usd: Decimal


def billable_units(*, count: Decimal, increment: Decimal, minimum: Decimal) -> Decimal:
    """The units a record is billed for: its count rounded up to a multiple of `increment`, at least `minimum`."""
    rounded = (count / increment).to_integral_value(rounding=ROUND_CEILING) * increment
    return max(minimum, rounded)


def charge(price: Price, count: Decimal) -> Charge:
    """What `price` charges for `count` units; raises OverflowError past what a usage record's columns hold."""
    units = billable_units(count=count, increment=price.increment, minimum=price.minimum)
    # Rounded up: a fraction of the smallest step is billed whole, so pricing never charges less than the book says.
    credits = (units * price.credits_per_unit).quantize(CREDIT_STEP, rounding=ROUND_CEILING)
    cost = (units * price.cost_usd_per_unit).quantize(COST_STEP, rounding=ROUND_CEILING)
    if credits >= CREDIT_LIMIT or cost >= COST_LIMIT:
        raise OverflowError(f"{units} {price.unit} at this price exceed what a record holds.")
    return Charge(price_id=price.pk, credits=credits, cost_usd=cost)


class PriceBook:
    """The versions that may price a batch: those of its (type, unit) pairs, models and times, loaded at once."""

    def __init__(self, prices: Iterable[Price]):
        # Per (type, unit), most specific first: the outlet's exact model, the outlet's any model, the default's
        # exact model, the default's any model; each newest first. A record's price is the first that fits.
        self._versions: dict[tuple[str, str], list[Price]] = defaultdict(list)
        ranked = sorted(prices, key=lambda p: (p.outlet_id is None, p.model == "", -p.effective_from.timestamp()))
        for price in ranked:
            self._versions[(price.type, price.unit)].append(price)

    @classmethod
    def load(cls, *, outlet_id: UUID, keys: set[Key], until: datetime) -> "PriceBook":
        """The versions that can price `keys` (exact model or any) at or before `until`, in one query."""
        if not keys:
            return cls([])
        pairs = Q()
        for record_type, unit in {(record_type, unit) for record_type, _, unit in keys}:
            pairs |= Q(type=record_type, unit=unit)
        models = {model for _, model, _ in keys} | {""}
        return cls(
            Price.objects.filter(pairs, Q(outlet_id=outlet_id) | Q(outlet__isnull=True))
            .filter(model__in=models, effective_from__lte=until)
        )

    def find(self, *, type: str, model: str, unit: str, at: datetime) -> Price | None:
        """The record's version, or None when the book has none in effect at `at`."""
        for price in self._versions.get((type, unit), ()):
            if price.model in ("", model) and price.effective_from <= at:
                return price
        return None
