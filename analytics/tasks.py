"""Celery tasks of the analytics app: the rollup builds (the request log's purge is in analytics.requestlog.purge).

Each task is named explicitly (its first module's dotted path): a queued task or a beat entry outlives a move.
"""

from datetime import date

from celery import shared_task

from analytics import services

# A run stops starting new builds after this long, so beat's next run (a minute later) takes over.
RUN_TIME_BUDGET_SECONDS = 50


@shared_task(name=services.ROLLUP_DIRTY_BUCKETS_TASK, acks_late=True, ignore_result=True)
def rollup_dirty_buckets() -> dict:
    """Rebuilds the days of every dirty (outlet, hour) bucket from raw rows; safe to run twice or at once."""
    run = services.rollup_dirty_buckets(time_budget=RUN_TIME_BUDGET_SECONDS)
    return vars(run)


@shared_task(name="analytics.tasks.rebuild_rollups", acks_late=True, ignore_result=True)
def rebuild_rollups(outlet_id: str, start: str, end: str) -> int:
    """Backfill: rebuilds every local day from `start` to `end` (ISO dates, inclusive) of one outlet, in its zone."""
    return services.rollups_rebuild_range(
        outlet_id=outlet_id, start=date.fromisoformat(start), end=date.fromisoformat(end)
    )
