from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from tests.outages import redis_down


@pytest.mark.django_db
def test_a_host_not_allowed_is_a_json_400_under_the_api():
    response = Client().get("/api/v1/outlets/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "success": False, "code": "invalid_parameter", "message": "The Host header names a host this server does not serve.",
        "errors": {},
    }


@pytest.mark.django_db
def test_a_host_not_allowed_keeps_djangos_page_outside_the_api():
    response = Client().get("/admin/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v2/usage/records/", "/api/nope"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_to_no_endpoint_is_a_json_404_not_a_csrf_page(method, path):
    response = getattr(Client(enforce_csrf_checks=True), method)(path, data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["message"] == f"No API endpoint at {path}."
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("root", ["/api", "/api/", "/api/v1", "/api/v1/"])
def test_the_api_roots_say_where_the_docs_and_the_schema_are(db, root):
    client = Client()
    response = client.get(root, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")  # a browser's
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    body = response.json()
    assert body["success"] is True and "Request-Id" in response
    assert (body["docs"], body["schema"], body["versions"]) == (
        "http://testserver/api/docs/", "http://testserver/api/schema/", {"v1": "http://testserver/api/v1/"}
    )
    assert client.get(body["docs"]).status_code == 200
    assert client.get(body["schema"], {"format": "json"}).json()["openapi"].startswith("3.")


@pytest.mark.parametrize("root", ["/api", "/api/v1/"])
def test_a_write_to_an_api_root_is_a_json_405_and_a_stray_parameter_a_400(db, root):
    written = Client(enforce_csrf_checks=True).post(root, data="{}", content_type="application/json")
    assert (written.status_code, written.json()["code"], written["Allow"]) == (405, "method_not_allowed", "GET, HEAD, OPTIONS")
    asked = Client().get(root, {"page": "2"})
    assert (asked.status_code, asked.json()["code"], list(asked.json()["errors"])) == (400, "invalid_parameter", ["page"])


def test_a_logged_in_staff_write_to_no_endpoint_is_a_json_404_too(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/api/v1/credits/nope/", data="{}", content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/usage/records/", {"meta[channel]": "web", "type": "TTS", "take": "5", "order": "asc", "from": "2026-01-01"}),
        ("/api/v1/credits/ledger/", {"kind": "ADD", "agent_id": "7c3a1b5e-0000-4000-8000-000000000000", "cursor": ""}),
        ("/api/v1/usage/summary/", {"group_by": "AGENT", "start_date": "2026-01-01", "format": "json"}),
        ("/api/v1/analytics/usage/", {"metric": "units", "agent": "7c3a1b5e-0000-4000-8000-000000000000"}),
        ("/api/v1/usage/series/", {"days": "7"}),
    ],
)
def test_what_a_view_declares_is_a_known_query_parameter(key_client, path, params):
    assert key_client("read").get(path, params).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("/api/v1/usage/records/", {"type": "TTS", "typo": "1"}, ["typo"]),
        ("/api/v1/usage/records/", {"extra[x]": "1"}, ["extra[x]"]),
        ("/api/v1/credits/balances/", {"agentid": "x", "lo": "true"}, ["agentid", "lo"]),
        ("/api/v1/usage/series/", {"from": "2026-01-01"}, ["from"]),  # a question without a date range
        ("/api/v1/usage/summary/", {"interval": "day"}, ["interval"]),
        ("/api/v1/usage/records/1/", {"format": "csv"}, ["format"]),
        ("/api/v1/outlets/", {"outlet_id": "7c3a1b5e-0000-4000-8000-000000000000"}, ["outlet_id"]),  # staff's only
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it(key_client, path, params, unknown):
    response = key_client("read").get(path, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], sorted(body["errors"])) == ("invalid_parameter", unknown)
    assert "Unknown query parameter" in body["message"]


def test_staff_may_name_the_outlet(staff_client, outlet):
    assert staff_client.get("/api/v1/outlets/", {"outlet_id": str(outlet.pk)}).status_code == 200



def test_healthz_with_the_broker_down_is_a_degraded_200_so_the_api_stays_in_rotation(client, db):
    with redis_down():
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["database"], body["degraded"]) == (True, "ok", True)
    assert body["broker"].startswith("error: ")


def test_healthz_with_the_database_down_is_a_503(client, db):
    with mock.patch("config.api.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"
