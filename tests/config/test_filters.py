from decimal import Decimal

import pytest

from credits import services


@pytest.mark.parametrize("value", ["%", "100%", "%s", "%(x)s"])
def test_a_boolean_filter_value_holding_a_percent_sign_is_a_400_quoting_it(key_client, value):
    response = key_client("read").get("/api/v1/agents/", {"is_active": value})
    assert response.status_code == 400
    assert response.json()["errors"]["is_active"] == [f"'{value}' is not a boolean: use true or false."]


def test_a_choice_filter_takes_its_values_in_any_case(agent, key_client):
    services.credits_add(agent=agent, amount=Decimal("1"), actor=services.Actor.system("tests"), reason="x")
    client = key_client("read")
    kinds = [entry["kind"] for entry in client.get("/api/v1/credits/ledger/", {"kind": ["add", "Set"]}).json()["items"]]
    assert kinds == ["ADD"]
    assert client.get("/api/v1/credits/ledger/", {"kind": "teleport"}).status_code == 400


def test_order_and_format_are_case_insensitive_too(agent, key_client):
    client = key_client("read")
    assert client.get("/api/v1/agents/", {"order": "ASC"}).status_code == 200
    assert client.get("/api/v1/agents/", {"format": "CSV"})["Content-Type"].startswith("text/csv")


def test_the_schema_lists_the_canonical_values(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/usage/summary/"]["get"]["parameters"]}
    assert parameters["group_by"]["schema"]["enum"] == ["OUTLET", "AGENT"]
    kinds = {p["name"]: p for p in schema["paths"]["/api/v1/credits/ledger/"]["get"]["parameters"]}["kind"]
    assert "ADD" in kinds["schema"]["items"]["enum"]
