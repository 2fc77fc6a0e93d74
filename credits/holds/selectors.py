"""Reads of holds, and the check a platform makes before a call: may this agent reserve this much now?"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import QuerySet

from config.db import for_outlet, get_or_not_found
from credits.holds.models import CreditHold
from credits.holds.policy import spend_policy
from credits.models import CreditAccount
from credits.selectors import with_available


@dataclass(frozen=True)
class SpendCheck:
    allowed: bool
    available: Decimal
    balance: Decimal
    held: Decimal


def hold_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditHold]:
    return for_outlet(CreditHold.objects.all(), outlet_id)


def spend_check(*, outlet_id: UUID | None, agent_id: UUID, amount: Decimal) -> SpendCheck:
    """Whether a hold of `amount` would be granted now, reserving nothing: one query (the account's id is its agent's)."""
    accounts = for_outlet(CreditAccount.objects.filter(agent__isnull=False).select_related("agent__outlet"), outlet_id)
    account = get_or_not_found(with_available(accounts), "Agent not found.", pk=agent_id)
    policy = spend_policy(account.agent, account.agent.outlet)
    return SpendCheck(
        allowed=not policy.refuses(available=account.available, amount=amount),
        available=account.available,
        balance=account.balance,
        held=account.held,
    )
