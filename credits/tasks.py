"""Celery tasks of the credits app: alert and top-up notifications, the alerts' safety net, grants' and holds' expiry.

Each task is named explicitly (its first module's dotted path): a queued task or a beat entry outlives a move.
"""

import logging

from celery import shared_task
from django.conf import settings

from credits import alerts, webhooks, writeoffs
from credits.holds import services as holds
from credits.models import WebhookDelivery

logger = logging.getLogger(__name__)


def _retry_later(task, *, countdown: int, max_retries: int, exc: Exception | None = None):
    """`task.retry` that also retries when tasks run eagerly (no broker, and the tests).

    On a worker the Retry is raised as usual and the next attempt waits `countdown` seconds. Run
    eagerly, `task_eager_propagates` would turn a raised Retry into an error, whereas a returned one
    makes `apply()` run the next attempt at once; the countdown does not apply there.
    """
    retry = task.retry(exc=exc, countdown=countdown, max_retries=max_retries, throw=False)
    if task.request.is_eager:
        return retry
    raise retry


@shared_task(name=alerts.SEND_ALERT_EMAIL_TASK, bind=True, acks_late=True, ignore_result=True)
def send_alert_email(self, event: dict):
    """Emails an alert event to the outlet's billing contacts; retried with backoff while the mail server fails."""
    try:
        alerts.alert_email_send(event=event)
    except OSError as exc:  # smtplib.SMTPException and socket errors; the last attempt's is raised
        attempt = self.request.retries + 1
        return _retry_later(
            self, exc=exc, countdown=webhooks.retry_countdown(attempt), max_retries=settings.ALERT_EMAIL_MAX_ATTEMPTS - 1
        )


@shared_task(name=alerts.DELIVER_WEBHOOK_TASK, bind=True, acks_late=True, ignore_result=True)
def deliver_alert_webhook(self, event: dict):
    """POSTs an event (an alert's or a top-up's) to the outlet's webhook; a failed attempt is recorded and retried
    with backoff."""
    attempt = self.request.retries + 1
    delivery = webhooks.webhook_deliver(event=event, attempt=attempt)
    if delivery is None or delivery.status == WebhookDelivery.Status.SUCCEEDED:
        return
    if attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        # Every attempt is on record; failing the task as well would only repeat that.
        logger.error("webhook %s abandoned after %s attempts", event["id"], attempt)
        return
    return _retry_later(
        self, countdown=webhooks.retry_countdown(attempt), max_retries=settings.WEBHOOK_MAX_ATTEMPTS - 1
    )


@shared_task(name="credits.tasks.check_low_balances", acks_late=True, ignore_result=True)
def check_low_balances() -> dict:
    """The safety net behind the alerts every balance change evaluates: opens missing ones, resolves stale ones.

    Expired grants are written off first, so that an alert counts usable credit only."""
    writeoffs.grants_expire_due()
    return alerts.alerts_check()


@shared_task(name="credits.tasks.expire_grants", acks_late=True, ignore_result=True)
def expire_grants() -> int:
    """Writes off grants past their expiry on accounts no posting has touched since; returns how many."""
    return writeoffs.grants_expire_due()


@shared_task(name="credits.tasks.expire_holds", acks_late=True, ignore_result=True)
def expire_holds() -> int:
    """Marks holds past their expiry as expired; returns how many."""
    return holds.holds_expire_due()
