"""A client generated from /api/schema/ by openapi-python-client (requirements-dev.txt) is typed end to end.

The generator runs offline, as a subprocess, into the test's temporary folder; its formatting hooks are off.
"""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from tests.factories import create_api_key

PACKAGE = "ledgerline_api_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
SECONDS_TO_GENERATE = 60


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The generated package's `models`, generated once for the module, imported (and forgotten afterwards)."""
    tmp_path = tmp_path_factory.mktemp("client")
    schema_file = tmp_path / "schema.json"
    schema_file.write_bytes(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    config_file = tmp_path / "generator.json"
    config_file.write_text(json.dumps({"post_hooks": []}))
    generated = subprocess.run(
        [GENERATOR, "generate", "--path", schema_file, "--config", config_file, "--meta", "none",
         "--output-path", tmp_path / PACKAGE],
        capture_output=True, text=True, timeout=SECONDS_TO_GENERATE, cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout  # a skipped schema piece is a missing model
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(f"{PACKAGE}.models")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def annotations(model: type) -> dict[str, set[str]]:
    """Each attribute's declared types, e.g. {"agent_id": {"None", "Unset", "UUID"}}."""
    return {
        name: {part.strip() for part in annotation.split("|")}
        for name, annotation in model.__annotations__.items()
        if name != "additional_properties"
    }


def test_the_usage_record_input_is_a_typed_model(models):
    fields = annotations(models.UsageRecordInput)
    assert fields["event_id"] == {"str"} and fields["type_"] == {"str"}
    assert fields["unit"] == {"UnitEnum"} and {unit.value for unit in models.UnitEnum} >= {"tokens", "seconds"}
    assert fields["occurred_at"] == {"datetime.datetime"}
    assert fields["agent_id"] == {"None", "Unset", "UUID"} and "str" in fields["agent_external_id"]
    assert "int" in fields["latency_ms"] and "str" in fields["credits_"]
    assert annotations(models.UsageBatchInput)["records"] == {"list[UsageRecordInput]"}
    record = {"event_id": "e-1", "type": "TTS", "unit": "characters", "occurred_at": "2026-11-21T10:00:00+00:00",
              "agent_external_id": "bot-7", "count": "120", "meta": {"channel": "web"}}
    assert models.UsageRecordInput.from_dict(record).to_dict() == record


def test_the_other_bodies_and_the_balances_totals_are_typed_models(models):
    assert annotations(models.InteractionInput)["interaction_id"] == {"str"}
    operation = annotations(models.CreditOperationInput)
    assert operation["mode"] == {"ModeEnum"} and "UUID" in operation["agent_id"] and "str" in operation["agent_external_id"]
    assert annotations(models.BalancePage)["totals"] == {"BalanceTotals"}
    assert annotations(models.BalanceTotals)["agents"] == {"int"}


def test_the_error_is_a_typed_model_that_reads_the_apis_errors(models, outlet, client):
    fields = annotations(models.Error)
    assert fields["success"] == {"bool"} and fields["message"] == {"str"} and fields["errors"] == {"ErrorErrors"}
    assert "str" in fields["code"]
    _, raw_key = create_api_key(outlet=outlet, scopes=("ingest",))
    answer = client.post(
        "/api/v1/usage/records/", {"records": [{}]}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )
    assert answer.status_code == 400
    error = models.Error.from_dict(answer.json())
    assert error.success is False and error.message and "records" in error.errors.to_dict()


def test_the_grant_and_pool_bodies_and_answers_are_typed_models(models):
    grant_input = annotations(models.GrantInput)
    assert "UUID" in grant_input["agent_id"] and "bool" in grant_input["pool"] and grant_input["amount"] == {"str"}
    assert "ManualSourceEnum" in grant_input["source"] and "int" in grant_input["priority"]
    assert "datetime.datetime" in grant_input["expires_at"]
    assert {source.value for source in models.ManualSourceEnum} == {"purchase", "promotion", "adjustment"}
    assert annotations(models.TransferInput)["agent_id"] == {"UUID"}
    assert annotations(models.VoidInput)["reason"] == {"str"}
    grant = annotations(models.Grant)
    assert grant["status"] == {"GrantStatusEnum"} and grant["source"] == {"GrantSourceEnum"} and grant["priority"] == {"int"}
    assert annotations(models.GrantResult)["grant"] == {"Grant"}
    assert annotations(models.TransferResult)["grants"] == {"list[Grant]"}
    assert annotations(models.Pool)["grants"] == {"list[Grant]"}
    assert annotations(models.Balance)["next_expiry"] == {"NextExpiry", "None"}
