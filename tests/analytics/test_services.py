"""The rollup schedule after an ingest's commit, with the broker down: the write stands, the beat builds later."""

import logging
import time
from datetime import UTC, datetime

from analytics import services
from analytics.models import DirtyBucket, RollupZone, UsageHourlyRollup
from analytics.services import buckets_mark_dirty, rollup_dirty_buckets
from config.cache import OncePerInterval
from tests.outages import broker_at, free_port

HOUR = datetime(2026, 6, 1, 5, tzinfo=UTC)


def test_with_the_broker_down_a_commit_stands_and_the_next_run_builds_the_marks(
    outlet, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "_broker_unavailable", OncePerInterval(60))  # not silenced by an earlier test's warning
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        began = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            buckets_mark_dirty(outlet_id=outlet.pk, hours=[HOUR])
        scheduled_in = time.monotonic() - began
    assert scheduled_in < 5  # one bounded try, no retry loop inside the request
    warnings = [r.getMessage() for r in caplog.records if r.name == "analytics.services"]
    assert len(warnings) == 1 and "the beat's next run builds the dirty buckets" in warnings[0]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # no robust on_commit traceback either

    assert DirtyBucket.objects.filter(outlet=outlet).count() == 1
    run = rollup_dirty_buckets()
    assert (run.buckets, DirtyBucket.objects.filter(outlet=outlet).exists()) == (1, False)
    assert UsageHourlyRollup.objects.filter(outlet=outlet).count() == 0  # no records: an empty hour, built


def test_rezoning_outlets_stops_at_the_time_budget_and_the_next_run_goes_on(outlet):
    RollupZone.objects.create(outlet=outlet, timezone="UTC")  # its rollups were built in UTC
    outlet.timezone = "Asia/Kolkata"
    outlet.save()

    stopped = rollup_dirty_buckets(time_budget=-1)

    assert not stopped.finished and RollupZone.objects.get(outlet=outlet).timezone == "UTC"
    assert rollup_dirty_buckets().finished and RollupZone.objects.get(outlet=outlet).timezone == "Asia/Kolkata"
