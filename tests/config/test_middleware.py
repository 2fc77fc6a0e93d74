"""The door: every response has a Request-Id; in the API a NUL in the URL is a 400, and past
API_STATEMENT_TIMEOUT_MS a statement is a JSON 503, and nothing else is cut."""

import re
import time

import pytest
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns

TIMEOUT_MS = 300


def sleep(seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


class SleepView(APIView):
    permission_classes = []
    authentication_classes = []

    def get(self, request):
        sleep(float(request.query_params["seconds"]))
        return Response({"slept": True})


def plain_sleep_view(request):
    sleep(float(request.GET["seconds"]))
    return JsonResponse({"slept": True})


urlpatterns = [path("api/v1/test/sleep/", SleepView.as_view()), path("test/sleep/", plain_sleep_view)]
urlpatterns += project_urlpatterns


def statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.fixture
def client(transactional_db):
    """Requests in autocommit, as in production: a cancelled statement does not abort a test's transaction."""
    with override_settings(ROOT_URLCONF=__name__, API_STATEMENT_TIMEOUT_MS=TIMEOUT_MS):
        yield APIClient()
    connection.close()  # the test's teardown (a TRUNCATE) is no API request: a new connection has the default


@pytest.mark.postgres
def test_an_api_statement_past_the_timeout_is_a_json_503_with_retry_after(client):
    began = time.monotonic()
    response = client.get("/api/v1/test/sleep/", {"seconds": 5})
    assert time.monotonic() - began < 3
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["success"] is False and f"{TIMEOUT_MS} ms" in body["message"]
    assert int(response["Retry-After"]) > 0
    assert client.get("/api/v1/test/sleep/", {"seconds": 0.01}).json() == {"success": True, "slept": True}


@pytest.mark.postgres
def test_the_timeout_holds_for_api_requests_only_on_a_pooled_connection(client):
    assert client.get("/api/v1/test/sleep/", {"seconds": 0}).status_code == 200
    assert statement_timeout() == f"{TIMEOUT_MS}ms"  # set once, kept for the connection's next API request
    assert client.get("/api/v1/test/sleep/", {"seconds": 0}).status_code == 200

    # A non-API request on the same connection runs at the database's default, longer than the API's timeout.
    assert client.get("/test/sleep/", {"seconds": TIMEOUT_MS * 2 / 1000}).json() == {"slept": True}
    assert statement_timeout() == "0"
    # So does work outside any request (the Celery worker's builds, commands, migrations).
    sleep(TIMEOUT_MS * 2 / 1000)


@pytest.mark.postgres
def test_a_request_without_a_query_costs_no_round_trip(client):
    connection.close()
    assert client.get("/api/v1/test/nothing-here/").status_code == 404
    assert connection.connection is None  # not even connected


@pytest.mark.parametrize(
    "url", ["/api/v1/interactions/a%00b/", "/api/v1/usage/records/?model=a%00b", "/api/v1/usage/records/?meta%5Bx%5D=%00"]
)
def test_a_nul_in_an_api_url_is_a_json_400(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert response.json()["message"] == "The URL must not contain the NUL character (%00)."


@pytest.mark.parametrize("path", ["/api/v1/outlets/", "/api/v1/nope/", "/healthz", "/admin/login/"])
def test_every_response_carries_a_generated_request_id(client, db, path):
    first, second = client.get(path)["Request-Id"], client.get(path)["Request-Id"]
    assert first and second and first != second


def test_a_sane_client_request_id_is_echoed_and_kept_on_the_request(staff_client):
    response = staff_client.get("/api/v1/outlets/", HTTP_X_REQUEST_ID="trace-7.A_b")
    assert response["Request-Id"] == "trace-7.A_b"
    assert response.wsgi_request.request_id == "trace-7.A_b"


@pytest.mark.parametrize("offered", ["", "x" * 129, "a b", "a\u00e9", "id;drop", "../etc"])
def test_an_insane_client_request_id_is_replaced_never_echoed(staff_client, offered):
    response = staff_client.get("/api/v1/outlets/", HTTP_X_REQUEST_ID=offered)
    assert response["Request-Id"] != offered and re.fullmatch(r"[0-9a-f]{32}", response["Request-Id"])


def test_the_request_id_is_set_just_inside_the_request_log_so_the_log_can_read_it():
    assert settings.MIDDLEWARE[:2] == ["analytics.requestlog.middleware.RequestLogMiddleware", "config.api.middleware.RequestIdMiddleware"]
