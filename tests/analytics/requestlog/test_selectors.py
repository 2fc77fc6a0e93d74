"""The request log's reads, called directly: scope, today's failures, and the figures before rendering."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from analytics.models import RequestLog
from analytics.requestlog.selectors import failed_request_list, request_analytics, request_log_list
from analytics.zones import local_hour_start
from config.api.dates import DateRange
from tests.analytics.requestlog.conftest import RECORD, RECORDS, at

MARCH_2_TO_4 = DateRange(date(2026, 3, 2), date(2026, 3, 4))


def test_the_log_of_an_outlet_holds_its_keys_calls_and_staffs_log_every_call(logged):
    rows = logged["rows"]
    assert set(request_log_list(outlet_id=logged["outlet"].pk)) == set(rows[:5])
    assert set(request_log_list(outlet_id=logged["other"].pk)) == {rows[5]}
    assert set(request_log_list(outlet_id=None)) == set(rows)


def test_failed_requests_are_the_4xx_and_5xx_since_a_moment_newest_first(logged, django_assert_num_queries):
    rows = logged["rows"]
    with django_assert_num_queries(1):  # the outlet comes with each row
        failed = list(failed_request_list(outlet_id=None, since=at(2, 13)))
        assert [row.outlet for row in failed] == [None, logged["outlet"], logged["outlet"]]
    assert failed == [rows[6], rows[2], rows[1]]  # 401 and 500 at the same time: the later id first; the 302 succeeded
    assert list(failed_request_list(outlet_id=logged["outlet"].pk, since=at(2, 14))) == [rows[2]]


def test_request_analytics_answers_plain_values_for_the_serializer_to_round(traffic):
    answer = request_analytics(outlet_id=traffic["outlet"].pk, date_range=MARCH_2_TO_4, interval="day")
    assert (answer["from"], answer["to"], answer["interval"]) == (date(2026, 3, 2), date(2026, 3, 4), "day")
    assert answer["count"] == 6 and answer["success_rate"] == 4 / 6  # not yet at 4 places
    assert [period["period"] for period in answer["periods"]] == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert [(route["route"], route["count"]) for route in answer["routes"]] == [(RECORDS, 5), (RECORD, 1)]


def test_request_analytics_per_hour_has_every_hour_of_the_range(traffic):
    one_day = DateRange(date(2026, 3, 2), date(2026, 3, 2))
    answer = request_analytics(outlet_id=traffic["outlet"].pk, date_range=one_day, interval="hour")
    periods = answer["periods"]
    assert len(periods) == 24 and periods[0]["period"] == datetime(2026, 3, 2, tzinfo=UTC)
    assert {period["period"].hour: period["count"] for period in periods if period["count"]} == {9: 2, 10: 2}


def test_request_analytics_of_a_kolkata_outlet_counts_its_local_days_and_hours(traffic):
    kolkata = ZoneInfo("Asia/Kolkata")
    one_day = DateRange(date(2026, 3, 2), date(2026, 3, 2), kolkata)
    answer = request_analytics(outlet_id=traffic["outlet"].pk, date_range=one_day, interval="hour")
    periods = answer["periods"]
    assert len(periods) == 24 and periods[0]["period"].isoformat() == "2026-03-02T00:00:00+05:30"
    hourly = {period["period"].isoformat(): period["count"] for period in periods if period["count"]}
    expected = {}
    for row in RequestLog.objects.filter(outlet=traffic["outlet"]):
        if row.time.astimezone(kolkata).date() == date(2026, 3, 2):
            label = local_hour_start(row.time, kolkata).isoformat()  # on the half hour UTC
            expected[label] = expected.get(label, 0) + 1
    assert hourly == expected and all(label.endswith("+05:30") for label in hourly)
    daily = request_analytics(outlet_id=traffic["outlet"].pk, date_range=one_day, interval="day")
    assert [(period["period"], period["count"]) for period in daily["periods"]] == [
        (date(2026, 3, 2), sum(expected.values()))
    ]
