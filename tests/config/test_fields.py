from decimal import Decimal

from config.api.fields import amount, cost, credits, units


def test_an_amount_is_a_decimal_string_of_its_places_with_as_many_digits_as_it_needs():
    assert amount(2).to_representation(Decimal("1234567890123456789012.5")) == "1234567890123456789012.50"


def test_credits_cost_and_units_carry_their_columns_places():
    assert [field().to_representation(Decimal("1")) for field in (credits, cost, units)] == [
        "1.000000", "1.00000000", "1.000",
    ]
