"""The request log list's filters: status codes and classes, error codes, methods, the route, the key's prefix."""

import pytest
from django.urls import reverse

from analytics.models import RequestLog
from analytics.requestlog.filtersets import status_class
from tests.analytics.requestlog.conftest import LOG, RANGE, RECORD, at, ids, log_row


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "404"}, [1]),
        ({"status": "4xx"}, [1]),
        ({"status": "4xx,5xx"}, [2, 1]),
        ({"status": ["2XX", "302"]}, [3, 0]),
        ({"code": "not_found"}, [1]),
        ({"code": "not_found,server_error"}, [2, 1]),
        ({"code": ["Server_Error", "not_found"]}, [2, 1]),
        ({"code": "rate_limited"}, []),
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
    [
        ({"status": "4x"}, "status"), ({"status": "600"}, "status"), ({"code": "not-found"}, "code"),
        ({"code": "x" * 65}, "code"), ({"method": "BREW"}, "method"), ({"from": "x"}, "from"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(logged, key_client, params, field):
    response = key_client("read").get(LOG, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_status_filter_holding_a_percent_sign_is_a_400_quoting_it(key_client):
    response = key_client("read").get(LOG, {"status": "5%"})
    assert response.status_code == 400
    assert response.json()["errors"]["status"] == ["'5%' is not a status: use a code such as 404 or a class such as 4xx."]


def test_a_status_class_is_its_hundred_statuses_for_the_api_and_the_admin_alike(outlet, key_client, client, staff_user):
    RequestLog.objects.bulk_create([log_row(outlet, time=at(3), status=status) for status in (399, 400, 499, 500)])
    assert sorted(RequestLog.objects.filter(status_class(4)).values_list("status", flat=True)) == [400, 499]
    listed = key_client("read").get(LOG, {**RANGE, "status": "4xx"}).json()["items"]
    assert sorted(item["status"] for item in listed) == [400, 499]
    client.force_login(staff_user)
    admin_list = client.get(reverse("admin:analytics_requestlog_changelist"), {"status_class": "4"}).context["cl"]
    assert sorted(row.status for row in admin_list.result_list) == [400, 499]
