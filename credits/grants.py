"""What a posting does to an account's grants: write off the expired, draw down in order, open grants, carry debt.

The services lock the accounts and post the ledger entries; these functions run inside that transaction, so the
grants of a locked account move only here. Every change is a movement row, so `remaining` = amount - movements.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from config.errors import DomainError
from credits.models import ZERO, CreditAccount, CreditGrant, CreditGrantMovement, CreditLedgerEntry

Status = CreditGrant.Status
Movement = CreditGrantMovement.Kind
# Priority, then the soonest expiry (none last), then the oldest.
DRAW_ORDER = ("priority", F("expires_at").asc(nulls_last=True), "effective_at", "id")
EXPIRY_ACTOR = "system:expiry"
# What a person may say a grant is; allocations, opening balances and top-ups are made by the system.
MANUAL_SOURCES = (CreditGrant.Source.PURCHASE, CreditGrant.Source.PROMOTION, CreditGrant.Source.ADJUSTMENT)
MAX_PRIORITY = 2**31 - 1
MAX_EXPIRY_AHEAD = timedelta(days=36525)  # shown in any zone, a later one could pass the year 9999


def usable(now: datetime) -> Q:
    """Grants that may be drawn at `now`: active and not past their expiry, whether or not a write-off ran yet."""
    return Q(status=Status.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def expired_unwritten(now: datetime) -> Q:
    """Grants past their expiry whose remaining no EXPIRE entry has written off yet: they count for nothing."""
    return Q(status=Status.ACTIVE, expires_at__lte=now)


@dataclass(frozen=True)
class GrantTerms:
    """What a new grant is: where it came from, when it stops counting, and when it is drawn."""

    source: str = CreditGrant.Source.PURCHASE
    priority: int = 100
    expires_at: datetime | None = None
    metadata: dict | None = None


def check_grant_terms(terms: GrantTerms, *, now: datetime) -> GrantTerms:
    """A new grant's source, priority and expiry as a person may set them; a DomainError naming the field otherwise."""
    if terms.source not in MANUAL_SOURCES:
        message = f"Use {', '.join(MANUAL_SOURCES)}."
        raise DomainError(f"source: '{terms.source}' is not a source you can give. {message}", errors={"source": [message]})
    if isinstance(terms.priority, bool) or not isinstance(terms.priority, int) or not 0 <= terms.priority <= MAX_PRIORITY:
        message = f"A whole number from 0 to {MAX_PRIORITY}; lower is drawn first."
        raise DomainError(f"priority: {message}", errors={"priority": [message]})
    if terms.expires_at is None:
        return terms
    if timezone.is_naive(terms.expires_at):
        message = "Give the offset (Z or +hh:mm): a time without one is ambiguous."
        raise DomainError(f"expires_at: {message}", errors={"expires_at": [message]})
    if terms.expires_at <= now:
        message = "Must be in the future: a grant that has already expired would hold nothing."
        raise DomainError(f"expires_at: {message}", errors={"expires_at": [message]})
    try:
        too_far = terms.expires_at.astimezone(UTC) > now + MAX_EXPIRY_AHEAD
    except OverflowError:  # near year 9999 a zone's offset runs past what datetime can hold
        too_far = True
    if too_far:
        message = "At most 100 years ahead; leave it out for a grant that never expires."
        raise DomainError(f"expires_at: {message}", errors={"expires_at": [message]})
    return GrantTerms(
        source=terms.source, priority=terms.priority, expires_at=terms.expires_at.astimezone(UTC), metadata=terms.metadata
    )


def write_off_expired(accounts: Sequence[CreditAccount], *, now: datetime) -> list[CreditLedgerEntry]:
    """One EXPIRE entry per grant of these locked accounts that is past its expiry; moves their cached balances."""
    due = list(
        CreditGrant.objects.filter(expired_unwritten(now), account__in=[account.pk for account in accounts])
        .order_by("account_id", "expires_at", "id")
    )
    if not due:
        return []
    by_pk = {account.pk: account for account in accounts}
    entries = []
    for grant in due:
        account = by_pk[grant.account_id]
        account.balance -= grant.remaining
        entries.append(
            CreditLedgerEntry(
                outlet_id=grant.outlet_id, account=account, kind=CreditLedgerEntry.Kind.EXPIRE, amount=-grant.remaining,
                balance_after=account.balance, actor_label=EXPIRY_ACTOR,
                reason=f"Grant {grant.pk} ({grant.get_source_display().lower()}) expired unused.",
                effective_at=grant.expires_at, created_at=now,
            )
        )
    CreditLedgerEntry.objects.bulk_create(entries)
    CreditGrantMovement.objects.bulk_create(
        CreditGrantMovement(grant=grant, entry=entry, kind=Movement.WRITE_OFF, amount=grant.remaining)
        for grant, entry in zip(due, entries, strict=True)
    )
    CreditGrant.objects.filter(pk__in=[grant.pk for grant in due]).update(remaining=ZERO, status=Status.EXPIRED)
    # Saved here, not only by the posting that follows: one that turns out a replay returns without saving.
    for account in {grant.account_id: by_pk[grant.account_id] for grant in due}.values():
        CreditAccount.objects.filter(pk=account.pk).update(balance=account.balance, updated_at=now)
    return entries


def write_off(grant: CreditGrant, entry: CreditLedgerEntry, *, status: str) -> None:
    """Takes what is left of one grant out for good (a void)."""
    CreditGrantMovement.objects.create(grant=grant, entry=entry, kind=Movement.WRITE_OFF, amount=grant.remaining)
    grant.remaining, grant.status = ZERO, status
    grant.save(update_fields=["remaining", "status"])


def grants_usable_total(account: CreditAccount, *, now: datetime, sources: Sequence[str] | None = None) -> Decimal:
    """What the account's usable grants (of `sources`, if given) hold."""
    grants = CreditGrant.objects.filter(usable(now), account=account)
    if sources is not None:
        grants = grants.filter(source__in=sources)
    return grants.aggregate(total=Sum("remaining"))["total"] or ZERO


def draw_down(
    debits: Iterable[tuple[CreditAccount, CreditLedgerEntry, Decimal]], *, now: datetime, sources: Sequence[str] | None = None
) -> list[CreditGrantMovement]:
    """Takes each amount from its account's usable grants (of `sources`, if given) in draw-down order; what they
    cannot pay becomes debt. Returns the draws."""
    debits = [(account, entry, amount) for account, entry, amount in debits if amount > 0]
    if not debits:
        return []
    grants_by_account: dict = {}
    usable_grants = CreditGrant.objects.filter(usable(now), account__in=[account.pk for account, _, _ in debits])
    if sources is not None:
        usable_grants = usable_grants.filter(source__in=sources)
    for grant in usable_grants.order_by("account_id", *DRAW_ORDER):
        grants_by_account.setdefault(grant.account_id, []).append(grant)
    movements, drawn = [], []
    for account, entry, amount in debits:
        for grant in grants_by_account.get(account.pk, ()):
            if amount == 0:
                break
            if grant.remaining == 0:
                continue
            take = min(grant.remaining, amount)
            grant.remaining -= take
            grant.status = Status.ACTIVE if grant.remaining else Status.DEPLETED
            amount -= take
            movements.append(CreditGrantMovement(grant=grant, entry=entry, kind=Movement.DRAW, amount=take))
            drawn.append(grant)
        account.debt += amount
    CreditGrantMovement.objects.bulk_create(movements)
    CreditGrant.objects.bulk_update(drawn, ["remaining", "status"])
    return movements


def open_grant(
    account: CreditAccount, entry: CreditLedgerEntry, amount: Decimal, *, terms: GrantTerms, reason: str, now: datetime
) -> CreditGrant:
    """A new grant of `amount`; it pays the account's debt first, and its movement says so."""
    pays_debt = min(account.debt, amount)
    remaining = amount - pays_debt
    grant = CreditGrant.objects.create(
        outlet_id=entry.outlet_id, account=account, entry=entry, source=terms.source, amount=amount, remaining=remaining,
        priority=terms.priority, effective_at=entry.effective_at, expires_at=terms.expires_at,
        status=Status.ACTIVE if remaining else Status.DEPLETED, reason=reason, actor_label=entry.actor_label,
        metadata=terms.metadata or {}, created_at=now,
    )
    if pays_debt:
        CreditGrantMovement.objects.create(grant=grant, entry=entry, kind=Movement.DEBT, amount=pays_debt)
        account.debt -= pays_debt
    return grant
