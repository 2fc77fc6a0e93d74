"""The credit history: credits consumed, added, removed, expired and voided per period, the burn and the runway,
per agent too."""

from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal
from uuid import UUID

from django.db.models import Q, QuerySet, Sum

from analytics.aggregation import aggregate, number
from analytics.facts import USAGE
from analytics.periods import period_key, period_start, period_starts
from analytics.scope import answer_zone, one_staleness, scope_of
from analytics.zones import LocalDate
from config.api import dates  # read as dates.today_in(): the tests fix "today" there
from config.api.dates import DateRange
from credits.models import CreditAccount, CreditLedgerEntry

BURN_DAYS = 30
Kind = CreditLedgerEntry.Kind
WRITE_OFFS = (Kind.EXPIRE, Kind.VOID)  # counted apart from what staff and the API add and remove


@one_staleness()
def credit_history(
    *, outlet_id: UUID | None, date_range: DateRange, interval: str, agent_id: UUID | None = None
) -> dict:
    """Credits consumed (by usage, when it occurred), added or removed (by staff, the API and the pool), and written
    off by grants' expiry or void, per period.

    Per agent: the range's totals, the average daily burn over the last 30 days and the runway
    (balance / burn; None without burn, 0 when the balance is gone). For the outlet (or the one
    agent asked for): the same, and the periods.
    """
    agent_filter = {"agent_id": [agent_id]} if agent_id else None
    # Per day over everyone, and per agent over the range: not per agent and day, which is thousands of rows a day.
    consumed_per_day = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"credits"}, period="day", filters=agent_filter
    )
    consumed_per_agent = _credits_per_agent(outlet_id, date_range, agent_filter)
    today = dates.today_in(answer_zone(outlet_id) or UTC)
    burn_range = DateRange(today - timedelta(days=BURN_DAYS - 1), today)
    # The last 30 days: often the range.
    same_days = (burn_range.start, burn_range.end) == (date_range.start, date_range.end)
    burned = consumed_per_agent if same_days else _credits_per_agent(outlet_id, burn_range, agent_filter)
    periods, per_agent = _changes_per_period_and_agent(
        consumed_per_day, consumed_per_agent, _ledger_changes(outlet_id, date_range, agent_id), interval
    )
    agents = _agent_rows(_accounts(outlet_id, agent_id), burned, per_agent)
    balance = sum((agent["balance"] for agent in agents), Decimal(0))
    burn = sum(burned.values(), Decimal(0)) / BURN_DAYS
    return {
        "interval": interval,
        "from": date_range.start,
        "to": date_range.end,
        "balance": balance,
        "average_daily_burn": burn,
        "runway_days": _runway(balance, burn),
        "periods": [{"period": start, **periods[start]} for start in period_starts(date_range, interval)],
        "agents": sorted(agents, key=lambda agent: (agent["runway_days"] is None, agent["runway_days"] or 0, agent["agent_name"])),
    }


def _credits_per_agent(outlet_id: UUID | None, over: DateRange, agent_filter: dict | None) -> dict:
    rows = aggregate(
        USAGE, outlet_id=outlet_id, date_range=over, measures={"credits"}, group_by=["agent_id"], filters=agent_filter
    )
    return {row["agent_id"]: number(row["credits"]) for row in rows}


def _ledger_changes(outlet_id: UUID | None, date_range: DateRange, agent_id: UUID | None) -> QuerySet:
    """Credits added and removed (every ledger entry but consumption and write-offs), expired and voided, per agent's
    account and the local day they took effect."""
    scope = scope_of(outlet_id, date_range)
    entries = CreditLedgerEntry.objects.filter(
        scope.range_filter("effective_at", date_range, dated=False), account__agent__isnull=False
    ).exclude(kind=Kind.CONSUME)
    if outlet_id is not None:
        entries = entries.filter(outlet_id=outlet_id)
    if agent_id is not None:
        entries = entries.filter(account_id=agent_id)
    return (
        entries.annotate(day=LocalDate("effective_at", scope.zone_expression))
        .values("account_id", "day")
        .annotate(
            added=Sum("amount", filter=Q(amount__gt=0) & ~Q(kind__in=WRITE_OFFS)),
            removed=Sum("amount", filter=Q(amount__lt=0) & ~Q(kind__in=WRITE_OFFS)),
            expired=Sum("amount", filter=Q(kind=Kind.EXPIRE)),
            voided=Sum("amount", filter=Q(kind=Kind.VOID)),
        )
        .order_by()
    )


def _accounts(outlet_id: UUID | None, agent_id: UUID | None) -> QuerySet[CreditAccount]:
    accounts = CreditAccount.objects.filter(agent__isnull=False)
    if outlet_id is not None:
        accounts = accounts.filter(outlet_id=outlet_id)
    if agent_id is not None:
        accounts = accounts.filter(pk=agent_id)
    return accounts


CHANGES = ("consumed", "added", "removed", "expired", "voided")


def _no_changes() -> dict:
    return {name: Decimal(0) for name in CHANGES}


def _changes_per_period_and_agent(
    consumed_per_day: list[dict], consumed_per_agent: dict, changes: QuerySet, interval: str
) -> tuple[dict, dict]:
    """Credits consumed, added, removed, expired and voided per period, and per agent."""
    periods: dict = defaultdict(_no_changes)
    per_agent: dict = defaultdict(_no_changes)
    for row in consumed_per_day:
        periods[period_key(row["period"], interval)]["consumed"] += number(row["credits"])
    for agent, consumed in consumed_per_agent.items():
        per_agent[agent]["consumed"] += consumed
    for row in changes:
        # Removals and write-offs are negative entries, counted as positive amounts.
        amounts = {"added": Decimal(row["added"] or 0)}
        amounts |= {name: -Decimal(row[name] or 0) for name in ("removed", "expired", "voided")}
        period = periods[period_start(row["day"], interval)]
        for name, value in amounts.items():
            period[name] += value
            per_agent[row["account_id"]][name] += value
    return periods, per_agent


def _runway(balance: Decimal, burn: Decimal):
    if not burn:
        return None
    return max(Decimal(0), balance / burn)


def _agent_rows(accounts: QuerySet[CreditAccount], burned: dict, per_agent: dict) -> list[dict]:
    """Each account's balance, burn, runway and changes."""
    agents = []
    # As tuples: thousands of accounts and agents as model instances cost more than the query.
    for pk, name, agent_outlet_id, balance in accounts.values_list("pk", "agent__name", "outlet_id", "balance"):
        burn = burned.get(pk, Decimal(0)) / BURN_DAYS
        agents.append({
            "agent_id": pk, "agent_name": name, "outlet_id": agent_outlet_id,
            "balance": balance, "average_daily_burn": burn, "runway_days": _runway(balance, burn),
            **per_agent.get(pk, _no_changes()),
        })
    return agents
