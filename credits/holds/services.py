"""Holds: credit reserved for a call before it is spent, kept alive as a lease, captured by the call's usage.

Every write locks the agent's account row, the lock every ledger posting takes, so that a hold's check and its
reservation are one step: two racing holds never both pass. A hold never posts to the ledger: it only lowers
`available` (balance - expired grants not yet written off - what live holds reserve and usage has not captured).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from config.db import for_outlet
from config.errors import DomainError, InsufficientCreditsError, NotFoundError
from config.money import format_credits
from credits import selectors
from credits.holds.models import CreditHold, CreditHoldEvent
from credits.holds.policy import spend_policy
from credits.ledger import refuse_another_request
from credits.models import ZERO, Agent, CreditAccount, CreditLedgerEntry
from credits.services import (
    CREDIT_LIMIT,
    Actor,
    check_amount,
    clean_idempotency_key,
    fingerprint_request,
    locked_accounts,
    parse_amount,
)

Status = CreditHold.Status
Event = CreditHoldEvent.Kind
DEFAULT_TTL_SECONDS = 300
MAX_TTL_SECONDS = 86_400
MAX_REFERENCE_LENGTH = CreditHold._meta.get_field("reference").max_length
EXPIRE_CHUNK_SIZE = 1000


class HoldStateError(DomainError):
    """The hold cannot take this request as it stands (ended, or its reference already has a live hold)."""

    status_code = 409
    code = "hold_conflict"


@dataclass(frozen=True)
class HoldResult:
    hold: CreditHold
    available: Decimal
    replayed: bool = False


def clean_ttl(value, *, default: int | None = DEFAULT_TTL_SECONDS) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_SECONDS:
        message = f"Give a whole number of seconds from 1 to {MAX_TTL_SECONDS}."
        raise DomainError(f"ttl_seconds: {message}", errors={"ttl_seconds": [message]})
    return value


def clean_reference(value) -> str:
    reference = (value or "").strip()
    if len(reference) > MAX_REFERENCE_LENGTH or not reference.isprintable():
        message = f"At most {MAX_REFERENCE_LENGTH} printable characters."
        raise DomainError(f"reference: {message}", errors={"reference": [message]})
    return reference


def _available(account: CreditAccount, now: datetime) -> Decimal:
    """The account's available credit now, read under its lock."""
    accounts = selectors.with_available(CreditAccount.objects.filter(pk=account.pk), now=now)
    return accounts.values_list("available", flat=True).get()


def _refuse(account: CreditAccount, *, available: Decimal, amount: Decimal, now: datetime) -> InsufficientCreditsError:
    """Notes the refusal on the account (the dashboard counts agents refused today) and says why."""
    account.hold_refused_at = now
    account.save(update_fields=["hold_refused_at"])
    message = (
        f"Only {format_credits(available)} credits are available: reserving {format_credits(amount)} more would pass "
        "the agent's overdraft limit."
    )
    return InsufficientCreditsError(message, available=format_credits(available), requested=format_credits(amount))


def _replay(*, outlet_id: UUID, key: str | None, fingerprint: str, now: datetime) -> HoldResult | None:
    """The hold a key's first request wrote, as it is now; a 409 if the key came with another request."""
    if not key:
        return None
    previous = CreditHoldEvent.objects.select_related("hold__account").filter(outlet_id=outlet_id, idempotency_key=key).first()
    if previous is None:
        return None
    refuse_another_request(previous.request_fingerprint, fingerprint)
    return HoldResult(hold=previous.hold, available=_available(previous.hold.account, now), replayed=True)


def _record(hold: CreditHold, kind: str, amount: Decimal, *, actor: Actor, key: str | None, fingerprint: str, now: datetime) -> None:
    """The request's event; a key raced on another account (a lock of its own) loses to the first: IntegrityError."""
    with transaction.atomic():
        CreditHoldEvent.objects.create(
            outlet_id=hold.outlet_id, hold=hold, kind=kind, amount=amount, expires_at=hold.expires_at,
            actor_user=actor.user, actor_api_key=actor.api_key, actor_label=actor.label, idempotency_key=key,
            request_fingerprint=fingerprint, created_at=now,
        )


def _keyed(write, *, outlet_id: UUID, key: str | None, fingerprint: str) -> HoldResult:
    """Runs `write` in a transaction; when its key was used at the same moment by another request, that one's result."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        if key and (replay := _replay(outlet_id=outlet_id, key=key, fingerprint=fingerprint, now=timezone.now())):
            return replay
        raise


def hold_place(
    *, agent: Agent, amount, actor: Actor, ttl_seconds: int | None = None, reference: str = "",
    idempotency_key: str | None = None,
) -> HoldResult:
    """Reserves `amount` on the agent's account for `ttl_seconds`; under block, refused past the overdraft limit."""
    amount = parse_amount(amount)
    check_amount(CreditLedgerEntry.Kind.ADD, amount)
    ttl = clean_ttl(ttl_seconds)
    reference = clean_reference(reference)
    key = clean_idempotency_key(idempotency_key)
    fingerprint = fingerprint_request("HOLD", agent.pk, amount, reference, None, ttl) if key else ""
    refusal = None

    def write() -> HoldResult:
        nonlocal refusal
        account = _locked_agent_account(agent.pk)
        now = timezone.now()
        if replay := _replay(outlet_id=agent.outlet_id, key=key, fingerprint=fingerprint, now=now):
            return replay
        available = _available(account, now)
        if spend_policy(account.agent, account.agent.outlet).refuses(available=available, amount=amount):
            refusal = _refuse(account, available=available, amount=amount, now=now)
            return None
        if reference:
            _free_reference(account, reference, now)
        hold = CreditHold.objects.create(
            outlet_id=account.outlet_id, account=account, amount=amount, reference=reference, ttl_seconds=ttl,
            expires_at=now + timedelta(seconds=ttl), actor_label=actor.label, created_at=now, updated_at=now,
        )
        _record(hold, Event.PLACE, amount, actor=actor, key=key, fingerprint=fingerprint, now=now)
        return HoldResult(hold=hold, available=available - amount)

    result = _keyed(write, outlet_id=agent.outlet_id, key=key, fingerprint=fingerprint)
    if refusal is not None:
        raise refusal
    return result


def _locked_agent_account(agent_id: UUID) -> CreditAccount:
    account = locked_accounts([agent_id]).get(agent_id)
    if account is None or account.is_pool:
        raise NotFoundError("Agent not found.")
    return account


def _free_reference(account: CreditAccount, reference: str, now: datetime) -> None:
    """A call has one live hold: a lapsed one for the same reference is marked expired; a live one is a 409."""
    same = CreditHold.objects.filter(account=account, reference=reference, status=Status.ACTIVE)
    same.filter(expires_at__lte=now).update(status=Status.EXPIRED, ended_at=now, updated_at=now)
    live = same.filter(expires_at__gt=now).values_list("pk", flat=True).first()
    if live is not None:
        message = f"Hold {live} is live for reference {reference!r}: extend it rather than place another."
        raise HoldStateError(message, errors={"reference": [message]})


def _hold_outlet(*, outlet_id: UUID | None, hold_id: UUID) -> UUID:
    """The outlet of the hold, which is the caller's (None: staff, every outlet's); another outlet's is not found.

    Its outlet is also the namespace of the request's Idempotency-Key."""
    owner = for_outlet(CreditHold.objects.filter(pk=hold_id), outlet_id).values_list("outlet_id", flat=True).first()
    if owner is None:
        raise NotFoundError("Hold not found.")
    return owner


def _locked_hold(hold_id: UUID) -> tuple[CreditHold, CreditAccount]:
    """The hold and its account, the account locked first as every posting locks it."""
    account = _locked_agent_account(CreditHold.objects.values_list("account_id", flat=True).get(pk=hold_id))
    return CreditHold.objects.select_for_update().get(pk=hold_id), account


def _check_live(hold: CreditHold, now: datetime) -> None:
    if not hold.is_live(now):
        state = f"expired at {hold.expires_at.isoformat()}" if hold.status == Status.ACTIVE else f"is {hold.status}"
        message = f"The hold {state}: place a new hold."
        raise HoldStateError(message, errors={"hold": [message]})


def hold_extend(
    *, outlet_id: UUID | None, hold_id: UUID, actor: Actor, amount=ZERO, ttl_seconds: int | None = None,
    idempotency_key: str | None = None,
) -> HoldResult:
    """The lease: reserves `amount` more and renews the hold for `ttl_seconds` from now (default: its last ttl).

    Under block an extension that would pass the overdraft limit is refused (402), the hold left as it was, so a
    long call winds down when its agent runs dry.
    """
    amount = parse_amount(amount)
    if amount < 0:
        raise DomainError("amount: Must be 0 or more.", errors={"amount": ["Must be 0 or more."]})
    ttl = clean_ttl(ttl_seconds, default=None)
    key = clean_idempotency_key(idempotency_key)
    fingerprint = fingerprint_request("HOLD_EXTEND", hold_id, amount, "", None, ttl) if key else ""
    owner = _hold_outlet(outlet_id=outlet_id, hold_id=hold_id)
    refusal = None

    def write() -> HoldResult:
        nonlocal refusal
        hold, account = _locked_hold(hold_id)
        now = timezone.now()
        if replay := _replay(outlet_id=owner, key=key, fingerprint=fingerprint, now=now):
            return replay
        _check_live(hold, now)
        available = _available(account, now)
        if spend_policy(account.agent, account.agent.outlet).refuses(available=available, amount=amount):
            refusal = _refuse(account, available=available, amount=amount, now=now)
            return None
        if hold.amount + amount >= CREDIT_LIMIT:
            raise DomainError("amount: The hold would pass the ledger's limit.", errors={"amount": ["Too large."]})
        hold.amount += amount
        hold.ttl_seconds = ttl or hold.ttl_seconds
        hold.expires_at = now + timedelta(seconds=hold.ttl_seconds)
        hold.updated_at = now
        hold.save(update_fields=["amount", "ttl_seconds", "expires_at", "updated_at"])
        _record(hold, Event.EXTEND, amount, actor=actor, key=key, fingerprint=fingerprint, now=now)
        return HoldResult(hold=hold, available=_available(account, now))

    result = _keyed(write, outlet_id=owner, key=key, fingerprint=fingerprint)
    if refusal is not None:
        raise refusal
    return result


def _ended(now: datetime) -> Case:
    """What a released hold becomes: expired if it lapsed first, captured if its call's usage captured any of it,
    else released."""
    return Case(
        When(expires_at__lte=now, then=Value(Status.EXPIRED)),
        When(captured__gt=0, then=Value(Status.CAPTURED)),
        default=Value(Status.RELEASED),
    )


def hold_release(
    *, outlet_id: UUID | None, hold_id: UUID, actor: Actor, idempotency_key: str | None = None
) -> HoldResult:
    """Gives back what the hold reserves and usage has not captured. Releasing an ended hold changes nothing."""
    key = clean_idempotency_key(idempotency_key)
    fingerprint = fingerprint_request("HOLD_RELEASE", hold_id, ZERO, "", None) if key else ""
    owner = _hold_outlet(outlet_id=outlet_id, hold_id=hold_id)

    def write() -> HoldResult:
        hold, account = _locked_hold(hold_id)
        now = timezone.now()
        if replay := _replay(outlet_id=owner, key=key, fingerprint=fingerprint, now=now):
            return replay
        if hold.status == Status.ACTIVE:
            released = hold.uncaptured if hold.expires_at > now else ZERO
            CreditHold.objects.filter(pk=hold.pk).update(status=_ended(now), ended_at=now, updated_at=now)
            hold.refresh_from_db()
            _record(hold, Event.RELEASE, released, actor=actor, key=key, fingerprint=fingerprint, now=now)
        return HoldResult(hold=hold, available=_available(account, now))

    return _keyed(write, outlet_id=owner, key=key, fingerprint=fingerprint)


def holds_capture(captured: Mapping[UUID, Decimal], *, now: datetime) -> int:
    """Adds each hold's captured credit in one UPDATE; the caller holds the accounts' locks (ingest's consumption).

    A hold that ended still takes its late usage's credit: `captured` is always its records' credit.
    """
    captured = {hold_id: amount for hold_id, amount in captured.items() if amount}
    if not captured:
        return 0
    key, credit = CreditHold._meta.get_field("id"), CreditHold._meta.get_field("captured")
    rows = " UNION ALL ".join(["SELECT %s AS id, %s AS amount"] * len(captured))
    params = [now]
    for hold_id, amount in captured.items():
        params += [key.get_db_prep_value(hold_id, connection), credit.get_db_prep_value(amount, connection)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE credits_credithold SET captured = credits_credithold.captured + capture.amount, updated_at = %s "
            f"FROM ({rows}) AS capture WHERE credits_credithold.id = capture.id",
            params,
        )
        return cursor.rowcount


def holds_release_for_calls(calls: Iterable[tuple[UUID, str]], *, actor: Actor) -> int:
    """Releases the live holds of calls that ended (agent id, interaction id), locking their accounts in key order.

    Nothing is locked for calls without an active hold: most ended calls' holds were released already."""
    calls = set(calls)
    active = CreditHold.objects.filter(
        status=Status.ACTIVE, account_id__in={agent_id for agent_id, _ in calls}, reference__in={call for _, call in calls}
    )
    candidates = [hold for hold in active.only("account_id", "reference") if (hold.account_id, hold.reference) in calls]
    if not candidates:
        return 0
    locked_accounts({hold.account_id for hold in candidates})
    now = timezone.now()
    holds = list(active.filter(pk__in=[hold.pk for hold in candidates]))  # again, under the locks
    CreditHold.objects.filter(pk__in=[hold.pk for hold in holds]).update(
        status=_ended(now), ended_at=now, updated_at=now
    )
    CreditHoldEvent.objects.bulk_create(
        CreditHoldEvent(
            outlet_id=hold.outlet_id, hold=hold, kind=Event.RELEASE, amount=hold.uncaptured, expires_at=hold.expires_at,
            actor_label=actor.label, created_at=now,
        )
        for hold in holds
        if hold.expires_at > now
    )
    return len(holds)


def holds_expire_due(*, now: datetime | None = None) -> int:
    """Marks the holds past their expiry as expired, for the record: they stopped counting the instant they expired."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            # A hold another transaction has locked (a capture, an extension) waits for the next sweep: waiting for
            # it while holding others, in another order than that transaction's, could deadlock.
            lapsed = CreditHold.objects.select_for_update(skip_locked=True).filter(status=Status.ACTIVE, expires_at__lte=now)
            due = list(lapsed.order_by("pk").values_list("pk", flat=True)[:EXPIRE_CHUNK_SIZE])
            total += CreditHold.objects.filter(pk__in=due).update(
                status=Status.EXPIRED, ended_at=F("expires_at"), updated_at=now
            )
        if len(due) < EXPIRE_CHUNK_SIZE:
            return total
