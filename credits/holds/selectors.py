"""Reads of holds and top-ups, scoped to an outlet (None: every outlet), and the check a platform makes before a
call: may this agent reserve this much now?"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection
from django.db.models import Case, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from config.db import for_outlet
from config.errors import NotFoundError
from config.money import CREDIT_QUANTUM
from credits.holds.models import CreditHold, CreditTopUp, live_holds
from credits.holds.policy import policy_of
from credits.models import ZERO, CreditAccount


@dataclass(frozen=True)
class SpendCheck:
    allowed: bool
    available: Decimal
    balance: Decimal
    held: Decimal


def hold_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditHold]:
    """Holds with their agent, active ones first, then the newest."""
    active_first = Case(When(status=CreditHold.Status.ACTIVE, then=Value(0)), default=Value(1))
    holds = CreditHold.objects.select_related("account__agent", "outlet").order_by(active_first, "-created_at", "-id")
    return for_outlet(holds, outlet_id)


def top_up_list(*, outlet_id: UUID | None = None) -> QuerySet[CreditTopUp]:
    return for_outlet(CreditTopUp.objects.select_related("account__agent", "outlet"), outlet_id)


def held_total(*, outlet_id: UUID | None = None, now: datetime | None = None) -> Decimal:
    """What live holds (active, not past their expiry) reserve now and usage has not captured: `available`'s `held`,
    summed over the outlet's agents."""
    holds = for_outlet(CreditHold.objects.filter(live_holds(now or timezone.now())), outlet_id)
    uncaptured = Greatest(F("amount") - F("captured"), Value(ZERO))
    return holds.aggregate(total=Coalesce(Sum(uncaptured), Value(ZERO)))["total"]


def refused_agent_count(*, outlet_id: UUID | None = None, since: datetime) -> int:
    """Agents whose latest refused hold or extension (`hold_refused_at`, stamped by the refusal) is at or after `since`."""
    accounts = CreditAccount.objects.filter(agent__isnull=False, hold_refused_at__gte=since)
    return for_outlet(accounts, outlet_id).count()


# The check is the hot path of a call's start: one statement, written once, so that no request pays for Django's
# compiling of an annotated query (most of its cost when measured). `available` as `credits.selectors.with_available`
# computes it: the balance less live holds' uncaptured rest and less expired grants not yet written off.
SPEND_CHECK_SQL = """
SELECT account.balance, agent.enforcement, outlet.enforcement, agent.overdraft_limit, outlet.overdraft_limit,
    COALESCE((SELECT SUM(CASE WHEN hold.amount > hold.captured THEN hold.amount - hold.captured ELSE 0 END)
              FROM credits_credithold hold
              WHERE hold.account_id = account.id AND hold.status = 'active' AND hold.expires_at > %(now)s), 0),
    COALESCE((SELECT SUM(grant_.remaining) FROM credits_creditgrant grant_
              WHERE grant_.account_id = account.id AND grant_.status = 'active' AND grant_.expires_at <= %(now)s), 0)
FROM credits_creditaccount account
JOIN credits_agent agent ON agent.id = account.agent_id
JOIN credits_outlet outlet ON outlet.id = agent.outlet_id
WHERE account.id = %(account)s
"""


def _credits(value) -> Decimal:
    """A sum as the ledger keeps it: SQLite adds decimals as floats."""
    return Decimal(str(value)).quantize(CREDIT_QUANTUM)


def spend_check(*, outlet_id: UUID | None, agent_id: UUID, amount: Decimal) -> SpendCheck:
    """Whether a hold of `amount` would be granted now, reserving nothing: one query (the account's id is its agent's)."""
    key, moment = CreditAccount._meta.get_field("id"), CreditHold._meta.get_field("expires_at")
    params = {"now": moment.get_db_prep_value(timezone.now(), connection), "account": key.get_db_prep_value(agent_id, connection)}
    sql = SPEND_CHECK_SQL
    if outlet_id is not None:
        sql += " AND account.outlet_id = %(outlet)s"
        params["outlet"] = key.get_db_prep_value(outlet_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFoundError("Agent not found.")
    balance, held, expired = _credits(row[0]), _credits(row[5]), _credits(row[6])
    available = balance - held - expired
    policy = policy_of(row[1:3], tuple(None if value is None else _credits(value) for value in row[3:5]))
    return SpendCheck(
        allowed=not policy.refuses(available=available, amount=amount), available=available, balance=balance, held=held
    )
