"""Usage totals over a range: per outlet or agent, per model, and overall with latency."""

from uuid import UUID

from analytics.aggregation import aggregate, number
from analytics.facts import OUTLET, UNIT_MEASURES, USAGE, USAGE_SUMS
from analytics.histograms import latency_quantile
from analytics.scope import one_staleness
from config.api.dates import DateRange
from credits.models import Agent, Outlet


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
            "units": {unit: number(row[name]) for unit, name in UNIT_MEASURES.items() if row[name]},
            "credits": number(row["credits"]),
            "cost": number(row["cost"]),
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
    histogram = row["latency_histogram"]  # counts, NULL sums already 0 (`aggregate`)
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
        measures=USAGE_SUMS | {"latency_sum", "latency_count", "latency_histogram"},
        group_by=["type", "model", "unit"], filters={"type": [model_type]} if model_type else None,
    )
    items = [
        {
            "type": row["type"], "model": row["model"], "unit": row["unit"], "calls": row["records"],
            "units": number(row["units"]), "credits": number(row["credits"]), "cost": number(row["cost"]),
            "latency": latency_summary(row),
        }
        for row in rows
        if row["records"]
    ]
    return sorted(items, key=lambda item: (-item["cost"], item["type"], item["model"], item["unit"]))


@one_staleness()
def usage_totals(*, outlet_id: UUID | None, date_range: DateRange) -> dict:
    """Records, credits and cost over the range, and the average and p95 latency of the records that have one."""
    measures = {"records", "credits", "cost", "latency_sum", "latency_count", "latency_histogram"}
    (row,) = aggregate(USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures)  # no group: one row
    latency = latency_summary(row)
    return {
        "records": row["records"],
        "credits": number(row["credits"]),
        "cost": number(row["cost"]),
        "avg_latency_ms": latency["avg_ms"],
        "p95_latency_ms": latency["p95_ms"],
    }
