"""The analytics questions, each answered through `aggregate` (rollups plus the stale tail).

Selectors return plain values (Decimal, int, date); the API and the admin format them.
Days are UTC days; a range is whole days, its end inclusive.
"""

import functools
import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Trunc

from analytics.aggregation import aggregate, largest, midnight, one_staleness
from analytics.facts import INTERACTIONS, OUTLET, UNIT_SLICES, USAGE, latency_quantile
from analytics.models import DURATION_COLUMNS, LATENCY_COLUMNS
from config.api.dates import DateRange, today_utc
from config.db import for_outlet
from credits.models import Agent, CreditAccount, CreditAlert, CreditLedgerEntry, Outlet
from usage.models import Interaction, UsageRecord

USAGE_SUMS = frozenset({"records", "units", "credits", "cost"})
UNIT_MEASURES = {piece.value: name for name, piece in UNIT_SLICES.items()}  # unit -> its units measure
UNIT_OF_MEASURE = {name: unit for unit, name in UNIT_MEASURES.items()}
INTERVALS = ("hour", "day", "week", "month", "year", "cumulative")
HISTORY_INTERVALS = ("day", "week", "month")
BURN_DAYS = 30
DROP_OFF_BUCKETS = ("<30s", "30-60s", "1-3m", "3-5m", ">5m")  # the duration histogram's buckets, in order
# A breakdown's name in the API -> the usage dimension it groups by.
BREAKDOWNS = {
    "voice": "voice", "product": "product", "api_key": "api_key_label", "user": "end_user_id", "agent": "agent_id",
    "model": "model", "type": "type",
}
METRICS = {"credits": "credits", "units": "units", "cost": "cost", "records": "records"}
# Breakdowns with thousands of values: ranked on totals before their points are read.
MANY_VALUED_BREAKDOWNS = frozenset({"agent", "user"})


def period_start(day: date, interval: str) -> date:
    """The first day of the week (Monday), month or year holding `day`; the day itself otherwise."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


def period_starts(date_range: DateRange, interval: str) -> list:
    """Every period of the range in order: hours (as datetimes) or period starts (as dates)."""
    if interval == "hour":
        return [date_range.start_at + timedelta(hours=hour) for hour in range(date_range.days * 24)]
    days = (date_range.start + timedelta(days=offset) for offset in range(date_range.days))
    return list(dict.fromkeys(period_start(day, interval) for day in days))


def _period_key(moment: datetime, interval: str):
    return moment if interval == "hour" else period_start(moment.astimezone(UTC).date(), interval)


def _number(value) -> Decimal | int:
    return value if isinstance(value, int) else Decimal(value)


# --- series and snapshot -------------------------------------------------------------------------

def _daily_tokens_and_calls(outlet_id: UUID | None, date_range: DateRange) -> tuple[dict, dict, dict]:
    """Tokens, conversations (interactions started) and messages (their message counts) per day."""
    tokens, conversations, messages = defaultdict(int), defaultdict(int), defaultdict(int)
    usage = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"units"}, period="day",
        filters={"unit": ["tokens"]},
    )
    for row in usage:
        tokens[row["period"].date()] += _number(row["units"])
    calls = aggregate(INTERACTIONS, outlet_id=outlet_id, date_range=date_range, measures={"calls", "messages"}, period="day")
    for row in calls:
        conversations[row["period"].date()] += row["calls"]
        messages[row["period"].date()] += row["messages"]
    return tokens, conversations, messages


@one_staleness()
def usage_series(*, outlet_id: UUID | None, days: int) -> dict:
    """The last `days` days, today included: `[unix ms of midnight UTC, total]` per day, zero-filled."""
    end = today_utc()
    date_range = DateRange(end - timedelta(days=days - 1), end)
    tokens, conversations, messages = _daily_tokens_and_calls(outlet_id, date_range)
    points = {"tokens": [], "conversations": [], "messages": []}
    for offset in range(days):
        day = date_range.start + timedelta(days=offset)
        stamp = int(midnight(day).timestamp() * 1000)
        points["tokens"].append([stamp, tokens[day]])
        points["conversations"].append([stamp, conversations[day]])
        points["messages"].append([stamp, messages[day]])
    return {"days": days, **points}


def billing_period(outlet: Outlet, today: date) -> DateRange:
    """The billing period holding `today`: from the last `billing_cycle_day` to the day before the next."""
    cycle_day = outlet.billing_cycle_day
    start = today.replace(day=cycle_day)
    if today.day < cycle_day:
        start = (start.replace(day=1) - timedelta(days=1)).replace(day=cycle_day)
    next_start = (start.replace(day=28) + timedelta(days=4)).replace(day=cycle_day)
    return DateRange(start, next_start - timedelta(days=1))


@one_staleness()
def usage_snapshot(*, outlet: Outlet) -> dict:
    """Totals of the outlet's current billing period so far."""
    period = billing_period(outlet, today_utc())
    totals = aggregate(USAGE, outlet_id=outlet.pk, date_range=period, measures=USAGE_SUMS, group_by=["unit"])
    (calls,) = aggregate(INTERACTIONS, outlet_id=outlet.pk, date_range=period, measures={"calls", "messages"})
    units = {row["unit"]: _number(row["units"]) for row in totals}
    return {
        "outlet_id": outlet.pk,
        "period_start": period.start,
        "period_end": period.end,
        "tokens": units.get(UsageRecord.Unit.TOKENS, 0),
        "conversations": calls["calls"],
        "messages": calls["messages"],
        "records": sum(row["records"] for row in totals),
        "credits": sum((_number(row["credits"]) for row in totals), Decimal(0)),
        "cost": sum((_number(row["cost"]) for row in totals), Decimal(0)),
        "units": units,
    }


# --- summary and models --------------------------------------------------------------------------

def usage_summary(*, outlet_id: UUID | None, date_range: DateRange, group_by: str) -> list[dict]:
    """Records, units per unit, credits and cost per outlet or per agent, the largest credits first."""
    dimension = OUTLET if group_by == "OUTLET" else "agent_id"
    # Units pivoted by unit: the question groups by one dimension, so a rollup keyed by it alone can answer.
    rows = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"records", "credits", "cost", *UNIT_MEASURES.values()},
        group_by=[dimension],
    )
    groups = {
        row[dimension]: {
            "records": row["records"],
            "units": {unit: _number(row[name]) for unit, name in UNIT_MEASURES.items() if row[name]},
            "credits": _number(row["credits"]),
            "cost": _number(row["cost"]),
        }
        for row in rows
        if row["records"]
    }
    if dimension == OUTLET:
        names = dict(Outlet.objects.filter(pk__in=groups).values_list("pk", "name"))
        items = [{"outlet_id": pk, "outlet_name": names.get(pk, ""), **group} for pk, group in groups.items()]
    else:
        # As tuples: thousands of model instances cost more than the query.
        agents = {pk: rest for pk, *rest in Agent.objects.filter(pk__in=groups).values_list("pk", "name", "external_id", "outlet_id")}
        items = []
        for pk, group in groups.items():
            name, external_id, agent_outlet_id = agents[pk]
            items.append({"agent_id": pk, "agent_name": name, "external_id": external_id, "outlet_id": agent_outlet_id, **group})
    return sorted(items, key=lambda item: (-item["credits"], str(item.get("agent_id") or item.get("outlet_id"))))


def latency_summary(row: dict) -> dict:
    histogram = [row[name] for name in LATENCY_COLUMNS]
    average = row["latency_sum"] / row["latency_count"] if row["latency_count"] else None
    return {
        "avg_ms": None if average is None else round(float(average), 1),
        "p50_ms": latency_quantile(histogram, 0.50),
        "p95_ms": latency_quantile(histogram, 0.95),
        "p99_ms": latency_quantile(histogram, 0.99),
    }


def model_usage(*, outlet_id: UUID | None, date_range: DateRange, model_type: str | None = None) -> list[dict]:
    """Per (type, model, unit): calls, units, credits, cost and latency average and percentiles."""
    rows = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range,
        measures=USAGE_SUMS | {"latency_sum", "latency_count", *LATENCY_COLUMNS},
        group_by=["type", "model", "unit"], filters={"type": [model_type]} if model_type else None,
    )
    items = [
        {
            "type": row["type"], "model": row["model"], "unit": row["unit"], "calls": row["records"],
            "units": _number(row["units"]), "credits": _number(row["credits"]), "cost": _number(row["cost"]),
            "latency": latency_summary(row),
        }
        for row in rows
        if row["records"]
    ]
    return sorted(items, key=lambda item: (-item["cost"], item["type"], item["model"], item["unit"]))


# --- the spend overview --------------------------------------------------------------------------

@one_staleness()
def spend_overview(
    *, outlet_id: UUID | None, date_range: DateRange, agent_id: UUID | None = None, status: str | None = None
) -> dict:
    """Calls, minutes, outcomes and spend over the range.

    `status` narrows the calls (counts, minutes, distributions, drop-off); spend is what usage
    records cost in the range (for the agent, if one is given), whatever their call's outcome.
    """
    call_filters = {}
    if agent_id:
        call_filters["agent_id"] = [agent_id]
    if status:
        call_filters["status"] = [status]
    usage_filters = {"agent_id": [agent_id]} if agent_id else None
    call_measures = {"calls", "duration_sum", *DURATION_COLUMNS}
    calls = aggregate(
        INTERACTIONS, outlet_id=outlet_id, date_range=date_range, measures=call_measures,
        group_by=["status", "sentiment"], filters=call_filters,
    )
    calls_by_day = {
        row["period"].date(): row
        for row in aggregate(
            INTERACTIONS, outlet_id=outlet_id, date_range=date_range, measures={"calls", "duration_sum"},
            period="day", filters=call_filters,
        )
    }
    calls_by_agent = aggregate(
        INTERACTIONS, outlet_id=outlet_id, date_range=date_range, measures={"calls", "duration_sum"},
        group_by=["agent_id"], filters=call_filters,
    )
    cost_by_day = {
        row["period"].date(): _number(row["cost"])
        for row in aggregate(
            USAGE, outlet_id=outlet_id, date_range=date_range, measures={"cost"}, period="day", filters=usage_filters
        )
    }
    cost_by_agent = {
        row["agent_id"]: _number(row["cost"])
        for row in aggregate(
            USAGE, outlet_id=outlet_id, date_range=date_range, measures={"cost"}, group_by=["agent_id"],
            filters=usage_filters,
        )
    }
    telecom = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"units", "cost"}, group_by=["unit"],
        filters={"type": ["TELEPHONY"], **(usage_filters or {})},
    )

    status_distribution = dict.fromkeys(Interaction.Status.values, 0)
    sentiment_distribution = dict.fromkeys(Interaction.Sentiment.values, 0)
    drop_off = [0] * len(DURATION_COLUMNS)
    total_duration = Decimal(0)
    for row in calls:
        status_distribution[row["status"]] = status_distribution.get(row["status"], 0) + row["calls"]
        sentiment_distribution[row["sentiment"]] = sentiment_distribution.get(row["sentiment"], 0) + row["calls"]
        total_duration += _number(row["duration_sum"])
        for index, name in enumerate(DURATION_COLUMNS):
            drop_off[index] += row[name]
    total_calls = sum(status_distribution.values())
    completed = status_distribution[Interaction.Status.COMPLETED]
    agent_ids = {row["agent_id"] for row in calls_by_agent} | set(cost_by_agent)
    telecom_seconds = sum((_number(row["units"]) for row in telecom if row["unit"] == "seconds"), Decimal(0))
    time_series = []
    for offset in range(date_range.days):
        day = date_range.start + timedelta(days=offset)
        day_calls = calls_by_day.get(day, {"calls": 0, "duration_sum": 0})
        time_series.append({
            "date": day, "calls": day_calls["calls"], "minutes": _number(day_calls["duration_sum"]) / 60,
            "cost": cost_by_day.get(day, Decimal(0)),
        })
    calls_per_agent = {row["agent_id"]: row for row in calls_by_agent}
    agent_performance = [
        {
            "agent_id": agent,
            "calls": calls_per_agent.get(agent, {}).get("calls", 0),
            "minutes": _number(calls_per_agent.get(agent, {}).get("duration_sum", 0)) / 60,
            "cost": cost_by_agent.get(agent, Decimal(0)),
        }
        for agent in agent_ids
    ]
    return {
        "total_calls": total_calls,
        "completed_calls": completed,
        "in_progress_calls": status_distribution[Interaction.Status.IN_PROGRESS],
        "average_duration_seconds": int(total_duration / total_calls) if total_calls else 0,
        "success_rate": completed / total_calls if total_calls else 0,
        "telecom_costs": {
            "total_minutes": telecom_seconds / 60,
            "cost_usd": sum((_number(row["cost"]) for row in telecom), Decimal(0)),
        },
        "total_spent": sum(cost_by_day.values(), Decimal(0)),
        "time_series": time_series,
        "status_distribution": status_distribution,
        "sentiment_distribution": sentiment_distribution,
        "agent_performance": sorted(agent_performance, key=lambda item: (-item["calls"], -item["cost"], str(item["agent_id"]))),
        "drop_off_points": [{"bucket": bucket, "count": count} for bucket, count in zip(DROP_OFF_BUCKETS, drop_off)],
        "filters": {"from": date_range.start, "to": date_range.end, "agent_id": agent_id, "status": status},
    }


# --- usage by breakdown --------------------------------------------------------------------------

@dataclass(frozen=True)
class Breakdown:
    metric: str
    breakdown: str
    interval: str
    filters: dict  # breakdown name -> values
    limit: int


@one_staleness()
def usage_breakdown(*, outlet_id: UUID | None, date_range: DateRange, question: Breakdown) -> dict:
    """A series of `metric` per breakdown value (and unit, for units), the largest `limit` first, the rest as other.

    `cumulative` is a running total per day.
    """
    dimension = BREAKDOWNS[question.breakdown]
    metric = METRICS[question.metric]
    by_unit = question.metric == "units"
    # A many-valued breakdown's units come pivoted (a measure per unit): the per-agent and per-user rollups keep no unit.
    pivoted = by_unit and question.breakdown in MANY_VALUED_BREAKDOWNS
    measures = set(UNIT_MEASURES.values()) if pivoted else {metric}
    group_by = [dimension, "unit"] if by_unit and not pivoted else [dimension]
    filters = {BREAKDOWNS[name]: values for name, values in question.filters.items()}
    question_of = dict(outlet_id=outlet_id, date_range=date_range, measures=measures)
    period = "hour" if question.interval == "hour" else "day"
    bucket_interval = "day" if question.interval == "cumulative" else question.interval

    def values_of(row: dict, keys: list[str]) -> list[tuple[tuple, Decimal | int]]:
        """(key, value) for each series a row adds to: the row's `keys`, then the unit for units.

        A unit's series exists where it has units, pivoted or not.
        """
        prefix = tuple(row[name] for name in keys)
        if pivoted:
            return [((*prefix, unit), _number(row[name])) for unit, name in UNIT_MEASURES.items() if row[name]]
        return [(prefix, _number(row[metric]))] if row[metric] or not by_unit else []

    def series_of(rows, keys) -> dict[tuple, dict]:
        series: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
        period_of = functools.cache(lambda moment: _period_key(moment, bucket_interval))  # rows share their periods
        for row in rows:
            period = period_of(row["period"])
            for key, value in values_of(row, keys):
                series[key][period] += value
        return series

    def unit_of(key: tuple):
        return key[-1] if by_unit else None

    other: dict = defaultdict(lambda: defaultdict(int))  # per unit: units of different kinds never add up
    if question.breakdown in MANY_VALUED_BREAKDOWNS:
        # Rank in the database, then ask for the points of the kept values only: a breakdown by agent
        # or user has thousands of values, each with a point per period.
        ranked, counts = largest(
            USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures, dimension=dimension,
            filters=filters, limit=question.limit, nonzero=by_unit,
        )
        kept = [(value, UNIT_OF_MEASURE[measure]) if pivoted else (value,) for value, measure in ranked]
        merged_counts = Counter({UNIT_OF_MEASURE.get(measure): count for measure, count in counts.items()})
        merged_counts.subtract(unit_of(key) for key in kept)
        kept_filters = {**filters, dimension: sorted({key[0] for key in kept}, key=str)}
        series = series_of(aggregate(USAGE, **question_of, group_by=group_by, period=period, filters=kept_filters), group_by)
        totals = {key: sum(series[key].values()) for key in kept}
        if any(merged_counts.values()):
            everything = aggregate(USAGE, **question_of, period=period, filters=filters)
            for unit_key, points in series_of(everything, []).items():
                remaining = other[unit_of(unit_key)]
                remaining.update(points)
                for key in kept:
                    if unit_of(key) == unit_of(unit_key):
                        for moment, value in series[key].items():
                            remaining[moment] -= value
    else:
        series = series_of(aggregate(USAGE, **question_of, group_by=group_by, period=period, filters=filters), group_by)
        totals = {key: sum(points.values()) for key, points in series.items()}
        kept = heapq.nsmallest(question.limit, totals, key=lambda key: (-totals[key], [str(part) for part in key]))
        kept_keys = set(kept)
        merged_counts = Counter(unit_of(key) for key in totals if key not in kept_keys)
        for key in totals:
            if key not in kept_keys:
                for moment, value in series[key].items():
                    other[unit_of(key)][moment] += value
    periods = period_starts(date_range, bucket_interval)

    def points_of(merged: dict) -> list:
        values, running = [], 0
        for period in periods:
            running = running + merged.get(period, 0) if question.interval == "cumulative" else merged.get(period, 0)
            values.append([period, running])
        return values

    items = []
    for key in kept:
        item = {"key": key[0], "total": totals[key], "points": points_of(series[key])}
        if by_unit:
            item["unit"] = unit_of(key)
        items.append(item)
    for unit, merged in sorted(other.items(), key=lambda pair: str(pair[0])):
        merged_count = merged_counts[unit]
        if not merged_count:  # every value of this unit kept its own series
            continue
        item = {"key": None, "other": merged_count, "total": sum(merged.values()), "points": points_of(merged)}
        if unit is not None:
            item["unit"] = unit
        items.append(item)
    return {
        "metric": question.metric, "breakdown": question.breakdown, "interval": question.interval,
        "from": date_range.start, "to": date_range.end, "series": items,
    }


# --- credit history ------------------------------------------------------------------------------

@one_staleness()
def credit_history(
    *, outlet_id: UUID | None, date_range: DateRange, interval: str, agent_id: UUID | None = None
) -> dict:
    """Credits consumed (by usage, when it occurred) and added or removed (by staff and API) per period.

    Per agent: the range's totals, the average daily burn over the last 30 days and the runway
    (balance / burn; None without burn, 0 when the balance is gone). For the outlet (or the one
    agent asked for): the same, and the periods.
    """
    today = today_utc()
    agent_filter = {"agent_id": [agent_id]} if agent_id else None
    # Per day over everyone, and per agent over the range: not per agent and day, which is thousands of rows a day.
    consumed_per_day = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"credits"}, period="day", filters=agent_filter
    )

    def credits_per_agent(over: DateRange) -> dict:
        rows = aggregate(
            USAGE, outlet_id=outlet_id, date_range=over, measures={"credits"}, group_by=["agent_id"], filters=agent_filter
        )
        return {row["agent_id"]: _number(row["credits"]) for row in rows}

    consumed_per_agent = credits_per_agent(date_range)
    burn_range = DateRange(today - timedelta(days=BURN_DAYS - 1), today)
    burned = consumed_per_agent if burn_range == date_range else credits_per_agent(burn_range)  # the last 30 days: often the range
    entries = CreditLedgerEntry.objects.filter(
        created_at__gte=date_range.start_at, created_at__lt=date_range.end_before
    ).exclude(kind=CreditLedgerEntry.Kind.CONSUME)
    accounts = CreditAccount.objects.all()
    if outlet_id is not None:
        entries, accounts = entries.filter(outlet_id=outlet_id), accounts.filter(agent__outlet_id=outlet_id)
    if agent_id is not None:
        entries, accounts = entries.filter(account_id=agent_id), accounts.filter(pk=agent_id)
    changes = (
        entries.annotate(day=Trunc("created_at", "day", tzinfo=UTC))
        .values("account_id", "day")
        .annotate(added=Sum("amount", filter=Q(amount__gt=0)), removed=Sum("amount", filter=Q(amount__lt=0)))
        .order_by()
    )
    def no_changes() -> dict:
        return {"consumed": Decimal(0), "added": Decimal(0), "removed": Decimal(0)}

    periods: dict = defaultdict(no_changes)
    per_agent: dict = defaultdict(no_changes)
    for row in consumed_per_day:
        periods[_period_key(row["period"], interval)]["consumed"] += _number(row["credits"])
    for agent, consumed in consumed_per_agent.items():
        per_agent[agent]["consumed"] += consumed
    for row in changes:
        added, removed = Decimal(row["added"] or 0), -Decimal(row["removed"] or 0)
        period = periods[_period_key(row["day"], interval)]
        period["added"] += added
        period["removed"] += removed
        per_agent[row["account_id"]]["added"] += added
        per_agent[row["account_id"]]["removed"] += removed

    def runway(balance: Decimal, burn: Decimal):
        if not burn:
            return None
        return max(Decimal(0), balance / burn)

    agents = []
    # As tuples: thousands of accounts and agents as model instances cost more than the query.
    for pk, name, agent_outlet_id, balance in accounts.values_list("pk", "agent__name", "agent__outlet_id", "balance"):
        burn = burned.get(pk, Decimal(0)) / BURN_DAYS
        agents.append({
            "agent_id": pk, "agent_name": name, "outlet_id": agent_outlet_id,
            "balance": balance, "average_daily_burn": burn, "runway_days": runway(balance, burn),
            **per_agent.get(pk, no_changes()),
        })
    balance = sum((agent["balance"] for agent in agents), Decimal(0))
    burn = sum(burned.values(), Decimal(0)) / BURN_DAYS
    return {
        "interval": interval,
        "from": date_range.start,
        "to": date_range.end,
        "balance": balance,
        "average_daily_burn": burn,
        "runway_days": runway(balance, burn),
        "periods": [{"period": start, **periods[start]} for start in period_starts(date_range, interval)],
        "agents": sorted(agents, key=lambda agent: (agent["runway_days"] is None, agent["runway_days"] or 0, agent["agent_name"])),
    }


# --- the admin dashboard -------------------------------------------------------------------------

@one_staleness()
def usage_totals(*, outlet_id: UUID | None, date_range: DateRange) -> dict:
    """Records, credits and cost over the range, and the average and p95 latency of the records that have one."""
    measures = {"records", "credits", "cost", "latency_sum", "latency_count", *LATENCY_COLUMNS}
    rows = aggregate(USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures)
    row = rows[0] if rows else dict.fromkeys(measures, 0)
    latency = latency_summary(row)
    return {
        "records": row["records"],
        "credits": _number(row["credits"]),
        "cost": _number(row["cost"]),
        "avg_latency_ms": latency["avg_ms"],
        "p95_latency_ms": latency["p95_ms"],
    }


def open_alert_list(*, outlet_id: UUID | None) -> QuerySet[CreditAlert]:
    """Open low-balance and depleted alerts, the newest first."""
    alerts = CreditAlert.objects.filter(status=CreditAlert.Status.OPEN).select_related("account__agent", "outlet")
    return for_outlet(alerts, outlet_id).order_by("-opened_at", "-id")

