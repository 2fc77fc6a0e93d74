from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.money import CREDIT_PLACES, PLACES, display_amount, fixed, fixed_texts, format_credits
from credits.models import CreditAccount
from usage.models import UsageRecord


@pytest.mark.parametrize(
    "value, places, text",
    [
        (Decimal("1.5"), 6, "1.500000"),
        (Decimal("1E+3"), 2, "1000.00"),  # never an exponent
        (Decimal("0.123456789"), 8, "0.12345679"),
        (7, 3, "7.000"),
        (Decimal("-0.0000001"), 6, "-0.000000"),
        (Decimal("0.00000001"), 8, "0.00000001"),  # its own text would be 1E-8
        (Decimal("-0.000"), 3, "-0.000"),
    ],
)
def test_an_amount_is_written_with_exactly_its_places(value, places, text):
    assert fixed(value, places) == text


@given(
    digits=st.integers(min_value=-(10**30), max_value=10**30),
    exponent=st.integers(min_value=-12, max_value=4),
    places=st.integers(min_value=0, max_value=10),
)
def test_an_amount_with_its_places_already_is_written_as_formatting_writes_it(digits, exponent, places):
    value = Decimal(digits).scaleb(exponent)
    assert fixed(value, places) == f"{value:.{places}f}"
    assert fixed(Decimal(digits).scaleb(-places), places) == f"{Decimal(digits).scaleb(-places):.{places}f}"


@given(
    values=st.lists(
        st.one_of(
            st.integers(min_value=-(10**12), max_value=10**12),
            st.builds(lambda digits, exponent: Decimal(digits).scaleb(exponent), st.integers(-(10**20), 10**20), st.integers(-10, 4)),
        ),
        max_size=8,
    ),
    places=st.integers(min_value=0, max_value=8),
)
def test_the_texts_of_many_amounts_are_each_ones_fixed_text(values, places):
    assert fixed_texts(values, places) == [fixed(value, places) for value in values]


def test_credits_are_written_with_the_ledgers_six_places():
    assert format_credits(Decimal("12")) == "12.000000"
    assert CreditAccount._meta.get_field("balance").decimal_places == CREDIT_PLACES


def test_the_places_of_each_metric_are_its_columns():
    assert PLACES["cost"] == UsageRecord._meta.get_field("cost_usd").decimal_places
    assert PLACES["units"] == UsageRecord._meta.get_field("count").decimal_places
    assert PLACES["credits"] == UsageRecord._meta.get_field("credits").decimal_places


@pytest.mark.parametrize(
    "value, kind, full, text",
    [
        (Decimal("1234567.891234"), "credits", False, "1,234,567.89"),  # lists: two places
        (Decimal("1234567.891234"), "credits", True, "1,234,567.891234"),  # detail pages: every place
        (Decimal("10.000000"), "credits", True, "10.00"),  # trailing zeros past two dropped
        (Decimal("1234.5"), "cost", False, "$1,234.50"),
        (Decimal("-1234.5"), "cost", False, "-$1,234.50"),
        (Decimal("0.00012345"), "cost", False, "<$0.01"),  # not "$0.00" for what costs something
        (Decimal("0.00012345"), "cost", True, "$0.00012345"),
        (Decimal("0"), "cost", False, "$0.00"),
        (Decimal("12000.000"), "units", False, "12,000"),
        (Decimal("0.500"), "units", False, "0.5"),
        (None, "credits", False, "—"),
    ],
)
def test_an_amount_is_displayed_as_people_read_it(value, kind, full, text):
    assert display_amount(value, kind, full=full) == text
