"""What the request log's tests share: an empty buffer per test, hand-built log rows, and reading answers."""

import csv
import io
from datetime import UTC, datetime

import pytest

from analytics.models import RequestLog
from analytics.requestlog.writer import flush, in_flight, writer
from tests.factories import OutletFactory

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
    flush()
    return list(RequestLog.objects.order_by("id"))


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def log_row(
    outlet=None, *, time, route=RECORDS, status=200, method="GET", latency_ms=10, in_flight=1, prefix="", **failure
):
    """A row; `failure` may add request_id, code, message and query."""
    return RequestLog(
        outlet=outlet, time=time, route=route, status=status, method=method, latency_ms=latency_ms,
        in_flight=in_flight, key_prefix=prefix, **failure,
    )


@pytest.fixture
def logged(outlet):
    other = OutletFactory()
    rows = RequestLog.objects.bulk_create([
        log_row(outlet, time=at(2), prefix="aaaa1111"),
        log_row(outlet, time=at(2, 13), route=RECORD, status=404, prefix="aaaa1111", code="not_found"),
        log_row(
            outlet, time=at(3), method="POST", status=500, prefix="aaaa2222", request_id="req-500",
            code="server_error", message="Something went wrong.", query="dry_run=1",
        ),
        log_row(outlet, time=at(4), status=302, prefix="aaaa2222"),
        log_row(outlet, time=at(6), prefix="aaaa1111"),  # after the range
        log_row(other, time=at(3), prefix="bbbb1111"),
        log_row(None, time=at(3), status=401, code="authentication_failed"),  # unauthenticated
    ])
    return {"outlet": outlet, "other": other, "rows": rows}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


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
