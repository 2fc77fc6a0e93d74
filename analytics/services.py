"""Writes of the analytics app that other apps call."""

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.utils import timezone

from analytics.models import DirtyBucket


def buckets_mark_dirty(*, outlet_id: UUID, hours: Iterable[datetime]) -> None:
    """Marks (outlet, hour) buckets for a rebuild; marking one again moves its `marked_at` on."""
    now = timezone.now()
    DirtyBucket.objects.bulk_create(
        [DirtyBucket(outlet_id=outlet_id, hour=hour, marked_at=now) for hour in sorted(set(hours))],
        update_conflicts=True,
        unique_fields=["outlet", "hour"],
        update_fields=["marked_at"],
    )
