from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from config.api.fields import CaseInsensitiveChoiceField, amount, canonical_choice, cost, credits, units


def test_an_amount_is_a_decimal_string_of_its_places_with_as_many_digits_as_it_needs():
    assert amount(2).to_representation(Decimal("1234567890123456789012.5")) == "1234567890123456789012.50"


def test_credits_cost_and_units_carry_their_columns_places():
    assert [field().to_representation(Decimal("1")) for field in (credits, cost, units)] == [
        "1.000000", "1.00000000", "1.000",
    ]


@pytest.mark.parametrize(("given", "canonical"), [("agent", "AGENT"), ("Agent", "AGENT"), ("AGENT", "AGENT"), ("team", "team"), (7, 7)])
def test_a_choice_in_any_case_is_its_canonical_value_and_anything_else_is_left_to_refuse(given, canonical):
    assert canonical_choice(given, ("OUTLET", "AGENT")) == canonical


def test_a_case_insensitive_choice_field_gives_the_canonical_value_and_refuses_the_rest():
    field = CaseInsensitiveChoiceField(choices=["add", "set"])
    assert field.run_validation("SET") == "set"
    with pytest.raises(ValidationError):
        field.run_validation("teleport")
