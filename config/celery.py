"""The Celery app and the whole beat schedule."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # A safety net behind the runs that ingest schedules; a run not started within the minute is dropped.
    "rollup-dirty-buckets": {
        "task": "analytics.tasks.rollup_dirty_buckets",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # The request log's retention (REQUEST_LOG_RETENTION_DAYS), daily at a quiet hour; dropped if not run within it.
    "purge-request-log": {
        "task": "analytics.tasks.purge_request_log",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
    # Grants stop counting the instant they expire; this posts the EXPIRE entry within the minute if no posting did.
    "expire-grants": {
        "task": "credits.tasks.expire_grants",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # For the record only: a hold stops counting the instant it expires, whether or not this has run.
    "expire-holds": {
        "task": "credits.tasks.expire_holds",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Behind the alerts each balance change evaluates: thresholds edited in the admin, a lost enqueue.
    "check-low-balances": {
        "task": "credits.tasks.check_low_balances",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
}
