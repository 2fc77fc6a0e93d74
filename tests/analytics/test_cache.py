"""The answer cache: a repeated question is answered from it until the outlet's usage (or ledger) changes."""

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits import services as credit_services
from tests.analytics.api.conftest import HISTORY, RANGE, SPEND, csv_rows
from tests.analytics.handbuilt import ACTOR, D1, at, call, ingest, record
from usage.services import upsert_interactions


def test_a_repeated_question_is_answered_from_the_cache_until_the_outlets_usage_changes(
    spend, client_a, django_assert_num_queries, django_capture_on_commit_callbacks
):
    first = client_a.get(SPEND, RANGE).json()
    with django_assert_num_queries(1):  # the key's lookup: no aggregate runs
        assert client_a.get(SPEND, RANGE).json() == first
    with django_assert_num_queries(1):  # the CSV is cut from the same cached answer
        assert csv_rows(client_a.get(SPEND, {**RANGE, "format": "csv"}))[1][3] == "0.01634567"
    assert client_a.get(SPEND, {**RANGE, "status": "completed"}).json() != first  # another question

    stranger = spend["stranger"]
    with django_capture_on_commit_callbacks(execute=True):
        ingest(stranger.outlet, record(stranger, "elsewhere", at(D1), cost="5"))
    with django_assert_num_queries(1):  # another outlet's usage leaves this outlet's answers cached
        client_a.get(SPEND, RANGE)

    with django_capture_on_commit_callbacks(execute=True):
        ingest(spend["outlet"], record(spend["a1"], "late", at(D1), cost="1"))
    assert client_a.get(SPEND, RANGE).json()["total_spent"] == "1.12184567"


def test_a_new_call_drops_the_outlets_cached_answers(spend, client_a, django_capture_on_commit_callbacks):
    assert client_a.get(SPEND, RANGE).json()["total_calls"] == 6
    with django_capture_on_commit_callbacks(execute=True):
        upsert_interactions(
            outlet=spend["outlet"], interactions=[call(spend["a1"], "late", at(D1), status="completed", duration=10)]
        )
    assert client_a.get(SPEND, RANGE).json()["total_calls"] == 7


def test_every_outlets_answer_is_dropped_when_any_outlet_stores_usage(spend, staff_client, django_capture_on_commit_callbacks):
    assert staff_client.get(SPEND, RANGE).json()["total_spent"] == "9.12184567"
    stranger = spend["stranger"]
    with django_capture_on_commit_callbacks(execute=True):
        ingest(stranger.outlet, record(stranger, "more", at(D1), cost="1"))
    assert staff_client.get(SPEND, RANGE).json()["total_spent"] == "10.12184567"


def test_credit_history_is_not_served_stale_after_a_credit_change(agent, key_client):
    client = key_client("read")
    assert client.get(HISTORY).json()["balance"] == "0.000000"
    assert client.get(HISTORY).json()["balance"] == "0.000000"
    credit_services.credits_add(agent=agent, amount=Decimal("4"), actor=ACTOR, reason="top-up")  # no usage: same version
    assert client.get(HISTORY).json()["balance"] == "4.000000"


def test_without_a_cache_lifetime_every_request_computes(spend, client_a, settings):
    settings.ANALYTICS_CACHE_SECONDS = 0
    client_a.get(SPEND, RANGE)
    with CaptureQueriesContext(connection) as queries:
        client_a.get(SPEND, RANGE)
    assert len(queries) > 1
