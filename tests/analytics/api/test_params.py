"""The analytics API's parameters: how each is read, refused and capped."""

from datetime import date, timedelta
from uuid import UUID

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from analytics.api.params import (
    FILTER_VALUE_MAX_LENGTH,
    SERIES_MAX_DAYS,
    SeriesQuery,
    SpendQuery,
    UsageQuery,
    range_caps,
    read_query,
)
from tests.analytics.api.conftest import HISTORY, MODELS, RANGE, REQUESTS, SERIES, SPEND, SUMMARY, USAGE


@pytest.mark.parametrize(
    ("path", "params", "field", "says"),
    [
        (SUMMARY, {"group_by": "TEAM"}, "group_by", "OUTLET, AGENT"),
        (USAGE, {"interval": "minute"}, "interval", "hour, day, week, month, year, cumulative"),
        (USAGE, {"metric": "dollars"}, "metric", "credits, units, cost, records"),
        (USAGE, {"breakdown": "country"}, "breakdown", "voice, product, api_key, user, agent, model, type"),
        (USAGE, {"limit": "0"}, "limit", "1 to 100"),
        (USAGE, {"limit": "101"}, "limit", "1 to 100"),
        (USAGE, {"limit": "ten"}, "limit", "1 to 100"),
        (USAGE, {"agent": "7,nope"}, "agent", "'7' is not a valid UUID"),
        (USAGE, {"interval": "hour", "from": "2026-01-01", "to": "2026-02-01"}, "from", "at most 31 days"),
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
    assert response.json()["errors"] == {"from": [f"The range may span at most {cap} days, not {cap + 1}."]}


@pytest.mark.parametrize(("path", "params"), [(SPEND, {}), (SUMMARY, {}), (HISTORY, {"interval": "month"})])
def test_a_thousand_years_is_a_400_not_a_long_answer(key_client, path, params):
    response = key_client("read").get(path, {"from": "2000-01-01", "to": "2999-12-31", **params})
    assert response.status_code == 400 and "at most" in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "given", "canonical"),
    [
        (SUMMARY, {"group_by": "agent"}, {"group_by": "AGENT"}),
        (USAGE, {"metric": "CREDITS", "interval": "Day", "breakdown": "Agent"}, {"metric": "credits", "interval": "day", "breakdown": "agent"}),
        (SPEND, {"status": "Completed"}, {"status": "completed"}),
        (HISTORY, {"interval": "WEEK"}, {"interval": "week"}),
    ],
)
def test_an_enum_parameter_in_any_case_answers_as_its_canonical_value(spend, client_a, path, given, canonical):
    response = client_a.get(path, {**RANGE, **given})
    assert response.status_code == 200, response.content
    assert response.json() == client_a.get(path, {**RANGE, **canonical}).json()


def test_a_blank_parameter_is_an_absent_one(spend, client_a):
    body = client_a.get(SPEND, {**RANGE, "status": "", "agent_id": ""}).json()
    assert body["total_calls"] == 6


def test_a_filters_values_may_be_repeated_or_comma_separated_and_come_back_sorted_once_each():
    question = read_query(UsageQuery, QueryDict("voice=b,a&voice=b, c&voice=&model="))
    assert question["voice"] == ["a", "b", "c"]
    assert question["model"] == []  # blank: absent


def test_agent_filters_are_uuids_sorted_once_each():
    first, second = UUID("7c3a1b5e-0000-4000-8000-000000000001"), UUID("7c3a1b5e-0000-4000-8000-000000000002")
    question = read_query(UsageQuery, QueryDict(f"agent={second},{first}&agent={second}"))
    assert question["agent"] == [first, second]


def test_a_filter_value_longer_than_the_column_is_refused():
    with pytest.raises(ValidationError) as refused:
        read_query(UsageQuery, QueryDict("voice=" + "x" * (FILTER_VALUE_MAX_LENGTH + 1)))
    assert refused.value.detail == {"voice": [f"A value may have at most {FILTER_VALUE_MAX_LENGTH} characters."]}
    assert read_query(UsageQuery, QueryDict("voice=" + "x" * FILTER_VALUE_MAX_LENGTH))["voice"]


def test_an_absent_parameter_takes_its_default():
    assert read_query(SeriesQuery, QueryDict()) == {"days": SERIES_MAX_DAYS}
    assert read_query(SpendQuery, QueryDict()) == {"agent_id": None, "status": None}


def test_each_query_is_read_afresh_though_its_serializer_is_kept():
    with pytest.raises(ValidationError):
        read_query(UsageQuery, QueryDict("limit=0&voice=a"))
    first = read_query(UsageQuery, QueryDict("voice=a"))
    first["model"].append("leaked")

    second = read_query(UsageQuery, QueryDict("limit=5"))

    assert (second["limit"], second["voice"], second["model"]) == (5, [], [])


def test_the_range_caps_are_told_in_the_help_text():
    assert range_caps(("hour", "day")) == "The range spans at most 31 days for hour, 366 days for day."
