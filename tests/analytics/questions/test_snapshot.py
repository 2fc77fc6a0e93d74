"""The usage snapshot on hand-built records and calls."""

from datetime import date
from decimal import Decimal

from analytics.questions.snapshot import usage_snapshot
from tests.analytics.handbuilt import TODAY, at, call, ingest, record
from tests.factories import AgentFactory, OutletFactory
from usage.services import upsert_interactions


def test_snapshot_totals_the_billing_period_so_far(db, today):
    outlet = OutletFactory(billing_cycle_day=10)  # today 2026-10-15: the period is 10-10 .. 11-09
    agent = AgentFactory(outlet=outlet)
    ingest(
        outlet,
        record(agent, "before", at(date(2026, 10, 9)), count=1, credits="100", cost="100"),
        record(agent, "first", at(date(2026, 10, 10), 0), count=40, credits="1.25", cost="0.5"),
        record(agent, "tts", at(TODAY), type="TTS", unit="characters", count=300, credits="0.75", cost="0.25"),
    )
    upsert_interactions(outlet=outlet, interactions=[call(agent, "c", at(date(2026, 10, 11)), status="completed", duration=3, messages=5)])
    snapshot = usage_snapshot(outlet=outlet)
    assert (snapshot["period_start"], snapshot["period_end"]) == (date(2026, 10, 10), date(2026, 11, 9))
    assert (snapshot["tokens"], snapshot["conversations"], snapshot["messages"], snapshot["records"]) == (40, 1, 5, 2)
    assert (snapshot["credits"], snapshot["cost"]) == (Decimal("2"), Decimal("0.75"))
    assert snapshot["units"] == {"tokens": 40, "characters": 300}
