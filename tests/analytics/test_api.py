"""The analytics endpoints: parameters, rendering, CSV, scoping and the answer cache."""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.services import rollup_dirty_buckets
from config.api import dates
from credits import services as credit_services
from tests.analytics.handbuilt import ACTOR, D1, TODAY, at, call, ingest, record
from tests.factories import AgentFactory, OutletFactory
from usage.services import upsert_interactions

SERIES = "/api/v1/usage/series/"
SNAPSHOT = "/api/v1/usage/snapshot/"
SUMMARY = "/api/v1/usage/summary/"
MODELS = "/api/v1/analytics/models/"
SPEND = "/api/v1/analytics/spend/"
USAGE = "/api/v1/analytics/usage/"
HISTORY = "/api/v1/credits/history/"
ENDPOINTS = (SERIES, SNAPSHOT, SUMMARY, MODELS, SPEND, USAGE, HISTORY)
RANGE = {"from": "2026-03-02", "to": "2026-03-04"}


@pytest.fixture
def client_a(spend, key_client):
    return key_client("read", for_outlet=spend["outlet"])


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def midnight_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


# --- the spend overview --------------------------------------------------------------------------

@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_spend_overview_renders_exactly_the_contracts_fields(spend, client_a, built):
    if built:
        rollup_dirty_buckets()
    a1, a2 = str(spend["a1"].pk), str(spend["a2"].pk)
    response = client_a.get(SPEND, RANGE)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "total_calls": 6,
        "completed_calls": 4,
        "in_progress_calls": 1,
        "average_duration_seconds": 125,
        "success_rate": 0.6667,
        "telecom_costs": {"total_minutes": "8.50", "cost_usd": "0.10200000"},
        "total_spent": "0.12184567",
        "time_series": [
            {"date": "2026-03-02", "calls": 3, "minutes": "4.42", "cost": "0.01634567"},
            {"date": "2026-03-03", "calls": 3, "minutes": "8.17", "cost": "0.10550000"},
            {"date": "2026-03-04", "calls": 0, "minutes": "0.00", "cost": "0.00000000"},
        ],
        "status_distribution": {"in_progress": 1, "completed": 4, "failed": 1},
        "sentiment_distribution": {"positive": 3, "neutral": 1, "negative": 1, "unknown": 1},
        "agent_performance": [
            {"agent_id": a1, "calls": 3, "minutes": "7.75", "cost": "0.09634567"},
            {"agent_id": a2, "calls": 3, "minutes": "4.83", "cost": "0.02550000"},
        ],
        "drop_off_points": [
            {"bucket": "<30s", "count": 2}, {"bucket": "30-60s", "count": 1}, {"bucket": "1-3m", "count": 1},
            {"bucket": "3-5m", "count": 1}, {"bucket": ">5m", "count": 1},
        ],
        "filters": {"from": "2026-03-02", "to": "2026-03-04", "agent_id": None, "status": None},
    }


def test_spend_overview_filters_echo_and_narrow(spend, client_a):
    a2 = str(spend["a2"].pk)
    body = client_a.get(SPEND, {**RANGE, "agent_id": a2, "status": "failed"}).json()
    assert body["filters"] == {"from": "2026-03-02", "to": "2026-03-04", "agent_id": a2, "status": "failed"}
    assert (body["total_calls"], body["success_rate"], body["total_spent"]) == (1, 0.0, "0.02550000")


def test_spend_overview_of_another_outlets_agent_is_a_404(spend, client_a):
    response = client_a.get(SPEND, {"agent_id": str(spend["stranger"].pk)})
    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Agent not found.", "errors": {}}


# --- bad parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "params", "field", "says"),
    [
        (SUMMARY, {"group_by": "TEAM"}, "group_by", "OUTLET, AGENT"),
        (SUMMARY, {"group_by": "outlet"}, "group_by", "OUTLET, AGENT"),
        (USAGE, {"interval": "minute"}, "interval", "hour, day, week, month, year, cumulative"),
        (USAGE, {"metric": "dollars"}, "metric", "credits, units, cost, records"),
        (USAGE, {"breakdown": "country"}, "breakdown", "voice, product, api_key, user, agent, model, type"),
        (USAGE, {"limit": "0"}, "limit", "1 to 100"),
        (USAGE, {"limit": "101"}, "limit", "1 to 100"),
        (USAGE, {"limit": "ten"}, "limit", "1 to 100"),
        (USAGE, {"agent": "7,nope"}, "agent", "'7' is not a valid UUID"),
        (USAGE, {"interval": "hour", "from": "2026-01-01", "to": "2026-02-01"}, "start_date", "at most 31 days"),
        (HISTORY, {"interval": "year"}, "interval", "day, week, month"),
        (HISTORY, {"agent_id": "12"}, "agent_id", "UUID"),
        (MODELS, {"model_type": "tts"}, "model_type", "upper-case"),
        (SPEND, {"status": "done"}, "status", "in_progress, completed, failed"),
        (SPEND, {"agent_id": "nope"}, "agent_id", "UUID"),
        (SPEND, {"from": "2026-13-01"}, "from", "YYYY-MM-DD"),
        (SPEND, {"start_date": "2026-03-05", "end_date": "2026-03-01"}, "start_date", "after end_date"),
        (SERIES, {"days": "0"}, "days", "1 to 90"),
        (SERIES, {"days": "91"}, "days", "1 to 90"),
        (SERIES, {"days": "a week"}, "days", "1 to 90"),
        (SUMMARY, {"format": "xml"}, "format", "'json' or 'csv'"),
    ],
)
def test_each_bad_parameter_is_a_json_400_naming_it(key_client, path, params, field, says):
    response = key_client("read").get(path, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and field in body["errors"]
    assert body["message"].startswith(f"{field}: ") and says in body["message"]


REQUESTS = "/api/v1/analytics/requests/"


@pytest.mark.parametrize(
    ("path", "params", "cap"),
    [
        (USAGE, {"interval": "hour"}, 31),
        (USAGE, {"interval": "day"}, 366),
        (USAGE, {"interval": "cumulative"}, 366),
        (USAGE, {"interval": "week"}, 1830),
        (USAGE, {"interval": "month"}, 1830),
        (USAGE, {"interval": "year"}, 3660),
        (HISTORY, {"interval": "day"}, 366),
        (HISTORY, {"interval": "month"}, 1830),
        (SPEND, {}, 366),
        (SUMMARY, {}, 1830),
        (MODELS, {}, 1830),
        (REQUESTS, {"interval": "hour"}, 31),
        (REQUESTS, {"interval": "month"}, 1830),
    ],
)
def test_every_range_is_capped_by_the_points_its_answer_can_have(key_client, path, params, cap):
    client, end = key_client("read"), date(2026, 3, 31)
    at_cap = {**params, "from": (end - timedelta(days=cap - 1)).isoformat(), "to": end.isoformat()}
    assert client.get(path, at_cap).status_code == 200
    response = client.get(path, {**at_cap, "from": (end - timedelta(days=cap)).isoformat()})
    assert response.status_code == 400
    assert response.json()["errors"] == {"start_date": [f"The range may span at most {cap} days, not {cap + 1}."]}


@pytest.mark.parametrize("path", [SPEND, SUMMARY, HISTORY])
def test_a_thousand_years_is_a_400_not_a_long_answer(key_client, path):
    response = key_client("read").get(path, {"from": "2000-01-01", "to": "2999-12-31", "interval": "month"})
    assert response.status_code == 400 and "at most" in response.json()["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_refuses_a_bad_outlet_id_or_scope(staff_client, key_client, api_client, path):
    assert staff_client.get(path, {"outlet_id": "x"}).status_code == 400
    assert staff_client.get(path, {"outlet_id": "7c3a1b5e-0000-4000-8000-000000000000"}).status_code == 404
    assert key_client("ingest").get(path).status_code == 403
    assert api_client.get(path).status_code == 401


def test_a_blank_parameter_is_an_absent_one(spend, client_a):
    body = client_a.get(SPEND, {**RANGE, "status": "", "agent_id": ""}).json()
    assert body["total_calls"] == 6


def test_snapshot_needs_an_outlet_for_staff(staff_client):
    response = staff_client.get(SNAPSHOT)
    assert response.status_code == 400 and "outlet_id" in response.json()["errors"]


# --- scoping -------------------------------------------------------------------------------------

def test_an_outlet_key_sees_only_its_outlet(spend, client_a, key_client):
    stranger = spend["stranger"]
    mine = client_a.get(SUMMARY, {**RANGE, "outlet_id": str(stranger.outlet_id)}).json()["items"]  # outlet_id ignored
    assert [item["outlet_id"] for item in mine] == [str(spend["outlet"].pk)]
    assert client_a.get(SPEND, RANGE).json()["total_calls"] == 6
    theirs = key_client("read", for_outlet=stranger.outlet)
    assert theirs.get(SPEND, RANGE).json()["total_spent"] == "9.00000000"
    assert theirs.get(MODELS, RANGE).json()["items"][0]["cost"] == "9.00000000"
    assert [row["agent_id"] for row in theirs.get(HISTORY, RANGE).json()["agents"]] == [str(stranger.pk)]
    assert [row["key"] for row in theirs.get(USAGE, {**RANGE, "breakdown": "agent"}).json()["series"]] == [str(stranger.pk)]


def test_staff_see_one_outlet_with_outlet_id_and_every_outlet_without(spend, staff_client):
    outlet = str(spend["outlet"].pk)
    one = staff_client.get(SUMMARY, {**RANGE, "outlet_id": outlet}).json()["items"]
    assert [item["outlet_id"] for item in one] == [outlet]
    every = staff_client.get(SUMMARY, RANGE).json()["items"]
    assert {item["outlet_id"] for item in every} == {outlet, str(spend["stranger"].outlet_id)}
    assert staff_client.get(SPEND, {**RANGE, "outlet_id": outlet}).json()["total_calls"] == 6
    assert staff_client.get(SPEND, RANGE).json()["total_calls"] == 7


# --- every endpoint's JSON and CSV ---------------------------------------------------------------

def test_series_points_are_midnight_ms_and_totals_zero_filled(agent, key_client, today):
    ingest(agent.outlet, record(agent, "t", at(TODAY - timedelta(days=1)), count=100))
    body = key_client("read").get(SERIES, {"days": 3}).json()
    days = [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]
    assert body == {
        "success": True,
        "days": 3,
        "tokens": [[midnight_ms(days[0]), 0], [midnight_ms(days[1]), 100], [midnight_ms(days[2]), 0]],
        "conversations": [[midnight_ms(day), 0] for day in days],
        "messages": [[midnight_ms(day), 0] for day in days],
    }
    assert len(key_client("read").get(SERIES).json()["tokens"]) == 90


def test_snapshot_follows_the_outlets_billing_cycle_day(key_client, today):
    outlet = OutletFactory(billing_cycle_day=10)
    agent = AgentFactory(outlet=outlet)
    ingest(outlet, record(agent, "t", at(TODAY), count=40, credits="1.5", cost="0.25"))
    body = key_client("read", for_outlet=outlet).get(SNAPSHOT).json()
    assert body == {
        "success": True, "outlet_id": str(outlet.pk), "period_start": "2026-10-10", "period_end": "2026-11-09",
        "tokens": 40, "conversations": 0, "messages": 0, "records": 1, "credits": "1.500000", "cost": "0.25000000",
        "units": {"tokens": "40.000"},
    }


def test_summary_by_agent_names_each_agent(spend, client_a):
    body = client_a.get(SUMMARY, {**RANGE, "group_by": "AGENT"}).json()
    assert (body["group_by"], body["from"], body["to"]) == ("AGENT", "2026-03-02", "2026-03-04")
    assert body["items"][0] == {
        "outlet_id": str(spend["outlet"].pk), "agent_id": str(spend["a1"].pk), "agent_name": "first",
        "external_id": spend["a1"].external_id, "records": 3,
        "units": {"tokens": "1000.000", "seconds": "420.000"}, "credits": "1.700000", "cost": "0.09634567",
    }


def test_models_render_latency_and_the_type_filter(spend, client_a):
    body = client_a.get(MODELS, {**RANGE, "model_type": "TTS"}).json()
    assert body == {
        "success": True, "from": "2026-03-02", "to": "2026-03-04", "model_type": "TTS",
        "items": [{
            "type": "TTS", "model": "", "unit": "characters", "calls": 1, "units": "500.000", "credits": "0.100000",
            "cost": "0.00750000", "latency": {"avg_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None},
        }],
    }


def test_usage_breakdown_renders_points_per_metric(spend, client_a):
    body = client_a.get(USAGE, {**RANGE, "breakdown": "agent", "metric": "records", "interval": "cumulative"}).json()
    assert (body["metric"], body["breakdown"], body["interval"]) == ("records", "agent", "cumulative")
    assert body["series"][0] == {
        "key": str(spend["a1"].pk), "total": 3,
        "points": [{"period": "2026-03-02", "value": 2}, {"period": "2026-03-03", "value": 3}, {"period": "2026-03-04", "value": 3}],
    }
    hourly = client_a.get(USAGE, {**RANGE, "interval": "hour", "metric": "units", "limit": 1, "type": "TELEPHONY,TTS"}).json()
    (telephony, other) = hourly["series"]
    assert (telephony["key"], telephony["unit"], telephony["total"]) == ("TELEPHONY", "seconds", "510.000")
    assert telephony["points"][9 + 24] == {"period": "2026-03-03T09:00:00Z", "value": "90.000"}
    assert (other["key"], other["unit"], other["other"], other["total"]) == (None, "characters", 1, "500.000")
    only = client_a.get(USAGE, {**RANGE, "agent": [str(spend["a2"].pk)], "type": "TTS"}).json()["series"]
    assert [(series["key"], series["total"]) for series in only] == [("TTS", "0.100000")]


def test_credit_history_renders_balances_and_runway(agent, key_client):
    credit_services.credits_add(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="top-up")
    ingest(agent.outlet, record(agent, "u", at(dates.today_utc() - timedelta(days=2)), credits="3"))
    body = key_client("read").get(HISTORY, {"interval": "week"}).json()
    assert (body["interval"], body["balance"], body["average_daily_burn"], body["runway_days"]) == (
        "week", "7.000000", "0.100000", "70.00",
    )
    assert body["agents"][0] | {"agent_id": None} == {
        "agent_id": None, "agent_name": agent.name, "outlet_id": str(agent.outlet_id), "balance": "7.000000",
        "average_daily_burn": "0.100000", "runway_days": "70.00", "consumed": "3.000000", "added": "10.000000",
        "removed": "0.000000",
    }
    assert all(date.fromisoformat(period["period"]).weekday() == 0 for period in body["periods"])


@pytest.mark.parametrize(
    ("path", "params", "header", "first_row"),
    [
        (SPEND, RANGE, ["date", "calls", "minutes", "cost"], ["2026-03-02", "3", "4.42", "0.01634567"]),
        (
            SUMMARY, RANGE,
            ["outlet_id", "outlet_name", "records", "credits", "cost", "units_tokens", "units_characters", "units_seconds", "units_requests"],
            ["{outlet}", "{outlet_name}", "5", "2.700000", "0.12184567", "1000.000", "500.000", "510.000", "0.000"],
        ),
        (
            SUMMARY, {**RANGE, "group_by": "AGENT"},
            ["agent_id", "agent_name", "external_id", "outlet_id", "records", "credits", "cost", "units_tokens",
             "units_characters", "units_seconds", "units_requests"],
            ["{a1}", "first", "{a1_external_id}", "{outlet}", "3", "1.700000", "0.09634567", "1000.000", "0.000", "420.000", "0.000"],
        ),
        (
            MODELS, RANGE,
            ["type", "model", "unit", "calls", "units", "credits", "cost", "latency_avg_ms", "latency_p50_ms",
             "latency_p95_ms", "latency_p99_ms"],
            ["TELEPHONY", "", "seconds", "3", "510.000", "1.100000", "0.10200000", "", "", "", ""],
        ),
        (USAGE, RANGE, ["key", "unit", "other", "period", "value"], ["CONVERSATION", "", "", "2026-03-02", "1.500000"]),
        (HISTORY, RANGE, ["period", "consumed", "added", "removed"], ["2026-03-02", "1.700000", "0.000000", "0.000000"]),
        (SERIES, {"days": 2}, ["date", "tokens", "conversations", "messages"], ["2026-10-14", "0", "0", "0"]),
        (
            SNAPSHOT, {},
            ["outlet_id", "period_start", "period_end", "tokens", "conversations", "messages", "records", "credits",
             "cost", "units_tokens", "units_characters", "units_seconds", "units_requests"],
            ["{outlet}", "2026-10-01", "2026-10-31", "0", "0", "0", "0", "0.000000", "0.00000000", "0.000", "0.000", "0.000", "0.000"],
        ),
    ],
)
def test_every_endpoint_answers_csv(spend, client_a, today, path, params, header, first_row):
    names = {
        "outlet": str(spend["outlet"].pk), "outlet_name": spend["outlet"].name, "a1": str(spend["a1"].pk),
        "a1_external_id": spend["a1"].external_id,
    }
    response = client_a.get(path, {**params, "format": "csv"})
    rows = csv_rows(response)
    assert rows[0] == header
    assert rows[1] == [cell.format(**names) for cell in first_row]
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert client_a.get(path, params).json()["success"] is True


# --- the answer cache ----------------------------------------------------------------------------

def test_a_repeated_question_is_answered_from_the_cache_until_the_outlets_usage_changes(
    spend, client_a, django_assert_num_queries, django_capture_on_commit_callbacks
):
    first = client_a.get(SPEND, RANGE).json()
    with django_assert_num_queries(1):  # the key's lookup: no aggregate runs
        assert client_a.get(SPEND, RANGE).json() == first
    with django_assert_num_queries(1):  # the CSV is cut from the same cached answer
        assert csv_rows(client_a.get(SPEND, {**RANGE, "format": "csv"}))[1][3] == "0.01634567"
    assert client_a.get(SPEND, {**RANGE, "status": "completed"}).json() != first  # another question

    stranger = spend["stranger"]
    with django_capture_on_commit_callbacks(execute=True):
        ingest(stranger.outlet, record(stranger, "elsewhere", at(D1), cost="5"))
    with django_assert_num_queries(1):  # another outlet's usage leaves this outlet's answers cached
        client_a.get(SPEND, RANGE)

    with django_capture_on_commit_callbacks(execute=True):
        ingest(spend["outlet"], record(spend["a1"], "late", at(D1), cost="1"))
    assert client_a.get(SPEND, RANGE).json()["total_spent"] == "1.12184567"


def test_a_new_call_drops_the_outlets_cached_answers(spend, client_a, django_capture_on_commit_callbacks):
    assert client_a.get(SPEND, RANGE).json()["total_calls"] == 6
    with django_capture_on_commit_callbacks(execute=True):
        upsert_interactions(
            outlet=spend["outlet"], interactions=[call(spend["a1"], "late", at(D1), status="completed", duration=10)]
        )
    assert client_a.get(SPEND, RANGE).json()["total_calls"] == 7


def test_every_outlets_answer_is_dropped_when_any_outlet_stores_usage(spend, staff_client, django_capture_on_commit_callbacks):
    assert staff_client.get(SPEND, RANGE).json()["total_spent"] == "9.12184567"
    stranger = spend["stranger"]
    with django_capture_on_commit_callbacks(execute=True):
        ingest(stranger.outlet, record(stranger, "more", at(D1), cost="1"))
    assert staff_client.get(SPEND, RANGE).json()["total_spent"] == "10.12184567"


def test_credit_history_is_not_served_stale_after_a_credit_change(agent, key_client):
    client = key_client("read")
    assert client.get(HISTORY).json()["balance"] == "0.000000"
    assert client.get(HISTORY).json()["balance"] == "0.000000"
    credit_services.credits_add(agent=agent, amount=Decimal("4"), actor=ACTOR, reason="top-up")  # no usage: same version
    assert client.get(HISTORY).json()["balance"] == "4.000000"


def test_without_a_cache_lifetime_every_request_computes(spend, client_a, settings):
    settings.ANALYTICS_CACHE_SECONDS = 0
    client_a.get(SPEND, RANGE)
    with CaptureQueriesContext(connection) as queries:
        client_a.get(SPEND, RANGE)
    assert len(queries) > 1


# --- the schema ----------------------------------------------------------------------------------

def test_schema_documents_every_analytics_endpoint_with_its_parameters(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ENDPOINTS:
        assert path in schema["paths"], path
    usage = {param["name"]: param for param in schema["paths"][USAGE]["get"]["parameters"]}
    assert usage["interval"]["schema"]["enum"] == ["hour", "day", "week", "month", "year", "cumulative"]
    assert {"metric", "breakdown", "limit", "voice", "agent", "from", "to", "format", "outlet_id"} <= set(usage)
    spend_fields = schema["components"]["schemas"]["SpendOverview"]["properties"]
    assert set(spend_fields) == {
        "success", "total_calls", "completed_calls", "in_progress_calls", "average_duration_seconds", "success_rate",
        "telecom_costs", "total_spent", "time_series", "status_distribution", "sentiment_distribution",
        "agent_performance", "drop_off_points", "filters",
    }
