"""Small hand-built usage records and calls, and the spend data set, whose answers the analytics tests write out."""

from datetime import UTC, date, datetime, time, timedelta

from config.api.dates import DateRange
from credits import services as credit_services
from tests.factories import AgentFactory, OutletFactory
from usage.services import ingest_records, upsert_interactions

ACTOR = credit_services.Actor.system("tests")
D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
SPEND_RANGE = DateRange(D1, D3)
TODAY = date(2026, 10, 15)  # the patched "today" of the series and snapshot tests: in the past, so records may fall on it


def at(day: date, hour: int = 12, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC).isoformat()


def record(agent, event_id: str, when: str, *, type="CONVERSATION", unit="tokens", count=0, credits="0", cost="0", **fields):
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": type, "unit": unit, "count": count,
        "credits": credits, "cost_usd": cost, "occurred_at": when, **fields,
    }


def call(agent, interaction_id: str, when: str, *, status: str, duration, sentiment="unknown", messages=0) -> dict:
    return {
        "interaction_id": interaction_id, "agent_id": str(agent.pk), "started_at": when, "status": status,
        "duration_seconds": duration, "sentiment": sentiment, "message_count": messages,
    }


def ingest(outlet, *records) -> None:
    ingest_records(outlet=outlet, records=list(records), actor=ACTOR)


def spend_data() -> dict:
    """Two agents' calls and usage over D1..D3 (D3 empty), a record after the range, and another outlet's noise.

    calls (agent, day, status, seconds, sentiment):
        c1 a1 D1 completed 20 positive    c2 a1 D1 completed 45 neutral    c6 a2 D1 completed 200 positive
        c3 a2 D2 failed 90 negative       c4 a2 D2 in_progress 0 unknown   c5 a1 D2 completed 400 positive
    usage (agent, day, type, cost): r1 a1 D1 CONVERSATION 0.01234567, r2 a1 D1 TELEPHONY 20 s 0.004,
        r3 a2 D2 TELEPHONY 90 s 0.018, r4 a2 D2 TTS 0.0075, r5 a1 D2 TELEPHONY 400 s 0.08; r6 after the range.
    """
    outlet = OutletFactory()
    a1, a2 = AgentFactory(outlet=outlet, name="first"), AgentFactory(outlet=outlet, name="second")
    upsert_interactions(outlet=outlet, interactions=[
        call(a1, "c1", at(D1, 10), status="completed", duration=20, sentiment="positive"),
        call(a1, "c2", at(D1, 11), status="completed", duration=45, sentiment="neutral"),
        call(a2, "c6", at(D1, 15), status="completed", duration=200, sentiment="positive"),
        call(a2, "c3", at(D2, 9), status="failed", duration=90, sentiment="negative"),
        call(a2, "c4", at(D2, 12), status="in_progress", duration=0),
        call(a1, "c5", at(D2, 13), status="completed", duration=400, sentiment="positive"),
    ])
    ingest(
        outlet,
        record(a1, "r1", at(D1, 10, 1), count=1000, credits="1.5", cost="0.01234567"),
        record(a1, "r2", at(D1, 10, 2), type="TELEPHONY", unit="seconds", count=20, credits="0.2", cost="0.004"),
        record(a2, "r3", at(D2, 9, 1), type="TELEPHONY", unit="seconds", count=90, credits="0.9", cost="0.018"),
        record(a2, "r4", at(D2, 9, 2), type="TTS", unit="characters", count=500, credits="0.1", cost="0.0075"),
        record(a1, "r5", at(D2, 13), type="TELEPHONY", unit="seconds", count=400, cost="0.08"),
        record(a1, "r6", at(D3 + timedelta(days=1)), cost="1"),
    )
    stranger = AgentFactory()
    upsert_interactions(outlet=stranger.outlet, interactions=[call(stranger, "c1", at(D1), status="completed", duration=999)])
    ingest(stranger.outlet, record(stranger, "r1", at(D1), type="TELEPHONY", unit="seconds", count=999, cost="9"))
    return {"outlet": outlet, "a1": a1, "a2": a2, "stranger": stranger}
