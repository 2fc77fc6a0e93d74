"""Usage by breakdown on small hand-built data whose answers are written out here."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import analytics.questions.breakdown
from analytics.questions.breakdown import Breakdown, usage_breakdown
from analytics.services import rollup_dirty_buckets
from config.api.dates import DateRange
from tests.analytics.handbuilt import D1, D2, at, ingest, record


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
    return usage_breakdown(
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
    monkeypatch.setattr(analytics.questions.breakdown, "MANY_VALUED_BREAKDOWNS", frozenset({question["breakdown"]}))
    assert breakdown(voices, **question) == every_point
