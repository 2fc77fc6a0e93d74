from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from config.api.representation import represented
from tests.factories import OutletFactory
from tests.representations import amounts, as_drf


class Item(serializers.Serializer):
    name = serializers.CharField()
    note = serializers.CharField(required=False)
    flag = serializers.BooleanField(default=True, read_only=True)
    maybe = serializers.IntegerField(allow_null=True)
    amount = serializers.DecimalField(max_digits=None, decimal_places=6)
    bounded = serializers.DecimalField(max_digits=12, decimal_places=2)
    tags = serializers.ListField(child=serializers.DecimalField(max_digits=None, decimal_places=1), required=False)


class Answer(serializers.Serializer):
    items = Item(many=True)
    first = Item(allow_null=True)
    renamed = serializers.CharField(source="real_name")


@given(
    items=st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=5), "maybe": st.one_of(st.none(), st.integers()), "amount": amounts,
             "bounded": st.decimals(places=2, min_value=-(10**9), max_value=10**9, allow_nan=False)},
            optional={"note": st.text(max_size=3), "tags": st.lists(st.one_of(st.none(), amounts), max_size=3)},
        ),
        max_size=5,
    ),
    first_is_none=st.booleans(),
)
def test_represented_equals_drf_data_for_every_field_kind_it_reads(items, first_is_none):
    answer = {"items": items, "first": None if first_is_none or not items else items[0], "real_name": "x"}

    assert represented(Answer, answer, context={}) == as_drf(Answer, answer, {})


def test_represented_skips_a_missing_optional_field_and_gives_a_read_only_default():
    item = {"name": "a", "maybe": None, "amount": Decimal("1.5"), "bounded": Decimal("2")}

    result = represented(Item, item, context={})

    assert "note" not in result and "tags" not in result
    assert result["flag"] is True and result["maybe"] is None
    assert result == as_drf(Item, item, {})


def test_represented_refuses_a_missing_required_field_as_drf_does():
    with pytest.raises(KeyError):
        represented(Item, {"name": "a"}, context={})


def test_represented_rounds_decimals_as_the_context_rounds_as_drf_does():
    item = {"name": "a", "maybe": 1, "amount": Decimal("0.0000005"), "bounded": Decimal("2.5")}

    assert represented(Item, item, context={})["amount"] == "0.000000"  # half to even
    with localcontext() as context:
        context.rounding = ROUND_HALF_UP
        assert represented(Item, item, context={})["amount"] == "0.000001" == as_drf(Item, item, {})["amount"]


def test_represented_reads_a_model_instance_as_drf_does():
    outlet = OutletFactory.build(name="North")

    class OutletNames(serializers.Serializer):
        id = serializers.UUIDField()
        name = serializers.CharField()
        timezone = serializers.CharField()

    assert represented(OutletNames, outlet, context={}) == as_drf(OutletNames, outlet, {})


def test_represented_leaves_an_overridden_to_representation_to_the_serializer():
    class Upper(serializers.Serializer):
        name = serializers.CharField()

        def to_representation(self, instance):
            return {"name": instance["name"].upper()}

    assert represented(Upper, {"name": "a"}, context={}) == {"name": "A"}


class Tagged(serializers.Serializer):
    """A field that reads the answer's context, as an analytics metric value does."""

    value = serializers.SerializerMethodField()

    def get_value(self, item):
        if item.get("inner"):  # an answer represented while this one is in progress
            return [self.context["tag"], represented(Tagged, {}, context={"tag": "inner"})["value"], self.context["tag"]]
        return self.context["tag"]


def test_represented_reads_each_answers_own_context_though_its_serializer_is_kept():
    assert represented(Tagged, {}, context={"tag": "a"}) == {"value": "a"}
    assert represented(Tagged, {}, context={"tag": "b"}) == {"value": "b"}


def test_represented_gives_an_answer_in_progress_a_serializer_of_its_own():
    assert represented(Tagged, {"inner": True}, context={"tag": "outer"}) == {"value": ["outer", "inner", "outer"]}
