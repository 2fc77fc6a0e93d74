"""The API request log: the middleware, its writer, the list and analytics endpoints, retention and admin."""

import csv
import io
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import request_log, tasks
from analytics.models import RequestLog
from analytics.request_log import RequestLogMiddleware, in_flight, writer
from config.celery import app
from tests.factories import OutletFactory, create_api_key

LOG = "/api/v1/request-log/"
REQUESTS = "/api/v1/analytics/requests/"
RECORDS = "api/v1/usage/records/"
RECORD = "api/v1/usage/records/<int:pk>/"
RANGE = {"from": "2026-03-02", "to": "2026-03-04"}


@pytest.fixture(autouse=True)
def empty_log():
    """Rows other tests' requests left waiting in this process are not this test's; nor is their in-flight count."""
    writer.stop()
    writer.discard()
    in_flight.reset()
    yield
    writer.stop()
    writer.discard()


def stored() -> list[RequestLog]:
    """Every row the requests so far have logged, written now."""
    request_log.flush()
    return list(RequestLog.objects.order_by("id"))


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- what the middleware records -----------------------------------------------------------------

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

    monkeypatch.setattr(request_log, "_row", broken)
    with caplog.at_level(logging.ERROR, logger="analytics.request_log"):
        assert key_client("read").get(LOG).status_code == 200
    assert "could not record GET /api/v1/request-log/" in caplog.text
    assert in_flight.value == 0


def test_a_database_error_while_writing_is_logged_not_raised(key_client, monkeypatch, caplog):
    key_client("read").get(LOG)
    key_client("read").get(LOG)

    def unavailable(*args, **kwargs):
        raise DatabaseError("the database is down")

    monkeypatch.setattr(RequestLog.objects, "bulk_create", unavailable)
    with caplog.at_level(logging.ERROR, logger="analytics.request_log"):
        assert request_log.flush() == 0
    assert "could not store 2 rows" in caplog.text
    assert writer.pending() == 0  # dropped, not held to grow while the database is down


def test_a_full_buffer_drops_new_rows(key_client, settings, caplog):
    settings.REQUEST_LOG_MAX_BUFFERED = 2
    client = key_client("read")
    with caplog.at_level(logging.WARNING, logger="analytics.request_log"):
        for _ in range(4):
            assert client.get(LOG).status_code == 200
        assert writer.pending() == 2 and writer.dropped == 2
        assert len(stored()) == 2
    assert "dropped 2 rows" in caplog.text


def test_the_writer_thread_stores_rows_in_one_batch_per_flush(key_client, settings, monkeypatch):
    settings.REQUEST_LOG_FLUSH_SECONDS = 60
    settings.REQUEST_LOG_FLUSH_ROWS = 3
    batches, written = [], threading.Event()

    def bulk_create(rows, **kwargs):  # no database: the thread's own connection would race this test's
        batches.append([row.route for row in rows])
        written.set()

    monkeypatch.setattr(RequestLog.objects, "bulk_create", bulk_create)
    client = key_client("read")
    for _ in range(2):
        client.get(LOG)
    assert writer.pending() == 2 and not batches  # below FLUSH_ROWS and before FLUSH_SECONDS: waiting
    client.get(LOG)  # the third wakes the writer
    assert written.wait(5)
    assert batches == [["api/v1/request-log/"] * 3] and writer.pending() == 0


# --- the list ------------------------------------------------------------------------------------

def log_row(outlet=None, *, time, route=RECORDS, status=200, method="GET", latency_ms=10, in_flight=1, prefix=""):
    return RequestLog(
        outlet=outlet, time=time, route=route, status=status, method=method, latency_ms=latency_ms,
        in_flight=in_flight, key_prefix=prefix,
    )


@pytest.fixture
def logged(outlet):
    other = OutletFactory()
    rows = RequestLog.objects.bulk_create([
        log_row(outlet, time=at(2), prefix="aaaa1111"),
        log_row(outlet, time=at(2, 13), route=RECORD, status=404, prefix="aaaa1111"),
        log_row(outlet, time=at(3), method="POST", status=500, prefix="aaaa2222"),
        log_row(outlet, time=at(4), status=302, prefix="aaaa2222"),
        log_row(outlet, time=at(6), prefix="aaaa1111"),  # after the range
        log_row(other, time=at(3), prefix="bbbb1111"),
        log_row(None, time=at(3), status=401),  # unauthenticated
    ])
    return {"outlet": outlet, "other": other, "rows": rows}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_a_key_sees_its_outlets_requests_and_staff_see_every_one(logged, key_client, staff_client):
    rows = logged["rows"]
    assert ids(key_client("read").get(LOG, RANGE)) == [rows[3].pk, rows[2].pk, rows[1].pk, rows[0].pk]
    assert ids(key_client("read", for_outlet=logged["other"]).get(LOG, RANGE)) == [rows[5].pk]
    assert set(ids(staff_client.get(LOG, RANGE))) == {row.pk for row in rows[:4]} | {rows[5].pk, rows[6].pk}
    assert ids(staff_client.get(LOG, {**RANGE, "outlet_id": str(logged["other"].pk)})) == [rows[5].pk]
    item = key_client("read").get(LOG, RANGE).json()["items"][-1]
    assert item == {
        "id": rows[0].pk, "time": "2026-03-02T12:00:00Z", "outlet_id": str(logged["outlet"].pk),
        "key_prefix": "aaaa1111", "user_id": None, "method": "GET", "route": RECORDS, "status": 200,
        "latency_ms": 10, "in_flight": 1,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "404"}, [1]),
        ({"status": "4xx"}, [1]),
        ({"status": "4xx,5xx"}, [2, 1]),
        ({"status": ["2XX", "302"]}, [3, 0]),
        ({"method": "POST"}, [2]),
        ({"route": RECORD}, [1]),
        ({"route": "/" + RECORD}, [1]),
        ({"key": "aaaa2222"}, [3, 2]),
        ({"from": "2026-03-03", "to": "2026-03-03"}, [2]),
        ({"start_date": "2026-03-04", "end_date": "2026-03-06"}, [4, 3]),
    ],
)
def test_the_list_filters(logged, key_client, params, expected):
    response = key_client("read").get(LOG, {**RANGE, **params})
    assert ids(response) == [logged["rows"][index].pk for index in expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "4x"}, "status"), ({"status": "600"}, "status"), ({"method": "BREW"}, "method"), ({"from": "x"}, "from")],
)
def test_a_bad_filter_is_a_400_naming_it(logged, key_client, params, field):
    response = key_client("read").get(LOG, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_list_pages_with_a_cursor_in_a_bounded_number_of_queries(
    logged, key_client, django_assert_max_num_queries
):
    client, seen, cursor = key_client("read"), [], None
    while True:
        with django_assert_max_num_queries(3):  # the key, its last_used_at (once a minute), the page
            body = client.get(LOG, {**RANGE, "take": 3, "order": "asc", **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["cursor"]
        if cursor is None:
            break
    assert seen == [row.pk for row in logged["rows"][:4]]


def test_the_list_as_csv(logged, key_client):
    rows = csv_rows(key_client("read").get(LOG, {**RANGE, "format": "csv", "status": "5xx"}))
    assert rows == [
        ["id", "time", "outlet_id", "key_prefix", "user_id", "method", "route", "status", "latency_ms", "in_flight"],
        [str(logged["rows"][2].pk), "2026-03-03T12:00:00Z", str(logged["outlet"].pk), "aaaa2222", "", "POST", RECORDS,
         "500", "10", "1"],
    ]


# --- request analytics ---------------------------------------------------------------------------

@pytest.fixture
def traffic(outlet):
    """Hand-built requests of one outlet over 2–4 March (none on the 4th), and others that must not count."""
    other = OutletFactory()
    RequestLog.objects.bulk_create([
        log_row(outlet, time=at(2, 9, 0), latency_ms=10, in_flight=1),
        log_row(outlet, time=at(2, 9, 30), latency_ms=30, in_flight=3),
        log_row(outlet, time=at(2, 10, 0), route=RECORD, status=404, latency_ms=4, in_flight=2),
        log_row(outlet, time=at(2, 10, 15), method="POST", status=500, latency_ms=500, in_flight=1),
        log_row(outlet, time=at(3, 8), status=302, latency_ms=20, in_flight=1),
        log_row(outlet, time=at(3, 23, 59), latency_ms=40, in_flight=5),
        log_row(outlet, time=at(1, 23, 59), latency_ms=9000, in_flight=9),  # the day before the range
        log_row(outlet, time=at(5, 0, 0), latency_ms=9000, in_flight=9),  # the day after
        log_row(other, time=at(2, 9, 0), latency_ms=9000, in_flight=9),  # another outlet
    ])
    return {"outlet": outlet, "other": other}


def figures(count, success_rate, errors_4xx, errors_5xx, avg, p95, peak) -> dict:
    return {
        "count": count, "success_rate": success_rate, "errors_4xx": errors_4xx, "errors_5xx": errors_5xx,
        "avg_latency_ms": avg, "p95_latency_ms": p95, "peak_in_flight": peak,
    }


# p95 is the middle of the histogram bucket holding the nearest-rank value: 500 ms lies in
# [407, 512) -> 459; 40 in [32, 41) -> 36; 30 in [26, 32) -> 28; 4 in [4, 6) -> 4.
DAY_2 = figures(4, 0.5, 1, 1, 136.0, 459, 3)  # 10, 30, 4, 500 ms: 2 of 4 below 400
DAY_3 = figures(2, 1.0, 0, 0, 30.0, 36, 5)  # 20 (a 302 succeeds) and 40 ms
NO_REQUESTS = figures(0, None, 0, 0, None, None, 0)


def test_request_analytics_per_day_and_per_route(traffic, key_client):
    response = key_client("read").get(REQUESTS, RANGE)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "from": "2026-03-02",
        "to": "2026-03-04",
        "interval": "day",
        **figures(6, 0.6667, 1, 1, 100.7, 459, 5),  # 604 ms / 6; 4 of 6 succeed
        "periods": [
            {"period": "2026-03-02", **DAY_2},
            {"period": "2026-03-03", **DAY_3},
            {"period": "2026-03-04", **NO_REQUESTS},
        ],
        "routes": [
            {
                "route": RECORDS,
                **figures(5, 0.8, 0, 1, 120.0, 459, 5),  # 600 ms / 5
                "periods": [
                    {"period": "2026-03-02", **figures(3, 0.6667, 0, 1, 180.0, 459, 3)},
                    {"period": "2026-03-03", **DAY_3},
                ],
            },
            {
                "route": RECORD,
                **figures(1, 0.0, 1, 0, 4.0, 4, 2),
                "periods": [{"period": "2026-03-02", **figures(1, 0.0, 1, 0, 4.0, 4, 2)}],
            },
        ],
    }


def test_request_analytics_per_hour_and_per_month(traffic, key_client):
    client = key_client("read")
    hourly = client.get(REQUESTS, {"interval": "hour", "from": "2026-03-02", "to": "2026-03-02"}).json()
    assert len(hourly["periods"]) == 24
    busy = {period["period"]: period for period in hourly["periods"] if period["count"]}
    assert busy == {
        "2026-03-02T09:00:00Z": {"period": "2026-03-02T09:00:00Z", **figures(2, 1.0, 0, 0, 20.0, 28, 3)},
        "2026-03-02T10:00:00Z": {"period": "2026-03-02T10:00:00Z", **figures(2, 0.0, 1, 1, 252.0, 459, 2)},
    }
    monthly = client.get(REQUESTS, {**RANGE, "interval": "month"}).json()
    assert monthly["periods"] == [{"period": "2026-03-01", **figures(6, 0.6667, 1, 1, 100.7, 459, 5)}]


def test_request_analytics_scope(traffic, key_client, staff_client):
    other = key_client("read", for_outlet=traffic["other"]).get(REQUESTS, RANGE).json()
    assert (other["count"], other["avg_latency_ms"], other["peak_in_flight"]) == (1, 9000.0, 9)
    everyone = staff_client.get(REQUESTS, RANGE).json()
    assert (everyone["count"], everyone["peak_in_flight"]) == (7, 9)
    one = staff_client.get(REQUESTS, {**RANGE, "outlet_id": str(traffic["outlet"].pk)}).json()
    assert (one["count"], one["peak_in_flight"]) == (6, 5)


def test_request_analytics_as_csv(traffic, key_client):
    rows = csv_rows(key_client("read").get(REQUESTS, {**RANGE, "format": "csv"}))
    assert rows[0] == [
        "period", "route", "count", "success_rate", "errors_4xx", "errors_5xx", "avg_latency_ms", "p95_latency_ms",
        "peak_in_flight",
    ]
    assert rows[1:] == [
        ["2026-03-02", "", "4", "0.5", "1", "1", "136.0", "459", "3"],
        ["2026-03-03", "", "2", "1.0", "0", "0", "30.0", "36", "5"],
        ["2026-03-04", "", "0", "", "0", "0", "", "", "0"],
        ["2026-03-02", RECORDS, "3", "0.6667", "0", "1", "180.0", "459", "3"],
        ["2026-03-03", RECORDS, "2", "1.0", "0", "0", "30.0", "36", "5"],
        ["2026-03-02", RECORD, "1", "0.0", "1", "0", "4.0", "4", "2"],
    ]


def test_a_newly_logged_request_is_in_the_next_answer(traffic, key_client):
    client = key_client("read")
    assert client.get(REQUESTS, RANGE).json()["count"] == 6
    log_row(traffic["outlet"], time=at(4)).save()
    assert client.get(REQUESTS, RANGE).json()["count"] == 7  # never cached


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"interval": "week"}, "interval", "Must be one of hour, day, month; not 'week'."),
        ({"interval": "hour", "from": "2026-01-01", "to": "2026-03-01"}, "start_date", "at most 31 days"),
        ({"to": "2026-13-01"}, "to", "is not a date"),
    ],
)
def test_request_analytics_refuses_a_bad_question(key_client, params, field, message):
    response = key_client("read").get(REQUESTS, params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and message in " ".join(body["errors"][field])


# --- retention -----------------------------------------------------------------------------------

def test_the_purge_deletes_only_rows_past_the_retention(outlet, settings):
    settings.REQUEST_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    ages = [timedelta(days=90), timedelta(days=31), timedelta(days=30, seconds=1), timedelta(days=29), timedelta(0)]
    RequestLog.objects.bulk_create([log_row(outlet, time=now - age) for age in ages])
    assert request_log.request_log_purge(batch_size=2) == 3  # in batches of 2
    assert sorted(now - time for time in RequestLog.objects.values_list("time", flat=True)) == [
        timedelta(0), timedelta(days=29),
    ]
    assert tasks.purge_request_log() == 0  # nothing left to purge: safe to run again


def test_the_purge_runs_daily_from_the_beat_schedule():
    entry = app.conf.beat_schedule["purge-request-log"]
    assert entry["task"] == "analytics.tasks.purge_request_log"
    assert entry["options"]["expires"] <= 24 * 60 * 60
    assert entry["task"] in app.tasks


# --- the admin -----------------------------------------------------------------------------------

def test_the_admin_lists_requests_read_only_with_filters_and_search(logged, client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:analytics_requestlog_changelist")
    assert client.get(url).status_code == 200
    response = client.get(url, {"status_class": "4", "method": "GET"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [logged["rows"][6], logged["rows"][1]]  # 401, 404
    assert list(client.get(url, {"q": "aaaa2222"}).context["cl"].result_list) == [logged["rows"][3], logged["rows"][2]]
    assert client.get(url, {"q": "<int:pk>"}).context["cl"].result_count == 1
    assert client.get(url, {"time__year": "2026", "time__month": "3", "time__day": "3"}).context["cl"].result_count == 3
    assert client.get(url, {"outlet__id__exact": str(logged["other"].pk)}).context["cl"].result_count == 1
    change = reverse("admin:analytics_requestlog_change", args=[logged["rows"][0].pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {}).status_code == 403
    assert client.get(reverse("admin:analytics_requestlog_add")).status_code == 403


def test_the_middleware_runs_first():
    assert settings.MIDDLEWARE[0] == "analytics.request_log.RequestLogMiddleware"


def test_a_status_filter_holding_a_percent_sign_is_a_400_quoting_it(key_client):
    response = key_client("read").get(LOG, {"status": "5%"})
    assert response.status_code == 400
    assert response.json()["errors"]["status"] == ["'5%' is not a status: use a code such as 404 or a class such as 4xx."]
