"""The admin pages the dashboard links to."""

from datetime import date
from uuid import UUID

from django.contrib.admin.utils import quote
from django.urls import reverse


def account_url(agent_id: UUID) -> str:
    return reverse("admin:credits_creditaccount_change", args=[quote(agent_id)])


def open_alerts_url() -> str:
    return reverse("admin:credits_creditalert_changelist") + "?status__exact=open"


def accounts_url() -> str:
    return reverse("admin:credits_creditaccount_changelist")


def request_log_url(day: date) -> str:
    """The request log of one day."""
    return (
        reverse("admin:analytics_requestlog_changelist")
        + f"?time__year={day.year}&time__month={day.month}&time__day={day.day}"
    )
