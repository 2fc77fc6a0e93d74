"""Usage of two outlets over a few days, for the rollup builds and their reconcile check."""

import random
from datetime import UTC, date, datetime, timedelta

from analytics.facts import FACTS
from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
FIRST_DAY = date(2026, 10, 1)
DAYS = 5
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
TYPES = (("CONVERSATION", "tokens", ("gpt-4o", "gpt-4o-mini")), ("TTS", "characters", ("tts-1",)))
ROLLUP_MODELS = [rollup.model for fact in FACTS for rollup in fact.rollups]


def at(day: date, seconds: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=seconds)


def make_records(rng: random.Random, agents, count: int, prefix: str, first_day: date = FIRST_DAY, days: int = DAYS):
    records = []
    for index in range(count):
        record_type, unit, models = rng.choice(TYPES)
        records.append({
            "event_id": f"{prefix}-{index}", "agent_id": str(rng.choice(agents).pk), "type": record_type, "unit": unit,
            "model": rng.choice(models), "voice": rng.choice(("", "alloy")), "product": rng.choice(("a", "b")),
            "count": rng.randrange(0, 5000), "credits": f"{rng.randrange(0, 10**7) / 10**6:.6f}",
            "cost_usd": f"{rng.randrange(0, 10**8) / 10**8:.8f}",
            "latency_ms": rng.choice((None, rng.randrange(1, 200), rng.randrange(200, 200000))),
            # at least one record a day: every day of the span has usage
            "occurred_at": at(first_day, (index % days) * 86400 + rng.randrange(86400)).isoformat(),
        })
    return records


def two_outlets_of_usage():
    """Two outlets with usage records and interactions on each of DAYS days; nothing built yet."""
    rng = random.Random(8)
    outlets = [OutletFactory(), OutletFactory()]
    for outlet in outlets:
        agents = [AgentFactory(outlet=outlet) for _ in range(2)]
        ingest_records(outlet=outlet, records=make_records(rng, agents, 80, f"{outlet.pk}"), actor=ACTOR)
        upsert_interactions(outlet=outlet, interactions=[
            {
                "interaction_id": f"call-{index}", "agent_id": str(rng.choice(agents).pk),
                "status": rng.choice(("completed", "failed")), "sentiment": rng.choice(("positive", "unknown")),
                "started_at": at(FIRST_DAY, (index % DAYS) * 86400 + rng.randrange(86400)).isoformat(),
                "duration_seconds": rng.choice((5, 29.999, 61, 400)), "message_count": rng.randrange(20),
            }
            for index in range(20)
        ])
    return outlets


def rollup_rows(outlet=None, day: date | None = None) -> int:
    total = 0
    for model in ROLLUP_MODELS:
        rows = model.objects.all()
        if outlet is not None:
            rows = rows.filter(outlet=outlet)
        if day is not None:
            rows = rows.filter(bucket__gte=at(day), bucket__lt=at(day + timedelta(days=1)))
        total += rows.count()
    return total


def unbuild(outlet, day: date) -> None:
    for model in ROLLUP_MODELS:
        model.objects.filter(outlet=outlet, bucket__gte=at(day), bucket__lt=at(day + timedelta(days=1))).delete()
