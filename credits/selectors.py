"""Reads of outlets, agents, balances and the ledger, always scoped to an outlet (None: every outlet)."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Abs, Coalesce, Greatest, Lag, Round
from django.utils import timezone

from config.db import for_outlet, get_or_not_found
from config.money import CREDIT_PLACES, CREDIT_QUANTUM
from credits.grants import DRAW_ORDER, expired_unwritten, usable
from credits.holds.models import CreditHold, live_holds
from credits.models import (
    ZERO,
    Agent,
    CreditAccount,
    CreditGrant,
    CreditGrantMovement,
    CreditLedgerEntry,
    Outlet,
)


def outlet_list(*, outlet_id: UUID | None = None) -> QuerySet[Outlet]:
    return for_outlet(Outlet.objects.all(), outlet_id, "pk")


def agent_list(*, outlet_id: UUID | None = None) -> QuerySet[Agent]:
    return for_outlet(Agent.objects.select_related("outlet", "account"), outlet_id)


def agent_get(*, outlet_id: UUID | None, agent_id: UUID) -> Agent:
    return get_or_not_found(agent_list(outlet_id=outlet_id), "Agent not found.", pk=agent_id)


def agent_get_by_external_id(*, outlet_id: UUID, external_id: str) -> Agent:
    """The outlet's agent with the platform's id: unique only within an outlet, so the outlet is required."""
    return get_or_not_found(agent_list(outlet_id=outlet_id), "Agent not found.", external_id=external_id)


def _grant_sum(condition: Q) -> Coalesce:
    grants = CreditGrant.objects.filter(condition, account=OuterRef("pk")).order_by().values("account")
    return Coalesce(Subquery(grants.annotate(total=Sum("remaining")).values("total")), Value(ZERO))


def held_sum(now: datetime) -> Coalesce:
    """What the account's live holds (active, not past their expiry) reserve and usage has not captured yet."""
    holds = CreditHold.objects.filter(live_holds(now), account=OuterRef("pk")).order_by().values("account")
    uncaptured = Greatest(F("amount") - F("captured"), Value(ZERO))
    return Coalesce(Subquery(holds.annotate(total=Sum(uncaptured)).values("total")), Value(ZERO))


def with_available(accounts: QuerySet[CreditAccount], *, now: datetime | None = None) -> QuerySet[CreditAccount]:
    """`available`: the balance less what live holds reserve and less grants already past their expiry that no
    EXPIRE entry has written off yet. `held` is the holds' part."""
    now = now or timezone.now()
    return accounts.annotate(expired_unwritten=_grant_sum(expired_unwritten(now)), held=Round(held_sum(now), CREDIT_PLACES)).annotate(
        # Rounded to the ledger's places: SQLite subtracts decimals as floats (334.17 - 334.16 is not 0.01 there).
        available=Round(F("balance") - F("expired_unwritten") - F("held"), CREDIT_PLACES)
    )


def balance_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditAccount]:
    """Agents' accounts with what is available, their debt, the soonest expiry and what it takes, the threshold that applies
    (the agent's, else the outlet's) and whether what is available is below it."""
    now = timezone.now()
    soonest = CreditGrant.objects.filter(usable(now), account=OuterRef("pk"), expires_at__isnull=False).order_by(
        "expires_at", "id"
    )
    expiring = CreditGrant.objects.filter(usable(now), account=OuterRef("pk"), expires_at=OuterRef("next_expiry_at"))
    accounts = with_available(
        for_outlet(CreditAccount.objects.filter(agent__isnull=False).select_related("agent"), outlet_id), now=now
    )
    return (
        accounts.annotate(next_expiry_at=Subquery(soonest.values("expires_at")[:1]))
        .annotate(
            next_expiry_amount=Subquery(
                expiring.order_by().values("account").annotate(total=Sum("remaining")).values("total")
            )
        )
        .annotate(threshold=Coalesce("agent__low_balance_threshold", "agent__outlet__low_balance_threshold"))
        .annotate(
            is_low=Case(When(available__lt=F("threshold"), then=Value(True)), default=Value(False), output_field=BooleanField())
        )
    )


def grant_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditGrant]:
    """Grants in draw-down order, with their account's agent."""
    return for_outlet(CreditGrant.objects.select_related("account__agent"), outlet_id).order_by("account_id", *DRAW_ORDER)


def grant_expiring_list(*, outlet_id: UUID | None = None, until: datetime, now: datetime | None = None) -> QuerySet[CreditGrant]:
    """Agents' usable grants that expire by `until`, soonest first (the partial index on active grants' expiry)."""
    grants = CreditGrant.objects.filter(
        usable(now or timezone.now()), expires_at__lte=until, account__agent__isnull=False
    ).select_related("account__agent", "outlet")
    return for_outlet(grants, outlet_id).order_by("expires_at", "id")


def grant_get(*, outlet_id: UUID | None, grant_id: int) -> CreditGrant:
    return get_or_not_found(grant_list(outlet_id=outlet_id), "Grant not found.", pk=grant_id)


def grant_usable_list(*, account: CreditAccount) -> QuerySet[CreditGrant]:
    """The account's grants that may be drawn now, in draw-down order."""
    return grant_list(outlet_id=account.outlet_id).filter(usable(timezone.now()), account=account)


def grants_opened_by(*, entry: CreditLedgerEntry) -> QuerySet[CreditGrant]:
    """The grants one entry opened (an allocation opens one per grant it drew), oldest first."""
    return CreditGrant.objects.filter(entry=entry).select_related("account__agent").order_by("id")


def grant_movement_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditGrantMovement]:
    return for_outlet(CreditGrantMovement.objects.select_related("grant", "entry"), outlet_id, "grant__outlet_id")


def balance_totals(accounts: QuerySet[CreditAccount]) -> dict:
    # Not `held=`: an aggregate named as the annotation it sums reads a column Django pruned (SQLite: the string 'held').
    totals = accounts.order_by().aggregate(
        balance=Coalesce(Sum("balance"), Value(ZERO)), held_total=Coalesce(Sum("held"), Value(ZERO)), agents=Count("pk"),
        low=Count("pk", filter=Q(is_low=True)),
    )
    return {"balance": totals["balance"], "held": totals["held_total"], "agents": totals["agents"], "low": totals["low"]}


def pool_account_get(*, outlet_id: UUID) -> CreditAccount:
    """The outlet's pool: its one account without an agent, with what is `available`."""
    return get_or_not_found(
        with_available(CreditAccount.objects.all()), "Outlet not found.", outlet_id=outlet_id, agent__isnull=True
    )


def ledger_entry_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditLedgerEntry]:
    return for_outlet(CreditLedgerEntry.objects.select_related("account__agent"), outlet_id)


def ledger_entry_newest_id(*, outlet_id: UUID | None = None) -> int | None:
    """The id of the newest ledger entry (of the outlet): balances move without new usage, so caches key on it."""
    order = ("-id",) if outlet_id is None else ("-created_at", "-id")  # each served by an index
    return ledger_entry_list(outlet_id=outlet_id).order_by(*order).values_list("id", flat=True).first()


def ledger_mismatches() -> list[str]:
    """Every way the ledger disagrees with itself: balances that are not the sum of their entries, broken chains,
    entries that take effect after they were posted."""
    # Any real difference is at least one quantum; the half-quantum margin absorbs SQLite's REAL arithmetic.
    margin = CREDIT_QUANTUM / 2
    problems = []
    accounts = CreditAccount.objects.annotate(ledger_sum=Coalesce(Sum("entries__amount"), Value(ZERO))).annotate(
        drift=Abs(F("balance") - F("ledger_sum"))
    )
    for account in accounts.filter(drift__gt=margin).select_related("agent", "outlet"):
        problems.append(f"account {account.pk} ({account.owner_label}): balance {account.balance} != sum of entries {account.ledger_sum}")
    moved = CreditAccount.objects.exclude(agent__isnull=True).exclude(outlet_id=F("agent__outlet_id")).order_by("pk")
    for pk, outlet_id, agent_outlet_id in moved.values_list("pk", "outlet_id", "agent__outlet_id"):
        problems.append(f"account {pk}: of outlet {outlet_id} but its agent is of outlet {agent_outlet_id}")
    pools = Outlet.objects.exclude(Exists(CreditAccount.objects.filter(outlet=OuterRef("pk"), agent__isnull=True)))
    for pk in pools.order_by("pk").values_list("pk", flat=True):
        problems.append(f"outlet {pk}: has no pool account")
    chained = CreditLedgerEntry.objects.annotate(
        previous_balance=Coalesce(
            Window(Lag("balance_after"), partition_by=F("account_id"), order_by=F("id").asc()), Value(ZERO)
        )
    ).annotate(drift=Abs(F("balance_after") - F("previous_balance") - F("amount")))
    for entry in chained.filter(drift__gt=margin).order_by("id"):
        expected = entry.previous_balance + entry.amount
        problems.append(
            f"entry {entry.pk} of account {entry.account_id}: balance_after {entry.balance_after} != {expected}"
        )
    problems += grant_mismatches(margin)
    future = CreditLedgerEntry.objects.filter(effective_at__gt=F("created_at")).order_by("id")
    for pk, account_id, effective_at, created_at in future.values_list("pk", "account_id", "effective_at", "created_at"):
        problems.append(f"entry {pk} of account {account_id}: takes effect at {effective_at}, after its posting at {created_at}")
    return problems


def grant_mismatches(margin: Decimal) -> list[str]:
    """Balances that are not their grants' remaining less debt, and grants that do not hold amount less movements."""
    problems = []
    held = CreditGrant.objects.filter(account=OuterRef("pk")).order_by().values("account")
    accounts = CreditAccount.objects.annotate(
        grants_remaining=Coalesce(Subquery(held.annotate(total=Sum("remaining")).values("total")), Value(ZERO))
    ).annotate(drift=Abs(F("balance") - F("grants_remaining") + F("debt")))
    for account in accounts.filter(drift__gt=margin).select_related("agent", "outlet"):
        problems.append(
            f"account {account.pk} ({account.owner_label}): balance {account.balance} != grants' remaining "
            f"{account.grants_remaining} - debt {account.debt}"
        )
    taken = CreditGrantMovement.objects.filter(grant=OuterRef("pk")).order_by().values("grant")
    grants = CreditGrant.objects.annotate(
        taken=Coalesce(Subquery(taken.annotate(total=Sum("amount")).values("total")), Value(ZERO))
    ).annotate(drift=Abs(F("remaining") - F("amount") + F("taken")))
    for grant in grants.filter(drift__gt=margin).order_by("id"):
        problems.append(
            f"grant {grant.pk} of account {grant.account_id}: remaining {grant.remaining} != amount {grant.amount} "
            f"- movements {grant.taken}"
        )
    return problems
