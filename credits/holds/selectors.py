"""Reads of holds and top-ups, scoped to an outlet (None: every outlet), and the check a platform makes before a
call: may this agent reserve this much now?"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Case, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from config.db import for_outlet, get_or_not_found
from credits.controls import TOP_UP_FIELDS
from credits.holds.models import CreditHold, CreditTopUp, live_holds
from credits.holds.policy import spend_policy
from credits.models import ZERO, CreditAccount
from credits.selectors import with_available

POLICY_FIELDS = tuple(
    f"{holder}{name}" for holder in ("agent__", "agent__outlet__") for name in ("enforcement", "overdraft_limit", *TOP_UP_FIELDS)
)


@dataclass(frozen=True)
class SpendCheck:
    allowed: bool
    available: Decimal
    balance: Decimal
    held: Decimal


def hold_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditHold]:
    """Holds with their agent, active ones first, then the newest."""
    active_first = Case(When(status=CreditHold.Status.ACTIVE, then=Value(0)), default=Value(1))
    holds = CreditHold.objects.select_related("account__agent", "outlet").order_by(active_first, "-created_at", "-id")
    return for_outlet(holds, outlet_id)


def top_up_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditTopUp]:
    return for_outlet(CreditTopUp.objects.select_related("account__agent", "outlet"), outlet_id)


def held_total(*, outlet_id: UUID | None = None, now: datetime | None = None) -> Decimal:
    """What live holds (active, not past their expiry) reserve now and usage has not captured: `available`'s `held`,
    summed over the outlet's agents."""
    holds = for_outlet(CreditHold.objects.filter(live_holds(now or timezone.now())), outlet_id)
    uncaptured = Greatest(F("amount") - F("captured"), Value(ZERO))
    return holds.aggregate(total=Coalesce(Sum(uncaptured), Value(ZERO)))["total"]


def refused_agent_count(*, outlet_id: UUID | None = None, since: datetime) -> int:
    """Agents whose latest refused hold or extension (`hold_refused_at`, stamped by the refusal) is at or after `since`."""
    accounts = CreditAccount.objects.filter(agent__isnull=False, hold_refused_at__gte=since)
    return for_outlet(accounts, outlet_id).count()


def spend_check(*, outlet_id: UUID | None, agent_id: UUID, amount: Decimal) -> SpendCheck:
    """Whether a hold of `amount` would be granted now, reserving nothing: one query (the account's id is its agent's)."""
    # Only what the policy reads, unordered: on a hot path Django's compiling of the statement is most of its cost.
    accounts = CreditAccount.objects.filter(agent__isnull=False).select_related("agent__outlet").only("balance", *POLICY_FIELDS)
    account = get_or_not_found(with_available(for_outlet(accounts, outlet_id)).order_by(), "Agent not found.", pk=agent_id)
    policy = spend_policy(account.agent, account.agent.outlet)
    return SpendCheck(
        allowed=not policy.refuses(available=account.available, amount=amount),
        available=account.available,
        balance=account.balance,
        held=account.held,
    )
