"""Exact amounts: how many decimal places each kind keeps (its columns'), and how one is written out.

Every column, serializer, CSV cell and command line that carries credits, US dollars or units
takes its places from here, so that the API, the admin and the exports never disagree.
"""

from collections.abc import Iterable
from decimal import Decimal

CREDIT_DIGITS = 20
CREDIT_PLACES = 6
COST_PLACES = 8  # US dollars: a fraction of a cent per token
COUNT_PLACES = 3  # units: tokens, characters, seconds, requests
DURATION_PLACES = 3  # an interaction's seconds
PLACES = {"credits": CREDIT_PLACES, "cost": COST_PLACES, "units": COUNT_PLACES}


def quantum(places: int) -> Decimal:
    """The smallest step of an amount with `places` places: 0.000001 for credits."""
    return Decimal(1).scaleb(-places)


CREDIT_QUANTUM = quantum(CREDIT_PLACES)


def fixed(value, places: int) -> str:
    """An exact amount as the API, CSV and commands write it: always `places` places, never an exponent.

    A decimal that has those places already (a column's value, or a sum of one) is written as it is: formatting
    costs several times as much, and an hourly answer writes thousands.
    """
    if type(value) is Decimal:
        text = str(value)
        if text[-places - 1 : -places] == "." and "E" not in text:
            return text
    return f"{Decimal(value):.{places}f}"


def fixed_texts(values: Iterable, places: int) -> list[str]:
    """`fixed` of each value, in one call: a series of an hourly month has hundreds, a Python call each doubled their cost."""
    return [
        text if type(value) is Decimal and (text := str(value))[-places - 1 : -places] == "." and "E" not in text
        else fixed(value, places)
        for value in values
    ]


def format_credits(value) -> str:
    """Credits as the API, admin and commands show them: always six places."""
    return fixed(value, CREDIT_PLACES)


DISPLAY_MIN_PLACES = {"credits": 2, "cost": 2, "units": 0}
SYMBOLS = {"cost": "$"}


def display_amount(value, kind: str, *, full: bool = False) -> str:
    """An amount as people read it on a screen: thousands separators, "$" on US dollars.

    Lists show two places (units keep theirs), with "<0.01" for what would round to nothing;
    `full` keeps every place the column stores, dropping trailing zeros past the first two.
    Exports and the API write `fixed` instead: machines read those.
    """
    if value is None:
        return "—"
    amount, minimum = Decimal(value), DISPLAY_MIN_PLACES[kind]
    places = PLACES[kind] if full or kind == "units" else minimum
    sign, symbol = "-" if amount < 0 else "", SYMBOLS.get(kind, "")
    shown = abs(amount).quantize(quantum(places))
    if amount and not shown:
        return f"{sign}<{symbol}{quantum(places)}"
    whole, _, fraction = f"{shown:,.{places}f}".partition(".")
    fraction = fraction.rstrip("0").ljust(minimum, "0")
    return f"{sign}{symbol}{whole}{'.' if fraction else ''}{fraction}"
