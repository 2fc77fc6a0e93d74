import django_filters

from config.api.filters import CaseInsensitiveMultipleChoiceFilter, StrictBooleanFilter
from credits.models import Agent, CreditAccount, CreditLedgerEntry


class AgentFilterSet(django_filters.FilterSet):
    external_id = django_filters.CharFilter()
    is_active = StrictBooleanFilter()

    class Meta:
        model = Agent
        fields = ["external_id", "is_active"]


class BalanceFilterSet(django_filters.FilterSet):
    agent_id = django_filters.UUIDFilter(field_name="agent_id")
    low = StrictBooleanFilter(field_name="is_low", help_text="Only accounts below (true) or at/above (false) their threshold.")

    class Meta:
        model = CreditAccount
        fields = ["agent_id", "low"]


class LedgerEntryFilterSet(django_filters.FilterSet):
    agent_id = django_filters.UUIDFilter(field_name="account_id")
    kind = CaseInsensitiveMultipleChoiceFilter(choices=CreditLedgerEntry.Kind.choices, help_text="Repeat to match any of several kinds.")

    class Meta:
        model = CreditLedgerEntry
        fields = ["agent_id", "kind"]
