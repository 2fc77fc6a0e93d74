"""What a valid usage record or interaction is, judged without the database."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from usage.models import Interaction, UsageRecord
from usage.rows import AGENT_ID, CREDITS, EVENT_ID, OCCURRED_AT
from usage.validation import AMOUNT_FIELDS, DURATION_FIELD, check_interaction, check_record, hour_start

NOW = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
RECORD = {
    "event_id": "e1", "agent_external_id": "agt_1", "type": "TTS", "unit": "characters", "count": 12,
    "credits": "0.5", "cost_usd": "0.01", "occurred_at": "2026-11-21T09:15:00+01:00",
}


def test_a_valid_record_is_a_row_with_its_agent_reference_credits_and_utc_time():
    row, errors = check_record(RECORD, NOW)

    assert errors == {}
    assert row[AGENT_ID] == ("external_id", "agt_1")
    assert (row[EVENT_ID], row[CREDITS], row[OCCURRED_AT]) == ("e1", Decimal("0.5"), datetime(2026, 11, 21, 8, 15, tzinfo=UTC))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"occurred_at": "2026-11-21T09:15:00"}, "occurred_at"),
        ({"occurred_at": "2026-11-21T11:00:00Z"}, "occurred_at"),
        ({"credits": "0.0000001"}, "credits"),
        ({"count": -1}, "count"),
        ({"type": "tts"}, "type"),
        ({"agent_external_id": None}, "agent_id"),
        ({"meta": {"k": "\x00"}}, "meta"),
    ],
)
def test_a_bad_field_is_an_error_naming_it(change, field):
    _, errors = check_record({**RECORD, **change}, NOW)

    assert list(errors) == [field]


def test_amounts_are_checked_against_their_columns_places_and_digits():
    for name, places, digits in (*AMOUNT_FIELDS, DURATION_FIELD):
        model = Interaction if name == "duration_seconds" else UsageRecord
        column = model._meta.get_field(name)
        assert (places, digits) == (column.decimal_places, column.max_digits - column.decimal_places)


def test_an_interaction_update_reads_only_the_fields_it_names():
    values, errors = check_interaction({"interaction_id": "call-1", "status": "completed"}, NOW)

    assert errors == {}
    assert values == {"interaction_id": "call-1", "status": "completed"}


def test_the_hour_of_a_moment_is_its_utc_hour():
    assert hour_start(datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC)) == datetime(2026, 11, 21, 23, tzinfo=UTC)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", float("nan")])
def test_a_non_finite_amount_is_named_as_such_not_as_negative(value):
    _, errors = check_record({**RECORD, "credits": value}, NOW)

    assert errors == {"credits": "Must be a finite number: NaN and Infinity are not amounts."}
