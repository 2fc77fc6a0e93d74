"""Ingest prices the records that omit credits or cost from the price book (usage.services.price_records)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from config.errors import DomainError
from credits.models import CreditLedgerEntry
from credits.services import Actor
from tests.factories import OutletFactory, PriceFactory
from usage.models import UsageRecord
from usage.services import ingest_records

ACTOR = Actor.system("test")
JAN, MAR = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
CALL_AT = datetime(2026, 2, 10, 12, tzinfo=UTC)


def call(agent, event_id: str, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "TELEPHONY", "unit": "seconds", "count": "61",
        "occurred_at": CALL_AT.isoformat(), **fields,
    }


@pytest.fixture
def telephony():
    """A default price: 0.02 credits and $0.0001 a second, billed by the half minute, at least a minute."""
    return PriceFactory(
        type="TELEPHONY", unit="seconds", credits_per_unit=Decimal("0.02"), cost_usd_per_unit=Decimal("0.0001"),
        increment=Decimal("30"), minimum=Decimal("60"), effective_from=JAN,
    )


def test_a_record_without_credits_or_cost_is_priced_and_keeps_its_price(agent, telephony):
    ingest_records(outlet=agent.outlet, records=[call(agent, "c1"), call(agent, "c2", count="12")], actor=ACTOR)

    first, second = UsageRecord.objects.order_by("event_id")
    assert (first.credits, first.cost_usd, first.price) == (Decimal("1.8"), Decimal("0.009"), telephony)  # 90 s
    assert (second.credits, second.cost_usd) == (Decimal("1.2"), Decimal("0.006"))  # the 60 s minimum
    [entry] = CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.CONSUME)
    assert entry.amount == Decimal("-3")


def test_only_the_omitted_field_is_priced(agent, telephony):
    records = [call(agent, "credits-given", credits="5"), call(agent, "cost-given", cost_usd="0.5")]
    ingest_records(outlet=agent.outlet, records=records, actor=ACTOR)

    cost_given, credits_given = UsageRecord.objects.order_by("event_id")
    assert (credits_given.credits, credits_given.cost_usd, credits_given.price) == (Decimal("5"), Decimal("0.009"), telephony)
    assert (cost_given.credits, cost_given.cost_usd, cost_given.price) == (Decimal("1.8"), Decimal("0.5"), telephony)


def test_a_record_carrying_credits_and_cost_keeps_them_and_no_price(agent, telephony):
    ingest_records(outlet=agent.outlet, records=[call(agent, "c1", credits="0.5", cost_usd="0")], actor=ACTOR)

    record = UsageRecord.objects.get()
    assert (record.credits, record.cost_usd, record.price) == (Decimal("0.5"), Decimal("0"), None)


def test_the_outlet_price_beats_the_default(agent, telephony):
    own = PriceFactory(outlet=agent.outlet, type="TELEPHONY", unit="seconds", credits_per_unit=Decimal("0.01"), effective_from=JAN)
    PriceFactory(outlet=OutletFactory(), type="TELEPHONY", unit="seconds", credits_per_unit=Decimal("9"), effective_from=JAN)

    ingest_records(outlet=agent.outlet, records=[call(agent, "c1")], actor=ACTOR)

    record = UsageRecord.objects.get()
    assert (record.price, record.credits) == (own, Decimal("0.61"))


def test_the_exact_model_beats_any_model(agent, telephony):
    twilio = PriceFactory(type="TELEPHONY", unit="seconds", model="twilio", credits_per_unit=Decimal("0.5"), effective_from=JAN)

    ingest_records(outlet=agent.outlet, records=[call(agent, "c1", model="twilio"), call(agent, "c2", model="other")], actor=ACTOR)

    assert dict(UsageRecord.objects.values_list("event_id", "price")) == {"c1": twilio.pk, "c2": telephony.pk}


def test_the_version_in_effect_at_occurred_at_prices_it_not_today_s(agent, telephony):
    PriceFactory(type="TELEPHONY", unit="seconds", credits_per_unit=Decimal("1"), effective_from=MAR)  # today's
    later = MAR + timedelta(days=1)
    ingest_records(
        outlet=agent.outlet, records=[call(agent, "feb"), call(agent, "mar", occurred_at=later.isoformat())], actor=ACTOR
    )

    prices = dict(UsageRecord.objects.values_list("event_id", "credits"))
    assert prices == {"feb": Decimal("1.8"), "mar": Decimal("61")}  # by the second


def test_a_record_with_no_price_rejects_the_whole_batch_naming_its_type_model_and_unit(agent, telephony):
    batch = [call(agent, "c1"), call(agent, "tts", type="TTS", model="nova", unit="characters")]

    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)

    [item] = raised.value.errors["records"]
    assert (item["index"], item["event_id"], item["code"]) == (1, "tts", "price_not_found")
    assert "(TTS, nova, characters)" in item["errors"]["price"][0]
    assert not UsageRecord.objects.exists() and not CreditLedgerEntry.objects.exists()


def test_a_price_not_yet_in_effect_does_not_price_an_earlier_record(agent):
    PriceFactory(type="TELEPHONY", unit="seconds", effective_from=MAR)
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[call(agent, "c1")], actor=ACTOR)
    assert raised.value.errors["records"][0]["code"] == "price_not_found"


def test_a_batch_is_priced_with_one_query_for_the_book(agent, telephony, django_assert_max_num_queries):
    PriceFactory(type="TTS", unit="characters", effective_from=JAN)
    batch = [call(agent, f"c{n}", count=str(n)) for n in range(50)]
    batch += [call(agent, f"t{n}", type="TTS", unit="characters") for n in range(50)]
    ingest_records(outlet=agent.outlet, records=[call(agent, "warm-up")], actor=ACTOR)  # the same fixed queries
    with django_assert_max_num_queries(30) as queries:
        ingest_records(outlet=agent.outlet, records=batch, actor=ACTOR)
    assert sum("credits_price" in query["sql"] for query in queries.captured_queries) == 1


def test_the_api_answers_a_missing_price_with_the_item_s_code(agent, key_client):
    response = key_client("ingest").post(
        "/api/v1/usage/records/", data=json.dumps({"records": [call(agent, "c1")]}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["records"][0]["code"] == "price_not_found"


def test_import_usage_prices_records_and_rejects_unpriced_batches(tmp_path, agent, telephony):
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(call(agent, "c1")) + "\n" + json.dumps(call(agent, "c2", type="STT")) + "\n")

    with pytest.raises(CommandError):
        call_command("import_usage", str(path), "--outlet", str(agent.outlet.pk), "--batch-size", "1", "--no-progress")

    record = UsageRecord.objects.get()
    assert (record.event_id, record.credits, record.price) == ("c1", Decimal("1.8"), telephony)
