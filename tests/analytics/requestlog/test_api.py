"""The request log's endpoints: the list (scope, paging, CSV) and the request analytics."""

import pytest

from analytics.models import RequestLog
from tests.analytics.requestlog.conftest import LOG, RANGE, RECORD, RECORDS, REQUESTS, at, csv_rows, ids, log_row
from tests.factories import OutletFactory


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
        "latency_ms": 10, "in_flight": 1, "request_id": "", "code": "", "message": "", "query": "",
    }
    failed = key_client("read").get(LOG, RANGE).json()["items"][1]
    assert (failed["id"], failed["request_id"], failed["code"], failed["message"], failed["query"]) == (
        rows[2].pk, "req-500", "server_error", "Something went wrong.", "dry_run=1"
    )


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
        [
            "id", "time", "outlet_id", "key_prefix", "user_id", "method", "route", "status", "latency_ms", "in_flight",
            "request_id", "code", "message", "query",
        ],
        [str(logged["rows"][2].pk), "2026-03-03T12:00:00Z", str(logged["outlet"].pk), "aaaa2222", "", "POST", RECORDS,
         "500", "10", "1", "req-500", "server_error", "Something went wrong.", "dry_run=1"],
    ]


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
        ({"interval": "hour", "from": "2026-01-01", "to": "2026-03-01"}, "from", "at most 31 days"),
        ({"to": "2026-13-01"}, "to", "is not a date"),
    ],
)
def test_request_analytics_refuses_a_bad_question(key_client, params, field, message):
    response = key_client("read").get(REQUESTS, params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and message in " ".join(body["errors"][field])


def test_the_list_reads_a_kolkata_keys_dates_as_its_local_dates_and_staffs_over_every_outlet_in_utc(
    key_client, staff_client
):
    kolkata = OutletFactory(timezone="Asia/Kolkata")
    early, late = RequestLog.objects.bulk_create([
        log_row(kolkata, time=at(7, 20)),  # 01:30 on the 8th in Kolkata
        log_row(kolkata, time=at(8, 20)),  # the 9th there
    ])
    the_8th = {"start_date": "2026-03-08", "end_date": "2026-03-08"}
    client = key_client("read", for_outlet=kolkata)
    assert ids(client.get(LOG, the_8th)) == [early.pk]
    assert ids(staff_client.get(LOG, {**the_8th, "outlet_id": str(kolkata.pk)})) == [early.pk]
    assert ids(staff_client.get(LOG, the_8th)) == [late.pk]
    header, row = csv_rows(client.get(LOG, {**the_8th, "format": "csv"}))
    assert row[header.index("time")] == "2026-03-08T01:30:00+05:30"
    _, utc_row = csv_rows(staff_client.get(LOG, {**the_8th, "format": "csv"}))
    assert utc_row[header.index("time")] == "2026-03-08T20:00:00Z"
