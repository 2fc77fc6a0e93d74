import django_filters
from django import forms

from config.api.fields import canonical_choice

TRUE_VALUES = {"true", "1", "yes"}
FALSE_VALUES = {"false", "0", "no"}


class StrictBooleanField(forms.Field):
    """`true`/`false` (or 1/0, yes/no); anything else is an error, not "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).lower()
        if lowered in TRUE_VALUES:
            return True
        if lowered in FALSE_VALUES:
            return False
        # The value goes in as a parameter: django-filter %-formats the message, so a '%' in it must not be text.
        raise forms.ValidationError("'%(value)s' is not a boolean: use true or false.", params={"value": value})


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class CaseInsensitiveMultipleChoiceField(django_filters.fields.MultipleChoiceField):
    """Each value in any case, as its canonical choice: `kind=add` is ADD."""

    def to_python(self, value):
        names = [name for name, _ in self.choices]
        return [canonical_choice(item, names) for item in super().to_python(value)]


class CaseInsensitiveMultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    field_class = CaseInsensitiveMultipleChoiceField
