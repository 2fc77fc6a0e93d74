"""The analytics selectors on small hand-built data whose answers are written out here."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import selectors
from analytics.models import DirtyBucket
from analytics.selectors import Breakdown, billing_period
from analytics.services import rollup_dirty_buckets
from config.api.dates import DateRange
from credits import services as credit_services
from credits.models import CreditAccount
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


# --- billing periods, series, snapshot -----------------------------------------------------------

@pytest.mark.parametrize(
    ("cycle_day", "today", "start", "end"),
    [
        (1, date(2026, 3, 15), date(2026, 3, 1), date(2026, 3, 31)),
        (1, date(2026, 2, 28), date(2026, 2, 1), date(2026, 2, 28)),
        (1, date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29)),
        (15, date(2026, 1, 14), date(2025, 12, 15), date(2026, 1, 14)),
        (15, date(2026, 1, 15), date(2026, 1, 15), date(2026, 2, 14)),
        (28, date(2026, 3, 28), date(2026, 3, 28), date(2026, 4, 27)),
        (28, date(2026, 3, 27), date(2026, 2, 28), date(2026, 3, 27)),
        (28, date(2026, 1, 31), date(2026, 1, 28), date(2026, 2, 27)),
        (28, date(2026, 2, 28), date(2026, 2, 28), date(2026, 3, 27)),
        (28, date(2026, 12, 30), date(2026, 12, 28), date(2027, 1, 27)),
        (28, date(2024, 2, 29), date(2024, 2, 28), date(2024, 3, 27)),
    ],
)
def test_billing_period_runs_from_the_cycle_day_to_the_day_before_the_next(cycle_day, today, start, end):
    outlet = OutletFactory.build(billing_cycle_day=cycle_day)
    assert billing_period(outlet, today) == DateRange(start, end)


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
    series = selectors.usage_series(outlet_id=agent.outlet_id, days=7)
    midnights = [int(datetime.combine(TODAY - timedelta(days=6 - n), time.min, tzinfo=UTC).timestamp() * 1000) for n in range(7)]
    assert series["days"] == 7
    assert [stamp for stamp, _ in series["tokens"]] == midnights
    assert [total for _, total in series["tokens"]] == [0, 100, 0, 0, 0, 0, 75]
    assert [total for _, total in series["conversations"]] == [0, 2, 0, 0, 0, 0, 0]
    assert [total for _, total in series["messages"]] == [0, 7, 0, 0, 0, 0, 0]
    assert len(selectors.usage_series(outlet_id=agent.outlet_id, days=90)["tokens"]) == 90
    assert [total for _, total in selectors.usage_series(outlet_id=OutletFactory().pk, days=7)["tokens"]] == [0] * 7


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
    snapshot = selectors.usage_snapshot(outlet=outlet)
    assert (snapshot["period_start"], snapshot["period_end"]) == (date(2026, 10, 10), date(2026, 11, 9))
    assert (snapshot["tokens"], snapshot["conversations"], snapshot["messages"], snapshot["records"]) == (40, 1, 5, 2)
    assert (snapshot["credits"], snapshot["cost"]) == (Decimal("2"), Decimal("0.75"))
    assert snapshot["units"] == {"tokens": 40, "characters": 300}


# --- the spend overview --------------------------------------------------------------------------

@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_spend_overview_adds_up_the_hand_built_calls_and_spend(spend, built):
    if built:
        rollup_dirty_buckets()
        assert not DirtyBucket.objects.exists()
    a1, a2 = spend["a1"].pk, spend["a2"].pk
    overview = selectors.spend_overview(outlet_id=spend["outlet"].pk, date_range=SPEND_RANGE)
    assert (overview["total_calls"], overview["completed_calls"], overview["in_progress_calls"]) == (6, 4, 1)
    assert overview["average_duration_seconds"] == 125  # 755 s / 6, rounded down
    assert overview["success_rate"] == pytest.approx(4 / 6)
    assert overview["telecom_costs"] == {"total_minutes": Decimal("8.5"), "cost_usd": Decimal("0.102")}  # 510 s
    assert overview["total_spent"] == Decimal("0.12184567")
    assert [(day["date"], day["calls"], round(day["minutes"], 4), day["cost"]) for day in overview["time_series"]] == [
        (D1, 3, Decimal("4.4167"), Decimal("0.01634567")),  # 265 s
        (D2, 3, Decimal("8.1667"), Decimal("0.1055")),  # 490 s
        (D3, 0, 0, 0),
    ]
    assert overview["status_distribution"] == {"in_progress": 1, "completed": 4, "failed": 1}
    assert overview["sentiment_distribution"] == {"positive": 3, "neutral": 1, "negative": 1, "unknown": 1}
    assert [(row["agent_id"], row["calls"], round(row["minutes"], 4), row["cost"]) for row in overview["agent_performance"]] == [
        (a1, 3, Decimal("7.75"), Decimal("0.09634567")),  # 465 s
        (a2, 3, Decimal("4.8333"), Decimal("0.0255")),  # 290 s
    ]
    assert overview["drop_off_points"] == [
        {"bucket": "<30s", "count": 2}, {"bucket": "30-60s", "count": 1}, {"bucket": "1-3m", "count": 1},
        {"bucket": "3-5m", "count": 1}, {"bucket": ">5m", "count": 1},
    ]
    assert overview["filters"] == {"from": D1, "to": D3, "agent_id": None, "status": None}


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_spend_overview_filters_calls_by_status_and_everything_by_agent(spend, built):
    if built:
        rollup_dirty_buckets()
    outlet_id = spend["outlet"].pk
    completed = selectors.spend_overview(outlet_id=outlet_id, date_range=SPEND_RANGE, status="completed")
    assert (completed["total_calls"], completed["completed_calls"], completed["success_rate"]) == (4, 4, 1)
    assert completed["status_distribution"] == {"in_progress": 0, "completed": 4, "failed": 0}
    assert completed["total_spent"] == Decimal("0.12184567")  # spend is not narrowed by the calls' status
    second = selectors.spend_overview(outlet_id=outlet_id, date_range=SPEND_RANGE, agent_id=spend["a2"].pk)
    assert (second["total_calls"], second["completed_calls"], second["average_duration_seconds"]) == (3, 1, 96)
    assert second["total_spent"] == Decimal("0.0255")
    assert second["telecom_costs"] == {"total_minutes": Decimal("1.5"), "cost_usd": Decimal("0.018")}
    assert [row["agent_id"] for row in second["agent_performance"]] == [spend["a2"].pk]


def test_spend_overview_without_calls_is_zero_not_an_error(db):
    overview = selectors.spend_overview(outlet_id=OutletFactory().pk, date_range=SPEND_RANGE)
    assert (overview["total_calls"], overview["average_duration_seconds"], overview["success_rate"]) == (0, 0, 0)
    assert len(overview["time_series"]) == 3 and overview["agent_performance"] == []


def test_spend_overview_for_every_outlet_adds_the_other_outlet(spend):
    overview = selectors.spend_overview(outlet_id=None, date_range=SPEND_RANGE)
    assert overview["total_calls"] == 7 and overview["total_spent"] == Decimal("9.12184567")


# --- summary, models, breakdown ------------------------------------------------------------------

def test_usage_summary_groups_by_outlet_or_agent(spend):
    outlet, a1, a2 = spend["outlet"], spend["a1"], spend["a2"]
    (only,) = selectors.usage_summary(outlet_id=outlet.pk, date_range=SPEND_RANGE, group_by="OUTLET")
    assert (only["outlet_id"], only["outlet_name"], only["records"]) == (outlet.pk, outlet.name, 5)
    assert only["units"] == {"tokens": 1000, "seconds": 510, "characters": 500}
    assert (only["credits"], only["cost"]) == (Decimal("2.7"), Decimal("0.12184567"))
    by_agent = selectors.usage_summary(outlet_id=outlet.pk, date_range=SPEND_RANGE, group_by="AGENT")
    assert [(row["agent_id"], row["agent_name"], row["records"], row["credits"]) for row in by_agent] == [
        (a1.pk, "first", 3, Decimal("1.7")), (a2.pk, "second", 2, Decimal("1.0")),
    ]
    assert len(selectors.usage_summary(outlet_id=None, date_range=SPEND_RANGE, group_by="OUTLET")) == 2


def test_model_usage_is_per_type_model_and_unit_with_latency(agent):
    ingest(
        agent.outlet,
        record(agent, "a", at(D1), model="gpt-4o", count=10, cost="0.3", latency_ms=100),
        record(agent, "b", at(D1), model="gpt-4o", count=20, cost="0.1", latency_ms=300),
        record(agent, "c", at(D1), type="TTS", unit="characters", model="tts-1", count=5, cost="0.5"),
    )
    items = selectors.model_usage(outlet_id=agent.outlet_id, date_range=SPEND_RANGE)
    assert [(item["type"], item["model"], item["calls"], item["units"], item["cost"]) for item in items] == [
        ("TTS", "tts-1", 1, 5, Decimal("0.5")), ("CONVERSATION", "gpt-4o", 2, 30, Decimal("0.4")),
    ]
    assert items[0]["latency"] == {"avg_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None}
    assert items[1]["latency"]["avg_ms"] == 200.0
    only_tts = selectors.model_usage(outlet_id=agent.outlet_id, date_range=SPEND_RANGE, model_type="TTS")
    assert [item["model"] for item in only_tts] == ["tts-1"]


@pytest.fixture
def voices(agent):
    ingest(
        agent.outlet,
        record(agent, "a1", at(D1, 10), voice="alloy", credits="3", count=100),
        record(agent, "a2", at(D2, 11), voice="alloy", credits="1"),
        record(agent, "n1", at(D1, 10), voice="nova", credits="2", type="TTS", unit="characters", count=500),
        record(agent, "e1", at(D2, 10), voice="echo", credits="0.5"),
        record(agent, "x1", at(D2, 10), credits="0.25"),  # no voice
    )
    return agent


def breakdown(agent, built=False, **question):
    question = {"metric": "credits", "breakdown": "voice", "interval": "day", "filters": {}, "limit": 10, **question}
    return selectors.usage_breakdown(
        outlet_id=agent.outlet_id, date_range=DateRange(D1, D2), question=Breakdown(**question)
    )


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_breakdown_keeps_the_largest_series_and_adds_the_rest_as_other(voices, built):
    if built:
        rollup_dirty_buckets()
    answer = breakdown(voices, limit=2)
    assert [(item["key"], item.get("other"), item["total"]) for item in answer["series"]] == [
        ("alloy", None, 4), ("nova", None, 2), (None, 2, Decimal("0.75")),
    ]
    assert answer["series"][0]["points"] == [[D1, 3], [D2, 1]]
    assert answer["series"][2]["points"] == [[D1, 0], [D2, Decimal("0.75")]]
    cumulative = breakdown(voices, interval="cumulative", filters={"voice": ["alloy"]})
    assert [(item["key"], item["points"]) for item in cumulative["series"]] == [("alloy", [[D1, 3], [D2, 4]])]
    assert breakdown(voices, interval="month", metric="records")["series"][0]["points"] == [[date(2026, 3, 1), 2]]


def test_breakdown_by_hour_has_24_points_a_day(voices):
    (alloy, *_) = breakdown(voices, interval="hour")["series"]
    assert len(alloy["points"]) == 48
    assert alloy["points"][10] == [datetime.combine(D1, time(10), tzinfo=UTC), 3]
    assert alloy["points"][24 + 11] == [datetime.combine(D2, time(11), tzinfo=UTC), 1]


def test_breakdown_of_units_is_per_unit_and_other_counts_its_own_unit(voices):
    answer = breakdown(voices, metric="units", breakdown="type", limit=1)
    assert [(item["key"], item.get("unit"), item.get("other"), item["total"]) for item in answer["series"]] == [
        ("TTS", "characters", None, 500), (None, "tokens", 1, 100),
    ]


# --- credit history ------------------------------------------------------------------------------

def test_credit_history_adds_consumption_ledger_changes_burn_and_runway(db):
    today = selectors.today_utc()
    outlet = OutletFactory()
    rich, spent, idle = (AgentFactory(outlet=outlet, name=name) for name in ("rich", "spent", "idle"))
    credit_services.credits_add(agent=rich, amount=Decimal("200"), actor=ACTOR, reason="top-up")
    ingest(
        outlet,
        record(rich, "recent", at(today - timedelta(days=3)), credits="6"),
        record(rich, "old", at(today - timedelta(days=40)), credits="99"),  # before the range and the 30-day burn
        record(spent, "spent", at(today - timedelta(days=1)), credits="3"),
    )
    credit_services.credits_set(agent=rich, amount=Decimal("50"), actor=ACTOR, reason="correction")  # -45
    credit_services.credits_add(agent=rich, amount=Decimal("10"), actor=ACTOR, reason="top-up")
    credit_services.credits_add(agent=idle, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    credit_services.credits_clear(agent=idle, actor=ACTOR, reason="closed")  # -5
    AgentFactory()  # another outlet's agent
    ledger_day = CreditAccount.objects.get(pk=rich.pk).entries.latest("id").created_at.date()

    history = selectors.credit_history(outlet_id=outlet.pk, date_range=DateRange(today - timedelta(days=29), today), interval="day")
    assert (history["balance"], history["average_daily_burn"]) == (Decimal("57"), Decimal("0.3"))  # 60 - 3; 9 / 30
    assert history["runway_days"] == Decimal("190")
    assert len(history["periods"]) == 30
    by_day = {period["period"]: period for period in history["periods"]}
    assert by_day[today - timedelta(days=3)]["consumed"] == Decimal("6")
    assert by_day[today - timedelta(days=1)]["consumed"] == Decimal("3")
    assert (by_day[ledger_day]["added"], by_day[ledger_day]["removed"]) == (Decimal("215"), Decimal("50"))
    agents = {row["agent_name"]: row for row in history["agents"]}
    assert [row["agent_name"] for row in history["agents"]] == ["spent", "rich", "idle"]  # runway 0, 300, none
    assert (agents["rich"]["balance"], agents["rich"]["average_daily_burn"], agents["rich"]["runway_days"]) == (
        Decimal("60"), Decimal("0.2"), Decimal("300"),
    )
    assert (agents["rich"]["consumed"], agents["rich"]["added"], agents["rich"]["removed"]) == (6, 210, 45)
    assert (agents["spent"]["balance"], agents["spent"]["runway_days"]) == (Decimal("-3"), 0)
    assert (agents["idle"]["balance"], agents["idle"]["runway_days"], agents["idle"]["removed"]) == (0, None, 5)

    idle_only = selectors.credit_history(
        outlet_id=outlet.pk, date_range=DateRange(today, today), interval="month", agent_id=idle.pk
    )
    assert (idle_only["balance"], idle_only["average_daily_burn"], idle_only["runway_days"]) == (0, 0, None)
    assert [row["agent_name"] for row in idle_only["agents"]] == ["idle"]
    assert idle_only["periods"] == [{"period": today.replace(day=1), "consumed": 0, "added": 5, "removed": 5}]


def test_credit_history_weeks_start_on_monday(db):
    history = selectors.credit_history(
        outlet_id=OutletFactory().pk, date_range=DateRange(date(2026, 3, 4), date(2026, 3, 17)), interval="week"
    )
    assert [period["period"] for period in history["periods"]] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert history["runway_days"] is None and history["agents"] == []


def test_breakdown_other_series_of_units_count_only_their_own_unit(agent):
    ingest(
        agent.outlet,
        record(agent, "alloy", at(D1), voice="alloy", count=100),
        record(agent, "nova", at(D1), voice="nova", type="TTS", unit="characters", count=50),
        record(agent, "echo", at(D1), voice="echo", count=10),
        record(agent, "fable", at(D1), voice="fable", type="TELEPHONY", unit="seconds", count=5),
    )
    answer = breakdown(agent, metric="units", limit=1)
    assert [(item["key"], item["unit"], item.get("other"), item["total"]) for item in answer["series"]] == [
        ("alloy", "tokens", None, 100), (None, "characters", 1, 50), (None, "seconds", 1, 5), (None, "tokens", 1, 10),
    ]


@pytest.fixture
def callers(agent):
    """Three end users: u1 with tokens and characters, u2 with tokens and a record of 0 seconds, u3 a little."""
    ingest(
        agent.outlet,
        record(agent, "u1-a", at(D1, 9), end_user_id="u1", credits="4", count=300),
        record(agent, "u1-b", at(D2, 9), end_user_id="u1", credits="1", type="TTS", unit="characters", count=80),
        record(agent, "u2-a", at(D1, 9), end_user_id="u2", credits="2", count=500),
        record(agent, "u2-b", at(D2, 9), end_user_id="u2", credits="0", type="TELEPHONY", unit="seconds", count=0),
        record(agent, "u3-a", at(D2, 9), end_user_id="u3", credits="0.5", count=20),
    )
    return agent


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_breakdown_by_user_ranks_callers_whether_or_not_the_rollup_is_built(callers, built):
    if built:
        rollup_dirty_buckets()
    credits = breakdown(callers, breakdown="user", limit=2)
    assert [(item["key"], item.get("other"), item["total"], item["points"]) for item in credits["series"]] == [
        ("u1", None, 5, [[D1, 4], [D2, 1]]), ("u2", None, 2, [[D1, 2], [D2, 0]]), (None, 1, Decimal("0.5"), [[D1, 0], [D2, Decimal("0.5")]]),
    ]
    units = breakdown(callers, breakdown="user", metric="units", limit=2)
    # A unit's series exists where it has units: u2's record of 0 seconds makes none.
    assert [(item["key"], item["unit"], item.get("other"), item["total"]) for item in units["series"]] == [
        ("u2", "tokens", None, 500), ("u1", "tokens", None, 300), (None, "characters", 1, 80), (None, "tokens", 1, 20),
    ]


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_breakdown_by_user_breaks_ties_by_the_users_characters(agent, built):
    """0.1 + 0.2 ties with 0.3 (SQLite sums decimals as floats), and "U2" sorts before "a" and "u10", as in Python."""
    ingest(
        agent.outlet,
        record(agent, "u10", at(D1), end_user_id="u10", credits="0.3"),
        record(agent, "a-1", at(D1), end_user_id="a", credits="0.1"),
        record(agent, "a-2", at(D2), end_user_id="a", credits="0.2"),
        record(agent, "U2", at(D2), end_user_id="U2", credits="0.3"),
        record(agent, "b", at(D2), end_user_id="b", credits="0.4"),
    )
    if built:
        rollup_dirty_buckets()
    answer = breakdown(agent, breakdown="user", limit=3)
    assert [(item["key"], item.get("other"), item["total"]) for item in answer["series"]] == [
        ("b", None, Decimal("0.4")), ("U2", None, Decimal("0.3")), ("a", None, Decimal("0.3")), (None, 1, Decimal("0.3")),
    ]


def test_breakdown_by_user_is_answered_from_the_end_user_rollup(callers):
    rollup_dirty_buckets()
    with CaptureQueriesContext(connection) as queries:
        breakdown(callers, breakdown="user", metric="units", limit=1)
    read = " ".join(query["sql"] for query in queries)
    assert "usageenduserdailyrollup" in read and "usage_usagerecord" not in read


@pytest.mark.parametrize("question", [
    {"breakdown": "voice", "limit": 2},
    {"breakdown": "type", "metric": "units", "limit": 1},
    {"breakdown": "voice", "metric": "units", "limit": 1, "interval": "cumulative"},
])
def test_ranking_on_totals_first_gives_the_same_answer_as_reading_every_point(voices, monkeypatch, question):
    every_point = breakdown(voices, **question)
    monkeypatch.setattr(selectors, "MANY_VALUED_BREAKDOWNS", frozenset({question["breakdown"]}))
    assert breakdown(voices, **question) == every_point
