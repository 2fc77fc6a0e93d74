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


def test_statuses_follow_from_what_an_operation_takes(operations):
    def codes(method, path):
        return set(operations[method, path]["responses"])

    assert {"400", "413", "415"} <= codes("POST", RECORDS) and "409" not in codes("POST", RECORDS)
    assert {"400", "404", "409", "413", "415"} <= codes("POST", "/api/v1/credits/set/")  # an Idempotency-Key
    assert "404" in codes("GET", "/api/v1/usage/records/{id}/") and "404" not in codes("GET", RECORDS)
    assert not {"404", "409", "413", "415"} & codes("POST", "/api/v1/auth/token/")  # no parameter, no body


def test_throttled_and_unavailable_answers_document_retry_after(operations):
    for key, operation in operations.items():
        for code in ("429", "503"):
            assert operation["responses"][code]["headers"]["Retry-After"]["schema"] == {"type": "integer"}, key


def test_every_operation_taking_format_csv_answers_text_csv_and_no_other_does(operations):
    for key, operation in operations.items():
        takes_csv = any(parameter["name"] == "format" for parameter in operation.get("parameters", []))
        assert ("text/csv" in operation["responses"]["200"]["content"]) == takes_csv, key
    assert "text/csv" in operations["GET", "/api/v1/analytics/spend/"]["responses"]["200"]["content"]
    assert "text/csv" not in operations["POST", RECORDS]["responses"]["200"]["content"]
