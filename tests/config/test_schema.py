"""The OpenAPI schema documents every error status and content type an operation answers, once for all views."""

import pytest

from config.api.exceptions import error_body

ERROR_REF = {"$ref": "#/components/schemas/Error"}
RECORDS = "/api/v1/usage/records/"


@pytest.fixture
def operations(client, db) -> dict[tuple[str, str], dict]:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return {(method.upper(), path): operation for path, item in schema["paths"].items() for method, operation in item.items()}


def test_every_error_status_of_every_operation_is_the_error_envelope_as_json(operations):
    for key, operation in operations.items():
        errors = {code: response for code, response in operation["responses"].items() if code >= "400"}
        assert {"400", "401", "403", "429", "503"} <= set(errors), key
        for code, response in errors.items():
            assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (key, code)
            assert response["description"], (key, code)


def test_the_error_component_is_the_envelope_the_exception_handler_writes(client, db):
    error = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]["schemas"]["Error"]
    assert error["required"] == list(error_body("Invalid input.", status=400)) == ["success", "code", "message", "errors"]
    assert error["properties"]["errors"]["type"] == "object"


def test_the_error_component_has_the_machine_readable_code(client, db):
    error = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"success", "code", "message", "errors"}
    assert error["properties"]["code"]["type"] == "string"


def test_statuses_follow_from_what_an_operation_takes(operations):
    def codes(method, path):
        return set(operations[method, path]["responses"])

    assert {"400", "413", "415"} <= codes("POST", RECORDS) and "409" not in codes("POST", RECORDS)
    assert {"400", "404", "409", "413", "415"} <= codes("POST", "/api/v1/credits/set/")  # an Idempotency-Key
    assert "404" in codes("GET", "/api/v1/usage/records/{id}/") and "404" in codes("GET", RECORDS)  # staff's outlet_id
    assert not {"404", "409", "413", "415"} & codes("POST", "/api/v1/auth/token/")  # no parameter, no body


def test_a_staff_outlet_that_may_not_exist_is_a_documented_404(operations, staff_client):
    for method, path in (("POST", RECORDS), ("POST", "/api/v1/interactions/"), ("GET", "/api/v1/credits/balances/")):
        assert "404" in operations[method, path]["responses"], path
        url = f"{path}?outlet_id=00000000-0000-4000-8000-000000000000"
        batch = {"records": [{}]} if path == RECORDS else {"interactions": [{}]}
        answer = staff_client.post(url, batch, format="json") if method == "POST" else staff_client.get(url)
        assert answer.status_code == 404, path


def test_throttled_and_unavailable_answers_document_retry_after(operations):
    for key, operation in operations.items():
        for code in ("429", "503"):
            assert operation["responses"][code]["headers"]["Retry-After"]["schema"] == {"type": "integer"}, key


def test_every_operation_taking_format_csv_answers_text_csv_and_no_other_does(operations):
    for key, operation in operations.items():
        takes_csv = any(parameter["name"] == "format" for parameter in operation.get("parameters", []))
        success = operation["responses"].get("200") or operation["responses"]["201"]  # 201: a POST that creates
        assert ("text/csv" in success["content"]) == takes_csv, key
    assert "text/csv" in operations["GET", "/api/v1/analytics/spend/"]["responses"]["200"]["content"]
    assert "text/csv" not in operations["POST", RECORDS]["responses"]["200"]["content"]


def test_every_operation_taking_format_answers_json_for_json_and_csv_for_csv_whatever_accept_says(operations, key_client):
    client = key_client("read")
    listed = [path for (method, path), operation in operations.items() if method == "GET" and "{" not in path
              and any(parameter["name"] == "format" for parameter in operation.get("parameters", []))]
    assert len(listed) >= 10
    for path in listed:
        fmt = next(p for p in operations["GET", path]["parameters"] if p["name"] == "format")
        assert fmt["schema"]["enum"] == ["csv", "json"], path
        for accept in ("application/json", "text/csv", "text/html"):
            answer = client.get(path, {"format": "json"}, HTTP_ACCEPT=accept)
            assert (answer.status_code, answer["Content-Type"]) == (200, "application/json"), (path, accept)
            assert answer.json()["success"] is True
            answer = client.get(path, {"format": "csv"}, HTTP_ACCEPT=accept)
            assert (answer.status_code, answer["Content-Type"]) == (200, "text/csv; charset=utf-8"), (path, accept)


def test_the_balances_page_types_its_totals_as_the_view_answers_them(client, db, key_client, agent):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    page_ref = schema["paths"]["/api/v1/credits/balances/"]["get"]["responses"]["200"]["content"]["application/json"]
    page = components[page_ref["schema"]["$ref"].rsplit("/", 1)[1]]
    totals = components[page["properties"]["totals"]["$ref"].rsplit("/", 1)[1]]
    answer = key_client("read").get("/api/v1/credits/balances/").json()
    assert set(page["properties"]) == set(answer) and set(page["required"]) == set(answer)
    assert set(totals["properties"]) == set(answer["totals"]) == {"balance", "held", "agents", "low"}
    assert totals["properties"]["agents"]["type"] == "integer"


def test_credits_set_documents_the_agent_by_id_or_external_id_exactly_one(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["paths"]["/api/v1/credits/set/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    operation = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"agent_id", "agent_external_id"} <= set(operation["properties"])
    assert not {"agent_id", "agent_external_id"} & set(operation["required"])
    for name in ("agent_id", "agent_external_id"):
        assert "Exactly one is required" in operation["properties"][name]["description"]


# The schema's own endpoint takes its parameters as every endpoint does.


@pytest.mark.parametrize(
    ("params", "accept", "content_type"),
    [
        ({"format": "json"}, "application/yaml", "application/vnd.oai.openapi+json"),
        ({"format": "JSON"}, "*/*", "application/vnd.oai.openapi+json"),
        ({"format": "yaml"}, "application/json", "application/vnd.oai.openapi; charset=utf-8"),
        ({"lang": "de"}, "application/json", "application/json"),
        ({}, "*/*", "application/vnd.oai.openapi; charset=utf-8"),
    ],
)
def test_the_schema_takes_format_json_or_yaml_whatever_accept_says_and_lang(client, db, params, accept, content_type):
    answer = client.get("/api/schema/", params, HTTP_ACCEPT=accept)
    assert (answer.status_code, answer["Content-Type"]) == (200, content_type)
    assert b"openapi: 3." in answer.content or answer.json()["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("params", "named"),
    [({"formt": "json"}, ["formt"]), ({"version": "2"}, ["version"]), ({"format": "xml"}, ["format"])],
)
def test_the_schema_refuses_an_unknown_parameter_or_format_naming_it_in_json(client, db, params, named):
    answer = client.get("/api/schema/", params)
    assert (answer.status_code, answer["Content-Type"]) == (400, "application/json")
    assert (answer.json()["code"], list(answer.json()["errors"])) == ("invalid_parameter", named)


def test_the_schemas_other_errors_are_json_too(client, db):
    for answer, code in [
        (client.post("/api/schema/"), "method_not_allowed"),
        (client.get("/api/schema/", HTTP_ACCEPT="text/html"), "not_acceptable"),
    ]:
        assert (answer["Content-Type"], answer.json()["code"]) == ("application/json", code)
