"""Every operation of /api/schema/, fuzzed by schemathesis in process: no 500, every status and content type documented.

A key with every scope calls each operation with schema-valid and schema-breaking input (the examples,
coverage and fuzzing phases); the checks hold each answer to the schema. Bounded: a fixed number of
examples per operation, a derandomized (fixed-seed) run, and a time limit per answer.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import max_response_time, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from analytics.requestlog.writer import flush, writer
from tests.factories import AgentFactory, OutletFactory, create_api_key

pytestmark = pytest.mark.postgres

EXAMPLES_PER_OPERATION = 100
SECONDS_PER_ANSWER = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    max_response_time,
    unsupported_method,
]

schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict({"checks": {"max_response_time": SECONDS_PER_ANSWER}}),
)


@pytest.fixture
def connection_kept_open():
    """The WSGI handler closes the connection after each request, and with it the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def every_scope_key(db, connection_kept_open):
    outlet = OutletFactory()
    AgentFactory.create_batch(2, outlet=outlet)
    _, raw_key = create_api_key(outlet=outlet, scopes=("read", "ingest", "credits:write"))
    writer.discard()
    yield raw_key
    pending = writer.pending()
    assert flush() == pending  # the request log stores whatever the fuzzer sent


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,  # max_response_time bounds each answer and names the request
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_answers_only_what_the_schema_documents(case, every_scope_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {every_scope_key}"}, checks=CHECKS)
