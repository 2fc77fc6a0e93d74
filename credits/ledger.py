"""What every posting shares: who posts, the ledger's limits, idempotent saves, the account locks, balance writes.

Locks: every transaction locks agents' accounts before pools' accounts, each group in key order, so that two
postings never deadlock. A posting on agents may then lock their outlets' pools (an auto top-up does, lazily, only
when one fires); nothing that holds a pool's lock locks an agent's account after it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from config.commands import cli_label
from config.errors import ConflictError, DomainError, NotFoundError
from config.money import CREDIT_DIGITS, CREDIT_PLACES
from credits.models import ApiKey, CreditAccount, CreditGrant, CreditLedgerEntry

ACTOR_LABEL_LENGTH = CreditLedgerEntry._meta.get_field("actor_label").max_length


@dataclass(frozen=True)
class Actor:
    """Who changed a balance: a staff user, an API key, or a named part of the system."""

    label: str
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> "Actor":
        return cls(label=user.get_username(), user=user)

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> "Actor":
        return cls(label=f"api_key:{api_key.prefix}", api_key=api_key)

    @classmethod
    def for_operator(cls, *via: str) -> "Actor":
        """The operator at the shell: `cli:<user>`, or `cli:<command>:<user>`, cut to what the ledger keeps."""
        return cls(label=cli_label(*via)[:ACTOR_LABEL_LENGTH])

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(label=f"system:{name}")


@dataclass(frozen=True)
class LedgerResult:
    entry: CreditLedgerEntry
    replayed: bool = False

    @property
    def balance_before(self) -> Decimal:
        return self.entry.balance_after - self.entry.amount  # every entry records the delta it applied

    @property
    def balance_after(self) -> Decimal:
        return self.entry.balance_after

    @property
    def grant(self) -> CreditGrant | None:
        """The grant the entry opened (an add, a raise), replayed or not."""
        return self.entry.created_grants.first()


# Amounts and balances alike fit the ledger's columns: 14 digits before the point, 6 after.
CREDIT_LIMIT = Decimal(10) ** (CREDIT_DIGITS - CREDIT_PLACES)


class BalanceLimitError(DomainError):
    """A posting would take balances past what the ledger can hold; nothing was posted."""

    def __init__(self, agent_ids: list[UUID]):
        message = f"At most {CREDIT_DIGITS - CREDIT_PLACES} digits before the decimal point, either sign."
        super().__init__(
            f"amount: the posting to agent {', '.join(map(str, agent_ids))} would pass the ledger's limit. {message}",
            errors={"amount": [f"The posting or the balance it leads to would pass the ledger's limit: {message}"]},
        )
        self.agent_ids = agent_ids


def replay_of(*, outlet_id: UUID, idempotency_key: str, fingerprint: str) -> LedgerResult | None:
    """The first result of this key's request; a 409 if the key came with another request."""
    previous = CreditLedgerEntry.objects.filter(outlet_id=outlet_id, idempotency_key=idempotency_key).first()
    if previous is None:
        return None
    refuse_another_request(previous.request_fingerprint, fingerprint)
    return LedgerResult(entry=previous, replayed=True)


def refuse_another_request(first_fingerprint: str, fingerprint: str) -> None:
    """A key replays only the request it first came with (ledger postings and holds alike): a 409 otherwise."""
    if first_fingerprint != fingerprint:
        raise ConflictError(
            "Idempotency-Key was already used with a different request.",
            errors={"idempotency_key": ["Reuse a key only to retry the very same request."]},
        )


def locked_pool_account(outlet_id: UUID) -> CreditAccount:
    try:
        return CreditAccount.objects.select_for_update().get(outlet_id=outlet_id, agent__isnull=True)
    except CreditAccount.DoesNotExist:
        raise NotFoundError("Outlet not found.") from None


def save_keyed_entry(entry: CreditLedgerEntry) -> LedgerResult | None:
    """Saves an entry that may carry an idempotency key; None once saved. When the same key was used at the same
    moment on another account (a lock of its own), one request wins: this one answers its result, or a 409."""
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        key, fingerprint = entry.idempotency_key, entry.request_fingerprint
        if key and (replay := replay_of(outlet_id=entry.outlet_id, idempotency_key=key, fingerprint=fingerprint)):
            return replay
        raise
    return None


def locked_accounts(account_ids: Iterable[UUID]) -> dict[UUID, CreditAccount]:
    """The accounts, locked in the order every posting locks them (module doc): agents' first, then pools', each in
    key order; an agent's account id is its agent's, so ordering by agent (pools' null, last) then key does it.

    The accounts' rows only: locking the joined agent rows too blocked the foreign-key checks of a rollup
    build's commit (its rows reference the agents) while a consumption waited on the build's dirty marks.
    """
    accounts = CreditAccount.objects.select_for_update(of=("self",)).select_related("agent")
    return {account.pk: account for account in accounts.filter(pk__in=set(account_ids)).order_by(F("agent").asc(nulls_last=True), "pk")}


def locked_pools(outlet_ids: Iterable[UUID]) -> dict[UUID, CreditAccount]:
    """The pools of these outlets by outlet, locked in key order: after any agent's account, never before."""
    pools = CreditAccount.objects.select_for_update().filter(outlet_id__in=set(outlet_ids), agent__isnull=True)
    return {pool.outlet_id: pool for pool in pools.order_by("pk")}


def save_balances(accounts: list[CreditAccount], now: datetime) -> None:
    """One UPDATE for many locked accounts: `bulk_update` builds a CASE expression per row, costly per batch."""
    key, amount = CreditAccount._meta.get_field("id"), CreditAccount._meta.get_field("balance")
    rows = " UNION ALL ".join(["SELECT %s AS id, %s AS balance, %s AS debt"] * len(accounts))
    params = [now]
    for account in accounts:
        params += [key.get_db_prep_value(account.pk, connection)]
        params += [amount.get_db_prep_value(value, connection) for value in (account.balance, account.debt)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE credits_creditaccount SET balance = changed.balance, debt = changed.debt, updated_at = %s "
            f"FROM ({rows}) AS changed WHERE credits_creditaccount.id = changed.id",
            params,
        )


