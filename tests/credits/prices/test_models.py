from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from credits.services import Actor
from tests.factories import PriceFactory
from usage.services import ingest_records

WHEN = datetime(2026, 2, 1, tzinfo=UTC)


def price_a_record(agent):
    price = PriceFactory(type="TTS", unit="characters", effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    record = {"event_id": "e1", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
              "occurred_at": WHEN.isoformat()}
    ingest_records(outlet=agent.outlet, records=[record], actor=Actor.system("test"))
    return price


def test_an_unused_price_may_still_be_corrected(db):
    price = PriceFactory()
    price.credits_per_unit = Decimal("2")
    price.save()
    price.delete()


def test_a_used_price_cannot_be_changed_or_deleted(agent):
    price = price_a_record(agent)
    price.credits_per_unit = Decimal("2")
    with pytest.raises(ValidationError, match="new version"):
        price.save()
    with pytest.raises(ValidationError):
        price.delete()


def test_one_default_per_key_and_time(db):
    PriceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceFactory()  # the same default version again: NULL outlets are not distinct


@pytest.mark.parametrize(
    "fields", [{"credits_per_unit": Decimal("-1")}, {"cost_usd_per_unit": Decimal("-1")}, {"increment": 0}, {"minimum": -1}]
)
def test_the_database_refuses_negative_prices_and_a_zero_increment(db, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceFactory(**fields)


@pytest.mark.postgres
@pytest.mark.parametrize("statement", ["UPDATE credits_price SET credits_per_unit = 2", "DELETE FROM credits_price"])
def test_postgresql_refuses_to_change_a_price_that_priced_usage(agent, statement):
    price_a_record(agent)
    with pytest.raises(IntegrityError, match="new version"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.mark.postgres
def test_postgresql_lets_an_unused_price_change(db):
    price = PriceFactory()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE credits_price SET credits_per_unit = 2 WHERE id = %s", [price.pk])
    price.refresh_from_db()
    assert price.credits_per_unit == 2
