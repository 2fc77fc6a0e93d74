"""Every bar and row of the dashboard leads to the rows behind it: each link, followed, lists exactly those rows."""

import html
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs

import pytest

from analytics.models import RequestLog
from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, svg
from tests.analytics.handbuilt import D1, D3, TODAY, at, ingest, record
from tests.factories import OutletFactory
from usage.models import Interaction, UsageRecord


def listed(client, url: str) -> set:
    """The primary keys of the rows a changelist lists at `url` (it must not have refused a filter)."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    assert "e" not in parse_qs(page.request["QUERY_STRING"]), url  # the admin's answer to a lookup it does not allow
    return {row.pk for row in page.context["cl"].result_list}


def in_range(table, time_field: str, outlet, **fields) -> set:
    """The rows of the outlet on D1..D3 (UTC) with these field values: what a link must list."""
    rows = table.objects.filter(outlet=outlet, **{f"{time_field}__date__range": (D1, D3)}, **fields)
    return set(rows.values_list("pk", flat=True))


@pytest.fixture
def page(staff, spend):
    ingest(
        spend["outlet"],
        record(spend["a1"], "v1", at(D1, 16), credits="2", model="eleven_v3", voice="Ada", product="studio", api_key_label="web"),
        record(spend["a2"], "v2", at(D3, 8), credits="1", voice="Ada", product="dubbing", api_key_label="web"),
        record(spend["a2"], "v3", at(D3, 9), credits="0.5", voice="Brian", end_user_id="user-7"),
    )
    return staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})


def rows_of(page, table: str) -> list[dict]:
    return page.context["dashboard"]["tables"][table].rows


def test_a_daily_row_lists_that_days_records_of_the_outlet(staff, spend, page):
    rows = rows_of(page, "daily")
    assert [row["date"] for row in rows] == [D1, D1 + timedelta(days=1), D3]
    for row in rows:
        expected = {pk for pk in in_range(UsageRecord, "occurred_at", spend["outlet"], occurred_at__date=row["date"])}
        assert expected and listed(staff, row["url"]) == expected, row["date"]


def test_a_type_row_lists_that_types_records(staff, spend, page):
    for row in rows_of(page, "by_type"):
        assert listed(staff, row["url"]) == in_range(UsageRecord, "occurred_at", spend["outlet"], type=row["type"])


def test_a_top_agent_row_lists_that_agents_records_as_many_as_it_counts(staff, spend, page):
    rows = rows_of(page, "top_agents")
    assert {row["agent"] for row in rows} == {"first", "second"}
    for row in rows:
        records = listed(staff, row["records_url"])
        assert records == in_range(UsageRecord, "occurred_at", spend["outlet"], agent_id=row["agent_id"])
        assert len(records) == row["records"]


def test_a_model_row_lists_the_records_of_that_type_model_and_unit(staff, spend, page):
    assert "eleven_v3" in {row["model"] for row in rows_of(page, "models")}
    for row in rows_of(page, "models"):
        records = listed(staff, row["url"])
        assert records == in_range(
            UsageRecord, "occurred_at", spend["outlet"], type=row["type"], unit=row["unit"],
            model="" if row["model"] == "(none)" else row["model"],
        )
        assert len(records) == row["calls"]


@pytest.mark.parametrize(
    ("breakdown", "field", "values"),
    [
        ("voice", "voice", {"Ada", "Brian", ""}),
        ("product", "product", {"studio", "dubbing", ""}),
        ("api_key", "api_key_label", {"web", ""}),
        ("user", "end_user_id", {"user-7", ""}),
    ],
)
def test_a_breakdown_row_lists_the_records_of_that_value(staff, spend, page, breakdown, field, values):
    answer = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk, "breakdown": breakdown})
    rows = rows_of(answer, "breakdown")
    assert {value_of(row) for row in rows} == values
    for row in rows:
        records = listed(staff, row["url"])
        assert records and records == in_range(UsageRecord, "occurred_at", spend["outlet"], **{field: value_of(row)})


def value_of(row: dict) -> str:
    return "" if row["value"] == "(none)" else row["value"]


@pytest.mark.parametrize(("table", "field"), [("status", "status"), ("sentiment", "sentiment")])
def test_a_status_or_sentiment_row_lists_those_calls_as_many_as_it_counts(staff, spend, page, table, field):
    for row in rows_of(page, table):
        calls = listed(staff, row["url"])
        assert calls == in_range(Interaction, "started_at", spend["outlet"], **{field: row["key"]})
        assert len(calls) == row["calls"]


def test_a_call_length_row_lists_the_calls_of_that_length_as_many_as_it_counts(staff, spend, page):
    rows = rows_of(page, "drop_off")
    # c1 (20 s) and c4 (0 s); c2 (45 s); c3 (90 s); c6 (200 s); c5 (400 s): the open-ended last bucket too.
    assert [row["calls"] for row in rows] == [2, 1, 1, 1, 1]
    for row, (floor, ceiling) in zip(rows, [(0, 30), (30, 60), (60, 180), (180, 300), (300, 10**6)], strict=True):
        calls = listed(staff, row["url"])
        assert calls == in_range(
            Interaction, "started_at", spend["outlet"], duration_seconds__gte=floor, duration_seconds__lt=ceiling
        ), row["bucket"]
        assert len(calls) == row["calls"]


def test_the_charts_bars_carry_their_rows_links(page):
    for chart, table, key in [
        ("chart-daily", "daily", "url"), ("chart-by-type", "by_type", "url"), ("chart-breakdown", "breakdown", "url"),
        ("chart-top-agents", "top_agents", "records_url"), ("chart-models", "models", "url"),
        ("chart-status", "status", "url"), ("chart-sentiment", "sentiment", "url"), ("chart-drop-off", "drop_off", "url"),
    ]:
        hrefs = [html.unescape(href) for href in re.findall(r'<a href="([^"]+)"><rect class="bar"', svg(page, chart))]
        assert hrefs == [row[key] for row in rows_of(page, table)], chart


def logged(status: int, when: datetime, route="api/v1/usage/records/", **fields) -> RequestLog:
    return RequestLog.objects.create(
        time=when, method="POST", route=route, status=status, latency_ms=12, in_flight=1, **fields
    )


def test_a_failed_call_row_lists_its_request_log_row_and_the_request_log_link_opens_todays_failures(
    staff, outlet, today
):
    nine = datetime.combine(TODAY, time(9), tzinfo=UTC)
    failed = logged(500, nine + timedelta(microseconds=250), key_prefix="AbCd1234", outlet=outlet)
    other_route = logged(500, nine + timedelta(microseconds=500), route="api/v1/credits/set/", outlet=outlet)
    not_found = logged(404, nine + timedelta(hours=1), route=RequestLog.UNMATCHED_ROUTE)
    logged(201, nine + timedelta(hours=2), outlet=outlet)  # a success
    logged(400, nine - timedelta(days=1))  # yesterday

    page = staff.get(INDEX)

    rows = {(row["status"], row["route"]): row for row in rows_of(page, "failed_requests")}
    assert listed(staff, rows[(500, "api/v1/usage/records/")]["url"]) == {failed.pk}
    assert listed(staff, rows[(404, RequestLog.UNMATCHED_ROUTE)]["url"]) == {not_found.pk}
    request_log = page.context["dashboard"]["links"]["request_log"]
    assert listed(staff, request_log) == {failed.pk, other_route.pk, not_found.pk}
    assert f'href="{html.escape(request_log)}"' in page.content.decode()


def test_for_one_outlet_the_request_log_link_opens_its_local_days_failures(staff, today):
    kolkata = OutletFactory(timezone="Asia/Kolkata")
    just_after_midnight = datetime.combine(TODAY, time(0, 30), tzinfo=kolkata.zone)  # 19:00 UTC the day before
    failed = logged(500, just_after_midnight, outlet=kolkata)
    logged(500, just_after_midnight, outlet=OutletFactory())  # another outlet's

    page = staff.get(INDEX, {"outlet": kolkata.pk})

    assert listed(staff, page.context["dashboard"]["links"]["request_log"]) == {failed.pk}
    assert "since midnight in Asia/Kolkata" in page.content.decode()
