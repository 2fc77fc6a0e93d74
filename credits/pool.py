"""The outlet's pool and its agents: allocate hands pool credits to an agent, reclaim takes unused ones back.

Both sides move in one transaction under the ledger's locks (the agent's account, then the pool's), so the pool
never hands out what it does not hold, and the grants keep their priority and expiry on the other side
(`credits.transfers`, which an auto top-up moves through too).
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from config.errors import NotFoundError
from credits import ledger, services, topups, transfers
from credits.grants import write_off_expired
from credits.models import Agent, CreditAccount, CreditLedgerEntry
from credits.services import Actor
from credits.transfers import TransferResult

Kind = CreditLedgerEntry.Kind


def transfer(*, agent: Agent, kind: str, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None) -> TransferResult:
    """Allocate (pool to agent) or reclaim (what the pool gave the agent, back to the pool) in one transaction: see
    `credits.transfers`. Moving more than the source holds moves nothing."""
    amount = services.parse_amount(amount)
    services.check_amount(Kind.ADD, amount)
    reason = services.clean_reason(reason)
    idempotency_key = services.clean_idempotency_key(idempotency_key)
    fingerprint = services.fingerprint_request(kind, agent.pk, amount, reason, None) if idempotency_key else ""
    pool_id = CreditAccount.objects.filter(outlet_id=agent.outlet_id, agent__isnull=True).values_list("pk", flat=True).first()
    if pool_id is None:
        raise NotFoundError("The agent's outlet has no pool account.")
    accounts = ledger.locked_accounts([agent.pk, pool_id])  # the agent's, then the pool's
    agent_account, pool = accounts[agent.pk], accounts[pool_id]
    if idempotency_key and (replay := ledger.replay_of(outlet_id=agent.outlet_id, idempotency_key=idempotency_key, fingerprint=fingerprint)):
        return transfers.replayed(replay, agent_account)
    now = timezone.now()
    write_off_expired([agent_account, pool], now=now)
    result = transfers.transfer_locked(
        agent_account=agent_account, pool=pool, kind=kind, amount=amount, actor=actor, reason=reason, now=now,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    if not result.replayed:
        topups.balances_changed([agent_account, pool], now=now)  # a reclaim lowers the agent; it raises the pool
    return result


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
    """Moves credits the agent was given from the pool (allocated, or by an auto top-up) and has not used back."""
    return transfer(agent=agent, kind=Kind.RECLAIM, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key)
