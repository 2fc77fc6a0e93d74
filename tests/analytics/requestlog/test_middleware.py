"""The request log's middleware: what it records of each API request, and when."""

import logging
import threading

from django.conf import settings
from django.http import JsonResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
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
