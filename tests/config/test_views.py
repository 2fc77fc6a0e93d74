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
        "success": False, "message": "The Host header names a host this server does not serve.", "errors": {},
    }


@pytest.mark.django_db
def test_a_host_not_allowed_keeps_djangos_page_outside_the_api():
    response = Client().get("/admin/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_to_no_endpoint_is_a_json_404_not_a_csrf_page(method):
    response = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/no-such-thing/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["message"] == "No API endpoint at /api/v1/no-such-thing/."



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
