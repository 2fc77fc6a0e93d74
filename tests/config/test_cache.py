"""Redis down: the cache is a miss, the throttle is off, and the API's PostgreSQL-only work goes on."""

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings

from analytics.models import DirtyBucket
from config.api.throttling import CallerRateThrottle
from tests.outages import free_port, redis_cache_settings, redis_down
from usage.models import UsageRecord

RECORDS = "/api/v1/usage/records/"
WHEN = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


def record(agent, event_id: str) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 512,
        "credits": 0.1, "cost_usd": 0.0075, "occurred_at": WHEN.isoformat(),
    }


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "config.cache" and r.levelno == logging.WARNING]


def test_an_unreachable_redis_is_a_miss_for_reads_and_a_no_op_for_writes():
    with override_settings(CACHES=redis_cache_settings(f"redis://127.0.0.1:{free_port()}/0")):
        began = time.monotonic()
        assert cache.get("answer", "default") == "default"
        assert cache.add("debounce", True, 10) is False
        assert cache.set("answer", 42) is None
        assert cache.get_many(["a", "b"]) == {}
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.delete("answer") is False
        assert cache.has_key("answer") is False
        assert time.monotonic() - began < 5  # a refused connection fails fast: no retry loop


def test_an_outage_is_warned_about_once_a_minute_not_per_request(caplog):
    with override_settings(CACHES=redis_cache_settings(f"redis://127.0.0.1:{free_port()}/0")):
        for _ in range(20):
            cache.get("answer")
        assert len(cache_warnings(caplog)) == 1
        cache.unavailable._next = time.monotonic()  # a minute later
        cache.get("answer")
    warnings = cache_warnings(caplog)
    assert len(warnings) == 2 and "every read is a miss, the API throttle is not enforced" in warnings[0]


def test_with_redis_down_ingest_reads_and_analytics_answer(agent, key_client, caplog, django_capture_on_commit_callbacks):
    client = key_client("ingest", "read")
    with redis_down():
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post(RECORDS, data=json.dumps([record(agent, "e1"), record(agent, "e2")]),
                                   content_type="application/json")
        assert response.status_code == 200, response.content
        assert response.json()["accepted"] == 2
        assert len(callbacks) == 2  # the answers' version and the rollup's scheduling both ran, and failed quietly
        assert UsageRecord.objects.filter(agent=agent).count() == 2
        assert DirtyBucket.objects.filter(outlet=agent.outlet).exists()  # left for the beat's next run

        assert client.get(RECORDS).status_code == 200
        for path in ("/api/v1/usage/summary/", "/api/v1/analytics/spend/", "/api/v1/credits/balances/"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content)
        assert client.get("/api/v1/usage/summary/").json()["items"][0]["records"] == 2
    assert len(cache_warnings(caplog)) == 1
    schedule_warnings = [r for r in caplog.records if r.name == "analytics.services"]
    assert len(schedule_warnings) <= 1


@pytest.mark.parametrize("path", ["/api/v1/usage/records/", "/api/v1/credits/balances/"])
def test_with_redis_down_the_throttle_lets_requests_through(agent, key_client, monkeypatch, path):
    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", {"caller": "2/minute"})
    client = key_client("read")
    with redis_down():
        assert [client.get(path).status_code for _ in range(4)] == [200] * 4
