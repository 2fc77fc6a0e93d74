from django.db import models

from credits.models import Outlet


class DirtyBucket(models.Model):
    """An (outlet, hour) whose rollups no longer match its raw usage records.

    Ingestion marks it in the same transaction as the records; the rollup task rebuilds
    it and deletes the mark only if it was not marked again meanwhile (`marked_at`).
    """

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=("outlet", "hour"), name="dirty_bucket_unique")]
        indexes = [models.Index(fields=("marked_at",), name="dirty_bucket_marked")]

    def __str__(self) -> str:
        return f"{self.outlet_id} {self.hour:%Y-%m-%d %H}:00"
