"""Writing grants off: a void by staff or an API key, and the minute's sweep of grants past their expiry.

Each locks the account as every posting does, and writes a grant off once (the database's unique write-off
movement backs it), whether a posting, the sweep or a void gets there first.
"""

from uuid import UUID

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError, NotFoundError
from credits import services, topups
from credits.grants import expired_unwritten, write_off, write_off_expired
from credits.models import ZERO, CreditGrant, CreditLedgerEntry
from credits.services import Actor, LedgerResult

Kind = CreditLedgerEntry.Kind


@transaction.atomic
def grant_void(
    *, grant_id: int, outlet_id: UUID | None, actor: Actor, reason: str, idempotency_key: str | None = None
) -> LedgerResult:
    """Writes off what is left of an active grant with one VOID entry; a grant of another outlet is not found."""
    reason = services.clean_reason(reason)
    idempotency_key = services.clean_idempotency_key(idempotency_key)
    grants = CreditGrant.objects.all() if outlet_id is None else CreditGrant.objects.filter(outlet_id=outlet_id)
    account_id = grants.filter(pk=grant_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFoundError("Grant not found.")
    fingerprint = services.fingerprint_request(Kind.VOID, grant_id, ZERO, reason, None) if idempotency_key else ""
    account = services.locked_accounts([account_id])[account_id]
    if idempotency_key and (replay := services.replay_of(outlet_id=account.outlet_id, idempotency_key=idempotency_key, fingerprint=fingerprint)):
        return replay
    now = timezone.now()
    write_off_expired([account], now=now)
    grant = CreditGrant.objects.get(pk=grant_id)
    if grant.status != CreditGrant.Status.ACTIVE:
        message = f"The grant is {grant.get_status_display().lower()}: it holds nothing to void."
        raise DomainError(message, errors={"grant": [message]})
    account.balance -= grant.remaining
    entry = CreditLedgerEntry(
        outlet_id=grant.outlet_id, account=account, kind=Kind.VOID, amount=-grant.remaining,
        balance_after=account.balance, actor_user=actor.user, actor_api_key=actor.api_key, actor_label=actor.label,
        reason=reason, idempotency_key=idempotency_key, request_fingerprint=fingerprint, effective_at=now,
        created_at=now,
    )
    if replay := services.save_keyed_entry(entry):
        return replay
    write_off(grant, entry, status=CreditGrant.Status.VOIDED)
    account.save(update_fields=["balance", "updated_at"])
    topups.balances_changed([account], now=now)
    return LedgerResult(entry=entry)


def grants_expire_due(*, limit: int = 500) -> int:
    """Writes off grants past their expiry on up to `limit` accounts, one short transaction per account, so that
    the periodic task never holds many locks; a posting that got there first leaves nothing to do."""
    now = timezone.now()
    due = CreditGrant.objects.filter(expired_unwritten(now)).order_by("account_id").values_list("account_id", flat=True)
    written = 0
    for account_id in list(due.distinct()[:limit]):
        with transaction.atomic():
            account = services.locked_accounts([account_id])[account_id]
            entries = write_off_expired([account], now=now)  # it saves the balance it moves
            if entries:
                topups.balances_changed([account], now=now)
            written += len(entries)
    return written
