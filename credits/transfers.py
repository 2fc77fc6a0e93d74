"""Moving credits between an outlet's pool and one of its agents, on accounts the caller has already locked.

`credits.pool` (allocate, reclaim) and `credits.topups` (a pool top-up) both move through `transfer_locked`: the
source's grants are drawn in order, and each grant drawn becomes a grant on the other side that keeps its priority
and expiry. The caller locks the agent's account before the pool's (`credits.ledger`) and writes off expired grants
first.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from config.errors import DomainError
from credits.grants import GrantTerms, draw_down, grants_usable_total, open_grant
from credits.ledger import CREDIT_LIMIT, Actor, BalanceLimitError, LedgerResult, save_balances, save_keyed_entry
from credits.models import CreditAccount, CreditGrant, CreditLedgerEntry

Kind = CreditLedgerEntry.Kind
Source = CreditGrant.Source
# What a reclaim may take back from an agent: what the pool gave it, by hand or by an auto top-up.
FROM_POOL = (Source.ALLOCATION, Source.AUTO_TOP_UP)


@dataclass(frozen=True)
class TransferResult:
    """A move between an outlet's pool and one of its agents: the entry on each side."""

    agent_entry: CreditLedgerEntry
    pool_entry: CreditLedgerEntry
    replayed: bool = False


class NotEnoughToMove(DomainError):
    """The source holds less than the amount: nothing was moved."""

    def __init__(self, *, kind: str, held: Decimal, amount: Decimal):
        what = "the pool holds" if kind == Kind.ALLOCATE else "the agent's unused allocations hold"
        message = f"Only {held} available: {what} less than {amount}."
        super().__init__(f"amount: {message}", errors={"amount": [message]})


def transfer_locked(
    *, agent_account: CreditAccount, pool: CreditAccount, kind: str, amount: Decimal, actor: Actor, reason: str,
    now: datetime, grant_source: str = Source.ALLOCATION, idempotency_key: str | None = None, fingerprint: str = "",
) -> TransferResult:
    """Allocates (pool to agent) or reclaims (agent's credits from the pool back to it) `amount`; the grants opened
    on the other side are of `grant_source`. Raises NotEnoughToMove, having written nothing, when the source holds
    less. A key raced on another account may answer the first request's result (`replayed`)."""
    source, target = (pool, agent_account) if kind == Kind.ALLOCATE else (agent_account, pool)
    sources = None if kind == Kind.ALLOCATE else FROM_POOL
    held = grants_usable_total(source, now=now, sources=sources)
    if amount > held:
        raise NotEnoughToMove(kind=kind, held=held, amount=amount)
    if abs(target.balance + amount) >= CREDIT_LIMIT:
        raise BalanceLimitError([agent_account.pk])
    common = {"kind": kind, "actor_user": actor.user, "actor_api_key": actor.api_key, "actor_label": actor.label,
              "reason": reason, "transfer_id": uuid.uuid4(), "effective_at": now, "created_at": now}
    # The side that carries the key first: a request that lost a race for the key has written nothing else.
    target_entry = CreditLedgerEntry(
        outlet_id=agent_account.outlet_id, account=target, amount=amount, balance_after=target.balance + amount,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, **common
    )
    if replay := save_keyed_entry(target_entry):
        return replayed(replay, agent_account)
    source_entry = CreditLedgerEntry.objects.create(
        outlet_id=agent_account.outlet_id, account=source, amount=-amount, balance_after=source.balance - amount, **common
    )
    for movement in draw_down([(source, source_entry, amount)], now=now, sources=sources):
        drawn = movement.grant
        terms = GrantTerms(source=grant_source, priority=drawn.priority, expires_at=drawn.expires_at,
                           metadata={"from_grant": drawn.pk})
        open_grant(target, target_entry, movement.amount, terms=terms, reason=reason, now=now)
    source.balance, target.balance = source_entry.balance_after, target_entry.balance_after
    save_balances([agent_account, pool], now)
    agent_entry, pool_entry = (target_entry, source_entry) if kind == Kind.ALLOCATE else (source_entry, target_entry)
    return TransferResult(agent_entry=agent_entry, pool_entry=pool_entry)


def replayed(replay: LedgerResult, agent_account: CreditAccount) -> TransferResult:
    """The first result of a key's move: both of its entries, told apart by account."""
    entries = CreditLedgerEntry.objects.filter(transfer_id=replay.entry.transfer_id)
    agent_entry = next(entry for entry in entries if entry.account_id == agent_account.pk)
    pool_entry = next(entry for entry in entries if entry.account_id != agent_account.pk)
    return TransferResult(agent_entry=agent_entry, pool_entry=pool_entry, replayed=True)
