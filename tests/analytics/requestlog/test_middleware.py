"""The request log's middleware: what it records of each API request, and when."""

import logging
import threading

import pytest
from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient

from analytics.models import RequestLog
from analytics.requestlog import middleware
from analytics.requestlog.middleware import RequestLogMiddleware
from analytics.requestlog.writer import in_flight, writer
from tests.analytics.requestlog.conftest import LOG, RECORD, stored
from tests.factories import create_api_key


def test_an_api_request_is_recorded_with_its_route_pattern_and_key_prefix_never_the_secret(outlet):
    key, raw_key = create_api_key(outlet=outlet, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    before = timezone.now()
    assert client.get("/api/v1/usage/records/12345/").status_code == 404
    assert client.get(LOG, {"take": 1}).status_code == 200

    detail, listing = stored()
    assert (detail.method, detail.route, detail.status) == ("GET", RECORD, 404)  # the pattern, not the raw path
    assert (listing.route, listing.status) == ("api/v1/request-log/", 200)
    for row in (detail, listing):
        assert row.outlet_id == outlet.pk and row.api_key_id == key.pk and row.key_prefix == key.prefix
        assert row.user_id is None
        assert before <= row.time <= timezone.now()
        assert 0 <= row.latency_ms < 10_000
        assert row.in_flight == 1  # itself: nothing else was in flight
    secret = raw_key.partition(".")[2]
    assert not any(secret in str(value) for row in (detail, listing) for value in vars(row).values())


def test_failed_requests_are_recorded_with_their_status(outlet, key_client, api_client):
    key_client("read").get(LOG, {"take": 0})  # 400
    key_client("read").post("/api/v1/credits/set/", {}, format="json")  # 403: no credits:write
    api_client.get(LOG)  # 401: no credentials
    api_client.get(LOG, HTTP_AUTHORIZATION="Bearer abcd1234.not-the-secret")  # 401: a made-up key
    api_client.get("/api/v1/no-such-thing/")  # 404 from the catch-all

    bad, forbidden, anonymous, made_up, unmatched = stored()
    assert (bad.route, bad.status, bad.outlet_id) == ("api/v1/request-log/", 400, outlet.pk)
    assert (forbidden.method, forbidden.route, forbidden.status) == ("POST", "api/v1/credits/set/", 403)
    assert (anonymous.status, anonymous.outlet_id, anonymous.key_prefix) == (401, None, "")
    assert (made_up.status, made_up.outlet_id, made_up.key_prefix) == (401, None, "abcd1234")  # the claimed prefix
    assert (unmatched.route, unmatched.status) == (RequestLog.UNMATCHED_ROUTE, 404)


def test_a_staff_session_call_records_the_user_and_no_outlet(staff_client, staff_user):
    staff_client.get(LOG)
    (row,) = stored()
    assert (row.user_id, row.outlet_id, row.key_prefix, row.status) == (staff_user.pk, None, "", 200)


def test_requests_outside_the_api_are_not_recorded(client, staff_user):
    client.get("/healthz")
    client.get("/admin/login/")
    client.force_login(staff_user)
    client.get(reverse("admin:analytics_requestlog_changelist"))
    assert writer.pending() == 0


def test_a_streamed_csv_is_recorded_once_its_last_row_is_sent(key_client):
    response = key_client("read").get(LOG, {"format": "csv"})
    assert response.streaming and writer.pending() == 0 and in_flight.value == 1  # still being sent
    b"".join(response.streaming_content)
    assert writer.pending() == 1 and in_flight.value == 0
    (row,) = stored()
    assert (row.route, row.status) == ("api/v1/request-log/", 200)


def test_in_flight_is_the_number_of_requests_being_served_when_one_arrives(monkeypatch):
    rows = []
    monkeypatch.setattr(writer, "add", rows.append)
    arrived, release = threading.Event(), threading.Event()

    def slow(request):
        arrived.set()
        release.wait(5)
        return JsonResponse({})

    factory = RequestFactory()
    first = threading.Thread(target=RequestLogMiddleware(slow), args=(factory.get("/api/v1/slow/"),))
    first.start()
    assert arrived.wait(5)
    RequestLogMiddleware(lambda request: JsonResponse({}))(factory.get("/api/v1/fast/"))
    release.set()
    first.join(5)
    assert [row["in_flight"] for row in rows] == [2, 1]  # the fast one arrived while the slow one was served
    assert in_flight.value == 0


def test_a_failure_to_record_never_reaches_the_client(key_client, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("broken")

    monkeypatch.setattr(middleware, "_row", broken)
    with caplog.at_level(logging.ERROR, logger="analytics.request_log"):
        assert key_client("read").get(LOG).status_code == 200
    assert "could not record GET /api/v1/request-log/" in caplog.text
    assert in_flight.value == 0


def test_the_middleware_runs_first():
    assert settings.MIDDLEWARE[0] == "analytics.requestlog.middleware.RequestLogMiddleware"


# --- what a failure keeps: the error's code and message, the query, the Request-Id ---------------

def logged_row(monkeypatch, response, path="/api/v1/thing/", **request_attributes) -> dict:
    """The row the middleware takes of `response` to a GET of `path`."""
    rows = []
    monkeypatch.setattr(writer, "add", rows.append)
    request = RequestFactory().get(path)
    vars(request).update(request_attributes)
    assert RequestLogMiddleware(lambda request: response)(request) is response
    (row,) = rows
    return row


def failure(row: dict) -> tuple:
    return row.get("code", ""), row.get("message", ""), row.get("query", ""), row["request_id"]


def test_a_drf_error_keeps_its_code_message_redacted_query_and_request_id(monkeypatch):
    body = {"success": False, "code": "insufficient_credits", "message": "Not enough credits.", "errors": {}}
    response = Response(body, status=402, headers={"Request-Id": "req-1"})
    row = logged_row(monkeypatch, response, "/api/v1/thing/?agent_id=7&token=abc")
    assert failure(row) == ("insufficient_credits", "Not enough credits.", "agent_id=7&token=[redacted]", "req-1")
    assert not response.is_rendered  # read from its data: nothing parsed, nothing rendered


def test_a_json_error_is_read_from_its_body_cut_to_the_columns_bounds(monkeypatch):
    response = JsonResponse({"code": "c" * 100, "message": "m" * 600}, status=400)
    code, message, _, _ = failure(logged_row(monkeypatch, response))
    assert (code, message) == ("c" * 64, "m" * 500)


@pytest.mark.parametrize(
    "response",
    [
        HttpResponse("<h1>Server Error</h1>", status=500),  # not JSON
        HttpResponse(b"{not json", status=502, content_type="application/json"),
        HttpResponse(b"\xff\xfe", status=502, content_type="application/json"),  # not even UTF-8
        HttpResponse(b"[" * 20_000, status=502, content_type="application/json"),  # too large to parse
        JsonResponse({"code": "x", "errors": ["e" * 20_000]}, status=400),  # too large to parse
        JsonResponse(["not", "an", "object"], safe=False, status=400),
        JsonResponse({"code": 7, "message": ["not text"]}, status=400),
    ],
)
def test_a_failure_without_a_readable_error_body_keeps_no_code(monkeypatch, response):
    row = logged_row(monkeypatch, response, "/api/v1/thing/?take=5")
    assert failure(row) == ("", "", "take=5", "")


@pytest.mark.django_db  # closing a response sends request_finished, which checks the connection
def test_a_streamed_failure_is_never_read_by_the_log(monkeypatch):
    rows = []
    monkeypatch.setattr(writer, "add", rows.append)
    body = StreamingHttpResponse(iter([b'{"code": "never_read"}']), status=500, content_type="application/json")
    response = RequestLogMiddleware(lambda request: body)(RequestFactory().get("/api/v1/export/"))
    assert b"".join(response.streaming_content) == b'{"code": "never_read"}'  # whole for the client
    response.close()
    assert failure(rows[0]) == ("", "", "", "")


def test_a_success_keeps_its_request_id_but_no_query(monkeypatch):
    row = logged_row(monkeypatch, JsonResponse({"success": True}, headers={"Request-Id": "req-2"}), "/api/v1/x/?token=a")
    assert failure(row) == ("", "", "", "req-2")


def test_the_request_id_is_the_requests_own_when_the_response_has_no_header(monkeypatch):
    assert logged_row(monkeypatch, JsonResponse({}), request_id="req-3")["request_id"] == "req-3"
    assert logged_row(monkeypatch, JsonResponse({}, headers={"Request-Id": "r" * 200}))["request_id"] == "r" * 128


def test_a_real_failure_is_stored_with_its_message_and_redacted_query(key_client, api_client):
    key_client("read").get(LOG, {"take": 0, "password": "hunter2"})  # 400 from DRF: read from its data
    api_client.get("/api/v1/no-such-thing/", {"q": "abcd1234.abcdefghijklmnopqrstuvwxyz"})  # 404: a JsonResponse

    bad, unmatched = stored()
    assert bad.status == 400 and "take" in bad.message
    assert bad.query == "take=0&password=[redacted]"
    assert (unmatched.status, unmatched.message) == (404, "No API endpoint at /api/v1/no-such-thing/.")
    assert unmatched.query == "q=[redacted]"
