"""The outlet's pool and its agents: allocate hands pool credits to an agent, reclaim takes unused ones back.

Both sides move in one transaction under the ledger's locks (key order), so the pool never hands out what it does
not hold, and the grants keep their priority and expiry on the other side.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError, NotFoundError
from credits import alerts, services
from credits.grants import GrantTerms, draw_down, grants_usable_total, open_grant, write_off_expired
from credits.models import Agent, CreditAccount, CreditGrant, CreditLedgerEntry
from credits.services import Actor

Kind = CreditLedgerEntry.Kind
Source = CreditGrant.Source


@dataclass(frozen=True)
class TransferResult:
    """A move between an outlet's pool and one of its agents: the entry on each side."""

    agent_entry: CreditLedgerEntry
    pool_entry: CreditLedgerEntry
    replayed: bool = False


def transfer(*, agent: Agent, kind: str, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None) -> TransferResult:
    """Allocate (pool to agent) or reclaim (agent's unused allocations to pool) in one transaction: the source's
    grants are drawn in order, and each grant drawn becomes an `allocation` grant on the other side that keeps its
    priority and expiry. Moving more than the source holds moves nothing."""
    amount = services.parse_amount(amount)
    services.check_amount(Kind.ADD, amount)
    reason = services.clean_reason(reason)
    idempotency_key = services.clean_idempotency_key(idempotency_key)
    fingerprint = services.fingerprint_request(kind, agent.pk, amount, reason, None) if idempotency_key else ""
    pool_id = CreditAccount.objects.filter(outlet_id=agent.outlet_id, agent__isnull=True).values_list("pk", flat=True).first()
    if pool_id is None:
        raise NotFoundError("The agent's outlet has no pool account.")
    accounts = services.locked_accounts([agent.pk, pool_id])
    agent_account, pool = accounts[agent.pk], accounts[pool_id]
    if idempotency_key and (replay := services.replay_of(outlet_id=agent.outlet_id, idempotency_key=idempotency_key, fingerprint=fingerprint)):
        return _replayed(replay, agent_account)
    now = timezone.now()
    write_off_expired([agent_account, pool], now=now)
    source, target = (pool, agent_account) if kind == Kind.ALLOCATE else (agent_account, pool)
    sources = None if kind == Kind.ALLOCATE else [Source.ALLOCATION]
    held = grants_usable_total(source, now=now, sources=sources)
    if amount > held:
        what = "the pool holds" if kind == Kind.ALLOCATE else "the agent's unused allocations hold"
        message = f"Only {held} available: {what} less than {amount}."
        raise DomainError(f"amount: {message}", errors={"amount": [message]})
    if abs(target.balance + amount) >= services.CREDIT_LIMIT:
        raise services.BalanceLimitError([agent.pk])
    common = {"kind": kind, "actor_user": actor.user, "actor_api_key": actor.api_key, "actor_label": actor.label,
              "reason": reason, "transfer_id": uuid.uuid4(), "effective_at": now, "created_at": now}
    # The side that carries the key first: a request that lost a race for the key has written nothing else.
    target_entry = CreditLedgerEntry(
        outlet_id=agent.outlet_id, account=target, amount=amount, balance_after=target.balance + amount,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, **common
    )
    if replay := services.save_keyed_entry(target_entry):
        return _replayed(replay, agent_account)
    source_entry = CreditLedgerEntry.objects.create(
        outlet_id=agent.outlet_id, account=source, amount=-amount, balance_after=source.balance - amount, **common
    )
    for movement in draw_down([(source, source_entry, amount)], now=now, sources=sources):
        drawn = movement.grant
        terms = GrantTerms(source=Source.ALLOCATION, priority=drawn.priority, expires_at=drawn.expires_at,
                           metadata={"from_grant": drawn.pk})
        open_grant(target, target_entry, movement.amount, terms=terms, reason=reason, now=now)
    source.balance, target.balance = source_entry.balance_after, target_entry.balance_after
    services.save_balances([agent_account, pool], now)
    alerts.alerts_evaluate(accounts=[agent_account])
    agent_entry, pool_entry = (target_entry, source_entry) if kind == Kind.ALLOCATE else (source_entry, target_entry)
    return TransferResult(agent_entry=agent_entry, pool_entry=pool_entry)


def _replayed(replay: services.LedgerResult, agent_account: CreditAccount) -> TransferResult:
    """The first result of a key's move: both of its entries, told apart by account."""
    entries = CreditLedgerEntry.objects.filter(transfer_id=replay.entry.transfer_id)
    agent_entry = next(entry for entry in entries if entry.account_id == agent_account.pk)
    pool_entry = next(entry for entry in entries if entry.account_id != agent_account.pk)
    return TransferResult(agent_entry=agent_entry, pool_entry=pool_entry, replayed=True)


@transaction.atomic
def pool_allocate(
    *, agent: Agent, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None
) -> TransferResult:
    """Moves credits from the agent's outlet pool to the agent."""
    return transfer(agent=agent, kind=Kind.ALLOCATE, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key)


@transaction.atomic
def pool_reclaim(
    *, agent: Agent, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None
) -> TransferResult:
    """Moves credits the agent was allocated and has not used back to its outlet pool."""
    return transfer(agent=agent, kind=Kind.RECLAIM, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key)
