"""The seven questions the peers are asked: each one's HTTP path and what a peer's SQL takes, a peer's rows written
as the API writes the answer, and the check that two answers are the same.

One outlet: an outlet's key, over its last 30 local days; every outlet: staff, over 90 days, each outlet's local days
added up by date. Sums must be equal to the last place, rankings identical; a percentile, which Ledgerline names
as the middle of a latency histogram bucket, must be exact in a peer and lie in that bucket.
"""

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from analytics.api.serializers import UNITS, json_number
from analytics.models import LATENCY_FLOORS_MS
from analytics.questions.spend import DROP_OFF_BUCKETS
from config.api.dates import zone_iso
from config.money import COST_PLACES, COUNT_PLACES, CREDIT_PLACES, fixed
from usage.models import Interaction

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
LIMIT = 10  # the usage API's default: the largest series kept
# GROUPING(day, agent_id, status, sentiment) of the spend query's grouping sets: a bit per column not grouped by.
BY_DAY, BY_AGENT, BY_STATUS, BY_SENTIMENT, IN_ALL = 0b0111, 0b1011, 0b1101, 0b1110, 0b1111


@dataclass(frozen=True)
class Question:
    name: str
    every_outlet: bool  # staff over every outlet, else one outlet's key
    path: str  # with {first} and {last}
    shape: Callable[[list[tuple], dict], dict]  # a peer's rows and the parameters: the answer as the API writes it


def minutes(seconds) -> str:
    return fixed(Decimal(seconds) / 60, 2)


def period_text(period, zone: str | None) -> str:
    """A day as its date; an hour as its first instant, with the offset of the moments it holds (the one in force at
    its end: where a 30-minute shift begins it, that is not the one at its start), UTC's as Z."""
    if isinstance(period, int):  # seconds since the epoch (ClickHouse's DateTime, DuckDB's hour_start)
        period = datetime.fromtimestamp(period, UTC)
    if isinstance(period, datetime):
        offset = (period + timedelta(hours=1) - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
        return zone_iso(period, timezone(offset))
    return period.isoformat()


def answer(parameters: dict, **fields) -> dict:
    return {"success": True, "from": parameters["first"].isoformat(), "to": parameters["last"].isoformat(), **fields}


def shape_series(rows: list[tuple], parameters: dict) -> dict:
    stamps = [int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000) for day, *_ in rows]
    return {
        "success": True, "days": len(rows),
        "tokens": [[stamp, json_number(row[1])] for stamp, row in zip(stamps, rows)],
        "conversations": [[stamp, row[2]] for stamp, row in zip(stamps, rows)],
        "messages": [[stamp, row[3]] for stamp, row in zip(stamps, rows)],
    }


def shape_models(rows: list[tuple], parameters: dict) -> dict:
    items = [
        {
            "type": kind, "model": model, "unit": unit, "calls": calls, "units": fixed(units, COUNT_PLACES),
            "credits": fixed(credits, CREDIT_PLACES), "cost": fixed(cost, COST_PLACES),
            "latency": {
                "avg_ms": None if average is None else round(average, 1),
                **dict(zip(PERCENTILES, percentiles or (None,) * len(PERCENTILES))),
            },
        }
        for kind, model, unit, calls, units, credits, cost, average, percentiles in rows
    ]
    return answer(parameters, model_type=None, items=items)


def shape_spend(rows: list[tuple], parameters: dict) -> dict:
    parts = defaultdict(list)
    for row in rows:
        parts[row[0]].append(row)
    (every,) = parts[IN_ALL]
    days = {row[1]: row for row in parts[BY_DAY]}
    # Usage rows have no status or sentiment: NULL, or in ClickHouse ''.
    statuses = {row[3]: row[5] for row in parts[BY_STATUS] if row[3]}
    sentiments = {row[4]: row[5] for row in parts[BY_SENTIMENT] if row[4]}
    total, completed, duration = every[5], statuses.get("completed", 0), every[6]
    time_series = []
    for offset in range((parameters["last"] - parameters["first"]).days + 1):
        day = parameters["first"] + timedelta(days=offset)
        calls, seconds, cost = days[day][5:8] if day in days else (0, 0, 0)
        time_series.append({"date": day.isoformat(), "calls": calls, "minutes": minutes(seconds), "cost": fixed(cost, COST_PLACES)})
    return {
        "success": True, "total_calls": total, "completed_calls": completed,
        "in_progress_calls": statuses.get("in_progress", 0),
        "average_duration_seconds": int(duration / total) if total else 0,
        "success_rate": round(completed / total, 4) if total else 0.0,
        "telecom_costs": {"total_minutes": minutes(every[13]), "cost_usd": fixed(every[14], COST_PLACES)},
        "total_spent": fixed(every[7], COST_PLACES),
        "time_series": time_series,
        "status_distribution": {status: statuses.get(status, 0) for status in Interaction.Status.values},
        "sentiment_distribution": {sentiment: sentiments.get(sentiment, 0) for sentiment in Interaction.Sentiment.values},
        "agent_performance": [
            {"agent_id": str(row[2]), "calls": row[5], "minutes": minutes(row[6]), "cost": fixed(row[7], COST_PLACES)}
            for row in parts[BY_AGENT]
        ],
        "drop_off_points": [{"bucket": bucket, "count": count} for bucket, count in zip(DROP_OFF_BUCKETS, every[8:13])],
        "filters": {"from": parameters["first"].isoformat(), "to": parameters["last"].isoformat(), "agent_id": None, "status": None},
    }


def breakdown_shaper(metric: str, breakdown: str, interval: str) -> Callable[[list[tuple], dict], dict]:
    """Rows (kept, key, unit, merged, period, value, total), a line's points together in the answer's order."""
    places = {"credits": CREDIT_PLACES, "units": COUNT_PLACES}[metric]

    def shape(rows: list[tuple], parameters: dict) -> dict:
        zone, series = parameters.get("zone"), []
        for (kept, key, unit, merged), points in itertools.groupby(rows, key=lambda row: row[:4]):
            points = list(points)
            item = {"key": key if kept else None, "total": fixed(points[0][6], places)}
            if not kept:
                item["other"] = merged
            if metric == "units":
                item["unit"] = unit
            item["points"] = [{"period": period_text(row[4], zone), "value": fixed(row[5], places)} for row in points]
            series.append(item)
        return answer(parameters, metric=metric, breakdown=breakdown, interval=interval, series=series)

    return shape


def shape_summary(rows: list[tuple], parameters: dict) -> dict:
    items = [
        {
            "outlet_id": str(outlet_id), "agent_id": str(agent_id), "agent_name": name, "external_id": external_id,
            "records": records,
            "units": {unit: fixed(units, COUNT_PLACES) for unit, units in zip(UNITS, by_unit) if units},
            "credits": fixed(credits, CREDIT_PLACES), "cost": fixed(cost, COST_PLACES),
        }
        for outlet_id, agent_id, name, external_id, records, *by_unit, credits, cost in rows
    ]
    return answer(parameters, group_by="AGENT", items=items)


ONE_RANGE = "start_date={first}&end_date={last}"
QUESTIONS = (
    Question("series", False, "/api/v1/usage/series/?days=30", shape_series),
    Question("models", False, f"/api/v1/analytics/models/?{ONE_RANGE}", shape_models),
    Question("spend", False, f"/api/v1/analytics/spend/?{ONE_RANGE}", shape_spend),
    Question(
        "top users per day", False,
        f"/api/v1/analytics/usage/?metric=credits&breakdown=user&interval=day&{ONE_RANGE}",
        breakdown_shaper("credits", "user", "day"),
    ),
    Question(
        "top users per day, every outlet", True,
        f"/api/v1/analytics/usage/?metric=credits&breakdown=user&interval=day&{ONE_RANGE}",
        breakdown_shaper("credits", "user", "day"),
    ),
    Question(
        "hourly by type", False,
        f"/api/v1/analytics/usage/?metric=units&breakdown=type&interval=hour&{ONE_RANGE}",
        breakdown_shaper("units", "type", "hour"),
    ),
    Question(
        "summary by agent, every outlet", True, f"/api/v1/usage/summary/?group_by=AGENT&{ONE_RANGE}", shape_summary
    ),
)


def parameters_of(question: Question, outlet, dates: dict) -> dict:
    """What a peer's SQL takes: the outlet and its zone, the first and last local dates, the series' limit.

    The series asks for the last 30 days to today in the outlet's zone, as the endpoint reads it when asked.
    """
    if question.every_outlet:
        return {"first": dates["start90"], "last": dates["end"], "limit": LIMIT}
    last = datetime.now(UTC).astimezone(outlet.zone).date() if question.name == "series" else dates["end"]
    first = last - timedelta(days=29)
    return {"outlet": str(outlet.pk), "zone": outlet.timezone, "first": first, "last": last, "limit": LIMIT}


def first_difference(expected, actual, where: str = "") -> str | None:
    """Where `actual` first differs from Ledgerline's `expected`, or None; a percentile differs when it lies outside
    the bucket Ledgerline names."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in [*expected, *(key for key in actual if key not in expected)]:
            if key not in expected or key not in actual:
                return f"{where}.{key}: in {'Ledgerline' if key in expected else 'the peer'}'s answer only"
            if (difference := first_difference(expected[key], actual[key], f"{where}.{key}")) is not None:
                return difference
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for index, (mine, theirs) in enumerate(zip(expected, actual)):
            if (difference := first_difference(mine, theirs, f"{where}[{index}]")) is not None:
                return difference
        return None if len(expected) == len(actual) else f"{where}: {len(expected)} items, the peer {len(actual)}"
    if where.rpartition(".")[2] in PERCENTILES and expected is not None and actual is not None:
        low, high = latency_bucket(expected)
        return None if low <= actual < high else f"{where}: {actual} is outside Ledgerline's bucket {low}..{high - 1}"
    return None if expected == actual and type(expected) is type(actual) else f"{where}: {expected!r}, the peer {actual!r}"


def latency_bucket(named: int) -> tuple[int, float]:
    """The latency histogram bucket holding the value Ledgerline names: its floor, and the next floor."""
    index = bisect.bisect_right(LATENCY_FLOORS_MS, named) - 1
    return LATENCY_FLOORS_MS[index], LATENCY_FLOORS_MS[index + 1] if index + 1 < len(LATENCY_FLOORS_MS) else float("inf")
