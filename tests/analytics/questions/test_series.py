"""The usage series on hand-built records and calls."""

from datetime import UTC, datetime, time, timedelta

from analytics.questions.series import usage_series
from analytics.services import rollup_dirty_buckets
from tests.analytics.handbuilt import TODAY, at, call, ingest, record
from tests.factories import OutletFactory
from usage.services import upsert_interactions


def test_series_has_exactly_days_points_zero_filled(agent, today):
    ingest(
        agent.outlet,
        record(agent, "t1", at(TODAY - timedelta(days=5)), count=100),
        record(agent, "x1", at(TODAY - timedelta(days=5)), type="TTS", unit="characters", count=7777),  # not tokens
        record(agent, "t2", at(TODAY, 1), count=50),
        record(agent, "t3", at(TODAY, 2), count=25),
        record(agent, "old", at(TODAY - timedelta(days=7)), count=1),  # before the 7 days
    )
    upsert_interactions(outlet=agent.outlet, interactions=[
        call(agent, "a", at(TODAY - timedelta(days=5)), status="completed", duration=1, messages=3),
        call(agent, "b", at(TODAY - timedelta(days=5), 13), status="completed", duration=1, messages=4),
        call(agent, "old", at(TODAY - timedelta(days=7)), status="completed", duration=1, messages=9),
    ])
    series = usage_series(outlet_id=agent.outlet_id, days=7)
    midnights = [int(datetime.combine(TODAY - timedelta(days=6 - n), time.min, tzinfo=UTC).timestamp() * 1000) for n in range(7)]
    assert series["days"] == 7
    assert [stamp for stamp, _ in series["tokens"]] == midnights
    assert [total for _, total in series["tokens"]] == [0, 100, 0, 0, 0, 0, 75]
    assert [total for _, total in series["conversations"]] == [0, 2, 0, 0, 0, 0, 0]
    assert [total for _, total in series["messages"]] == [0, 7, 0, 0, 0, 0, 0]
    assert len(usage_series(outlet_id=agent.outlet_id, days=90)["tokens"]) == 90
    assert [total for _, total in usage_series(outlet_id=OutletFactory().pk, days=7)["tokens"]] == [0] * 7


def test_one_outlets_series_reads_its_zone_and_dirty_days_in_one_statement(agent, today, django_assert_num_queries):
    ingest(agent.outlet, record(agent, "built", at(TODAY - timedelta(days=2)), count=10))
    rollup_dirty_buckets()
    ingest(agent.outlet, record(agent, "fresh", at(TODAY), count=5))  # today is stale: read raw
    with django_assert_num_queries(5):  # the zone with the dirty days; per fact, the rollup and the stale day's rows
        series = usage_series(outlet_id=agent.outlet_id, days=7)
    assert [total for _, total in series["tokens"]] == [0, 0, 0, 0, 10, 0, 5]
