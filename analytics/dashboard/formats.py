"""How a value of each kind is written: on the page for reading, in a CSV download exact (as the API writes it)."""

from collections.abc import Callable
from decimal import Decimal

from config.money import COST_PLACES, CREDIT_PLACES, fixed


def _places(value, places: int) -> str:
    return f"{Decimal(value):,.{places}f}"


def usd(value) -> str:
    """US dollars on the page: cents, or four places for a fraction of a dollar."""
    value = Decimal(value)
    return f"${value:,.4f}" if 0 < abs(value) < 1 else f"${value:,.2f}"


def percent(share) -> str:
    return f"{share * 100:.0f}%"


DISPLAY: dict[str, Callable] = {
    "text": str,
    "int": lambda value: f"{value:,}",
    "credits": lambda value: _places(value, 2),
    "usd": usd,
    "ms": lambda value: f"{value:,.0f} ms",
    "pct": lambda value: f"{value * 100:.1f}%",
    "days": lambda value: _places(value, 1),
    "date": lambda value: value.isoformat(),
    "datetime": lambda value: value.strftime("%d %b %H:%M"),
    "time": lambda value: value.strftime("%H:%M:%S"),
}
CSV: dict[str, Callable] = {
    "credits": lambda value: fixed(value, CREDIT_PLACES),
    "usd": lambda value: fixed(value, COST_PLACES),
    "pct": lambda value: f"{value:.4f}",
    "days": lambda value: fixed(value, 2),
    "datetime": lambda value: value.isoformat(),
    "time": lambda value: value.isoformat(),
}
NUMERIC = {"int", "credits", "usd", "ms", "pct", "days"}
