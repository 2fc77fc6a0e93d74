from functools import reduce
from operator import or_

import django_filters
from django.db.models import Q
from django.utils import timezone

from config.api.filters import CaseInsensitiveMultipleChoiceFilter, StrictBooleanFilter
from credits.grants import expired_unwritten, usable
from credits.holds.models import CreditHold, live_holds
from credits.models import Agent, CreditAccount, CreditGrant, CreditLedgerEntry


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


def grant_status_now(status: str, now) -> Q:
    """Grants whose status is `status` as of `now`: one past its expiry is expired, written off yet or not."""
    if status == CreditGrant.Status.ACTIVE:
        return usable(now)
    if status == CreditGrant.Status.EXPIRED:
        return Q(status=status) | expired_unwritten(now)
    return Q(status=status)


class GrantFilterSet(django_filters.FilterSet):
    agent_id = django_filters.UUIDFilter(field_name="account_id", help_text="One agent's grants.")
    pool = StrictBooleanFilter(
        field_name="account__agent", lookup_expr="isnull", help_text="Only the outlet pool's (true) or only agents' (false)."
    )
    status = CaseInsensitiveMultipleChoiceFilter(
        choices=CreditGrant.Status.choices,
        method="filter_status",
        help_text="As of now (a grant past its expiry is `expired` at once); repeat to match any of several.",
    )
    source = CaseInsensitiveMultipleChoiceFilter(choices=CreditGrant.Source.choices, help_text="Repeat to match any of several.")

    class Meta:
        model = CreditGrant
        fields = ["agent_id", "pool", "status", "source"]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        return queryset.filter(reduce(or_, (grant_status_now(status, now) for status in value)))


def hold_status_now(status: str, now) -> Q:
    """Holds whose status is `status` as of `now`: an active one past its expiry is expired, swept yet or not."""
    if status == CreditHold.Status.ACTIVE:
        return live_holds(now)
    if status == CreditHold.Status.EXPIRED:
        return Q(status=status) | Q(status=CreditHold.Status.ACTIVE, expires_at__lte=now)
    return Q(status=status)


class HoldFilterSet(django_filters.FilterSet):
    agent_id = django_filters.UUIDFilter(field_name="account_id", help_text="One agent's holds.")
    status = CaseInsensitiveMultipleChoiceFilter(
        choices=CreditHold.Status.choices,
        method="filter_status",
        help_text="As of now (a hold past its expiry is `expired` at once); repeat to match any of several.",
    )
    reference = django_filters.CharFilter(help_text="The call's reference (interaction id), exactly.")

    class Meta:
        model = CreditHold
        fields = ["agent_id", "status", "reference"]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        return queryset.filter(reduce(or_, (hold_status_now(status, now) for status in value)))
