"""The credit ledger: every balance change, from every door, goes through here.

Each operation locks the account row, writes exactly one append-only entry with the
balance it leads to, and moves the cached balance in the same transaction.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError, NotFoundError
from config.money import CREDIT_DIGITS, CREDIT_PLACES, CREDIT_QUANTUM
from credits import topups
from credits.grants import (
    GrantTerms,
    check_grant_terms,
    draw_down,
    open_grant,
    write_off_expired,
)
from credits.ledger import (
    CREDIT_LIMIT,
    Actor,
    BalanceLimitError,
    LedgerResult,
    locked_accounts,
    locked_pool_account,
    replay_of,
    save_balances,
    save_keyed_entry,
)
from credits.models import ZERO, Agent, ApiKey, CreditAccount, CreditGrant, CreditLedgerEntry, Outlet

Kind = CreditLedgerEntry.Kind
Source = CreditGrant.Source
PURCHASE = GrantTerms()
ADJUSTMENT = GrantTerms(source=Source.ADJUSTMENT)
MAX_REASON_LENGTH = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def parse_amount(value, *, field: str = "amount") -> Decimal:
    """A credit amount as the ledger stores it, or a DomainError naming the field."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(f"{field}: '{value}' is not a number.", errors={field: ["Enter a number."]}) from None
    if not amount.is_finite():
        raise DomainError(f"{field}: must be a finite number.", errors={field: ["Enter a finite number."]})
    # The limit first: quantizing a huge exponent (1e400) overflows the decimal context.
    if abs(amount) >= CREDIT_LIMIT:
        message = f"At most {CREDIT_DIGITS - CREDIT_PLACES} digits before the decimal point."
        raise DomainError(f"{field}: {message}", errors={field: [message]})
    if amount != amount.quantize(CREDIT_QUANTUM, rounding="ROUND_DOWN"):
        message = f"At most {CREDIT_PLACES} decimal places."
        raise DomainError(f"{field}: {message}", errors={field: [message]})
    return amount.quantize(CREDIT_QUANTUM)


def check_amount(kind: str, amount: Decimal) -> None:
    """The rule an operation's amount must meet; the admin checks it before its confirmation page."""
    rules = {
        Kind.ADD: (amount > 0, "Must be greater than 0."),
        Kind.SET: (amount >= 0, "Must be 0 or more."),
        Kind.CONSUME: (amount > 0, "Must be greater than 0."),
        Kind.ADJUST: (amount != 0, "Must not be 0."),
        Kind.CLEAR: (True, ""),
    }
    valid, message = rules[kind]
    if not valid:
        raise DomainError(f"amount: {message}", errors={"amount": [message]})


def balance_after(*, kind: str, balance: Decimal, amount: Decimal) -> Decimal:
    """The balance an operation leads to: the one rule for previews and postings alike."""
    if kind == Kind.ADD or kind == Kind.ADJUST:
        return balance + amount
    if kind == Kind.SET:
        return amount
    if kind == Kind.CLEAR:
        return ZERO
    if kind == Kind.CONSUME:
        return balance - amount
    raise ValueError(f"unknown ledger kind {kind!r}")


def clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason: A reason is required.", errors={"reason": ["A reason is required."]})
    if len(reason) > MAX_REASON_LENGTH:
        message = f"At most {MAX_REASON_LENGTH} characters."
        raise DomainError(f"reason: {message}", errors={"reason": [message]})
    return reason


def clean_idempotency_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        message = f"At most {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters."
        raise DomainError(f"Idempotency-Key: {message}", errors={"idempotency_key": [message]})
    return key


def parse_effective_at(value: str, *, field: str = "effective_at") -> datetime:
    """An ISO 8601 time with its offset, as the operator types it; a DomainError naming `field` otherwise."""
    text = (value or "").strip()
    try:
        if "\x00" in text:
            raise ValueError
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = "Give an ISO 8601 time with its offset, e.g. 2026-11-21T10:00:00Z."
        raise DomainError(f"{field}: {message}", errors={field: [message]}) from None
    return moment


def check_effective_at(effective_at: datetime | None, *, now: datetime) -> datetime:
    """When an entry takes effect: `now` by default, else an earlier time that names its offset."""
    if effective_at is None:
        return now
    if timezone.is_naive(effective_at):
        message = "Give the offset (Z or +hh:mm): a time without one is ambiguous."
        raise DomainError(f"effective_at: {message}", errors={"effective_at": [message]})
    if effective_at > now:
        message = "Must not be in the future: an entry takes effect when it is posted or earlier."
        raise DomainError(f"effective_at: {message}", errors={"effective_at": [message]})
    return effective_at.astimezone(UTC)


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def fingerprint_request(kind: str, target: UUID | int, amount: Decimal, reason: str, effective_at: datetime | None, *terms) -> str:
    canonical = json.dumps([kind, str(target), str(amount), reason, _moment(effective_at), *map(str, terms)])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _locked_account(agent_id: UUID) -> CreditAccount:
    try:
        return CreditAccount.objects.select_for_update(of=("self",)).select_related("agent").get(agent_id=agent_id)
    except CreditAccount.DoesNotExist:
        raise NotFoundError("Agent not found.") from None


def _apply_to_grants(account: CreditAccount, entry: CreditLedgerEntry, *, terms: GrantTerms, now: datetime) -> None:
    """What an entry's change does to the grants: a rise opens a grant, a fall draws down, a clear forgives debt."""
    if entry.kind == Kind.CLEAR and entry.amount > 0:
        account.debt = ZERO
    elif entry.amount > 0:
        open_grant(account, entry, entry.amount, terms=terms if entry.kind == Kind.ADD else ADJUSTMENT, reason=entry.reason, now=now)
    elif entry.amount < 0:
        draw_down([(account, entry, -entry.amount)], now=now)


@transaction.atomic
def _post(
    *, agent: Agent | None = None, pool_of: Outlet | None = None, kind: str, amount: Decimal, actor: Actor, reason: str,
    idempotency_key: str | None, effective_at: datetime | None, terms: GrantTerms = PURCHASE,
) -> LedgerResult:
    """One entry on an agent's account, or on the pool of `pool_of`."""
    amount = parse_amount(amount)
    check_amount(kind, amount)
    reason = clean_reason(reason)
    idempotency_key = clean_idempotency_key(idempotency_key)
    now = timezone.now()
    effective = check_effective_at(effective_at, now=now)
    if kind == Kind.ADD:
        terms = check_grant_terms(terms, now=now)
    grant_terms = (_moment(terms.expires_at), terms.priority, terms.source) if kind == Kind.ADD else ()
    target = agent.pk if pool_of is None else pool_of.pk
    fingerprint = fingerprint_request(kind, target, amount, reason, effective_at, *grant_terms) if idempotency_key else ""

    # The lock comes first: a concurrent retry with the same key waits here, then sees the first entry.
    account = _locked_account(agent.pk) if pool_of is None else locked_pool_account(pool_of.pk)
    outlet_id = account.outlet_id
    if idempotency_key and (replay := replay_of(outlet_id=outlet_id, idempotency_key=idempotency_key, fingerprint=fingerprint)):
        return replay

    write_off_expired([account], now=now)  # before the posting: nothing expired is drawn, or cleared, or counted
    before = account.balance
    after = balance_after(kind=kind, balance=before, amount=amount)
    if abs(after) >= CREDIT_LIMIT:
        raise BalanceLimitError([target])
    entry = CreditLedgerEntry(
        outlet_id=outlet_id,
        account=account,
        kind=kind,
        amount=after - before,
        balance_after=after,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label,
        reason=reason,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        effective_at=effective,
        created_at=now,
    )
    if replay := save_keyed_entry(entry):
        return replay
    _apply_to_grants(account, entry, terms=terms, now=now)
    account.balance = after
    account.save(update_fields=["balance", "debt", "updated_at"])
    topups.balances_changed([account], now=now, fire=kind != Kind.CLEAR)
    return LedgerResult(entry=entry)


# `effective_at` backdates an entry to when the change happened in the world (a payment received yesterday);
# the entry is still posted, and chains its balance, now.
def credits_add(
    *, agent: Agent, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None,
    effective_at: datetime | None = None, terms: GrantTerms = PURCHASE,
) -> LedgerResult:
    """A new grant on the agent's account (`terms`: source, priority, expiry); it pays any debt first."""
    return _post(
        agent=agent, kind=Kind.ADD, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key,
        effective_at=effective_at, terms=terms,
    )


def credits_set(
    *, agent: Agent, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None,
    effective_at: datetime | None = None,
) -> LedgerResult:
    return _post(
        agent=agent, kind=Kind.SET, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key,
        effective_at=effective_at,
    )


def credits_clear(
    *, agent: Agent, actor: Actor, reason: str, idempotency_key: str | None = None, effective_at: datetime | None = None
) -> LedgerResult:
    return _post(
        agent=agent, kind=Kind.CLEAR, amount=ZERO, actor=actor, reason=reason, idempotency_key=idempotency_key,
        effective_at=effective_at,
    )


def credits_adjust(
    *, agent: Agent, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None,
    effective_at: datetime | None = None,
) -> LedgerResult:
    """A signed correction; the ledger is never edited, so mistakes are undone by another entry."""
    return _post(
        agent=agent, kind=Kind.ADJUST, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key,
        effective_at=effective_at,
    )


def pool_add(
    *, outlet: Outlet, amount: Decimal, actor: Actor, reason: str, idempotency_key: str | None = None,
    effective_at: datetime | None = None, terms: GrantTerms = PURCHASE,
) -> LedgerResult:
    """A new grant on the outlet's pool, for `pool_allocate` to hand to its agents."""
    return _post(
        pool_of=outlet, kind=Kind.ADD, amount=amount, actor=actor, reason=reason, idempotency_key=idempotency_key,
        effective_at=effective_at, terms=terms,
    )


OPERATIONS = {Kind.ADD: credits_add, Kind.SET: credits_set, Kind.ADJUST: credits_adjust}


def credits_apply(
    *, agent: Agent, kind: str, amount: Decimal | None, actor: Actor, reason: str, idempotency_key: str | None = None,
    effective_at: datetime | None = None, terms: GrantTerms | None = None,
) -> LedgerResult:
    """Dispatch for the doors that take the operation as data (API `mode`, the `credits` command, the admin)."""
    common = {"agent": agent, "actor": actor, "reason": reason, "idempotency_key": idempotency_key, "effective_at": effective_at}
    if terms is not None and kind != Kind.ADD:
        message = "Only add opens a grant: expires_at, priority and source go with mode add."
        raise DomainError(message, errors={"mode": [message]})
    if kind == Kind.CLEAR:
        return credits_clear(**common)
    if kind not in OPERATIONS:
        raise DomainError(f"mode: '{kind}' is not an operation.", errors={"mode": ["Use add, set or clear."]})
    if amount is None:
        raise DomainError("amount: This operation needs an amount.", errors={"amount": ["This field is required."]})
    if kind == Kind.ADD:
        common["terms"] = terms or PURCHASE
    return OPERATIONS[kind](amount=amount, **common)


@transaction.atomic
def credits_clear_many(*, agents: Iterable[Agent], actor: Actor, reason: str) -> int:
    """Clears each balance with its own entry; accounts are locked in key order so bulk clears never deadlock."""
    count = 0
    for agent in sorted(agents, key=lambda agent: agent.pk):
        credits_clear(agent=agent, actor=actor, reason=reason)
        count += 1
    return count


@transaction.atomic
def credits_consume(
    *, debits: Mapping[UUID, Decimal], ingest_batch_id: UUID, actor: Actor, reason: str,
    used_at: Mapping[UUID, datetime] | None = None,
) -> list[CreditLedgerEntry]:
    """One CONSUME entry per agent for a batch's new usage; balances may go below zero (usage already happened).

    Each entry takes effect when the agent's usage happened (`used_at`: its latest record), never after now.
    """
    positive = {agent_id: amount for agent_id, amount in debits.items() if amount > 0}
    if not positive:
        return []
    reason = clean_reason(reason)
    accounts = list(locked_accounts(positive).values())
    missing = set(positive) - {account.pk for account in accounts}
    if missing:
        raise NotFoundError(f"No credit account for agents {', '.join(sorted(map(str, missing)))}.")
    now = timezone.now()
    write_off_expired(accounts, now=now)
    afters = {account.pk: balance_after(kind=Kind.CONSUME, balance=account.balance, amount=positive[account.pk]) for account in accounts}
    # A debit, like a balance, must fit the ledger's columns: a batch of many records can add up past them.
    overflowing = [pk for pk, after in afters.items() if max(abs(after), positive[pk]) >= CREDIT_LIMIT]
    if overflowing:
        raise BalanceLimitError(overflowing)
    used_at = used_at or {}
    entries = []
    for account in accounts:
        amount = positive[account.pk].quantize(CREDIT_QUANTUM)  # sums of stored credits: checked above, 6 places
        effective_at = min(used_at.get(account.pk, now), now)  # a record's clock may run a little ahead of ours
        account.balance = afters[account.pk]
        account.updated_at = now
        entries.append(
            CreditLedgerEntry(
                outlet_id=account.outlet_id,
                account=account,
                kind=Kind.CONSUME,
                amount=-amount,
                balance_after=account.balance,
                actor_user=actor.user,
                actor_api_key=actor.api_key,
                actor_label=actor.label,
                reason=reason,
                ingest_batch_id=ingest_batch_id,
                effective_at=effective_at,
                created_at=now,
            )
        )
    CreditLedgerEntry.objects.bulk_create(entries)
    draw_down(((account, entry, -entry.amount) for account, entry in zip(accounts, entries, strict=True)), now=now)
    save_balances(accounts, now)
    topups.balances_changed(accounts, now=now)
    return entries


def api_key_create(
    *, outlet: Outlet, name: str, scopes: Iterable[str], expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for `outlet` and its secret, which is never stored and never shown again."""
    scopes = list(dict.fromkeys(scopes))
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if not scopes or unknown:
        message = f"Unknown scopes: {', '.join(unknown)}." if unknown else "At least one scope is required."
        raise DomainError(f"scopes: {message} Use {', '.join(ApiKey.Scope.values)}.", errors={"scopes": [message]})
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise DomainError("name: A name of 1 to 50 characters is required.", errors={"name": ["1 to 50 characters."]})
    return ApiKey.objects.create_key(outlet=outlet, name=name, scopes=scopes, expiry_date=expires_at)


def api_key_revoke(*, api_keys: Iterable[ApiKey]) -> int:
    """Revokes for good: a revoked key, and every JWT minted from it, stops working at once."""
    return ApiKey.objects.filter(pk__in=[key.pk for key in api_keys], revoked=False).update(revoked=True)
