"""The admin pages the dashboard links to: accounts, alerts, and the changelists of the rows behind its numbers.

Every filtered link is `changelist_url` with the changelist's own filter parameters (its list
filters, its date hierarchy, or a lookup on one of its model's fields), so it lands on a page
listing exactly the rows a bar or a table row counted. Days are the dashboard's: filtered to one outlet, a
changelist reads them in that outlet's zone (credits.admin_zones), as the dashboard does; over every outlet, UTC.
"""

from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from uuid import UUID

from django.contrib.admin.utils import quote
from django.urls import reverse

from config.api.dates import DateRange

USAGE_RECORDS = "usage_usagerecord"
INTERACTIONS = "usage_interaction"
REQUEST_LOG = "analytics_requestlog"
FAILED_STATUS = 400  # the request log's failures: 4xx and 5xx


def changelist_url(model: str, params: dict) -> str:
    """The admin changelist of `model` ("app_model"), filtered by `params` (None values left out)."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return reverse(f"admin:{model}_changelist") + (f"?{query}" if query else "")


def account_url(agent_id: UUID) -> str:
    return reverse("admin:credits_creditaccount_change", args=[quote(agent_id)])


def outlet_url(outlet_id: UUID) -> str:
    return reverse("admin:credits_outlet_change", args=[quote(outlet_id)])


def open_alerts_url() -> str:
    return changelist_url("credits_creditalert", {"status__exact": "open"})


def outlets_url() -> str:
    return changelist_url("credits_outlet", {})


def accounts_url() -> str:
    return changelist_url("credits_creditaccount", {})


def _outlet(outlet_id: UUID | None) -> dict:
    return {"outlet__id__exact": str(outlet_id) if outlet_id else None}


def live_holds_url(outlet_id: UUID | None) -> str:
    """The active holds (a few may be past their expiry, which the sweep marks within the minute)."""
    return changelist_url("credits_credithold", {"status__exact": "active", **_outlet(outlet_id)})


def _days(field: str, date_range: DateRange) -> dict:
    """The range's days as the changelist's date-range filter takes them: from its first day, before the day after."""
    return {f"{field}__gte": date_range.start.isoformat(), f"{field}__lt": (date_range.end + timedelta(days=1)).isoformat()}


def _day(field: str, day: date) -> dict:
    """One day, as the changelist's date hierarchy asks for it (so its breadcrumbs show the day)."""
    return {f"{field}__year": day.year, f"{field}__month": day.month, f"{field}__day": day.day}


def day_records_url(outlet_id: UUID | None, day: date) -> str:
    """The usage records of one day (and outlet)."""
    return changelist_url(USAGE_RECORDS, {**_outlet(outlet_id), **_day("occurred_at", day)})


def records_url(outlet_id: UUID | None, date_range: DateRange, **lookups) -> str:
    """The usage records of the range (and outlet) with these field values (type, model, voice, agent...)."""
    return changelist_url(USAGE_RECORDS, {**_outlet(outlet_id), **_days("occurred_at", date_range), **lookups})


def agent_records_url(outlet_id: UUID | None, date_range: DateRange, agent_id: UUID) -> str:
    return records_url(outlet_id, date_range, agent__id__exact=str(agent_id))


def interactions_url(outlet_id: UUID | None, date_range: DateRange, **lookups) -> str:
    """The calls and chats started in the range (and outlet) with these field values (status, sentiment)."""
    return changelist_url(INTERACTIONS, {**_outlet(outlet_id), **_days("started_at", date_range), **lookups})


def failures_url(day: date, outlet_id: UUID | None) -> str:
    """The request log's failures (4xx and 5xx) of one day (and outlet: its local day)."""
    return changelist_url(REQUEST_LOG, {"status__gte": FAILED_STATUS, **_outlet(outlet_id), **_day("time", day)})


def failed_call_url(status: int, route: str, moment: datetime, outlet_id: UUID | None) -> str:
    """The request log rows of one failed call: its status and route in the second it was answered (and outlet)."""
    second = moment.replace(microsecond=0)
    return changelist_url(REQUEST_LOG, {
        "status": status, "route": route, **_outlet(outlet_id),
        "time__gte": second.isoformat(), "time__lt": (second + timedelta(seconds=1)).isoformat(),
    })
