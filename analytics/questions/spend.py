"""The spend overview: calls, minutes, outcomes and spend over a range, per day and per agent."""

from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from analytics.aggregation import aggregate, number
from analytics.facts import INTERACTIONS, USAGE
from analytics.models import DURATION_COLUMNS
from analytics.scope import one_staleness
from config.api.dates import DateRange
from usage.models import Interaction

DROP_OFF_BUCKETS = ("<30s", "30-60s", "1-3m", "3-5m", ">5m")  # the duration histogram's buckets, in order


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
    scope = {"outlet_id": outlet_id, "date_range": date_range}
    calls, calls_by_day, calls_by_agent = _calls(scope, call_filters)
    cost_by_day, cost_by_agent, telecom = _spend(scope, usage_filters)
    outcomes = _Outcomes(calls)
    total_calls = sum(outcomes.status.values())
    completed = outcomes.status[Interaction.Status.COMPLETED]
    telecom_seconds = sum((number(row["units"]) for row in telecom if row["unit"] == "seconds"), Decimal(0))
    return {
        "total_calls": total_calls,
        "completed_calls": completed,
        "in_progress_calls": outcomes.status[Interaction.Status.IN_PROGRESS],
        "average_duration_seconds": int(outcomes.duration / total_calls) if total_calls else 0,
        "success_rate": completed / total_calls if total_calls else 0,
        "telecom_costs": {
            "total_minutes": telecom_seconds / 60,
            "cost_usd": sum((number(row["cost"]) for row in telecom), Decimal(0)),
        },
        "total_spent": sum(cost_by_day.values(), Decimal(0)),
        "time_series": _time_series(date_range, calls_by_day, cost_by_day),
        "status_distribution": outcomes.status,
        "sentiment_distribution": outcomes.sentiment,
        "agent_performance": _agent_performance(calls_by_agent, cost_by_agent),
        "drop_off_points": [{"bucket": bucket, "count": count} for bucket, count in zip(DROP_OFF_BUCKETS, outcomes.drop_off)],
        "filters": {"from": date_range.start, "to": date_range.end, "agent_id": agent_id, "status": status},
    }


def _calls(scope: dict, filters: dict) -> tuple[list[dict], dict, list[dict]]:
    """The calls per status and sentiment (with the duration histogram), per day, and per agent."""
    calls = aggregate(
        INTERACTIONS, **scope, measures={"calls", "duration_sum", *DURATION_COLUMNS},
        group_by=["status", "sentiment"], filters=filters,
    )
    calls_by_day = {
        row["period"].date(): row
        for row in aggregate(INTERACTIONS, **scope, measures={"calls", "duration_sum"}, period="day", filters=filters)
    }
    calls_by_agent = aggregate(
        INTERACTIONS, **scope, measures={"calls", "duration_sum"}, group_by=["agent_id"], filters=filters
    )
    return calls, calls_by_day, calls_by_agent


def _spend(scope: dict, filters: dict | None) -> tuple[dict, dict, list[dict]]:
    """The cost per day and per agent, and telephony's units and cost per unit."""
    cost_by_day = {
        row["period"].date(): number(row["cost"])
        for row in aggregate(USAGE, **scope, measures={"cost"}, period="day", filters=filters)
    }
    cost_by_agent = {
        row["agent_id"]: number(row["cost"])
        for row in aggregate(USAGE, **scope, measures={"cost"}, group_by=["agent_id"], filters=filters)
    }
    telecom = aggregate(
        USAGE, **scope, measures={"units", "cost"}, group_by=["unit"],
        filters={"type": ["TELEPHONY"], **(filters or {})},
    )
    return cost_by_day, cost_by_agent, telecom


class _Outcomes:
    """The calls per status and per sentiment, per duration bucket (the drop-off), and their total duration."""

    def __init__(self, calls: list[dict]):
        self.status = dict.fromkeys(Interaction.Status.values, 0)
        self.sentiment = dict.fromkeys(Interaction.Sentiment.values, 0)
        self.drop_off = [0] * len(DURATION_COLUMNS)
        self.duration = Decimal(0)
        for row in calls:
            self.status[row["status"]] = self.status.get(row["status"], 0) + row["calls"]
            self.sentiment[row["sentiment"]] = self.sentiment.get(row["sentiment"], 0) + row["calls"]
            self.duration += number(row["duration_sum"])
            for index, name in enumerate(DURATION_COLUMNS):
                self.drop_off[index] += row[name]


def _time_series(date_range: DateRange, calls_by_day: dict, cost_by_day: dict) -> list[dict]:
    """Every day of the range: its calls, minutes and cost, zero-filled."""
    time_series = []
    for offset in range(date_range.days):
        day = date_range.start + timedelta(days=offset)
        day_calls = calls_by_day.get(day, {"calls": 0, "duration_sum": 0})
        time_series.append({
            "date": day, "calls": day_calls["calls"], "minutes": number(day_calls["duration_sum"]) / 60,
            "cost": cost_by_day.get(day, Decimal(0)),
        })
    return time_series


def _agent_performance(calls_by_agent: list[dict], cost_by_agent: dict) -> list[dict]:
    """Every agent with calls or cost: its calls, minutes and cost, the most calls first."""
    agent_ids = {row["agent_id"] for row in calls_by_agent} | set(cost_by_agent)
    calls_per_agent = {row["agent_id"]: row for row in calls_by_agent}
    agent_performance = [
        {
            "agent_id": agent,
            "calls": calls_per_agent.get(agent, {}).get("calls", 0),
            "minutes": number(calls_per_agent.get(agent, {}).get("duration_sum", 0)) / 60,
            "cost": cost_by_agent.get(agent, Decimal(0)),
        }
        for agent in agent_ids
    ]
    return sorted(agent_performance, key=lambda item: (-item["calls"], -item["cost"], str(item["agent_id"])))
