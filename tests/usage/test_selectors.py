from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from config.errors import DomainError, NotFoundError
from credits.services import Actor
from tests.factories import AgentFactory
from usage import selectors
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


def usage(agent, event_id: str, *, minutes: int = 0, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "CONVERSATION", "unit": "tokens", "count": 100,
        "credits": "1", "cost_usd": "0.001", "interaction_id": "call-1",
        "occurred_at": (WHEN + timedelta(minutes=minutes)).isoformat(), **fields,
    }


def ingest(agent, *records: dict) -> list[int]:
    return ingest_records(outlet=agent.outlet, records=list(records), actor=ACTOR).ids


def open_interaction(agent, interaction_id: str = "call-1") -> None:
    upsert_interactions(
        outlet=agent.outlet,
        interactions=[{"interaction_id": interaction_id, "agent_id": str(agent.pk), "started_at": WHEN.isoformat()}],
    )


def test_usage_record_get_is_scoped_to_the_outlet(agent):
    (record_id,) = ingest(agent, usage(agent, "e1"))
    stranger = AgentFactory()
    assert selectors.usage_record_get(outlet_id=agent.outlet_id, record_id=record_id).event_id == "e1"
    assert selectors.usage_record_get(outlet_id=None, record_id=record_id).event_id == "e1"
    with pytest.raises(NotFoundError, match="Usage record not found."):
        selectors.usage_record_get(outlet_id=stranger.outlet_id, record_id=record_id)


def test_interaction_get_is_scoped_to_the_outlet(agent):
    open_interaction(agent)
    assert selectors.interaction_get(outlet_id=agent.outlet_id, interaction_id="call-1").agent_id == agent.pk
    with pytest.raises(NotFoundError, match="Interaction not found."):
        selectors.interaction_get(outlet_id=AgentFactory().outlet_id, interaction_id="call-1")


def test_interaction_get_across_outlets_needs_the_outlet_when_the_id_is_shared(agent):
    open_interaction(agent)
    assert selectors.interaction_get(outlet_id=None, interaction_id="call-1").outlet_id == agent.outlet_id
    open_interaction(AgentFactory())
    with pytest.raises(DomainError, match="pass outlet_id") as raised:
        selectors.interaction_get(outlet_id=None, interaction_id="call-1")
    assert raised.value.status_code == 400


def test_interaction_usage_records_are_its_own_oldest_first(agent):
    later, earlier, _ = ingest(
        agent, usage(agent, "late", minutes=5), usage(agent, "early", minutes=1), usage(agent, "other", interaction_id="call-2")
    )
    stranger = AgentFactory()
    ingest(stranger, usage(stranger, "foreign"))
    records = selectors.interaction_usage_records(outlet_id=agent.outlet_id, interaction_id="call-1")
    assert [record.pk for record in records] == [earlier, later]


def test_interaction_usage_totals_sum_by_type_and_overall_in_one_query(agent, django_assert_num_queries):
    ingest(
        agent,
        usage(agent, "c1", count=100, credits="1.5", cost_usd="0.002", latency_ms=400),
        usage(agent, "c2", count=250, credits="0.25", cost_usd="0.0005", latency_ms=301),
        usage(agent, "t1", type="TTS", unit="characters", count=512, credits="0.1", cost_usd="0.0075"),
        usage(agent, "p1", type="TELEPHONY", unit="seconds", count="60.5", credits="0.3", cost_usd="0.0125", latency_ms=150),
        usage(agent, "x1", interaction_id="call-2", credits="9"),
    )
    stranger = AgentFactory()
    ingest(stranger, usage(stranger, "foreign", credits="7", latency_ms=9000))
    with django_assert_num_queries(1):
        totals = selectors.interaction_usage_totals(outlet_id=agent.outlet_id, interaction_id="call-1")
    assert totals == {
        "by_type": [
            {"type": "CONVERSATION", "unit": "tokens", "records": 2, "count": Decimal("350"), "credits": Decimal("1.75"),
             "cost_usd": Decimal("0.0025"), "latency_ms_avg": 350.5},
            {"type": "TELEPHONY", "unit": "seconds", "records": 1, "count": Decimal("60.5"), "credits": Decimal("0.3"),
             "cost_usd": Decimal("0.0125"), "latency_ms_avg": 150.0},
            {"type": "TTS", "unit": "characters", "records": 1, "count": Decimal("512"), "credits": Decimal("0.1"),
             "cost_usd": Decimal("0.0075"), "latency_ms_avg": None},
        ],
        # Tokens, seconds and characters do not add up: no overall count. Latency: (400 + 301 + 150) / 3 = 283.67.
        "overall": {"unit": None, "records": 4, "count": None, "credits": Decimal("2.15"), "cost_usd": Decimal("0.0225"),
                    "latency_ms_avg": 283.7},
    }
    # Sums keep their column's places on every database, as the admin shows them.
    assert [str(row["credits"]) for row in totals["by_type"]] == ["1.750000", "0.300000", "0.100000"]
    assert str(totals["overall"]["cost_usd"]) == "0.02250000"


def test_interaction_usage_totals_split_a_type_by_unit_and_add_units_only_when_they_match(agent):
    ingest(
        agent,
        usage(agent, "s1", type="TELEPHONY", unit="seconds", count="30"),
        usage(agent, "s2", type="TELEPHONY", unit="seconds", count="12.5"),
        usage(agent, "r1", type="TELEPHONY", unit="requests", count="1"),
        usage(agent, "x1", type="TELEPHONY", unit="seconds", count="99", interaction_id="call-2"),
    )
    mixed = selectors.interaction_usage_totals(outlet_id=agent.outlet_id, interaction_id="call-1")
    assert [(row["type"], row["unit"], row["records"], row["count"]) for row in mixed["by_type"]] == [
        ("TELEPHONY", "requests", 1, Decimal("1")), ("TELEPHONY", "seconds", 2, Decimal("42.5"))
    ]
    assert (mixed["overall"]["unit"], mixed["overall"]["count"]) == (None, None)
    single = selectors.interaction_usage_totals(outlet_id=agent.outlet_id, interaction_id="call-2")
    assert (single["overall"]["unit"], single["overall"]["count"]) == ("seconds", Decimal("99"))


def test_interaction_usage_totals_of_an_interaction_without_usage_are_zero(agent):
    totals = selectors.interaction_usage_totals(outlet_id=agent.outlet_id, interaction_id="silent")
    assert totals == {
        "by_type": [],
        "overall": {"unit": None, "records": 0, "count": 0, "credits": 0, "cost_usd": 0, "latency_ms_avg": None},
    }
