"""The request log in the admin."""

import re
from datetime import UTC, datetime
from html import unescape

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import RequestLog
from tests.analytics.requestlog.conftest import at, log_row
from tests.factories import OutletFactory


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


def test_the_admin_shows_a_failures_code_and_request_id_filters_by_code_and_finds_a_request_id(
    logged, client, staff_user
):
    client.force_login(staff_user)
    url = reverse("admin:analytics_requestlog_changelist")
    rows = logged["rows"]
    listing = client.get(url)
    assert b"server_error" in listing.content and b"req-500" in listing.content
    assert b"?code=not_found" in listing.content  # the documented codes are the filter's choices
    assert list(client.get(url, {"code": "not_found"}).context["cl"].result_list) == [rows[1]]
    assert list(client.get(url, {"code": "server_error"}).context["cl"].result_list) == [rows[2]]  # any code by URL
    assert list(client.get(url, {"q": "req-500"}).context["cl"].result_list) == [rows[2]]
    with CaptureQueriesContext(connection) as queries:
        client.get(url, {"code": "not_found"})
    assert not [query for query in queries if "DISTINCT" in query["sql"]]  # the choices cost no scan of the table

    detail = client.get(reverse("admin:analytics_requestlog_change", args=[rows[2].pk]))
    for shown in (b"req-500", b"server_error", b"Something went wrong.", b"dry_run=1"):
        assert shown in detail.content


def test_the_admin_shows_latency_and_in_flight_with_separators_in_the_list_and_on_the_page(outlet, client, staff_user):
    client.force_login(staff_user)
    row = log_row(outlet, time=at(2), latency_ms=12345, in_flight=1200)
    row.save()

    listing = client.get(reverse("admin:analytics_requestlog_changelist"))

    headers = [header["text"] for header in listing.context["result_headers"]]
    (cells,) = listing.context["results"]
    shown = dict(zip(headers, (re.sub(r"<[^>]+>", "", cell) for cell in cells)))
    assert (shown["latency"], shown["in flight"]) == ("12,345 ms", "1,200")
    detail = client.get(reverse("admin:analytics_requestlog_change", args=[row.pk]))
    fields = {field.field["name"]: re.sub(r"<[^>]+>", "", str(field.contents()))
              for fieldset in detail.context["adminform"] for line in fieldset for field in line}
    assert (fields["latency"], fields["in_flight_count"]) == ("12,345 ms", "1,200")


# Times in the outlet's zone, named; a staff request without an outlet in UTC.


def text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_a_kolkata_outlets_request_reads_in_its_zone_and_a_staff_request_without_an_outlet_in_utc(client, staff_user):
    client.force_login(staff_user)
    kolkata = OutletFactory(timezone="Asia/Kolkata")
    outlets, staffs = RequestLog.objects.bulk_create([
        log_row(kolkata, time=datetime(2026, 3, 7, 20, tzinfo=UTC)), log_row(None, time=at(7, 19), status=401),
    ])

    listing = client.get(reverse("admin:analytics_requestlog_changelist"))
    pages = [client.get(reverse("admin:analytics_requestlog_change", args=[row.pk])) for row in (outlets, staffs)]

    assert [text(row[0]) for row in listing.context["results"]] == [  # no actions: the time is the first column
        "2026-03-08 01:30:00 IST (Asia/Kolkata)", "2026-03-07 19:00:00 UTC",
    ]
    assert "2026-03-08 01:30:00 IST (Asia/Kolkata)" in text(pages[0].content.decode())
    assert "2026-03-07 19:00:00 UTC" in text(pages[1].content.decode())


def test_filtered_to_one_outlet_the_request_log_drills_down_by_its_local_days(client, staff_user):
    client.force_login(staff_user)
    kolkata = OutletFactory(timezone="Asia/Kolkata")
    log_row(kolkata, time=datetime(2026, 3, 7, 20, tzinfo=UTC)).save()
    url = reverse("admin:analytics_requestlog_changelist")
    eighth = {"time__year": "2026", "time__month": "3", "time__day": "8"}

    assert client.get(url, {"outlet__id__exact": str(kolkata.pk), **eighth}).context["cl"].result_count == 1
    assert client.get(url, eighth).context["cl"].result_count == 0  # every outlet and staff: UTC days


def test_a_page_of_100_requests_in_five_zones_costs_no_query_per_row(client, staff_user, django_assert_max_num_queries):
    client.force_login(staff_user)
    zones = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", None)  # None: staff, no outlet
    outlets = [OutletFactory(timezone=zone) if zone else None for zone in zones]
    RequestLog.objects.bulk_create([log_row(outlets[n % 5], time=at(2, n // 5)) for n in range(100)])

    with django_assert_max_num_queries(7):  # 6, and on PostgreSQL the row estimate before the count
        response = client.get(reverse("admin:analytics_requestlog_changelist"))

    assert len(response.context["cl"].result_list) == 100
    assert {text(row[0]).split(" ", 2)[2] for row in response.context["results"]} == {
        "UTC", "EST (America/New_York)", "IST (Asia/Kolkata)", "+11 (Australia/Lord_Howe)",
    }
