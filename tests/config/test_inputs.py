from rest_framework import serializers

from config.api.inputs import MAX_NAME_LENGTH, MAX_NAMED, StrictInput


class NameInput(StrictInput):
    name = serializers.CharField()


def test_a_known_body_passes():
    serializer = NameInput(data={"name": "Ava"})
    assert serializer.is_valid(), serializer.errors


def test_unknown_fields_are_named_each_and_boundedly():
    serializer = NameInput(data={"name": "Ava", **{f"extra{index:03d}": 1 for index in range(50)}})
    assert not serializer.is_valid()
    assert len(serializer.errors) == MAX_NAMED
    assert serializer.errors["extra000"] == ["Unknown field."]


def test_an_unknown_name_is_shown_escaped_and_short_so_it_can_be_logged():
    serializer = NameInput(data={"name": "Ava", "a\x00b": 1, "x" * 5000: 1})
    assert not serializer.is_valid()
    assert set(serializer.errors) == {"a\\x00b", "x" * MAX_NAME_LENGTH}
