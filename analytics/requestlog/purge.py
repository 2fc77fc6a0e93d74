"""The API request log's retention: rows past REQUEST_LOG_RETENTION_DAYS are deleted daily, in batches."""

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from analytics.models import RequestLog

PURGE_BATCH = 10_000


def request_log_purge(*, before: datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Deletes rows older than `before` (default: REQUEST_LOG_RETENTION_DAYS ago) in batches; how many."""
    if before is None:
        before = timezone.now() - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        # Oldest first along the (time, id) index; each batch is its own short statement.
        ids = list(
            RequestLog.objects.filter(time__lt=before).order_by("time", "id").values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += RequestLog.objects.filter(id__in=ids).delete()[0]


@shared_task(name="analytics.tasks.purge_request_log", acks_late=True, ignore_result=True)
def purge_request_log() -> int:
    """Deletes request log rows older than REQUEST_LOG_RETENTION_DAYS, in batches; safe to run twice or at once."""
    return request_log_purge()
