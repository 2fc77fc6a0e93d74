"""The ingest bodies in the OpenAPI schema are the ones `usage.validation` accepts: same fields, same limits."""

import pytest

from usage.validation import AMOUNT_FIELDS, INTERACTION_FIELDS, MAX_BATCH, RECORD_FIELDS, TEXT_FIELDS, UNITS


@pytest.fixture
def schema(client, db) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_the_usage_record_input_documents_every_field_validation_accepts(schema):
    components = schema["components"]["schemas"]
    record = components["UsageRecordInput"]
    assert set(record["properties"]) == RECORD_FIELDS
    assert set(record["required"]) == {"event_id", "type", "unit", "occurred_at"}
    for name, length in TEXT_FIELDS.items():
        assert record["properties"][name]["maxLength"] == length, name
    for name, places, digits in AMOUNT_FIELDS:
        amount = record["properties"][name]
        assert (amount["type"], amount["format"]) == ("string", "decimal"), name
        assert amount["pattern"] == rf"^\d{{1,{digits}}}(?:\.\d{{1,{places}}})?$", name
    unit = components[record["properties"]["unit"]["$ref"].rsplit("/", 1)[1]]
    assert set(unit["enum"]) == UNITS
    assert record["properties"]["agent_id"]["format"] == "uuid"
    assert "exactly one" in record["properties"]["agent_external_id"]["description"]
    assert record["properties"]["meta"]["type"] == "object"
    assert record["properties"]["occurred_at"]["format"] == "date-time"


def test_the_interaction_input_documents_every_field_validation_accepts(schema):
    interaction = schema["components"]["schemas"]["InteractionInput"]
    assert set(interaction["properties"]) == INTERACTION_FIELDS
    assert interaction["required"] == ["interaction_id"]


def test_ingest_operations_take_a_typed_batch_of_at_most_max_batch_items(schema):
    for path, key, item in (("/api/v1/usage/records/", "records", "UsageRecordInput"),
                            ("/api/v1/interactions/", "interactions", "InteractionInput")):
        ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        batch = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert batch["required"] == [key]
        items = batch["properties"][key]
        assert items["items"] == {"$ref": f"#/components/schemas/{item}"}
        assert (items["minItems"], items["maxItems"]) == (1, MAX_BATCH)


def test_meta_filters_are_one_deep_object_parameter_of_strings(schema):
    parameters = schema["paths"]["/api/v1/usage/records/"]["get"]["parameters"]
    meta = [parameter for parameter in parameters if parameter["name"].startswith("meta")]
    assert len(meta) == 1
    assert (meta[0]["style"], meta[0]["explode"], meta[0]["in"]) == ("deepObject", True, "query")
    assert meta[0]["schema"]["type"] == "object"
    assert meta[0]["schema"]["additionalProperties"] == {"type": "string"}
