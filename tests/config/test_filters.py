import pytest


@pytest.mark.parametrize("value", ["%", "100%", "%s", "%(x)s"])
def test_a_boolean_filter_value_holding_a_percent_sign_is_a_400_quoting_it(key_client, value):
    response = key_client("read").get("/api/v1/agents/", {"is_active": value})
    assert response.status_code == 400
    assert response.json()["errors"]["is_active"] == [f"'{value}' is not a boolean: use true or false."]
