import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import OperationalError

from config.api.csv import csv_response, dict_csv_lines
from credits import services
from tests.factories import AgentFactory, OutletFactory
from usage.services import ingest_records

ACTOR = services.Actor.system("tests")


def failing_lines():
    raise OperationalError("canceling statement due to statement timeout")
    yield "never"


def test_a_csv_export_runs_its_query_before_the_answer_starts(staff_client):
    with mock.patch("config.api.views.queryset_csv_lines", return_value=failing_lines()):
        response = staff_client.get("/api/v1/usage/records/", {"format": "csv"})
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response["Retry-After"]


def test_the_first_chunk_is_streamed_with_the_rest():
    response = csv_response(iter(["a,b\r\n", "1,2\r\n"]), "export")
    assert b"".join(response.streaming_content) == b"a,b\r\n1,2\r\n"
    assert response["Content-Disposition"] == 'attachment; filename="export.csv"'


def test_a_blank_format_is_json_like_any_blank_parameter(staff_client):
    response = staff_client.get("/api/v1/usage/records/", {"format": ""})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


# Times in the outlet's zone: plain rows (usage records) and a serializer per row (the ledger) alike.

JANUARY, JULY = datetime(2026, 1, 15, 17, 0, tzinfo=UTC), datetime(2026, 7, 15, 16, 0, tzinfo=UTC)


def new_york_records(agent) -> None:
    records = [
        {"event_id": name, "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 1, "credits": "1",
         "cost_usd": "0.001", "model": "tts-1", "occurred_at": moment.isoformat()}
        for name, moment in (("winter", JANUARY), ("summer", JULY))
    ]
    ingest_records(outlet=agent.outlet, records=records, actor=ACTOR)


def new_york_ledger(agent) -> None:
    for moment in (JANUARY, JULY):
        services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="paid", effective_at=moment)


@pytest.mark.parametrize(
    ("path", "column", "make"),
    [("/api/v1/usage/records/", "occurred_at", new_york_records), ("/api/v1/credits/ledger/", "effective_at", new_york_ledger)],
)
def test_a_new_york_outlets_csv_writes_its_winter_and_summer_offsets(key_client, path, column, make):
    agent = AgentFactory(outlet=OutletFactory(timezone="America/New_York"))
    make(agent)
    response = key_client("read", for_outlet=agent.outlet).get(
        path, {"start_date": "2026-01-01", "end_date": "2026-12-31", "order": "asc", "format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[column] for row in rows] == ["2026-01-15T12:00:00-05:00", "2026-07-15T12:00:00-04:00"]


def test_rows_of_dicts_write_times_as_iso_8601_in_the_zone_given_else_utc():
    rows = [{"at": datetime(2026, 3, 7, 20, 0, tzinfo=UTC), "n": 1}]
    assert list(dict_csv_lines(rows, ["at", "n"])) == ["at,n\r\n", "2026-03-07T20:00:00Z,1\r\n"]
    kolkata = list(dict_csv_lines(rows, ["at", "n"], zone=ZoneInfo("Asia/Kolkata")))
    assert kolkata[1] == "2026-03-08T01:30:00+05:30,1\r\n"
