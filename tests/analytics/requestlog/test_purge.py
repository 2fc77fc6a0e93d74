"""The request log's retention: the purge and its daily task."""

from datetime import timedelta

from django.utils import timezone

from analytics.models import RequestLog
from analytics.requestlog import purge
from config.celery import app
from tests.analytics.requestlog.conftest import log_row


def test_the_purge_deletes_only_rows_past_the_retention(outlet, settings):
    settings.REQUEST_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    ages = [timedelta(days=90), timedelta(days=31), timedelta(days=30, seconds=1), timedelta(days=29), timedelta(0)]
    RequestLog.objects.bulk_create([log_row(outlet, time=now - age) for age in ages])
    assert purge.request_log_purge(batch_size=2) == 3  # in batches of 2
    assert sorted(now - time for time in RequestLog.objects.values_list("time", flat=True)) == [
        timedelta(0), timedelta(days=29),
    ]
    assert purge.purge_request_log() == 0  # nothing left to purge: safe to run again


def test_the_purge_runs_daily_from_the_beat_schedule():
    entry = app.conf.beat_schedule["purge-request-log"]
    assert entry["task"] == "analytics.tasks.purge_request_log"
    assert entry["options"]["expires"] <= 24 * 60 * 60
    assert entry["task"] in app.tasks
