"""Auto top-up: when a posting takes an agent's balance below its rule's threshold, refill it, once per crossing.

`balances_changed` runs inside every balance change (`credits.services._post` and `credits_consume`, pool transfers,
write-offs), on accounts the caller has locked: the top-ups first, then the alerts, so that an alert sees the
balance a top-up leads to. The rule is the agent's, else its outlet's (`credits.holds.policy.spend_policy`).

- Once per crossing: a top-up fires when the balance is below the threshold and the account is armed, and disarms
  it; a balance at or above the threshold re-arms it (so does a top-up that lifts the balance back there).
- At most `max_per_day` top-ups that moved or asked for credits (allocated, requested) per account per outlet-local
  day; at the limit none fires and the account stays armed. A rule with `max_per_day` 0 is off.
- `pool`: the amount moves from the outlet pool in the same transaction (`credits.transfers`; the grants drawn keep
  their priority and expiry, as grants of source `auto_top_up`). A pool that cannot pay it records a `pool_low`
  top-up and opens a `pool_low` alert on the pool, which the first posting that lets the pool pay it resolves.
- `external`: a `requested` top-up and the signed webhook `credits.top_up_requested` after commit; the event's id
  is the Idempotency-Key the platform adds the credits with (docs/webhooks.md).

Locks: the caller holds the agents' accounts; a pool is locked here, lazily, only when a pool top-up fires, after
every agent's account, as allocate and reclaim lock them too (`credits.ledger`): no two postings wait in a cycle.
"""

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from config.money import format_credits
from credits import alerts, ledger, transfers
from credits.controls import TOP_UP_FIELDS, TopUpSource
from credits.grants import write_off_expired
from credits.holds.models import CreditTopUp
from credits.holds.policy import TopUpRule, spend_policy
from credits.models import CreditAccount, CreditGrant, CreditLedgerEntry, Outlet

Status = CreditTopUp.Status
EVENT_TOP_UP_REQUESTED = "credits.top_up_requested"
ACTOR = ledger.Actor.system("auto_top_up")
# What the day's limit counts: a pool too low gave nothing.
COUNTED = (Status.ALLOCATED, Status.REQUESTED)
OUTLET_FIELDS = (*alerts.OUTLET_FIELDS, "timezone", "enforcement", "overdraft_limit", *TOP_UP_FIELDS)


def balances_changed(accounts: Sequence[CreditAccount], *, now: datetime, fire: bool = True) -> list[CreditTopUp]:
    """What a balance change runs on the accounts it locked: the top-ups due, then the alerts, the agents' outlets
    read once for both. `fire` False (a clear: the agent should hold nothing) only re-arms. Returns the top-ups."""
    agent_outlets = {account.outlet_id for account in accounts if not account.is_pool}
    outlets = Outlet.objects.only(*OUTLET_FIELDS).in_bulk(agent_outlets) if agent_outlets else {}
    fired = top_ups_evaluate(accounts, outlets=outlets, now=now, fire=fire)
    alerts.alerts_evaluate(accounts=accounts, outlets=outlets)
    return fired


def top_ups_evaluate(accounts: Sequence[CreditAccount], *, outlets: dict, now: datetime, fire: bool = True) -> list[CreditTopUp]:
    """Fires the top-ups `accounts` are due (unless `fire` is False) and re-arms the accounts back at their
    threshold; resolves the pool_low alerts of the pools among them (or locked for a top-up) that can pay again.
    `outlets` holds the agents' outlets by id, with OUTLET_FIELDS. Returns the top-ups recorded."""
    agents = [account for account in accounts if not account.is_pool]
    pools = {account.outlet_id: account for account in accounts if account.is_pool}
    fired = _evaluate_agents(agents, pools, outlets, now, fire) if agents else []
    if pools:
        alerts.pool_low_resolve(pools=list(pools.values()), now=now)
    return fired


def _evaluate_agents(agents: list[CreditAccount], pools: dict, outlets: dict, now: datetime, fire: bool) -> list[CreditTopUp]:
    ruled = []
    for account in agents:
        rule = spend_policy(account.agent, outlets[account.outlet_id]).top_up
        if rule is not None and rule.max_per_day > 0:
            ruled.append((account, rule))
    armed = {account.pk: account.top_up_armed for account, _ in ruled}
    due = [
        (account, rule, _local_date(outlets[account.outlet_id], now))
        for account, rule in ruled
        if fire and account.balance < rule.threshold and account.top_up_armed
    ]
    due = [(account, rule, day) for account, rule, day in due if _under_daily_limit(account, rule, day)]
    _lock_pools({account.outlet_id for account, rule, _ in due if rule.source == TopUpSource.POOL}, pools, now)
    fired = [_fire(account, rule, day, outlets[account.outlet_id], pools, now) for account, rule, day in due]
    for account, rule in ruled:
        if account.balance >= rule.threshold:
            account.top_up_armed = True
    _save_armed([account for account, _ in ruled if account.top_up_armed != armed[account.pk]])
    return fired


def _local_date(outlet: Outlet, now: datetime):
    return now.astimezone(ZoneInfo(outlet.timezone)).date()


def _under_daily_limit(account: CreditAccount, rule: TopUpRule, day) -> bool:
    today = CreditTopUp.objects.filter(account=account, local_date=day, status__in=COUNTED).count()
    return today < rule.max_per_day


def _lock_pools(outlet_ids: set, pools: dict, now: datetime) -> None:
    """Locks the pools a top-up draws from that the caller has not (after the agents' accounts it holds)."""
    missing = outlet_ids - set(pools)
    if not missing:
        return
    locked = ledger.locked_pools(missing)
    write_off_expired(list(locked.values()), now=now)  # as every posting does: nothing expired is moved
    pools.update(locked)


def _fire(account: CreditAccount, rule: TopUpRule, day, outlet: Outlet, pools: dict, now: datetime) -> CreditTopUp:
    top_up = CreditTopUp(
        event_id=alerts.new_event_id(), outlet_id=account.outlet_id, account=account, source=rule.source,
        amount=rule.amount, threshold=rule.threshold, balance=account.balance, local_date=day, created_at=now,
    )
    account.top_up_armed = False
    if rule.source == TopUpSource.POOL:
        _allocate(top_up, account, pools[account.outlet_id], outlet, now)
        top_up.save()
        return top_up
    top_up.status = Status.REQUESTED
    top_up.save()
    if outlet.webhook_url:
        alerts.enqueue_on_commit(alerts.DELIVER_WEBHOOK_TASK, top_up_event(top_up, account, outlet))
    return top_up


def _allocate(top_up: CreditTopUp, account: CreditAccount, pool: CreditAccount, outlet: Outlet, now: datetime) -> None:
    reason = f"Auto top-up: the balance {format_credits(top_up.balance)} fell below {format_credits(top_up.threshold)}."
    try:
        result = transfers.transfer_locked(
            agent_account=account, pool=pool, kind=CreditLedgerEntry.Kind.ALLOCATE, amount=top_up.amount,
            actor=ACTOR, reason=reason, now=now, grant_source=CreditGrant.Source.AUTO_TOP_UP,
        )
    except transfers.NotEnoughToMove:  # raised before anything is written
        top_up.status = Status.POOL_LOW
        alerts.pool_low_open(pool=pool, outlet=outlet, amount=top_up.amount, now=now)
    else:
        top_up.status, top_up.transfer_id = Status.ALLOCATED, result.agent_entry.transfer_id


def _save_armed(changed: list[CreditAccount]) -> None:
    for value in (True, False):
        pks = [account.pk for account in changed if account.top_up_armed is value]
        if pks:
            CreditAccount.objects.filter(pk__in=pks).update(top_up_armed=value)


def top_up_event(top_up: CreditTopUp, account: CreditAccount, outlet: Outlet) -> dict:
    """The `credits.top_up_requested` event: its id is the top-up's event_id, the platform's Idempotency-Key."""
    data = {
        "top_up": {
            "id": str(top_up.pk),
            "amount": format_credits(top_up.amount),
            "threshold": format_credits(top_up.threshold),
            "balance": format_credits(top_up.balance),
            "source": top_up.source,
            "local_date": top_up.local_date.isoformat(),
        },
        **alerts.subjects(account.agent, outlet),
    }
    return alerts.event_envelope(EVENT_TOP_UP_REQUESTED, top_up.created_at, data, event_id=top_up.event_id)
