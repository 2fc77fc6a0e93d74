import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import psycopg
import pytest

from credits.models import CreditAccount, CreditLedgerEntry
from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.api import UsageRecordSerializer
from usage.models import Interaction, UsageRecord
from usage.services import ingest_records, upsert_interactions

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
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_json(key_client("ingest"), RECORDS, {"records": [record(agent, f"e{index}") for index in range(20)]})
    assert response.status_code == 413


def full_batch_body(agent, meta_bytes: int) -> str:
    """1000 records, each with `meta_bytes` of meta: the largest batch a platform sends."""
    meta = {"transcript": "x" * meta_bytes}
    return json.dumps({"records": [record(agent, f"e{index}", meta=meta) for index in range(1000)]})


def test_a_full_batch_just_under_the_body_limit_is_stored(agent, key_client, settings):
    body = full_batch_body(agent, 3000)
    assert 3_000_000 < len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # over Django's 2.5 MB default
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)
    response = key_client("ingest").post(RECORDS, data=body, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["accepted"] == 1000


def test_a_body_just_over_the_limit_is_a_json_413_and_stores_nothing(agent, key_client, settings):
    body = full_batch_body(agent, 3000)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1
    response = key_client("ingest").post(RECORDS, data=body, content_type="application/json")
    assert response.status_code == 413
    assert f"over {len(body) - 1} bytes" in response.json()["message"]
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"records": [{"meta": {"x": NaN}}]}', "NaN is not a JSON number"),
        ('{"records": [{"meta": {"x": Infinity}}]}', "Infinity is not a JSON number"),
        ('{"records": ' + "[" * 20_000 + "]" * 20_000 + "}", "nested too deeply"),
    ],
)
def test_a_body_python_or_postgresql_cannot_take_is_a_400(key_client, body, message):
    response = key_client("ingest").post(RECORDS, data=body, content_type="application/json")
    assert response.status_code == 400 and message in response.json()["message"]


def test_a_nul_in_a_record_is_a_400_naming_the_item_and_field(agent, key_client):
    response = post_json(key_client("ingest"), RECORDS, [record(agent, "e1"), record(agent, "e2", product="a\x00b")])
    assert response.status_code == 400
    [item] = response.json()["errors"]["records"]
    assert (item["index"], list(item["errors"])) == (1, ["product"])


def test_a_huge_number_in_meta_is_a_400_naming_meta(agent, key_client):
    body = json.dumps([record(agent, "e1", meta={"x": 1})]).replace('{"x": 1}', '{"x": 1e400}')
    response = key_client("ingest").post(RECORDS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["errors"]["records"][0]["errors"]) == ["meta"]


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


# Reading usage records

ACTOR = Actor.system("tests")
TODAY_NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
RECENT = TODAY_NOON - timedelta(days=1)  # inside the default 30 days, never in the future


def usage(agent, event_id: str, *, at: datetime = RECENT, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "CONVERSATION", "unit": "tokens", "count": 100,
        "credits": "1.5", "cost_usd": "0.002", "latency_ms": 420, "model": "gpt-4o", "occurred_at": at.isoformat(),
        **fields,
    }


def ingest(agent, *records: dict) -> list[int]:
    return ingest_records(outlet=agent.outlet, records=list(records), actor=ACTOR).ids


def items_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["items"]


def ids_of(response) -> list[int]:
    return [item["id"] for item in items_of(response)]


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def open_interactions(agent, *items: dict) -> None:
    defaults = {"agent_id": str(agent.pk), "started_at": RECENT.isoformat()}
    upsert_interactions(outlet=agent.outlet, interactions=[{**defaults, **item} for item in items])


def test_records_list_newest_first_in_the_envelope(agent, key_client):
    old, new = ingest(agent, usage(agent, "old", at=RECENT - timedelta(hours=1)), usage(agent, "new"))
    body = key_client("read").get(RECORDS).json()
    assert (body["success"], body["cursor"], [item["id"] for item in body["items"]]) == (True, None, [new, old])
    item = body["items"][0]
    assert item | {"id": None, "ingest_batch_id": None, "created_at": None, "updated_at": None} == {
        "id": None, "event_id": "new", "outlet_id": str(agent.outlet_id), "agent_id": str(agent.pk), "interaction_id": "",
        "type": "CONVERSATION", "model": "gpt-4o", "provider": "", "product": "", "voice": "", "api_key_label": "",
        "end_user_id": "", "count": "100.000", "unit": "tokens", "credits": "1.500000", "cost_usd": "0.00200000", "price_id": None, "hold_id": None,
        "latency_ms": 420, "conversation_id": "", "message_id": "", "task_id": "", "contact_id": "", "blueprint_id": "",
        "bot_id": "", "dataset_id": "", "skillset_id": "", "ability_id": "", "meta": {}, "ingest_batch_id": None,
        "occurred_at": RECENT.isoformat().replace("+00:00", "Z"), "created_at": None, "updated_at": None,
    }
    assert item["updated_at"] == item["created_at"]
    assert ids_of(key_client("read").get(RECORDS, {"order": "asc"})) == [old, new]


def walk(client, path: str, **params) -> list[dict]:
    """Every page of a list, calling `between_pages` after each one."""
    between_pages = params.pop("between_pages", lambda: None)
    seen, cursor = [], None
    while True:
        body = client.get(path, {**params, **({"cursor": cursor} if cursor else {})}).json()
        seen.extend(body["items"])
        cursor = body["cursor"]
        if cursor is None:
            return seen
        between_pages()


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_the_cursor_walks_every_record_once_while_new_records_arrive(agent, key_client, order):
    # Three records share each instant, so only the id tiebreak orders them.
    original = set(ingest(agent, *(usage(agent, f"e{n}", at=RECENT - timedelta(minutes=n // 3)) for n in range(23))))
    arrivals = {"newer": [], "older": []}

    def arrive():
        count = len(arrivals["newer"])
        newer_at, older_at = TODAY_NOON - timedelta(hours=12, seconds=-count), RECENT - timedelta(hours=3, seconds=count)
        arrivals["newer"] += ingest(agent, usage(agent, f"newer{count}", at=newer_at))
        arrivals["older"] += ingest(agent, usage(agent, f"older{count}", at=older_at))

    walked = walk(key_client("read"), RECORDS, order=order, take=5, between_pages=arrive)
    ids = [item["id"] for item in walked]
    assert len(ids) == len(set(ids)), "a record was served twice"
    assert original <= set(ids), "a record was skipped"
    keys = [(datetime.fromisoformat(item["occurred_at"]), item["id"]) for item in walked]
    assert keys == sorted(keys, reverse=order == "desc")
    # Records arriving ahead of the cursor are served; those behind it are not, and shift nothing.
    ahead, behind = ("older", "newer") if order == "desc" else ("newer", "older")
    assert set(arrivals[ahead]) <= set(ids) and not set(arrivals[behind]) & set(ids)


def test_a_tampered_or_foreign_cursor_is_a_400(agent, key_client):
    ingest(agent, *(usage(agent, f"e{index}") for index in range(3)))
    client = key_client("read")
    cursor = client.get(RECORDS, {"take": 1}).json()["cursor"]
    assert len(items_of(client.get(RECORDS, {"take": 1, "cursor": cursor}))) == 1
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for params in ({"cursor": tampered}, {"cursor": cursor, "order": "asc"}):
        response = client.get(RECORDS, {"take": 1, **params})
        assert response.status_code == 400 and response.json()["success"] is False
        assert "cursor" in response.json()["errors"]
    open_interactions(agent, {"interaction_id": "a"}, {"interaction_id": "b"})
    interaction_cursor = client.get(INTERACTIONS, {"take": 1}).json()["cursor"]
    response = client.get(RECORDS, {"cursor": interaction_cursor})
    assert response.status_code == 400 and response.json()["errors"]["cursor"] == ["This cursor belongs to another list."]


RECORD_FILTERS = [
    "type", "model", "interaction_id", "conversation_id", "message_id", "task_id", "contact_id", "blueprint_id",
    "bot_id", "dataset_id", "skillset_id", "ability_id",
]


@pytest.mark.parametrize("name", [*RECORD_FILTERS, "agent_id"])
def test_records_filter_by_exact_value(outlet, key_client, name):
    agent, other_agent = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    target, _ = ingest(
        agent,
        usage(agent, "target", **{field: ("TTS" if field == "type" else f"{field}-1") for field in RECORD_FILTERS}),
        usage(other_agent, "other", **{field: ("STT" if field == "type" else f"{field}-2") for field in RECORD_FILTERS}),
    )
    value = str(agent.pk) if name == "agent_id" else ("TTS" if name == "type" else f"{name}-1")
    assert ids_of(key_client("read").get(RECORDS, {name: value})) == [target]
    if name != "agent_id":
        assert ids_of(key_client("read").get(RECORDS, {name: value[:-1]})) == [], "not an exact match"


def test_records_filter_by_several_meta_pairs_at_once(agent, key_client):
    both, _, _, text_five, _ = ingest(
        agent,
        usage(agent, "both", meta={"channel": "web", "campaign": "spring"}),
        usage(agent, "web", meta={"channel": "web", "campaign": "fall"}),
        usage(agent, "spring", meta={"channel": "phone", "campaign": "spring"}),
        usage(agent, "text", meta={"tier": "5"}),
        usage(agent, "number", meta={"tier": 5}),
    )
    client = key_client("read")
    assert ids_of(client.get(f"{RECORDS}?meta[channel]=web&meta[campaign]=spring")) == [both]
    assert len(items_of(client.get(f"{RECORDS}?meta[channel]=web"))) == 2
    assert ids_of(client.get(f"{RECORDS}?meta[channel]=web&meta[campaign]=winter")) == []
    assert ids_of(client.get(f"{RECORDS}?meta[tier]=5")) == [text_five]
    assert ids_of(client.get(f"{RECORDS}?meta[campaign]=spring&type=TTS")) == []


@pytest.mark.postgres
def test_meta_pairs_become_one_containment_on_postgresql(agent, key_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    (both,) = ingest(agent, usage(agent, "both", meta={"channel": "web", "campaign": "spring"}))
    client = key_client("read")
    with CaptureQueriesContext(connection) as captured:
        assert ids_of(client.get(f"{RECORDS}?meta[channel]=web&meta[campaign]=spring")) == [both]
    (page_query,) = [query["sql"] for query in captured if 'FROM "usage_usagerecord"' in query["sql"]]
    where = page_query.split(" WHERE ", 1)[1]
    assert where.count("@>") == 1 and where.count('"usage_usagerecord"."meta"') == 1
    assert '"channel": "web"' in page_query and '"campaign": "spring"' in page_query


def test_records_date_range_defaults_to_30_days_and_is_end_inclusive(agent, key_client):
    three_days_ago, ten_days_ago, forty_days_ago = ingest(
        agent, *(usage(agent, f"d{days}", at=TODAY_NOON - timedelta(days=days)) for days in (3, 10, 40))
    )
    client = key_client("read")
    assert ids_of(client.get(RECORDS)) == [three_days_ago, ten_days_ago]
    day = (TODAY_NOON - timedelta(days=3)).date()
    assert ids_of(client.get(RECORDS, {"start_date": str(day), "end_date": str(day)})) == [three_days_ago]
    assert ids_of(client.get(RECORDS, {"from": str(day - timedelta(days=60)), "to": str(day - timedelta(days=1))})) == [
        ten_days_ago, forty_days_ago
    ]


# A Kolkata outlet (UTC+05:30): 20:00 UTC on the 7th is 01:30 on the 8th there, 20:00 UTC on the 8th is the 9th.
SEVENTH_EVENING = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)
EIGHTH_EVENING = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
THE_8TH = {"start_date": "2026-03-08", "end_date": "2026-03-08"}


@pytest.fixture
def kolkata(db):
    """A Kolkata outlet's two records, one on each side of its local 8 March's end, and ids newest first."""
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    early, late = ingest(agent, usage(agent, "early", at=SEVENTH_EVENING), usage(agent, "late", at=EIGHTH_EVENING))
    return {"outlet": agent.outlet, "early": early, "late": late}


def test_a_kolkata_keys_dates_are_its_outlets_local_dates(kolkata, key_client):
    client = key_client("read", for_outlet=kolkata["outlet"])
    assert ids_of(client.get(RECORDS, THE_8TH)) == [kolkata["early"]]
    assert ids_of(client.get(RECORDS, {"from": "2026-03-09", "to": "2026-03-09"})) == [kolkata["late"]]


def test_staff_dates_are_the_named_outlets_local_dates_else_utc_dates(kolkata, staff_client):
    assert ids_of(staff_client.get(RECORDS, {**THE_8TH, "outlet_id": str(kolkata["outlet"].pk)})) == [kolkata["early"]]
    assert ids_of(staff_client.get(RECORDS, THE_8TH)) == [kolkata["late"]]


def test_interactions_dates_are_the_outlets_local_dates_too(kolkata, key_client):
    agent = AgentFactory(outlet=kolkata["outlet"])
    upsert_interactions(outlet=agent.outlet, interactions=[
        {"interaction_id": "early", "agent_id": str(agent.pk), "started_at": SEVENTH_EVENING.isoformat()},
        {"interaction_id": "late", "agent_id": str(agent.pk), "started_at": EIGHTH_EVENING.isoformat()},
    ])
    items = items_of(key_client("read", for_outlet=agent.outlet).get(INTERACTIONS, THE_8TH))
    assert [item["interaction_id"] for item in items] == ["early"]


def test_a_record_by_id(agent, key_client):
    (record_id,) = ingest(agent, usage(agent, "e1", meta={"k": "v"}))
    client = key_client("read")
    response = client.get(f"{RECORDS}{record_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["record"] == items_of(client.get(RECORDS))[0]
    missing = client.get(f"{RECORDS}{record_id + 1000}/")
    assert missing.status_code == 404 and missing.json() == {"success": False, "code": "not_found", "message": "Usage record not found.", "errors": {}}


def test_another_outlets_records_and_interactions_are_invisible(agent, key_client):
    (record_id,) = ingest(agent, usage(agent, "e1", interaction_id="call-1"))
    open_interactions(agent, {"interaction_id": "call-1"})
    stranger = key_client("read", for_outlet=OutletFactory())
    for path in (f"{RECORDS}{record_id}/", f"{INTERACTIONS}call-1/"):
        response = stranger.get(path)
        assert response.status_code == 404 and response.json()["success"] is False, path
    assert items_of(stranger.get(RECORDS)) == []
    assert items_of(stranger.get(RECORDS, {"interaction_id": "call-1"})) == []
    assert items_of(stranger.get(RECORDS, {"agent_id": str(agent.pk)})) == []
    assert items_of(stranger.get(INTERACTIONS)) == []
    assert csv_rows(stranger.get(RECORDS, {"format": "csv"})) == []
    # The owner sees them, so the 404s above are the scope at work.
    assert ids_of(key_client("read").get(RECORDS, {"interaction_id": "call-1"})) == [record_id]
    assert key_client("read").get(f"{INTERACTIONS}call-1/").status_code == 200


def test_staff_read_every_outlet_or_the_one_they_name(agent, staff_client):
    stranger = AgentFactory()
    mine, = ingest(agent, usage(agent, "e1"))
    theirs, = ingest(stranger, usage(stranger, "e1"))
    assert sorted(ids_of(staff_client.get(RECORDS))) == sorted([mine, theirs])
    assert ids_of(staff_client.get(RECORDS, {"outlet_id": str(agent.outlet_id)})) == [mine]
    assert staff_client.get(f"{RECORDS}{theirs}/").json()["record"]["event_id"] == "e1"
    assert staff_client.get(f"{RECORDS}{theirs}/", {"outlet_id": str(agent.outlet_id)}).status_code == 404


def test_reading_needs_the_read_scope(agent, key_client):
    response = key_client("ingest").get(RECORDS)
    assert response.status_code == 403 and "read" in response.json()["message"]


# CSV

def test_records_csv_streams_every_matching_row_in_order(agent, key_client):
    ids = ingest(agent, *(usage(agent, f"e{index}", at=RECENT - timedelta(minutes=index)) for index in range(120)))
    ingest(agent, usage(agent, "tts", type="TTS"))
    client = key_client("read")
    response = client.get(RECORDS, {"format": "csv", "type": "CONVERSATION", "take": 5})
    rows = csv_rows(response)
    assert [int(row["id"]) for row in rows] == ids  # newest first, beyond one page, cursor and take ignored
    ascending = csv_rows(client.get(RECORDS, {"format": "csv", "type": "CONVERSATION", "order": "asc"}))
    assert [int(row["id"]) for row in ascending] == ids[::-1]


def test_records_csv_rows_carry_the_json_items_columns_and_values(agent, key_client):
    ingest(
        agent,
        usage(agent, "full", meta={"channel": "web", "n": 1}, interaction_id="call-1", cost_usd="0", latency_ms=None,
              at=RECENT.replace(microsecond=123456)),
        usage(agent, "plain", at=RECENT - timedelta(minutes=1)),
    )
    client = key_client("read")
    items = items_of(client.get(RECORDS))
    response = client.get(RECORDS, {"format": "csv"})
    rows = csv_rows(response)
    assert list(rows[0]) == list(items[0])
    expected = [
        {key: ("" if value is None else json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value))
         for key, value in item.items()}
        for item in items
    ]
    assert rows == expected
    assert (rows[0]["cost_usd"], rows[0]["latency_ms"], rows[0]["credits"]) == ("0.00000000", "", "1.500000")


def test_records_csv_reads_plain_rows_not_a_serializer_per_record(agent, key_client, monkeypatch):
    ingest(agent, *(usage(agent, f"e{index}") for index in range(3)))

    def refuse(self, instance):
        raise AssertionError("CSV export serialized a record")

    monkeypatch.setattr(UsageRecordSerializer, "to_representation", refuse)
    assert len(csv_rows(key_client("read").get(RECORDS, {"format": "csv"}))) == 3


def test_a_kolkata_keys_csv_writes_times_with_its_offset_while_its_json_stays_utc(kolkata, key_client):
    client = key_client("read", for_outlet=kolkata["outlet"])
    (row,) = csv_rows(client.get(RECORDS, {**THE_8TH, "format": "csv"}))
    assert row["occurred_at"] == "2026-03-08T01:30:00+05:30" and row["created_at"].endswith("+05:30")
    (item,) = items_of(client.get(RECORDS, THE_8TH))
    assert item["occurred_at"] == "2026-03-07T20:00:00Z" and item["created_at"].endswith("Z")


def test_staff_csv_is_in_the_named_outlets_zone_else_in_utc(kolkata, staff_client):
    both_days = {"start_date": "2026-03-07", "end_date": "2026-03-09", "format": "csv"}
    every_outlet = csv_rows(staff_client.get(RECORDS, both_days))
    assert [row["occurred_at"] for row in every_outlet] == ["2026-03-08T20:00:00Z", "2026-03-07T20:00:00Z"]
    one_outlet = csv_rows(staff_client.get(RECORDS, {**both_days, "outlet_id": str(kolkata["outlet"].pk)}))
    assert [row["occurred_at"] for row in one_outlet] == ["2026-03-09T01:30:00+05:30", "2026-03-08T01:30:00+05:30"]


# Interactions

def test_interactions_list_with_filters_and_cursor(outlet, key_client):
    agent, other_agent = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    open_interactions(
        agent,
        {"interaction_id": "c1", "status": "completed", "sentiment": "positive", "end_user_id": "u1",
         "started_at": (RECENT - timedelta(minutes=3)).isoformat(), "duration_seconds": "42.5"},
        {"interaction_id": "c2", "status": "failed", "sentiment": "negative",
         "started_at": (RECENT - timedelta(minutes=2)).isoformat()},
        {"interaction_id": "c3", "started_at": (RECENT - timedelta(minutes=1)).isoformat()},
        {"interaction_id": "old", "started_at": (TODAY_NOON - timedelta(days=45)).isoformat()},
        {"interaction_id": "c4", "agent_id": str(other_agent.pk)},
    )
    client = key_client("read")

    def names(**params) -> list[str]:
        return [item["interaction_id"] for item in items_of(client.get(INTERACTIONS, params))]

    assert names() == ["c4", "c3", "c2", "c1"]
    assert names(order="asc", take=2) == ["c1", "c2"]
    assert names(agent_id=str(other_agent.pk)) == ["c4"]
    assert names(status="completed") == ["c1"]
    assert names(status=["completed", "failed"]) == ["c2", "c1"]
    assert names(sentiment="negative") == ["c2"]
    assert names(end_user_id="u1") == ["c1"]
    old_day = str((TODAY_NOON - timedelta(days=45)).date())
    assert names(start_date=old_day, end_date=old_day) == ["old"]
    walked = walk(client, INTERACTIONS, take=1)
    assert [item["interaction_id"] for item in walked] == ["c4", "c3", "c2", "c1"]
    first = items_of(client.get(INTERACTIONS, {"end_user_id": "u1"}))[0]
    assert first | {"created_at": None, "updated_at": None} == {
        "interaction_id": "c1", "outlet_id": str(outlet.pk), "agent_id": str(agent.pk), "channel": "voice",
        "status": "completed", "started_at": (RECENT - timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "ended_at": None, "duration_seconds": "42.500", "sentiment": "positive", "end_user_id": "u1",
        "message_count": 0, "metadata": {}, "created_at": None, "updated_at": None,
    }


def test_interactions_csv_streams_every_matching_row(agent, key_client):
    open_interactions(
        agent, *({"interaction_id": f"c{n:03}", "started_at": (RECENT - timedelta(seconds=n)).isoformat()} for n in range(60))
    )
    rows = csv_rows(key_client("read").get(INTERACTIONS, {"format": "csv", "take": 5}))
    assert [row["interaction_id"] for row in rows] == [f"c{index:03}" for index in range(60)]


@pytest.mark.postgres  # SQLite keeps a column's largest values only as floats, too coarse to read back
def test_interaction_totals_past_one_records_digits_are_answered_in_full(agent, key_client):
    open_interactions(agent, {"interaction_id": "big"})
    largest = {"count": "99999999999999999.999", "cost_usd": "999999999999.99999999", "credits": "0"}
    ingest(agent, *(usage(agent, f"big-{index}", interaction_id="big", **largest) for index in range(2)))
    response = key_client("read").get(f"{INTERACTIONS}big/")
    assert response.status_code == 200, response.content
    overall = response.json()["totals"]["overall"]
    assert (overall["count"], overall["cost_usd"]) == ("199999999999999999.998", "1999999999999.99999998")


def test_interaction_drill_down_has_every_record_oldest_first_and_totals_by_type(agent, key_client):
    open_interactions(agent, {"interaction_id": "call/1", "status": "completed"})
    start = TODAY_NOON - timedelta(days=45)  # older than the lists' default range: the drill-down shows it all
    ids = ingest(
        agent,
        usage(agent, "c1", interaction_id="call/1", at=start, count=100, credits="1.5", cost_usd="0.002", latency_ms=400),
        usage(agent, "c2", interaction_id="call/1", at=start + timedelta(seconds=5), count=250, credits="0.25",
              cost_usd="0.0005", latency_ms=301),
        usage(agent, "t1", interaction_id="call/1", at=start + timedelta(seconds=9), type="TTS", unit="characters",
              count=512, credits="0.1", cost_usd="0.0075", latency_ms=None),
        usage(agent, "p1", interaction_id="call/1", at=start + timedelta(seconds=2), type="TELEPHONY", unit="seconds",
              count="60.5", credits="0.3", cost_usd="0.0125", latency_ms=150),
        usage(agent, "elsewhere", interaction_id="call-2", credits="9"),
    )
    stranger = AgentFactory()
    ingest(stranger, usage(stranger, "foreign", interaction_id="call/1", credits="7"))
    response = key_client("read").get(f"{INTERACTIONS}call/1/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert (body["interaction"]["interaction_id"], body["interaction"]["status"]) == ("call/1", "completed")
    c1, c2, t1, p1, _ = ids
    assert [record["id"] for record in body["records"]] == [c1, p1, c2, t1]
    assert body["totals"] == {
        "by_type": [
            {"type": "CONVERSATION", "unit": "tokens", "records": 2, "count": "350.000", "credits": "1.750000",
             "cost_usd": "0.00250000", "latency_ms_avg": 350.5},
            {"type": "TELEPHONY", "unit": "seconds", "records": 1, "count": "60.500", "credits": "0.300000",
             "cost_usd": "0.01250000", "latency_ms_avg": 150.0},
            {"type": "TTS", "unit": "characters", "records": 1, "count": "512.000", "credits": "0.100000",
             "cost_usd": "0.00750000", "latency_ms_avg": None},
        ],
        # Mixed units: no overall count. Latency (400 + 301 + 150) / 3 records that report one.
        "overall": {"unit": None, "records": 4, "count": None, "credits": "2.150000", "cost_usd": "0.02250000",
                    "latency_ms_avg": 283.7},
    }


def test_an_interaction_without_usage_has_zero_totals(agent, key_client):
    open_interactions(agent, {"interaction_id": "quiet"})
    body = key_client("read").get(f"{INTERACTIONS}quiet/").json()
    assert body["records"] == [] and body["totals"] == {
        "by_type": [],
        "overall": {"unit": None, "records": 0, "count": "0.000", "credits": "0.000000", "cost_usd": "0.00000000",
                    "latency_ms_avg": None},
    }


def test_an_unknown_interaction_is_a_json_404(db, key_client):
    response = key_client("read").get(f"{INTERACTIONS}nope/")
    assert response.status_code == 404
    assert response.json() == {"success": False, "code": "not_found", "message": "Interaction not found.", "errors": {}}


def test_staff_drill_down_names_the_outlet_when_two_share_an_interaction_id(agent, staff_client):
    stranger = AgentFactory()
    open_interactions(agent, {"interaction_id": "shared"})
    open_interactions(stranger, {"interaction_id": "shared"})
    ambiguous = staff_client.get(f"{INTERACTIONS}shared/")
    assert ambiguous.status_code == 400 and "outlet_id" in ambiguous.json()["errors"]
    chosen = staff_client.get(f"{INTERACTIONS}shared/", {"outlet_id": str(stranger.outlet_id)}).json()
    assert chosen["interaction"]["agent_id"] == str(stranger.pk)


# Bounded queries, bad parameters, schema

def test_lists_and_drill_down_run_a_bounded_number_of_queries(outlet, key_client, django_assert_max_num_queries):
    agents = AgentFactory.create_batch(3, outlet=outlet)
    for agent in agents:
        open_interactions(agent, *({"interaction_id": f"{agent.pk}-{index}"} for index in range(10)))
        ingest(agent, *(usage(agent, f"{agent.pk}-{index}", interaction_id=f"{agent.pk}-0") for index in range(10)))
    client = key_client("read")
    client.get(RECORDS)  # the key's last_used_at is written on first use
    with django_assert_max_num_queries(2):
        assert len(items_of(client.get(RECORDS))) == 30
    with django_assert_max_num_queries(2):
        assert len(items_of(client.get(INTERACTIONS))) == 30
    with django_assert_max_num_queries(4):
        assert len(client.get(f"{INTERACTIONS}{agents[0].pk}-0/").json()["records"]) == 10
    with django_assert_max_num_queries(2):
        assert len(csv_rows(client.get(RECORDS, {"format": "csv"}))) == 30


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        (RECORDS, "meta[]=x", "meta"),
        (RECORDS, "meta[a=x", "meta"),
        (RECORDS, "meta=x", "meta"),
        (RECORDS, "order=sideways", "order"),
        (RECORDS, "start_date=2026-02-30", "start_date"),
        (RECORDS, "from=2026-02-02&to=2026-02-01", "from"),
        (RECORDS, "agent_id=not-a-uuid", "agent_id"),
        (RECORDS, "take=0", "take"),
        (RECORDS, "format=xml", "format"),
        (INTERACTIONS, "status=paused", "status"),
        (INTERACTIONS, "sentiment=angry", "sentiment"),
        (INTERACTIONS, "agent_id=42", "agent_id"),
        (INTERACTIONS, "order=up", "order"),
        (INTERACTIONS, "to=yesterday", "to"),
        (INTERACTIONS, "cursor=garbage", "cursor"),
    ],
)
def test_bad_list_parameters_are_a_json_400_naming_the_parameter(db, key_client, path, query, field):
    response = key_client("read").get(f"{path}?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False and body["message"] and field in body["errors"]


def test_bad_meta_parameter_message_says_how_to_write_one(db, key_client):
    body = key_client("read").get(f"{RECORDS}?meta[]=x").json()
    assert body["message"] == "meta: 'meta[]' is not a meta filter: use meta[key]=value, e.g. meta[channel]=web."


def test_schema_documents_the_read_endpoints_and_the_meta_filter(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths[RECORDS]) and {"get", "post"} <= set(paths[INTERACTIONS])
    assert "get" in paths["/api/v1/usage/records/{id}/"] and "get" in paths["/api/v1/interactions/{interaction_id}/"]
    params = {param["name"]: param for param in paths[RECORDS]["get"]["parameters"]}
    assert {"type", "model", "agent_id", "interaction_id", "ability_id", "cursor", "order", "take", "format"} <= set(params)
    assert "meta[key]" not in params and params["meta"]["style"] == "deepObject"  # sent as meta[key]=value
    assert "strings" in params["meta"]["description"]
    interaction_params = {param["name"] for param in paths[INTERACTIONS]["get"]["parameters"]}
    assert {"agent_id", "status", "sentiment", "end_user_id", "start_date", "cursor"} <= interaction_params


def test_numbers_in_meta_and_metadata_stay_numbers(agent, key_client):
    client = key_client("ingest", "read")
    post_json(client, RECORDS, [record(agent, "m1", meta={"score": 0.5, "turns": 3, "tag": "a"})])
    assert UsageRecord.objects.get().meta == {"score": 0.5, "turns": 3, "tag": "a"}
    response = post_json(
        client, INTERACTIONS,
        [{"interaction_id": "c9", "agent_id": str(agent.pk), "started_at": WHEN.isoformat(), "metadata": {"csat": 4.5}}],
    )
    assert response.status_code == 200, response.content
    assert Interaction.objects.get().metadata == {"csat": 4.5}


@pytest.mark.postgres
def test_a_connection_lost_during_the_copy_is_a_json_503_and_stores_nothing(agent, key_client):
    lost = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    with mock.patch.object(psycopg.Cursor, "copy", side_effect=lost):
        response = post_json(key_client("ingest"), RECORDS, [record(agent, "e1")])
    assert response.status_code == 503 and response["Retry-After"]
    assert not UsageRecord.objects.exists()
