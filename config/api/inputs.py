"""Request bodies that refuse fields they do not know, as Stripe's API does: a misspelt `expires_at` must fail
loudly, not post a grant that never expires."""

from collections.abc import Mapping

from rest_framework import serializers

MAX_NAMED = 10  # a body of a thousand strange keys gets a bounded error
MAX_NAME_LENGTH = 100


def shown_name(name) -> str:
    """A key as an error may name it: escaped when not printable (a NUL cannot be stored or logged), and cut short."""
    text = str(name)
    return (text if text.isprintable() else text.encode("unicode_escape").decode("ascii"))[:MAX_NAME_LENGTH]


class StrictInput(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(shown_name(name) for name in data.keys() - self.fields.keys())
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown[:MAX_NAMED]})
        return super().to_internal_value(data)
