"""The analytics endpoints: each one's JSON and CSV, its scope and its schema."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from analytics.services import rollup_dirty_buckets
from config.api import dates
from credits import services as credit_services
from tests.analytics.api.conftest import (
    ENDPOINTS,
    HISTORY,
    MODELS,
    RANGE,
    SERIES,
    SNAPSHOT,
    SPEND,
    SUMMARY,
    USAGE,
    csv_rows,
)
from tests.analytics.handbuilt import ACTOR, TODAY, at, ingest, record
from tests.factories import AgentFactory, OutletFactory


def midnight_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


# --- the spend overview ----------------------------------------------------------------------

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
    assert response.json() == {"success": False, "code": "not_found", "message": "Agent not found.", "errors": {}}


# --- scoping ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_refuses_a_bad_outlet_id_or_scope(staff_client, key_client, api_client, path):
    assert staff_client.get(path, {"outlet_id": "x"}).status_code == 400
    assert staff_client.get(path, {"outlet_id": "7c3a1b5e-0000-4000-8000-000000000000"}).status_code == 404
    assert key_client("ingest").get(path).status_code == 403
    assert api_client.get(path).status_code == 401


def test_snapshot_needs_an_outlet_for_staff(staff_client):
    response = staff_client.get(SNAPSHOT)
    assert response.status_code == 400 and "outlet_id" in response.json()["errors"]


def test_an_outlet_key_sees_only_its_outlet(spend, client_a, key_client):
    stranger = spend["stranger"]
    other = client_a.get(SUMMARY, {**RANGE, "outlet_id": str(stranger.outlet_id)})  # outlet_id is staff's
    assert other.status_code == 400 and list(other.json()["errors"]) == ["outlet_id"]
    mine = client_a.get(SUMMARY, RANGE).json()["items"]
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


# --- every endpoint's JSON and CSV -----------------------------------------------------------

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
        "removed": "0.000000", "expired": "0.000000", "voided": "0.000000",
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
        (
            HISTORY, RANGE, ["period", "consumed", "added", "removed", "expired", "voided"],
            ["2026-03-02", "1.700000", "0.000000", "0.000000", "0.000000", "0.000000"],
        ),
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


# --- the schema ------------------------------------------------------------------------------

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
