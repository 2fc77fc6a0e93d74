import re
import sqlite3
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.exceptions import ERROR_CODES
from config.api.throttling import CallerRateThrottle
from config.urls import handler400 as project_handler400
from config.urls import handler500 as project_handler500
from config.urls import urlpatterns as project_urlpatterns
from credits.agents import agent_controls_update
from credits.holds.services import HoldStateError
from tests.outages import free_port


class ExplodingView(APIView):
    permission_classes = []
    authentication_classes = []

    def get(self, request):
        raise RuntimeError("boom")


class DatabaseDownView(APIView):
    permission_classes = []
    authentication_classes = []

    def get(self, request):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


class DatabaseBugView(APIView):
    """An operational error a retry cannot get past: a query past one of the database's limits."""

    permission_classes = []
    authentication_classes = []

    def get(self, request):
        message = self.request.query_params["message"]
        raise OperationalError(message) from sqlite3.OperationalError(message)


def plain_database_down_view(request):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def plain_exploding_view(request):
    raise RuntimeError("boom")


class EchoView(APIView):
    permission_classes = []
    authentication_classes = []

    def get(self, request):
        return Response({"echo": True})


urlpatterns = [
    path("api/v1/test/explode/", ExplodingView.as_view()),
    path("api/v1/test/database-down/", DatabaseDownView.as_view()),
    path("api/v1/test/database-bug/", DatabaseBugView.as_view()),
    path("api/v1/test/plain-database-down/", plain_database_down_view),
    path("api/v1/test/plain-explode/", plain_exploding_view),
    path("api/v1/test/echo/", EchoView.as_view()),
]
urlpatterns += project_urlpatterns
handler400 = project_handler400
handler500 = project_handler500


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["message"]
    assert body["code"] == (code or ERROR_CODES[status]), body
    assert isinstance(body["errors"], dict)
    return body


@override_settings(ROOT_URLCONF=__name__)
def test_unexpected_exception_is_a_json_500(client):
    body = assert_json_error(client.get("/api/v1/test/explode/"), 500)
    assert body["message"] == "Internal server error."


@override_settings(ROOT_URLCONF=__name__)
def test_a_database_error_in_a_view_is_a_json_503_with_retry_after(client):
    response = client.get("/api/v1/test/database-down/")
    assert assert_json_error(response, 503)["message"] == "The database is unavailable; try again shortly."
    assert int(response["Retry-After"]) > 0


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(("message", "status"), [("too many SQL variables", 500), ("database is locked", 503)])
def test_only_a_database_error_a_retry_may_get_past_is_a_503(client, message, status):
    assert_json_error(client.get("/api/v1/test/database-bug/", {"message": message}), status)


@override_settings(ROOT_URLCONF=__name__)
def test_a_database_error_outside_drf_under_api_is_a_json_503_too(client):
    client.raise_request_exception = False  # as a server: Django's handler500 answers it
    response = client.get("/api/v1/test/plain-database-down/")
    assert assert_json_error(response, 503)["message"] == "The database is unavailable; try again shortly."
    assert int(response["Retry-After"]) > 0


@pytest.mark.postgres
def test_a_database_outage_is_a_json_503_with_retry_after_not_a_500(transactional_db, key_client):
    client = key_client("read")
    client.raise_request_exception = False  # as a server: what reaches Django's handler is answered, not raised
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = free_port()  # refused, as while PostgreSQL restarts
    try:
        responses = [client.get(path) for path in ("/api/v1/outlets/", "/api/v1/usage/records/", "/api/v1/analytics/spend/")]
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    for response in responses:
        assert assert_json_error(response, 503)["message"] == "The database is unavailable; try again shortly."
        assert int(response["Retry-After"]) > 0
    assert client.get("/api/v1/outlets/").status_code == 200  # and back once it is


@override_settings(ROOT_URLCONF=__name__)
def test_successful_payload_carries_success_true(client):
    assert client.get("/api/v1/test/echo/").json() == {"success": True, "echo": True}


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nothing", "/api/v2/credits/balances/"])
def test_unknown_api_path_is_a_json_404(client, path):
    assert_json_error(client.get(path), 404)


@override_settings(DEBUG=True)
def test_unknown_api_path_is_json_even_with_debug_on(client):
    assert_json_error(client.get("/api/v1/nope/"), 404)


def test_wrong_method_is_a_json_405(staff_client):
    assert_json_error(staff_client.delete("/api/v1/credits/balances/"), 405)


def test_malformed_json_body_is_a_json_400(staff_client):
    body = assert_json_error(
        staff_client.post("/api/v1/credits/set/", data="{not json", content_type="application/json"), 400
    )
    assert "JSON" in body["message"]


def test_unsupported_media_type_is_a_json_415(staff_client):
    assert_json_error(staff_client.post("/api/v1/credits/set/", data="a=b", content_type="text/plain"), 415)


def test_validation_error_names_each_field(staff_client):
    body = assert_json_error(staff_client.post("/api/v1/credits/set/", {"mode": "teleport"}, format="json"), 400)
    assert set(body["errors"]) >= {"mode", "reason"}
    assert "mode" in body["message"]


def test_throttled_caller_gets_a_json_429_with_retry_after(key_client, monkeypatch):
    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", {"caller": "2/minute"})
    cache.clear()
    client = key_client("read")
    statuses = [client.get("/api/v1/outlets/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = client.get("/api/v1/outlets/")
    assert_json_error(response, 429)
    assert int(response["Retry-After"]) > 0


def _too_many_records(clients):
    return clients.key("ingest").post("/api/v1/usage/records/", {"records": [{}] * 1001}, format="json")


def _conflict(clients):
    client, headers = clients.key("credits:write"), {"Idempotency-Key": "k1"}
    for amount in ("1", "2"):
        body = {"agent_id": str(clients.agent.pk), "mode": "add", "amount": amount, "reason": "x"}
        response = client.post("/api/v1/credits/set/", body, format="json", headers=headers)
    return response


def _hold(clients, **body):
    body = {"agent_id": str(clients.agent.pk), "amount": "1", **body}
    return clients.key("credits:write").post("/api/v1/credits/holds/", body, format="json")


def _refused_hold(clients):
    agent_controls_update(agent=clients.agent, changes={"enforcement": "block"})
    return _hold(clients)


def _second_hold_for_a_call(clients):
    return [_hold(clients, reference="call-1") for _ in range(2)][-1]


def _throttled(clients):
    CallerRateThrottle.THROTTLE_RATES = {"caller": "1/minute"}
    client = clients.key("read")
    return [client.get("/api/v1/outlets/") for _ in range(2)][-1]


def _unknown_agent(clients):
    body = {"agent_id": "7c3a1b5e-0000-4000-8000-000000000000", "mode": "add", "amount": "1", "reason": "x"}
    return clients.key("credits:write").post("/api/v1/credits/set/", body, format="json")


def _outside_drf(path):
    def answer(clients):
        clients.anonymous.raise_request_exception = False  # as a server: Django's handler500 answers it
        return clients.anonymous.get(path)

    return answer


# Every way the API answers an error, in a view or before one: (how, status, code).
ERROR_PATHS = {
    "unknown query parameter": (lambda c: c.staff.get("/api/v1/outlets/", {"bogus": "1"}), 400, "invalid_parameter"),
    "bad body": (lambda c: c.staff.post("/api/v1/credits/set/", {}, format="json"), 400, "invalid_parameter"),
    "malformed JSON": (
        lambda c: c.staff.post("/api/v1/credits/set/", data="{x", content_type="application/json"), 400, "invalid_parameter"
    ),
    "Host not allowed": (lambda c: c.anonymous.get("/api/v1/outlets/", HTTP_HOST="evil.example"), 400, "invalid_parameter"),
    "NUL in the URL": (lambda c: c.staff.get("/api/v1/outlets/?x=%00"), 400, "invalid_parameter"),
    "no credentials": (lambda c: c.anonymous.get("/api/v1/outlets/"), 401, "authentication_failed"),
    "bad credentials": (
        lambda c: c.anonymous.get("/api/v1/outlets/", HTTP_AUTHORIZATION="Bearer nonsense"), 401, "authentication_failed"
    ),
    "hold refused": (_refused_hold, 402, "insufficient_credits"),
    "missing scope": (lambda c: c.key("read").post("/api/v1/credits/set/", {}, format="json"), 403, "permission_denied"),
    "no such endpoint": (lambda c: c.anonymous.post("/api/v1/nope/", {}), 404, "not_found"),
    "no such object": (_unknown_agent, 404, "not_found"),
    "wrong method": (lambda c: c.staff.delete("/api/v1/credits/balances/"), 405, "method_not_allowed"),
    "no acceptable rendering": (
        lambda c: c.staff.get("/api/v1/outlets/", HTTP_ACCEPT="application/xml"), 406, "not_acceptable"
    ),
    "idempotency key reused": (_conflict, 409, "idempotency_conflict"),
    "second live hold for a call": (_second_hold_for_a_call, 409, "hold_conflict"),
    "batch too large": (_too_many_records, 413, "payload_too_large"),
    "not JSON": (
        lambda c: c.staff.post("/api/v1/credits/set/", data="a=b", content_type="text/plain"), 415, "unsupported_media_type"
    ),
    "throttled": (_throttled, 429, "rate_limited"),
    "bug in a view": (lambda c: c.anonymous.get("/api/v1/test/explode/"), 500, "internal_error"),
    "bug outside DRF": (_outside_drf("/api/v1/test/plain-explode/"), 500, "internal_error"),
    "database down in a view": (lambda c: c.anonymous.get("/api/v1/test/database-down/"), 503, "unavailable"),
    "database down outside DRF": (_outside_drf("/api/v1/test/plain-database-down/"), 503, "unavailable"),
}


class Clients:
    def __init__(self, anonymous, staff, key, agent):
        self.anonymous, self.staff, self.key, self.agent = anonymous, staff, key, agent


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("name", ERROR_PATHS)
def test_every_error_path_answers_its_code(name, client, staff_client, key_client, agent, monkeypatch):
    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", CallerRateThrottle.THROTTLE_RATES)
    answer, status, code = ERROR_PATHS[name]
    response = answer(Clients(client, staff_client, key_client, agent))
    assert_json_error(response, status, code)
    if status == 429:
        assert int(response["Retry-After"]) >= 1


def test_every_code_is_walked_and_is_in_the_docs_table():
    walked = {code for _, _, code in ERROR_PATHS.values()}
    assert walked == set(ERROR_CODES.values()) | {HoldStateError.code}  # and the codes DomainErrors name
    docs = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", docs, flags=re.MULTILINE))
    assert walked == documented
