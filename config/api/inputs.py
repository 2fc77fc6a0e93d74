"""Request bodies that refuse fields they do not know, as Stripe's API does: a misspelt `expires_at` must fail
loudly, not post a grant that never expires."""

from collections.abc import Mapping

from rest_framework import serializers

MAX_NAMED = 10  # a body of a thousand strange keys gets a bounded error


class StrictInput(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data.keys() - self.fields.keys())
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown[:MAX_NAMED]})
        return super().to_internal_value(data)
