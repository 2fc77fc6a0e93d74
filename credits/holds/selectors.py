"""Reads of holds and top-ups, scoped to an outlet (None: every outlet)."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Case, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from config.db import for_outlet
from credits.holds.models import CreditHold, CreditTopUp, live_holds
from credits.models import ZERO, CreditAccount


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
