"""The dashboard's numbers: scoped to the outlet, today's failed calls, cached in a bounded number of queries."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from analytics.models import RequestLog
from analytics.services import rollup_dirty_buckets
from config.api import dates
from credits import services as credit_services
from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, csv_rows, kpis
from tests.analytics.handbuilt import ACTOR, TODAY, at, call, ingest, record
from tests.factories import AgentFactory, OutletFactory
from usage.services import upsert_interactions


def test_other_outlets_stay_out_of_one_outlets_dashboard(staff, spend):
    one = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})
    every = staff.get(INDEX, SPEND_RANGE)

    assert kpis(one)["calls"] == "6" and kpis(every)["calls"] == "7"  # the stranger's call
    assert spend["stranger"].name not in one.content.decode()
    assert spend["stranger"].name in every.content.decode()


def test_failed_api_calls_today_count_and_list_the_latest(staff, outlet, today):
    midnight = datetime.combine(TODAY, time.min, tzinfo=UTC)

    def logged(status: int, when: datetime, route="api/v1/usage/records/", **fields) -> RequestLog:
        return RequestLog.objects.create(
            time=when, method="POST", route=route, status=status, latency_ms=12, in_flight=1, **fields
        )

    logged(500, midnight + timedelta(hours=9), key_prefix="AbCd1234", outlet=outlet)
    logged(404, midnight + timedelta(hours=10), route=RequestLog.UNMATCHED_ROUTE)
    logged(201, midnight + timedelta(hours=11), key_prefix="AbCd1234", outlet=outlet)  # a success
    logged(400, midnight - timedelta(seconds=1))  # yesterday

    page = staff.get(INDEX)

    assert 'data-failed-count="2"' in page.content.decode()
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "failed_requests"}))
    assert [(row["status"], row["route"], row["key_prefix"], row["outlet"]) for row in rows] == [
        ("404", RequestLog.UNMATCHED_ROUTE, "", ""),
        ("500", "api/v1/usage/records/", "AbCd1234", outlet.name),
    ]
    assert rows[1]["time"] == "2026-10-15T09:00:00+00:00"
    one_outlet = staff.get(INDEX, {"outlet": outlet.pk})
    assert 'data-failed-count="1"' in one_outlet.content.decode()


def grow(outlets: int, agents: int) -> None:
    """More outlets, agents, calls and usage: the dashboard's query count must not follow."""
    day = dates.today_utc() - timedelta(days=2)
    for _ in range(outlets):
        outlet = OutletFactory()
        for index in range(agents):
            agent = AgentFactory(outlet=outlet)
            credit_services.credits_add(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="low, so an alert opens")
            upsert_interactions(outlet=outlet, interactions=[
                call(agent, f"c{index}", at(day), status="completed", duration=40, sentiment="positive"),
            ])
            ingest(outlet, record(agent, f"r{index}", at(day), count=10, credits="1", cost="0.01", latency_ms=400))
    rollup_dirty_buckets()


# Measured: 30 cold (every selector computes from the rollups), 11 warm: the session, the user, the outlets, the
# newest ledger entry (the runway's cache key), balances, open alerts, grants expiring within a week, today's
# failed calls (count and latest), credits held and agents refused a hold today.
COLD_QUERIES = 43


WARM_QUERIES = 11


@pytest.mark.parametrize("size", [(1, 2), (4, 5)])
def test_the_dashboard_runs_a_bounded_number_of_queries_whatever_the_data(staff, django_assert_max_num_queries, size):
    grow(*size)
    with django_assert_max_num_queries(COLD_QUERIES):
        page = staff.get(INDEX, {"range": "30d"})
    assert kpis(page)["calls"] == str(size[0] * size[1])
    with django_assert_max_num_queries(WARM_QUERIES):
        again = staff.get(INDEX, {"range": "30d"})
    assert kpis(again) == kpis(page)


def test_new_usage_shows_at_the_next_view(staff, agent, django_capture_on_commit_callbacks):
    assert kpis(staff.get(INDEX, {"range": "7d"}))["credits-consumed"] == "0.00"  # cached
    with django_capture_on_commit_callbacks(execute=True):
        ingest(agent.outlet, record(agent, "new", at(dates.today_utc() - timedelta(days=1)), credits="4"))
    assert kpis(staff.get(INDEX, {"range": "7d"}))["credits-consumed"] == "4.00"
