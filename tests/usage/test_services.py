import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from analytics.checks import check_rollups
from analytics.models import DirtyBucket
from analytics.services import rollup_dirty_buckets
from config.errors import DomainError
from credits.models import CreditAccount, CreditLedgerEntry
from credits.services import Actor
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory, OutletFactory
from usage.models import Interaction, UsageRecord
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
HOUR = datetime(2026, 11, 20, 14, tzinfo=UTC)


def record(agent, event_id: str, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "CONVERSATION", "unit": "tokens", "count": 100,
        "credits": "1.5", "cost_usd": "0.002", "latency_ms": 420, "model": "gpt-4o",
        "occurred_at": (HOUR + timedelta(minutes=5)).isoformat(), **fields,
    }


def balance(agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def test_ingest_stores_each_record_and_debits_each_agent_once(outlet):
    first, second = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    batch = [record(first, "e1"), record(first, "e2", credits="2"), record(second, "e3", credits="0.25")]
    result = ingest_records(outlet=outlet, records=batch, actor=ACTOR)
    assert (result.accepted, result.duplicates, len(result.ids)) == (3, 0, 3)
    assert balance(first) == Decimal("-3.5") and balance(second) == Decimal("-0.25")
    debits = CreditLedgerEntry.objects.filter(ingest_batch_id=result.batch_id)
    assert sorted(debits.values_list("amount", flat=True)) == [Decimal("-3.5"), Decimal("-0.25")]
    stored = UsageRecord.objects.get(event_id="e2")
    assert (stored.credits, stored.count, stored.latency_ms, stored.ingest_batch_id) == (Decimal("2"), 100, 420, result.batch_id)


def test_each_agents_consumption_takes_effect_at_its_latest_stored_record(outlet, django_assert_max_num_queries):
    first, second = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    batch = [
        record(first, "e1", occurred_at="2026-11-20T14:05:00Z"),
        record(first, "e2", occurred_at="2026-11-20T16:30:00+01:00"),
        record(second, "e3", occurred_at="2026-11-19T08:00:00Z"),
    ]
    ingest_records(outlet=outlet, records=batch, actor=ACTOR)
    with django_assert_max_num_queries(30):  # as many for a batch of three as for one of hundreds: no query per record
        ingest_records(outlet=outlet, records=[record(first, f"n{index}") for index in range(300)], actor=ACTOR)

    consumed = CreditLedgerEntry.objects.filter(kind="CONSUME").values_list("account_id", "effective_at")
    assert sorted(consumed, key=lambda row: row[1]) == [
        (second.pk, datetime(2026, 11, 19, 8, tzinfo=UTC)),
        (first.pk, HOUR + timedelta(minutes=5)),
        (first.pk, datetime(2026, 11, 20, 15, 30, tzinfo=UTC)),
    ]


def test_the_same_batch_twice_stores_and_debits_once(agent):
    batch = [record(agent, f"e{index}") for index in range(5)]
    ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    again = ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    assert (again.accepted, again.duplicates, again.duplicate_event_ids) == (0, 5, [f"e{index}" for index in range(5)])
    assert UsageRecord.objects.count() == 5
    assert balance(agent) == Decimal("-7.5")
    assert CreditLedgerEntry.objects.filter(kind="CONSUME").count() == 1


def test_a_repeated_event_within_a_batch_is_stored_once(agent):
    result = ingest_records(outlet=agent.outlet, records=[record(agent, "e1"), record(agent, "e1", credits="9")], actor=ACTOR)
    assert (result.accepted, result.duplicates, result.duplicate_event_ids) == (1, 1, ["e1"])
    assert balance(agent) == Decimal("-1.5")


def test_event_ids_are_unique_per_outlet_not_globally(agent):
    elsewhere = AgentFactory()
    ingest_records(outlet=agent.outlet, records=[record(agent, "shared")], actor=ACTOR)
    assert ingest_records(outlet=elsewhere.outlet, records=[record(elsewhere, "shared")], actor=ACTOR).accepted == 1


def test_agents_may_be_named_by_external_id(agent):
    batch = [{**record(agent, "e1"), "agent_id": None, "agent_external_id": agent.external_id}]
    assert ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR).accepted == 1
    assert UsageRecord.objects.get().agent_id == agent.pk


def test_a_bad_batch_stores_nothing_debits_nothing_and_names_each_bad_item(agent):
    stranger = AgentFactory()
    batch = [
        record(agent, "good"),
        record(agent, "neg", credits="-1"),
        record(agent, "type", type="tts"),
        record(stranger, "foreign"),
        record(agent, "future", occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
        record(agent, "naive", occurred_at="2026-11-20T10:00:00"),
        record(agent, "meta", meta={"blob": "x" * 9000}),
        {**record(agent, "extra"), "colour": "blue"},
        record(agent, "places", credits="0.0000001"),
        "not an object",
    ]
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    items = raised.value.errors["records"]
    assert [item["index"] for item in items] == list(range(1, 10))
    fields = {item["event_id"]: set(item["errors"]) for item in items if item["event_id"]}
    assert fields == {
        "neg": {"credits"}, "type": {"type"}, "foreign": {"agent_id"}, "future": {"occurred_at"},
        "naive": {"occurred_at"}, "meta": {"meta"}, "extra": {"record"}, "places": {"credits"},
    }
    assert "9 of 10 records are invalid" in raised.value.message
    assert not UsageRecord.objects.exists() and not CreditLedgerEntry.objects.exists()
    assert not DirtyBucket.objects.exists()


@pytest.mark.parametrize("unit", [["tokens"], {"tokens": 1}])
def test_a_unit_that_is_a_list_or_an_object_is_its_items_error(agent, unit):
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[record(agent, "e1", unit=unit)], actor=ACTOR)
    [item] = raised.value.errors["records"]
    assert set(item["errors"]) == {"unit"}


def test_one_item_with_several_problems_is_reported_once(outlet):
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=outlet, records=[{"event_id": "x", "agent_external_id": "nobody", "unit": "tokens"}], actor=ACTOR)
    [item] = raised.value.errors["records"]
    assert set(item["errors"]) == {"type", "occurred_at", "agent_id"}


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_id": NUL}, "event_id"),
        ({"model": NUL}, "model"),
        ({"voice": NUL}, "voice"),
        ({"conversation_id": NUL}, "conversation_id"),
        ({"meta": {"note": NUL}}, "meta"),
        ({"meta": {NUL: 1}}, "meta"),
        ({"meta": {"deep": [{"list": [NUL]}]}}, "meta"),
        ({"meta": {"x": Decimal("NaN")}}, "meta"),
        ({"meta": {"x": float("inf")}}, "meta"),
        ({"meta": {"x": Decimal("1e400")}}, "meta"),
        ({"meta": {"x": 1e400 * 0}}, "meta"),
    ],
)
def test_what_postgresql_cannot_store_is_an_item_error_naming_the_field(agent, fields, field):
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[record(agent, "ok"), {**record(agent, "bad"), **fields}], actor=ACTOR)
    [item] = raised.value.errors["records"]
    assert item["index"] == 1 and list(item["errors"]) == [field]
    assert not UsageRecord.objects.exists()


def test_an_agent_external_id_holding_a_nul_is_an_item_error(agent):
    batch = [{**record(agent, "e1"), "agent_id": None, "agent_external_id": NUL}]
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    assert list(raised.value.errors["records"][0]["errors"]) == ["agent_id"]


def test_meta_nested_deeper_than_the_encoder_goes_is_an_item_error(agent):
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[record(agent, "e1", meta={"d": deep})], actor=ACTOR)
    assert raised.value.errors["records"][0]["errors"] == {"meta": ["Is nested too deeply."]}


def test_meta_holding_the_text_backslash_u0000_is_stored_as_text(agent):
    ingest_records(outlet=agent.outlet, records=[record(agent, "e1", meta={"path": "C:\\u0000"})], actor=ACTOR)
    assert UsageRecord.objects.get().meta == {"path": "C:\\u0000"}


def test_a_batch_that_would_take_a_balance_past_the_ledgers_limit_stores_nothing(agent):
    ingest_records(outlet=agent.outlet, records=[record(agent, "e0", credits="99999999999990")], actor=ACTOR)
    batch = [record(agent, "e1", credits="5"), record(AgentFactory(outlet=agent.outlet), "e2"), record(agent, "e3", credits="5")]
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    assert [item["index"] for item in raised.value.errors["records"]] == [0, 2]
    assert "14 digits" in raised.value.errors["records"][0]["errors"]["credits"][0]
    assert UsageRecord.objects.count() == 1 and balance(agent) == Decimal("-99999999999990")


def test_ingest_marks_each_touched_hour_dirty_once(agent):
    batch = [
        record(agent, "a", occurred_at=(HOUR + timedelta(minutes=1)).isoformat()),
        record(agent, "b", occurred_at=(HOUR + timedelta(minutes=59)).isoformat()),
        record(agent, "c", occurred_at=(HOUR + timedelta(hours=3, minutes=2)).isoformat()),
    ]
    ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    hours = sorted(DirtyBucket.objects.filter(outlet=agent.outlet).values_list("hour", flat=True))
    assert hours == [HOUR, HOUR + timedelta(hours=3)]


def test_a_batch_of_only_duplicates_marks_nothing_and_debits_nothing(agent):
    ingest_records(outlet=agent.outlet, records=[record(agent, "a")], actor=ACTOR)
    DirtyBucket.objects.all().delete()
    ingest_records(outlet=agent.outlet, records=[record(agent, "a")], actor=ACTOR)
    assert not DirtyBucket.objects.exists()
    assert CreditLedgerEntry.objects.count() == 1


def test_decimal_values_are_stored_exactly(agent):
    ingest_records(
        outlet=agent.outlet, records=[record(agent, "a", credits=Decimal("0.1")), record(agent, "b", credits=Decimal("0.2"))], actor=ACTOR
    )
    assert balance(agent) == Decimal("-0.3")


def test_usage_records_refuse_change_and_delete_in_the_model(agent):
    ingest_records(outlet=agent.outlet, records=[record(agent, "a")], actor=ACTOR)
    stored = UsageRecord.objects.get()
    stored.credits = Decimal("0")
    with pytest.raises(TypeError):
        stored.save()
    with pytest.raises(TypeError):
        stored.delete()
    with pytest.raises(TypeError):
        UsageRecord.objects.update(credits=0)
    with pytest.raises(TypeError):
        UsageRecord.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    ["UPDATE usage_usagerecord SET credits = 0", "DELETE FROM usage_usagerecord", "TRUNCATE usage_usagerecord"],
)
def test_database_refuses_raw_update_delete_and_truncate_of_usage(agent, statement):
    ingest_records(outlet=agent.outlet, records=[record(agent, "a")], actor=ACTOR)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ledgerline.allow_truncate = 'off'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(statement)
    assert UsageRecord.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_copies_of_a_batch_sent_at_once_store_and_debit_once():
    agent = AgentFactory()
    batch = [record(agent, f"e{index}") for index in range(200)]
    results = []
    errors = run_in_threads(2, lambda _: results.append(ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)))
    assert errors == []
    assert sorted(result.accepted for result in results) == [0, 200]
    assert UsageRecord.objects.count() == 200
    assert balance(agent) == Decimal("-300")
    assert CreditLedgerEntry.objects.filter(kind="CONSUME").count() == 1


# Interactions

def interaction(agent, interaction_id: str, **fields) -> dict:
    return {"interaction_id": interaction_id, "agent_id": str(agent.pk), "started_at": HOUR.isoformat(), **fields}


def test_upsert_creates_then_updates_only_the_given_fields(agent):
    created = upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "call-1", sentiment="neutral", message_count=2)])
    assert (created.created, created.updated) == (1, 0)
    ended = (HOUR + timedelta(minutes=3)).isoformat()
    updated = upsert_interactions(
        outlet=agent.outlet,
        interactions=[{"interaction_id": "call-1", "status": "completed", "ended_at": ended, "duration_seconds": 180}],
    )
    assert (updated.created, updated.updated) == (0, 1)
    stored = Interaction.objects.get()
    assert (stored.status, stored.sentiment, stored.message_count, stored.duration_seconds) == ("completed", "neutral", 2, 180)


@pytest.mark.parametrize(("first", "then"), [("completed", "in_progress"), ("failed", "in_progress"), ("completed", "failed")])
def test_status_only_moves_forward(agent, first, then):
    upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "call-1", status=first)])
    with pytest.raises(DomainError) as raised:
        upsert_interactions(outlet=agent.outlet, interactions=[{"interaction_id": "call-1", "status": then}])
    [item] = raised.value.errors["interactions"]
    assert "only moves forward" in item["errors"]["status"][0]
    assert Interaction.objects.get().status == first


@pytest.mark.parametrize("field", ["status", "sentiment"])
@pytest.mark.parametrize("value", [["completed"], {"completed": True}])
def test_a_status_or_sentiment_that_is_a_list_or_an_object_is_its_items_error(agent, field, value):
    with pytest.raises(DomainError) as raised:
        upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "call-1", **{field: value})])
    [item] = raised.value.errors["interactions"]
    assert set(item["errors"]) == {field}


def test_a_bad_interaction_stores_none_of_the_batch(agent):
    batch = [
        interaction(agent, "ok"),
        {"interaction_id": "new-without-start", "agent_id": str(agent.pk)},
        interaction(agent, "ends-early", ended_at=(HOUR - timedelta(minutes=1)).isoformat()),
        interaction(agent, "bad-sentiment", sentiment="ecstatic"),
        {"interaction_id": "no-agent", "started_at": HOUR.isoformat()},
    ]
    with pytest.raises(DomainError) as raised:
        upsert_interactions(outlet=agent.outlet, interactions=batch)
    assert [item["index"] for item in raised.value.errors["interactions"]] == [1, 2, 3, 4]
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"interaction_id": NUL}, "interaction_id"),
        ({"channel": NUL}, "channel"),
        ({"end_user_id": NUL}, "end_user_id"),
        ({"metadata": {"note": NUL}}, "metadata"),
        ({"metadata": {"x": Decimal("NaN")}}, "metadata"),
    ],
)
def test_an_interaction_postgresql_cannot_store_is_an_item_error_naming_the_field(agent, fields, field):
    with pytest.raises(DomainError) as raised:
        upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "ok"), {**interaction(agent, "bad"), **fields}])
    [item] = raised.value.errors["interactions"]
    assert item["index"] == 1 and list(item["errors"]) == [field]
    assert not Interaction.objects.exists()


@pytest.mark.postgres
def test_database_refuses_a_backward_status_move(agent):
    upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "call-1", status="completed")])
    with pytest.raises(IntegrityError, match="cannot move"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE usage_interaction SET status = 'in_progress'")


def test_interaction_ids_are_unique_per_outlet(agent):
    other = AgentFactory(outlet=OutletFactory())
    upsert_interactions(outlet=agent.outlet, interactions=[interaction(agent, "call-1")])
    assert upsert_interactions(outlet=other.outlet, interactions=[interaction(other, "call-1")]).created == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_racing_an_uncommitted_copy_of_one_event_stores_only_the_rest():
    agent = AgentFactory()
    holding, release = threading.Event(), threading.Event()

    def hold_e1_uncommitted():
        try:
            with transaction.atomic():
                ingest_records(outlet=agent.outlet, records=[record(agent, "e1")], actor=ACTOR)
                holding.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    other = threading.Thread(target=hold_e1_uncommitted)
    other.start()
    assert holding.wait(timeout=10)
    # Our insert waits on the unique index for the other transaction, then skips e1 as a duplicate.
    threading.Timer(0.5, release.set).start()
    result = ingest_records(outlet=agent.outlet, records=[record(agent, "e1"), record(agent, "e2")], actor=ACTOR)
    other.join()
    assert (result.accepted, result.duplicate_event_ids) == (1, ["e1"])
    assert sorted(UsageRecord.objects.values_list("event_id", flat=True)) == ["e1", "e2"]
    assert balance(agent) == Decimal("-3")


# Ingest beside the rollup builds

INGEST_BESIDE_BUILDS_SECONDS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_steady_ingest_on_one_outlet_while_rollups_build_never_deadlocks():
    """Two ingesting threads and one building thread, on one outlet's agents and hours, for a fixed time.

    Each batch touches every agent and a day of hours, which the builds claim and rebuild meanwhile:
    locking the agents' rows with their accounts deadlocked against a build's foreign-key checks.
    """
    outlet = OutletFactory()
    agents = [AgentFactory(outlet=outlet) for _ in range(3)]
    deadline = time.monotonic() + INGEST_BESIDE_BUILDS_SECONDS
    batches, builds = [], []

    def ingest_or_build(index: int) -> None:
        while time.monotonic() < deadline:
            if index == 0:
                builds.append(rollup_dirty_buckets())
                continue
            batch = [
                record(agents[n % len(agents)], f"t{index}-b{len(batches)}-e{n}", occurred_at=(HOUR + timedelta(hours=n)).isoformat())
                for n in range(24)
            ]
            batches.append(ingest_records(outlet=outlet, records=batch, actor=ACTOR))

    errors = run_in_threads(3, ingest_or_build)
    assert errors == [], f"{len(errors)} failed of {len(batches)} batches and {len(builds)} builds: {errors[0]!r}"
    print(f"ingest beside builds: {len(batches)} batches, {len(builds)} builds in {INGEST_BESIDE_BUILDS_SECONDS} s")
    assert len(batches) > 20 and sum(run.buckets for run in builds) > 0
    last = rollup_dirty_buckets()
    assert not DirtyBucket.objects.exists(), last
    assert check_rollups().problems == []
    for agent in agents:
        assert balance(agent) == -Decimal("1.5") * UsageRecord.objects.filter(agent=agent).count()


def test_a_batch_whose_credits_for_one_agent_add_up_past_the_ledgers_limit_is_refused_item_by_item(agent):
    batch = [record(agent, "e1", credits="90000000000000"), record(agent, "e2", credits="90000000000000")]
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    assert [item["index"] for item in raised.value.errors["records"]] == [0, 1]
    assert not UsageRecord.objects.exists() and balance(agent) == 0
