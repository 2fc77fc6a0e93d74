"""Writes of the analytics app that other apps call."""

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db import connection
from django.utils import timezone

from analytics.models import DirtyBucket

MARK_DIRTY_POSTGRESQL = """
INSERT INTO analytics_dirtybucket (outlet_id, hour, marked_at)
SELECT %s, hour, %s FROM unnest(%s::timestamptz[]) AS hour
ON CONFLICT (outlet_id, hour) DO UPDATE SET marked_at = EXCLUDED.marked_at
"""


def buckets_mark_dirty(*, outlet_id: UUID, hours: Iterable[datetime]) -> None:
    """Marks (outlet, hour) buckets for a rebuild; marking one again moves its `marked_at` on."""
    now, hours = timezone.now(), sorted(set(hours))
    if not hours:
        return
    if connection.vendor == "postgresql":
        # One statement whatever the number of hours: a backfill batch can touch thousands.
        with connection.cursor() as cursor:
            cursor.execute(MARK_DIRTY_POSTGRESQL, [outlet_id, now, hours])
        return
    DirtyBucket.objects.bulk_create(
        [DirtyBucket(outlet_id=outlet_id, hour=hour, marked_at=now) for hour in hours],
        update_conflicts=True,
        unique_fields=["outlet", "hour"],
        update_fields=["marked_at"],
    )
