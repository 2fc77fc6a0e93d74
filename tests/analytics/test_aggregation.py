"""The query layer equals an aggregation of the raw rows, with rollups built, partly built or not at all."""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.aggregation import aggregate, aggregate_series, largest
from analytics.facts import INTERACTIONS, USAGE
from analytics.models import LATENCY_COLUMNS, LATENCY_FLOORS_MS, DirtyBucket, UsageHourlyRollup
from analytics.scope import one_staleness
from analytics.services import rollup_dirty_buckets
from analytics.zones import day_windows, local_hour_start, midnight
from config.api.dates import DateRange
from credits.models import Outlet
from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.models import Interaction, UsageRecord
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
# Lord Howe moves its clocks 30 minutes on 2026-10-04, New York an hour on 2026-11-01: both inside the days.
FIRST_DAY = date(2026, 10, 3)
DAYS = 30
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
SPAN_START = datetime.combine(FIRST_DAY - timedelta(days=1), datetime.min.time(), tzinfo=UTC)  # records run a day
SPAN_SECONDS = (DAYS + 2) * 86400  # either side of the local days, so every zone's first and last day is whole
TYPES = (("CONVERSATION", "tokens", ("gpt-4o", "gpt-4o-mini")), ("TTS", "characters", ("tts-1",)), ("TELEPHONY", "seconds", ("pstn",)))


def make_records(rng: random.Random, agents, count: int, prefix: str) -> list[dict]:
    records = []
    for index in range(count):
        record_type, unit, models = rng.choice(TYPES)
        moment = SPAN_START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        records.append({
            "event_id": f"{prefix}-{index}", "agent_id": str(rng.choice(agents).pk), "type": record_type, "unit": unit,
            "model": rng.choice(models), "voice": rng.choice(("", "alloy", "nova")), "product": rng.choice(("a", "b")),
            "api_key_label": rng.choice(("k1", "k2")), "end_user_id": f"user-{rng.randrange(5)}",
            "count": rng.randrange(0, 5000), "credits": f"{rng.randrange(0, 10**7) / 10**6:.6f}",
            "cost_usd": f"{rng.randrange(0, 10**8) / 10**8:.8f}",
            "latency_ms": rng.choice((None, 0, rng.randrange(1, 200), rng.randrange(200, 200000))),
            "occurred_at": moment.isoformat(),
        })
    return records


@pytest.fixture
def dataset(db):
    """An outlet in each of ZONES with usage over DAYS days; rollups not built yet."""
    rng = random.Random(5)
    outlets = [OutletFactory(timezone=zone) for zone in ZONES]
    agents = {outlet.pk: [AgentFactory(outlet=outlet) for _ in range(3)] for outlet in outlets}
    for outlet in outlets:
        for batch in range(2):
            ingest_records(
                outlet=outlet, records=make_records(rng, agents[outlet.pk], 150, f"{outlet.pk}-{batch}"), actor=ACTOR
            )
    interactions = []
    for outlet in outlets:
        for index in range(40):
            started = SPAN_START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            interactions.append((outlet, {
                "interaction_id": f"call-{index}", "agent_id": str(rng.choice(agents[outlet.pk]).pk),
                "status": rng.choice(("in_progress", "completed", "failed")),
                "sentiment": rng.choice(("positive", "neutral", "negative", "unknown")),
                "started_at": started.isoformat(), "duration_seconds": rng.choice((5, 29.999, 30, 59, 61, 200, 300, 900)),
                "message_count": rng.randrange(20),
            }))
    for outlet in outlets:
        upsert_interactions(outlet=outlet, interactions=[item for owner, item in interactions if owner == outlet])
    return outlets


def unbuild(outlets) -> None:
    for fact in (USAGE, INTERACTIONS):
        for rollup in fact.rollups:
            rollup.model.objects.all().delete()
    marked_at = datetime.now(UTC)
    DirtyBucket.objects.bulk_create(
        [
            DirtyBucket(outlet=outlet, hour=SPAN_START + timedelta(hours=hour), marked_at=marked_at)
            for outlet in outlets
            for hour in range(SPAN_SECONDS // 3600)
        ],
        ignore_conflicts=True,
    )


def local_period(moment: datetime, zone: ZoneInfo, period: str, *, wall: bool) -> datetime:
    """What `aggregate` calls a moment's period: its local date at midnight UTC, its local hour's first
    instant, or over outlets of several zones its wall-clock hour."""
    if period == "day":
        return midnight(moment.astimezone(zone).date())
    if wall:
        return moment.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return local_hour_start(moment, zone)


def on_local_dates(rows, date_range: DateRange, time_field: str = "occurred_at") -> list:
    """The rows whose time falls on the range's dates in their outlet's zone."""
    zones = {outlet.pk: outlet.zone for outlet in Outlet.objects.all()}
    return [
        row for row in rows
        if date_range.start <= getattr(row, time_field).astimezone(zones[row.outlet_id]).date() <= date_range.end
    ]


def expected_usage(records, group_by, period, measures, *, wall=False):
    zones = {outlet.pk: outlet.zone for outlet in Outlet.objects.all()}
    totals = defaultdict(lambda: dict.fromkeys(measures, 0))
    for record in records:
        key = tuple(getattr(record, name) for name in group_by)
        if period:
            key += (local_period(record.occurred_at, zones[record.outlet_id], period, wall=wall),)
        total = totals[key]
        values = {
            "records": 1, "units": record.count, "credits": record.credits, "cost": record.cost_usd,
            "latency_sum": record.latency_ms or 0, "latency_count": record.latency_ms is not None,
            **{f"units_{unit}": record.count if record.unit == unit else 0 for unit in ("tokens", "characters", "seconds", "requests")},
        }
        for index, name in enumerate(LATENCY_COLUMNS):
            upper = LATENCY_FLOORS_MS[index + 1] if index + 1 < len(LATENCY_FLOORS_MS) else float("inf")
            values[name] = record.latency_ms is not None and LATENCY_FLOORS_MS[index] <= record.latency_ms < upper
        for name in measures:
            total[name] += values[name]
    return dict(totals)


def as_comparable(rows, group_by, period, measures):
    keys = [*group_by, "period"] if period else list(group_by)
    result = {}
    for row in rows:
        if not any(row[name] for name in measures):
            continue
        result[tuple(row[name] for name in keys)] = {
            name: Decimal(row[name]).quantize(Decimal("0.000001")) if isinstance(row[name], (Decimal, float)) else row[name]
            for name in measures
        }
    return result


def quantized(totals):
    return {
        key: {name: Decimal(value).quantize(Decimal("0.000001")) if isinstance(value, Decimal) else int(value) for name, value in row.items()}
        for key, row in totals.items()
        if any(row.values())
    }


UNIT_TOTALS = {f"units_{unit}" for unit in ("tokens", "characters", "seconds", "requests")}
# (group by, period, filters, units pivoted into UNIT_TOTALS)
QUESTIONS = [
    ((), None, {}, False),
    (("agent_id",), "day", {}, True),  # the per-agent totals rollup answers
    (("outlet_id",), None, {}, True),
    (("type",), "day", {}, False),
    (("model", "unit"), "hour", {}, False),
    (("type", "unit"), "hour", {}, False),  # one outlet's rows of the hourly type rollup are the groups
    (("type",), "hour", {}, True),  # units per unit sliced from a rollup keyed by unit
    (("agent_id",), None, {"type": ["TTS", "CONVERSATION"]}, False),
    (("voice",), "day", {"product": ["a"]}, False),
    (("voice",), "day", {}, True),
    (("end_user_id",), "day", {}, True),  # the per-end-user rollup answers
    (("end_user_id",), None, {}, False),  # units not pivoted: no rollup holds them by end user, raw only
]


def test_each_question_is_answered_by_the_coarsest_rollup_that_holds_it():
    def answering(dimensions, period, measures):
        rollup = USAGE.rollup_for(set(dimensions), period, set(measures))
        return rollup and rollup.model.__name__

    assert answering({"end_user_id"}, "day", {"credits", *UNIT_TOTALS}) == "UsageEndUserDailyRollup"
    assert answering({"end_user_id"}, "day", {"units"}) is None
    assert answering({"voice"}, "day", UNIT_TOTALS) == "UsageDimensionDailyRollup"
    assert answering({"type"}, "hour", UNIT_TOTALS) == "UsageHourlyTypeRollup"
    assert answering({"model"}, "hour", {"credits"}) == "UsageHourlyRollup"
    assert answering({"agent_id"}, "day", UNIT_TOTALS) == "UsageAgentTotalsDailyRollup"
    assert answering({"agent_id", "type"}, "day", UNIT_TOTALS) == "UsageAgentDailyRollup"
    assert answering({"type"}, "day", {"units_tokens", "latency_h07"}) == "UsageDailyRollup"
    assert answering({"type"}, "hour", {"latency_h07"}) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=st.sampled_from(QUESTIONS),
    start=st.integers(0, DAYS - 1),
    length=st.integers(1, DAYS),
    built=st.sampled_from(("none", "part", "all")),
    scope=st.sampled_from((*range(len(ZONES)), "all")),
    rebuild_seed=st.integers(0, 1000),
)
def test_usage_sums_equal_the_raw_aggregation_whatever_is_built(dataset, question, start, length, built, scope, rebuild_seed):
    group_by, period, filters, pivoted = question
    unbuild(dataset)  # examples share the database: start each from nothing built
    if built != "none":
        rollup_dirty_buckets()
    if built == "part":  # some days dirty again, as after late events
        rng = random.Random(rebuild_seed)
        for outlet in dataset:
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            DirtyBucket.objects.update_or_create(
                outlet=outlet, hour=datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=rng.randrange(24)),
                defaults={"marked_at": datetime.now(UTC)},
            )
    date_range = DateRange(FIRST_DAY + timedelta(days=start), FIRST_DAY + timedelta(days=min(start + length, DAYS) - 1))
    outlet_id = None if scope == "all" else dataset[scope].pk
    measures = {"records", "units", "credits", "cost", "latency_sum", "latency_count"}
    if pivoted:
        measures = measures - {"units"} | UNIT_TOTALS
    histogram = set()
    if period == "day":  # latency percentiles are asked over days: the daily rollup keeps the histogram
        measures |= set(LATENCY_COLUMNS)
        histogram = {"latency_histogram"}  # the same counts in one list, as the answers read them
    rows = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures | histogram, group_by=group_by,
        period=period, filters=filters,
    )
    for row in rows if histogram else ():
        assert row.pop("latency_histogram") == [row[name] for name in LATENCY_COLUMNS]
    raw = UsageRecord.objects.filter(**{f"{name}__in": values for name, values in filters.items()})
    if outlet_id:
        raw = raw.filter(outlet_id=outlet_id)
    wall = outlet_id is None  # the outlets are in several zones: hours add up by the wall clock
    expected = quantized(expected_usage(on_local_dates(raw, date_range), group_by, period, measures, wall=wall))
    assert as_comparable(rows, group_by, period, measures) == expected
    if period:  # the same sums as series, each period's at its slot
        periods = sorted({row["period"] for row in rows})
        series = aggregate_series(
            USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures, group_by=group_by, period=period,
            filters=filters, slot_of={moment: slot for slot, moment in enumerate(periods)}.__getitem__, width=len(periods),
        )
        placed = [
            {**dict(zip(group_by, key)), "period": moment, **{name: sums[name][slot] for name in measures}}
            for key, sums in series.items() for slot, moment in enumerate(periods)
        ]
        assert as_comparable(placed, group_by, period, measures) == expected


def test_series_sum_no_histogram():
    with pytest.raises(ValueError, match="no histogram"):
        aggregate_series(
            USAGE, outlet_id=None, date_range=DateRange(FIRST_DAY, FIRST_DAY), measures={"latency_histogram"},
            period="day", slot_of=lambda moment: 0, width=1,
        )


def test_one_outlets_rows_keyed_by_the_questions_groups_are_read_without_grouping_and_sum_to_the_raw_rows(dataset):
    rollup_dirty_buckets()
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))
    question = dict(measures={"records", "units", "credits"}, group_by=["type", "unit"], period="hour")
    with CaptureQueriesContext(connection) as queries:
        rows = aggregate(USAGE, outlet_id=dataset[0].pk, date_range=date_range, **question)
        aggregate(USAGE, outlet_id=None, date_range=date_range, **question)

    one, every = [query["sql"] for query in queries if "analytics_usagehourlytyperollup" in query["sql"]]
    assert "GROUP BY" not in one and "GROUP BY" in every  # every outlet's hours add up by wall-clock hour
    raw = on_local_dates(UsageRecord.objects.filter(outlet=dataset[0]), date_range)
    expected = quantized(expected_usage(raw, ["type", "unit"], "hour", question["measures"], wall=False))
    assert as_comparable(rows, ["type", "unit"], "hour", question["measures"]) == expected != {}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dimension=st.sampled_from(("end_user_id", "agent_id", "voice")),
    pivoted=st.booleans(),
    limit=st.integers(1, 8),
    start=st.integers(0, DAYS - 1),
    length=st.integers(1, DAYS),
    built=st.sampled_from(("none", "part", "all")),
    scope=st.sampled_from((*range(len(ZONES)), "all")),
)
def test_largest_ranks_the_raw_totals_whatever_is_built(dataset, dimension, pivoted, limit, start, length, built, scope):
    unbuild(dataset)
    if built != "none":
        rollup_dirty_buckets()
    if built == "part":  # the first outlet's middle day dirty again: its rows come from the raw table
        middle = datetime.combine(FIRST_DAY + timedelta(days=DAYS // 2), datetime.min.time(), tzinfo=UTC)
        DirtyBucket.objects.create(outlet=dataset[0], hour=middle, marked_at=datetime.now(UTC))
    date_range = DateRange(FIRST_DAY + timedelta(days=start), FIRST_DAY + timedelta(days=min(start + length, DAYS) - 1))
    outlet_id = None if scope == "all" else dataset[scope].pk
    measures = UNIT_TOTALS if pivoted else {"credits"}
    ranked, counts = largest(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures=measures, dimension=dimension, limit=limit,
        nonzero=pivoted,
    )
    raw = UsageRecord.objects.filter(outlet_id=outlet_id) if outlet_id else UsageRecord.objects.all()
    pairs = [
        (value, name, total)
        for (value,), row in expected_usage(on_local_dates(raw, date_range), [dimension], None, measures).items()
        for name, total in row.items()
        if total or not pivoted
    ]
    pairs.sort(key=lambda pair: (-pair[2], str(pair[0]), pair[1]))
    assert ranked == [(value, name) for value, name, _ in pairs[:limit]]
    assert counts == {name: sum(1 for pair in pairs if pair[1] == name) for name in measures}


@pytest.mark.parametrize("built", [False, True])
@pytest.mark.parametrize("group_by", [["status"], ["status", "agent_id"], ["status", "sentiment"]])
def test_interaction_sums_equal_the_raw_aggregation(dataset, built, group_by):
    if built:
        rollup_dirty_buckets()
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))
    measures = {"calls", "duration_sum", "messages", *(f"duration_h{index}" for index in range(5))}
    rows = aggregate(INTERACTIONS, outlet_id=None, date_range=date_range, measures=measures, group_by=group_by)
    by_status = defaultdict(lambda: defaultdict(int))
    for row in rows:
        for name in measures:
            by_status[row["status"]][name] += row[name]
    for status in ("in_progress", "completed", "failed"):
        calls = on_local_dates(Interaction.objects.filter(status=status), date_range, "started_at")
        durations = [call.duration_seconds for call in calls]
        assert by_status[status]["calls"] == len(durations)
        assert Decimal(by_status[status]["duration_sum"]).quantize(Decimal("0.001")) == sum(durations, Decimal(0))
        assert by_status[status]["messages"] == sum(call.message_count for call in calls)
        buckets = [sum(1 for value in durations if low <= value < high) for low, high in
                   ((0, 30), (30, 60), (60, 180), (180, 300), (300, 10**9))]
        assert [by_status[status][f"duration_h{index}"] for index in range(5)] == buckets


def test_a_build_clears_the_marks_and_fills_every_rollup(dataset):
    assert DirtyBucket.objects.exists()
    run = rollup_dirty_buckets()
    assert not DirtyBucket.objects.exists()
    assert run.outlets == len(ZONES) and run.days >= len(ZONES) * DAYS and run.finished
    assert UsageHourlyRollup.objects.exists()


def test_a_late_event_counts_before_and_after_the_next_build(dataset):
    outlet = dataset[0]
    rollup_dirty_buckets()
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))

    def records_total():
        return aggregate(USAGE, outlet_id=outlet.pk, date_range=date_range, measures={"records"})[0]["records"]

    before = records_total()
    agent = outlet.agents.first()
    late = {
        "event_id": "late-1", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
        "credits": "0", "cost_usd": "0", "occurred_at": datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC).replace(hour=3).isoformat(),
    }
    ingest_records(outlet=outlet, records=[late], actor=ACTOR)
    assert records_total() == before + 1  # via the tail: the day is dirty
    rollup_dirty_buckets()
    assert not DirtyBucket.objects.exists()
    assert records_total() == before + 1  # from the rebuilt rollup


def test_aggregates_of_one_answer_read_the_dirty_queue_once(dataset, django_assert_num_queries):
    rollup_dirty_buckets()
    outlet = dataset[0]
    DirtyBucket.objects.create(outlet=outlet, hour=datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC), marked_at=datetime.now(UTC))
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))

    def records_and_calls():
        usage = aggregate(USAGE, outlet_id=outlet.pk, date_range=date_range, measures={"records"})
        calls = aggregate(INTERACTIONS, outlet_id=outlet.pk, date_range=date_range, measures={"calls"})
        return usage[0]["records"], calls[0]["calls"]

    expected = (
        len(on_local_dates(UsageRecord.objects.filter(outlet=outlet), date_range)),
        len(on_local_dates(Interaction.objects.filter(outlet=outlet), date_range, "started_at")),
    )
    with django_assert_num_queries(6):  # per aggregate: the zones with the queue, the rollup, the stale day's raw rows
        assert records_and_calls() == expected
    with django_assert_num_queries(5), one_staleness(), one_staleness():  # nested: still one read of the queue
        assert records_and_calls() == expected


def test_an_interaction_changed_after_a_build_counts_at_once_and_after_the_next(dataset):
    outlet = dataset[0]
    rollup_dirty_buckets()
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1))

    def calls_by_status():
        rows = aggregate(INTERACTIONS, outlet_id=outlet.pk, date_range=date_range, measures={"calls"}, group_by=["status"])
        return {row["status"]: row["calls"] for row in rows if row["calls"]}

    inside = {"started_at__gte": midnight(FIRST_DAY), "started_at__lt": midnight(FIRST_DAY + timedelta(days=DAYS - 1))}
    moving = Interaction.objects.filter(outlet=outlet, status="in_progress", **inside).first()
    before = calls_by_status()
    later = moving.started_at + timedelta(days=1)  # still in the range
    upsert_interactions(
        outlet=outlet,
        interactions=[{"interaction_id": moving.interaction_id, "status": "completed", "started_at": later.isoformat()}],
    )
    expected = {**before, "in_progress": before["in_progress"] - 1, "completed": before.get("completed", 0) + 1}
    expected = {status: calls for status, calls in expected.items() if calls}
    assert calls_by_status() == expected
    rollup_dirty_buckets()
    assert calls_by_status() == expected


def test_a_mark_moved_on_during_a_build_stays_dirty(dataset, monkeypatch):
    from analytics import services

    outlet = dataset[0]
    real_insert = services._insert_rollup

    def insert_then_remark(*args):
        real_insert(*args)
        DirtyBucket.objects.filter(outlet_id=outlet.pk).update(marked_at=datetime.now(UTC) + timedelta(seconds=1))

    monkeypatch.setattr(services, "_insert_rollup", insert_then_remark)
    rollup_dirty_buckets()
    assert DirtyBucket.objects.filter(outlet=outlet).exists()


def test_rollups_summed_from_finer_rollups_equal_rollups_summed_from_raw_rows(dataset, monkeypatch):
    from analytics import services

    def stored():
        return {
            rollup.model.__name__: sorted(
                tuple(str(value) for value in row) for row in rollup.model.objects.values_list(*sorted(rollup.measures - {"id"}))
            )
            for fact in (USAGE, INTERACTIONS)
            for rollup in fact.rollups
        }

    with CaptureQueriesContext(connection) as queries:
        rollup_dirty_buckets()
    derived = stored()
    inserts = [
        query["sql"].split(" SELECT ", 1) for query in queries
        if query["sql"].startswith("INSERT INTO") and " SELECT " in query["sql"]
    ]
    assert any(
        "usageagenttotalsdailyrollup" in target and "usageagentdailyrollup" in select and "usage_usagerecord" not in select
        for target, select in inserts
    )
    unbuild(dataset)
    from_raw = services._insert_rollup
    monkeypatch.setattr(services, "_insert_rollup", lambda fact, rollup, zone, windows, built: from_raw(fact, rollup, zone, windows, []))
    rollup_dirty_buckets()
    assert stored() == derived


def test_day_windows_join_consecutive_days_per_outlet():
    a, b = OutletFactory.build().pk, OutletFactory.build().pk
    days = [(a, "UTC", date(2026, 1, 1)), (a, "UTC", date(2026, 1, 2)), (a, "UTC", date(2026, 1, 4))]
    days.append((b, "Asia/Kolkata", date(2026, 1, 2)))
    assert set(day_windows(days)) == {
        (a, "UTC", date(2026, 1, 1), date(2026, 1, 3)),
        (a, "UTC", date(2026, 1, 4), date(2026, 1, 5)),
        (b, "Asia/Kolkata", date(2026, 1, 2), date(2026, 1, 3)),
    }


def insert_caller_rollup_rows(outlet, *, callers: int, days: int) -> None:
    """A day's rollup row per caller; caller n has n credits a day."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_usageenduserdailyrollup (outlet_id, bucket, end_user_id, records, credits, cost, "
            "latency_sum, latency_count, units_tokens, units_characters, units_seconds, units_requests) "
            "SELECT %s, %s::timestamptz + make_interval(days => n / %s), 'user-' || n %% %s, 1, n %% %s, 0, 0, 0, "
            "0, 0, 0, 0 FROM generate_series(0, %s) AS n",
            [outlet.pk, midnight(FIRST_DAY), callers, callers, callers, callers * days - 1],
        )
        cursor.execute("VACUUM ANALYZE analytics_usageenduserdailyrollup")


def insert_hourly_rollup_rows(outlet, *, days: int) -> None:
    """A row an hour for each of four (type, model, unit) keys, each of one unit, and their sums per (type, unit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_usagehourlyrollup (outlet_id, bucket, type, model, unit, records, units, credits, "
            "cost, latency_sum, latency_count) "
            "SELECT %s, %s::timestamptz + make_interval(hours => n / 4), (ARRAY['CONVERSATION', 'TTS'])[n %% 2 + 1], "
            "'model-' || n %% 4, 'tokens', 1, 1, 0, 0, 0, 0 FROM generate_series(0, %s) AS n",
            [outlet.pk, midnight(FIRST_DAY), days * 24 * 4 - 1],
        )
        cursor.execute(
            "INSERT INTO analytics_usagehourlytyperollup (outlet_id, bucket, type, unit, records, units, credits, cost, "
            "latency_sum, latency_count) "
            "SELECT outlet_id, bucket, type, unit, SUM(records), SUM(units), 0, 0, 0, 0 FROM analytics_usagehourlyrollup "
            "WHERE outlet_id = %s GROUP BY outlet_id, bucket, type, unit",
            [outlet.pk],
        )
        cursor.execute("VACUUM ANALYZE analytics_usagehourlyrollup")
        cursor.execute("VACUUM ANALYZE analytics_usagehourlytyperollup")


def ranking_plan(queries) -> str:
    return statement_plan(queries, "WITH grouped")


def statement_plan(queries, beginning: str) -> str:
    """The plan of the one statement of `queries` that begins with `beginning`."""
    (statement,) = [query["sql"] for query in queries if query["sql"].startswith(beginning)]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {statement}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
def test_ranking_callers_sums_the_covering_index_in_caller_order_without_a_hash_table(transactional_db):
    insert_caller_rollup_rows(OutletFactory(), callers=2000, days=20)
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=19))
    with CaptureQueriesContext(connection) as queries:
        ranked, counts = largest(
            USAGE, outlet_id=None, date_range=date_range, measures={"credits"}, dimension="end_user_id", limit=3,
            nonzero=False,
        )
    assert counts == {"credits": 2000} and [value for value, _ in ranked] == ["user-1999", "user-1998", "user-1997"]
    plan = ranking_plan(queries)
    assert "Index Only Scan using usage_end_user_rollup_sums" in plan
    assert "HashAggregate" not in plan and "Sort Key: analytics_usageenduserdailyrollup" not in plan


@pytest.mark.postgres
def test_ranking_a_range_with_no_stale_day_groups_the_rollup_rows_once(transactional_db):
    outlet = OutletFactory()
    insert_caller_rollup_rows(outlet, callers=300, days=10)
    with CaptureQueriesContext(connection) as queries:
        ranked, counts = largest(
            USAGE, outlet_id=outlet.pk, date_range=DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=9)),
            measures={"credits"}, dimension="end_user_id", limit=2, nonzero=True,
        )
    assert counts == {"credits": 299} and [value for value, _ in ranked] == ["user-299", "user-298"]
    assert ranking_plan(queries).count("Aggregate") == 1  # the part's GROUP BY; nothing regroups its rows


@pytest.mark.postgres
def test_one_outlets_callers_are_ranked_from_its_covering_index(transactional_db):
    outlets = [OutletFactory() for _ in range(4)]
    for outlet in outlets:
        insert_caller_rollup_rows(outlet, callers=500, days=20)
    with CaptureQueriesContext(connection) as queries:
        ranked, counts = largest(
            USAGE, outlet_id=outlets[0].pk, date_range=DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=9)),
            measures={"credits"}, dimension="end_user_id", limit=2, nonzero=True,
        )
    assert counts == {"credits": 499} and [value for value, _ in ranked] == ["user-499", "user-498"]
    assert "Index Only Scan using usage_end_user_rollup_outlet" in ranking_plan(queries)


def one_outlets_hours_among_four(group_by: list[str]) -> tuple[list[dict], list]:
    """Ten days of `group_by`'s hourly units of the first of four outlets with hourly rollup rows, and its queries."""
    outlets = [OutletFactory(timezone="UTC") for _ in range(4)]
    for outlet in outlets:
        insert_hourly_rollup_rows(outlet, days=20)
    date_range = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=9), UTC)
    with CaptureQueriesContext(connection) as queries:
        rows = aggregate(
            USAGE, outlet_id=outlets[0].pk, date_range=date_range, measures={"units"}, group_by=group_by, period="hour",
        )
    return rows, queries


@pytest.mark.postgres
def test_one_outlets_hours_are_summed_from_its_covering_index(transactional_db):
    rows, queries = one_outlets_hours_among_four(["model"])
    assert len(rows) == 10 * 24 * 4 and {row["units"] for row in rows} == {1}
    plan = statement_plan(queries, 'SELECT "analytics_usagehourlyrollup"')
    assert "Index Only Scan using usage_hourly_rollup_outlet" in plan


@pytest.mark.postgres
def test_one_outlets_hours_by_type_are_read_from_its_covering_index_without_grouping(transactional_db):
    rows, queries = one_outlets_hours_among_four(["type", "unit"])
    assert len(rows) == 10 * 24 * 2 and {row["units"] for row in rows} == {2}  # two models of each type an hour
    plan = statement_plan(queries, 'SELECT "analytics_usagehourlytyperollup"')
    assert "Index Only Scan using usage_hourly_type_outlet" in plan and "Aggregate" not in plan
