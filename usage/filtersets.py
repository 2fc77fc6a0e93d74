"""Filters of the usage record and interaction lists.

`meta[key]=value` (repeatable, all must match) filters records by their `meta` JSON. Values
compare as JSON strings: `meta[tier]=5` matches `{"tier": "5"}`, not `{"tier": 5}` nor
`{"tier": "05"}`, and `meta[vip]=true` does not match `{"vip": true}`. On PostgreSQL all the
pairs become one containment, `meta @> '{"k1": "v1", "k2": "v2"}'`, answered from the GIN index
`usage_meta_gin`; SQLite has no JSON containment, so there each pair is a key lookup with a
check that the value there is a string, which gives the same answers.
"""

import json
import re

import django_filters
from django import forms
from django.db import connections
from django.db.models import CharField, F, Func, QuerySet, Value
from django.db.models.lookups import Exact
from drf_spectacular.utils import OpenApiParameter

from config.api.filters import CaseInsensitiveMultipleChoiceFilter
from usage.models import RELATION_IDS, Interaction, UsageRecord

META = "meta"
META_KEY = re.compile(r"\Ameta\[([^\[\]]+)\]\Z")
MAX_META_FILTERS = 20

META_PARAMETERS = [
    # `meta[key]=value` pairs: OpenAPI's deepObject style of an object parameter named `meta`.
    OpenApiParameter(
        META,
        {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": MAX_META_FILTERS},
        OpenApiParameter.QUERY,
        style="deepObject",
        explode=True,
        description=(
            "Records whose `meta` has this string value at `key`: `meta[key]=value`, e.g. `meta[channel]=web`. "
            "Give several keys to require them all (`meta[channel]=web&meta[campaign]=spring`). Values compare as "
            'JSON strings: `meta[tier]=5` matches `{"tier": "5"}`, not `{"tier": 5}`. '
            f"At most {MAX_META_FILTERS} keys, each once, no nesting: a malformed parameter such as `meta[]` is a 400."
        ),
    ),
]


class MetaWidget(forms.Widget):
    """Gathers every `meta`, `meta[...]` parameter of the query string as `[(name, [values...])]`."""

    def value_from_datadict(self, data, files, name):
        items = data.lists() if hasattr(data, "lists") else ((key, [value]) for key, value in data.items())
        return [(key, values) for key, values in items if key == name or key.startswith(f"{name}[")]

    def value_omitted_from_data(self, data, files, name):
        return not self.value_from_datadict(data, files, name)


class MetaField(forms.Field):
    """The `meta[key]=value` parameters as `{key: value}`; a malformed or repeated one is an error."""

    widget = MetaWidget

    def to_python(self, value) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for name, values in value or []:
            match = META_KEY.match(name)
            if match is None:
                raise forms.ValidationError(
                    "'%(name)s' is not a meta filter: use meta[key]=value, e.g. meta[channel]=web.",
                    code="malformed",
                    params={"name": name},
                )
            if len(values) > 1:
                raise forms.ValidationError(
                    "'%(name)s' is given %(times)s times: give each key once.",
                    code="repeated",
                    params={"name": name, "times": len(values)},
                )
            pairs[match.group(1)] = values[0]
        if len(pairs) > MAX_META_FILTERS:
            raise forms.ValidationError(f"At most {MAX_META_FILTERS} meta filters, not {len(pairs)}.", code="too_many")
        return pairs


class MetaFilter(django_filters.Filter):
    field_class = MetaField

    def filter(self, qs: QuerySet, value: dict[str, str]) -> QuerySet:
        if not value:
            return qs
        return meta_filter(qs, value, field=self.field_name)


def _sqlite_json(function: str, field: str, key: str) -> Func:
    # A path of our own: Django's would read a key like "0" as an array index.
    return Func(F(field), Value("$." + json.dumps(key)), function=function, output_field=CharField())


def meta_filter(queryset: QuerySet, pairs: dict[str, str], *, field: str = META) -> QuerySet:
    """Rows whose JSON `field` holds every `key: "value"` pair, as strings."""
    if connections[queryset.db].features.supports_json_field_contains:
        return queryset.filter(**{f"{field}__contains": pairs})
    conditions = []
    for key, value in pairs.items():
        conditions.append(Exact(_sqlite_json("JSON_TYPE", field, key), "text"))
        conditions.append(Exact(_sqlite_json("JSON_EXTRACT", field, key), value))
    return queryset.filter(*conditions)


class UsageRecordFilterSet(django_filters.FilterSet):
    type = django_filters.CharFilter(help_text="Exact type, e.g. CONVERSATION or TTS.")
    model = django_filters.CharFilter()
    agent_id = django_filters.UUIDFilter()
    interaction_id = django_filters.CharFilter()
    meta = MetaFilter(field_name="meta")

    class Meta:
        model = UsageRecord
        fields = ["type", "model", "agent_id", "interaction_id", *RELATION_IDS]


class InteractionFilterSet(django_filters.FilterSet):
    agent_id = django_filters.UUIDFilter()
    status = CaseInsensitiveMultipleChoiceFilter(
        choices=Interaction.Status.choices, help_text="Repeat to match any of several statuses."
    )
    sentiment = CaseInsensitiveMultipleChoiceFilter(
        choices=Interaction.Sentiment.choices, help_text="Repeat to match any of several sentiments."
    )
    end_user_id = django_filters.CharFilter()

    class Meta:
        model = Interaction
        fields = ["agent_id", "status", "sentiment", "end_user_id"]
