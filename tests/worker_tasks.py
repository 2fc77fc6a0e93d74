"""A task for tests that need one in flight on a real worker (`celery worker --include tests.worker_tasks`)."""

import time

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
