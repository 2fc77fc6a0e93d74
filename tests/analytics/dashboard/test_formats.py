"""Values on the page are for reading; in CSV they are exact, with the places the API writes."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.dashboard.formats import CSV, DISPLAY, percent, usd
from config.money import COST_PLACES, CREDIT_PLACES


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0"), "$0.00"), (Decimal("0.12184567"), "$0.1218"), (Decimal("0.99999"), "$1.0000"),
        (Decimal("1"), "$1.00"), (Decimal("1234.567"), "$1,234.57"),
    ],
)
def test_dollars_show_cents_or_four_places_under_a_dollar(value, text):
    assert usd(value) == text


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("int", 12345, "12,345"), ("credits", Decimal("1234.5"), "1,234.50"), ("ms", 412.6, "413 ms"),
        ("pct", 2 / 3, "66.7%"), ("days", Decimal("70"), "70.0"), ("date", date(2026, 3, 2), "2026-03-02"),
        ("datetime", datetime(2026, 3, 2, 9, 5, tzinfo=UTC), "02 Mar 09:05"),
        ("time", datetime(2026, 3, 2, 9, 5, 7, tzinfo=UTC), "09:05:07"),
    ],
)
def test_the_page_shows_each_kind_for_reading(kind, value, text):
    assert DISPLAY[kind](value) == text


def test_csv_amounts_keep_the_places_of_their_columns_and_never_an_exponent():
    assert CSV["credits"](Decimal("1E+3")) == "1000." + "0" * CREDIT_PLACES
    assert CSV["usd"](Decimal("1E-8")) == "0." + "0" * (COST_PLACES - 1) + "1"
    assert CSV["pct"](2 / 3) == "0.6667"
    assert CSV["days"](Decimal("70")) == "70.00"
    assert CSV["datetime"](datetime(2026, 3, 2, 9, 5, tzinfo=UTC)) == "2026-03-02T09:05:00+00:00"


def test_a_share_shows_as_a_whole_percent():
    assert percent(Decimal("0.556")) == "56%" and percent(0) == "0%"
