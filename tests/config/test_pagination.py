from decimal import Decimal

import pytest
from django.core import signing

from config.api.pagination import CURSOR_SALT
from credits import services
from credits.models import CreditLedgerEntry
from tests.factories import AgentFactory

LEDGER = "/api/v1/credits/ledger/"
ACTOR = services.Actor.system("tests")


@pytest.fixture
def entries(agent):
    for index in range(1, 12):
        services.credits_add(agent=agent, amount=Decimal(index), actor=ACTOR, reason=f"top-up {index}")
    return list(CreditLedgerEntry.objects.order_by("id").values_list("id", flat=True))


def walk(client, **params) -> list[int]:
    seen, cursor = [], None
    while True:
        body = client.get(LEDGER, {**params, **({"cursor": cursor} if cursor else {})}).json()
        assert body["success"] is True
        seen.extend(item["id"] for item in body["items"])
        cursor = body["cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize(("order", "reverse"), [("desc", True), ("asc", False)])
def test_walking_pages_visits_every_row_once_in_order(staff_client, entries, order, reverse):
    assert walk(staff_client, take=3, order=order) == sorted(entries, reverse=reverse)


def test_default_order_is_newest_first(staff_client, entries):
    items = staff_client.get(LEDGER).json()["items"]
    assert [item["id"] for item in items] == sorted(entries, reverse=True)


def test_rows_inserted_while_walking_neither_repeat_nor_shift_pages(staff_client, agent, entries):
    first = staff_client.get(LEDGER, {"take": 4}).json()
    services.credits_add(agent=agent, amount=Decimal("99"), actor=ACTOR, reason="late")
    rest = walk(staff_client, take=4, cursor=first["cursor"])
    served = [item["id"] for item in first["items"]] + rest
    assert served == sorted(entries, reverse=True)


def test_last_page_has_a_null_cursor(staff_client, entries):
    assert staff_client.get(LEDGER, {"take": 1000}).json()["cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"take": "0"}, "take"), ({"take": "1001"}, "take"), ({"take": "ten"}, "take"), ({"order": "sideways"}, "order")],
)
def test_bad_take_or_order_is_a_400(staff_client, params, field):
    response = staff_client.get(LEDGER, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_tampered_cursor_is_a_400(staff_client, entries):
    cursor = staff_client.get(LEDGER, {"take": 2}).json()["cursor"]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    response = staff_client.get(LEDGER, {"cursor": tampered})
    assert response.status_code == 400
    assert "cursor" in response.json()["errors"]


def test_cursor_of_another_list_is_a_400(staff_client, entries):
    AgentFactory.create_batch(3)
    cursor = staff_client.get("/api/v1/credits/balances/", {"take": 1}).json()["cursor"]
    assert staff_client.get(LEDGER, {"cursor": cursor}).status_code == 400


def test_cursor_with_a_changed_order_is_a_400(staff_client, entries):
    cursor = staff_client.get(LEDGER, {"take": 2, "order": "asc"}).json()["cursor"]
    response = staff_client.get(LEDGER, {"cursor": cursor, "order": "desc"})
    assert response.status_code == 400
    assert "order=asc" in response.json()["message"]


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "an", "object"],
        {"f": ["created_at", "id"], "o": "desc", "p": "2026-01-01T00:00:00Z"},
        {"f": ["created_at", "id"], "o": "desc", "p": [["2026-01-01"], 5]},
        {"f": ["created_at", "id"], "o": "desc", "p": [17, "5"]},
        {"f": ["created_at", "id"], "o": "desc", "p": ["yesterday", "5"]},
        {"f": ["created_at", "id"], "o": "desc", "p": ["2026-01-01T00:00:00Z", "five"]},
        {"f": ["created_at", "id"], "o": "desc", "p": ["2026-01-01T00:00:00Z", "99999999999999999999999"]},
    ],
)
def test_a_validly_signed_cursor_holding_a_position_of_the_wrong_shape_is_a_400(staff_client, entries, payload):
    cursor = signing.dumps(payload, salt=CURSOR_SALT, compress=True)
    response = staff_client.get(LEDGER, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["cursor"]
