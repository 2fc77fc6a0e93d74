"""Reads of usage records and interactions, scoped to an outlet (None: every outlet)."""

from uuid import UUID

from django.db.models import QuerySet

from usage.models import UsageRecord


def usage_record_list(*, outlet_id: UUID | None = None) -> QuerySet[UsageRecord]:
    records = UsageRecord.objects.all()
    return records if outlet_id is None else records.filter(outlet_id=outlet_id)
