import csv
import io
from datetime import UTC, datetime

import pytest

from credits.prices.models import Price
from tests.factories import OutletFactory, PriceFactory

PRICES = "/api/v1/prices/"
JAN, MAR = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
BODY = {
    "type": "TELEPHONY", "unit": "seconds", "credits_per_unit": "0.02", "cost_usd_per_unit": "0.0001",
    "increment": "30", "minimum": "60", "effective_from": "2026-03-01T00:00:00Z",
}


def ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {item["id"] for item in response.json()["items"]}


def test_a_key_sees_its_outlet_s_prices_and_the_defaults_not_another_outlet_s(outlet, key_client):
    own, default = PriceFactory(outlet=outlet), PriceFactory(type="TTS")
    PriceFactory(outlet=OutletFactory())

    assert ids(key_client("read").get(PRICES)) == {own.pk, default.pk}


def test_filters_type_model_unit(outlet, key_client):
    tts = PriceFactory(type="TTS", unit="characters", model="nova")
    PriceFactory(type="TTS", unit="characters")
    PriceFactory(type="STT", unit="seconds")
    client = key_client("read")

    assert ids(client.get(PRICES, {"type": "TTS", "model": "nova", "unit": "CHARACTERS"})) == {tts.pk}


@pytest.mark.parametrize("at", ["2026-02-01", "2026-02-01T00:00:00+01:00"])
def test_effective_at_keeps_the_versions_in_effect_then(outlet, key_client, at):
    january = PriceFactory(effective_from=JAN)
    PriceFactory(effective_from=MAR)
    own_january = PriceFactory(outlet=outlet, effective_from=JAN)

    assert ids(key_client("read").get(PRICES, {"effective_at": at})) == {january.pk, own_january.pk}


def test_an_effective_at_date_starts_at_the_outlets_local_midnight(key_client, staff_client):
    kolkata = OutletFactory(timezone="Asia/Kolkata")
    january = PriceFactory(outlet=kolkata, effective_from=JAN)
    # 20:00 UTC on 31 January: after Kolkata's midnight of 1 February (18:30 UTC), before UTC's.
    evening = PriceFactory(outlet=kolkata, effective_from=datetime(2026, 1, 31, 20, 0, tzinfo=UTC))
    the_1st = {"effective_at": "2026-02-01"}
    assert ids(key_client("read", for_outlet=kolkata).get(PRICES, the_1st)) == {january.pk}
    assert ids(staff_client.get(PRICES, {**the_1st, "outlet_id": str(kolkata.pk)})) == {january.pk}
    assert ids(staff_client.get(PRICES, the_1st)) == {evening.pk}  # every outlet: UTC's midnight


@pytest.mark.parametrize("at", ["2026-02-30", "yesterday", "2026-02-01T10:00:00"])
def test_a_bad_effective_at_is_a_400(key_client, at):
    response = key_client("read").get(PRICES, {"effective_at": at})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_parameter")
    assert "effective_at" in response.json()["errors"]


def test_the_list_answers_csv(outlet, key_client):
    PriceFactory(outlet=outlet, type="TTS")
    response = key_client("read").get(PRICES, {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["type"] for row in rows] == ["TTS"]


def test_a_key_with_credits_write_adds_a_version_to_its_outlet(outlet, key_client):
    response = key_client("credits:write").post(PRICES, BODY, format="json")

    assert response.status_code == 201, response.json()
    price = Price.objects.get(pk=response.json()["price"]["id"])
    assert (price.outlet, price.increment, price.created_by.startswith("api_key:")) == (outlet, 30, True)


def test_a_read_key_cannot_add_a_price(key_client):
    response = key_client("read").post(PRICES, BODY, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert not Price.objects.exists()


def test_only_staff_add_platform_defaults(key_client, staff_client):
    refused = key_client("credits:write").post(PRICES, {**BODY, "default": True}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")

    added = staff_client.post(PRICES, {**BODY, "default": True}, format="json")
    assert added.status_code == 201 and added.json()["price"]["outlet_id"] is None


def test_a_later_version_supersedes_and_the_same_version_twice_is_a_400(key_client):
    client = key_client("credits:write")
    assert client.post(PRICES, BODY, format="json").status_code == 201
    again = client.post(PRICES, BODY, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "invalid_parameter")
    later = client.post(PRICES, {**BODY, "effective_from": "2026-04-01T00:00:00Z"}, format="json")
    assert later.status_code == 201 and Price.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credits_per_unit": "-1"}, "credits_per_unit"),
        ({"cost_usd_per_unit": "NaN"}, "cost_usd_per_unit"),
        ({"increment": "0"}, "increment"),
        ({"minimum": "-5"}, "minimum"),
        ({"effective_from": "2026-13-01T00:00:00Z"}, "effective_from"),
        ({"effective_from": "2026-03-01T00:00:00"}, "effective_from"),
        ({"type": "telephony"}, "type"),
        ({"unit": "minutes"}, "unit"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(key_client, change, field):
    response = key_client("credits:write").post(PRICES, {**BODY, **change}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_parameter")
    assert field in response.json()["errors"]
    assert not Price.objects.exists()


def test_the_list_takes_a_bounded_number_of_queries(outlet, key_client, django_assert_max_num_queries):
    for n in range(20):
        PriceFactory(outlet=outlet if n % 2 else None, type=f"T{n}")
    client = key_client("read")
    with django_assert_max_num_queries(8):
        assert len(ids(client.get(PRICES))) == 20
