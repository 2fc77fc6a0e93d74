import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credits.models import CreditAccount, CreditLedgerEntry
from tests.factories import OutletFactory
from usage.models import Interaction, UsageRecord

RECORDS = "/api/v1/usage/records/"
INTERACTIONS = "/api/v1/interactions/"
WHEN = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


def record(agent, event_id: str, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 512,
        "credits": 0.1, "cost_usd": 0.0075, "voice": "nova", "occurred_at": WHEN.isoformat(), **fields,
    }


def post_json(client, path, body, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


# Ingest

def test_ingest_accepts_a_batch_and_reports_counts(agent, key_client):
    response = post_json(key_client("ingest"), RECORDS, {"records": [record(agent, "e1"), record(agent, "e2")]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["success"], body["accepted"], body["duplicates"], len(body["ids"])) == (True, 2, 0, 2)
    again = post_json(key_client("ingest"), RECORDS, {"records": [record(agent, "e1")]}).json()
    assert (again["accepted"], again["duplicates"], again["duplicate_event_ids"]) == (0, 1, ["e1"])


def test_ingest_accepts_a_bare_array(agent, key_client):
    assert post_json(key_client("ingest"), RECORDS, [record(agent, "e1")]).json()["accepted"] == 1


def test_json_fractions_are_parsed_exactly(agent, key_client):
    post_json(key_client("ingest"), RECORDS, [record(agent, "a", credits=0.1), record(agent, "b", credits=0.2)])
    assert CreditAccount.objects.get(pk=agent.pk).balance == Decimal("-0.3")


def test_a_bad_batch_is_a_400_naming_each_item_and_stores_nothing(agent, key_client):
    response = post_json(
        key_client("ingest"), RECORDS, {"records": [record(agent, "ok"), record(agent, "bad", count=-5), record(agent, "t", type="x")]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "2 of 3 records are invalid; nothing was stored."
    assert [(item["index"], item["event_id"], list(item["errors"])) for item in body["errors"]["records"]] == [
        (1, "bad", ["count"]), (2, "t", ["type"])
    ]
    assert not UsageRecord.objects.exists() and not CreditLedgerEntry.objects.exists()


def test_more_than_1000_records_is_a_413(agent, key_client):
    response = post_json(key_client("ingest"), RECORDS, {"records": [record(agent, f"e{index}") for index in range(1001)]})
    assert response.status_code == 413 and response.json()["success"] is False
    assert not UsageRecord.objects.exists()


def test_a_body_over_the_limit_is_a_413(agent, key_client, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = post_json(key_client("ingest"), RECORDS, {"records": [record(agent, f"e{index}") for index in range(20)]})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [{}, {"records": []}, {"records": "many"}, "text"])
def test_a_body_that_is_not_a_batch_is_a_400(key_client, body):
    response = post_json(key_client("ingest"), RECORDS, body)
    assert response.status_code == 400 and response.json()["message"]


def test_ingest_needs_the_ingest_scope(agent, key_client):
    response = post_json(key_client("read"), RECORDS, [record(agent, "e1")])
    assert response.status_code == 403 and "ingest" in response.json()["message"]


def test_a_key_cannot_ingest_for_another_outlets_agent(agent, key_client):
    response = post_json(key_client("ingest", for_outlet=OutletFactory()), RECORDS, [record(agent, "e1")])
    assert response.status_code == 400
    assert response.json()["errors"]["records"][0]["errors"] == {"agent_id": ["No such agent in this outlet."]}


def test_staff_ingest_names_the_outlet(agent, staff_client):
    assert post_json(staff_client, RECORDS, [record(agent, "e1")]).status_code == 400
    response = post_json(staff_client, f"{RECORDS}?outlet_id={agent.outlet_id}", [record(agent, "e1")])
    assert response.json()["accepted"] == 1
    assert CreditLedgerEntry.objects.get().actor_user is not None


# Interactions upsert

def test_interactions_upsert_creates_and_updates(agent, key_client):
    client = key_client("ingest")
    first = post_json(client, INTERACTIONS, {"interactions": [{"interaction_id": "c1", "agent_id": str(agent.pk), "started_at": WHEN.isoformat()}]})
    assert first.json() | {"success": True} == {"success": True, "created": 1, "updated": 0, "interaction_ids": ["c1"]}
    second = post_json(client, INTERACTIONS, [{"interaction_id": "c1", "status": "completed", "duration_seconds": 42.5}])
    assert (second.json()["created"], second.json()["updated"]) == (0, 1)
    assert Interaction.objects.get().duration_seconds == Decimal("42.5")


def test_interaction_status_moving_back_is_a_400(agent, key_client):
    client = key_client("ingest")
    post_json(client, INTERACTIONS, [{"interaction_id": "c1", "agent_id": str(agent.pk), "started_at": WHEN.isoformat(), "status": "completed"}])
    response = post_json(client, INTERACTIONS, [{"interaction_id": "c1", "status": "in_progress"}])
    assert response.status_code == 400
    assert "only moves forward" in response.json()["errors"]["interactions"][0]["errors"]["status"][0]


def test_more_than_1000_interactions_is_a_413(key_client):
    response = post_json(key_client("ingest"), INTERACTIONS, [{"interaction_id": f"c{index}"} for index in range(1001)])
    assert response.status_code == 413
