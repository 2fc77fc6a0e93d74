"""Usage summaries per outlet, agent and model on hand-built data."""

from datetime import timedelta
from decimal import Decimal

from analytics.questions.summary import model_usage, usage_summary, usage_totals
from tests.analytics.handbuilt import D1, SPEND_RANGE, at, ingest, record
from tests.factories import OutletFactory


def test_usage_summary_groups_by_outlet_or_agent(spend):
    outlet, a1, a2 = spend["outlet"], spend["a1"], spend["a2"]
    (only,) = usage_summary(outlet_id=outlet.pk, date_range=SPEND_RANGE, group_by="OUTLET")
    assert (only["outlet_id"], only["outlet_name"], only["records"]) == (outlet.pk, outlet.name, 5)
    assert only["units"] == {"tokens": 1000, "seconds": 510, "characters": 500}
    assert (only["credits"], only["cost"]) == (Decimal("2.7"), Decimal("0.12184567"))
    by_agent = usage_summary(outlet_id=outlet.pk, date_range=SPEND_RANGE, group_by="AGENT")
    assert [(row["agent_id"], row["agent_name"], row["records"], row["credits"]) for row in by_agent] == [
        (a1.pk, "first", 3, Decimal("1.7")), (a2.pk, "second", 2, Decimal("1.0")),
    ]
    assert len(usage_summary(outlet_id=None, date_range=SPEND_RANGE, group_by="OUTLET")) == 2


def test_model_usage_is_per_type_model_and_unit_with_latency(agent):
    ingest(
        agent.outlet,
        record(agent, "a", at(D1), model="gpt-4o", count=10, cost="0.3", latency_ms=100),
        record(agent, "b", at(D1), model="gpt-4o", count=20, cost="0.1", latency_ms=300),
        record(agent, "c", at(D1), type="TTS", unit="characters", model="tts-1", count=5, cost="0.5"),
    )
    items = model_usage(outlet_id=agent.outlet_id, date_range=SPEND_RANGE)
    assert [(item["type"], item["model"], item["calls"], item["units"], item["cost"]) for item in items] == [
        ("TTS", "tts-1", 1, 5, Decimal("0.5")), ("CONVERSATION", "gpt-4o", 2, 30, Decimal("0.4")),
    ]
    assert items[0]["latency"] == {"avg_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    assert items[1]["latency"]["avg_ms"] == 200.0
    only_tts = model_usage(outlet_id=agent.outlet_id, date_range=SPEND_RANGE, model_type="TTS")
    assert [item["model"] for item in only_tts] == ["tts-1"]


def test_usage_totals_add_up_the_range_and_the_latency_of_the_records_that_have_one(agent):
    ingest(
        agent.outlet,
        record(agent, "a", at(D1), credits="1.5", cost="0.25", latency_ms=100),
        record(agent, "b", at(D1), credits="0.5", cost="0.5", latency_ms=300),
        record(agent, "c", at(D1), credits="1", cost="0.25"),  # no latency
        record(agent, "later", at(D1 + timedelta(days=30)), credits="100", latency_ms=9000),
    )
    totals = usage_totals(outlet_id=agent.outlet_id, date_range=SPEND_RANGE)
    assert (totals["records"], totals["credits"], totals["cost"]) == (3, Decimal("3"), Decimal("1"))
    assert totals["avg_latency_ms"] == 200.0
    assert abs(totals["p95_latency_ms"] - 300) <= 0.13 * 300  # within the histogram's bucket of 300


def test_usage_totals_without_records_are_zero_and_no_latency(db):
    totals = usage_totals(outlet_id=OutletFactory().pk, date_range=SPEND_RANGE)
    assert totals == {"records": 0, "credits": 0, "cost": 0, "avg_latency_ms": None, "p95_latency_ms": None}
