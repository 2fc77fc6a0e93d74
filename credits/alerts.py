"""Low-balance alerts: an account below its threshold has exactly one open alert, and none once it is back.

`alerts_evaluate` runs inside every balance change (`credits.services._post` and
`credits_consume`), on accounts the caller has locked, so one account's alerts are only ever
written by one transaction at a time; a partial unique index (one open alert per account)
backs that up in the database. `alerts_check` is the periodic safety net for what no balance
change announces (a threshold edited in the admin, a crash between commit and enqueue). The
events an evaluation produces are sent after commit by `credits.tasks` (email) and
`credits.webhooks` (signed POST); a rolled-back change notifies nobody.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.api.dates import utc_iso
from config.money import format_credits
from credits.models import CreditAccount, CreditAlert, CreditLedgerEntry, Outlet

logger = logging.getLogger(__name__)

Kind = CreditAlert.Kind
Status = CreditAlert.Status

EVENT_OPENED = "credit_alert.opened"
EVENT_DEPLETED = "credit_alert.depleted"
EVENT_RESOLVED = "credit_alert.resolved"
EVENTS = (EVENT_OPENED, EVENT_DEPLETED, EVENT_RESOLVED)

# The safety net locks and evaluates this many accounts per transaction.
CHECK_CHUNK_SIZE = 500

# Enqueued by name: the tasks module imports this one.
SEND_ALERT_EMAIL_TASK = "credits.tasks.send_alert_email"
DELIVER_ALERT_WEBHOOK_TASK = "credits.tasks.deliver_alert_webhook"


def alert_kind(*, balance: Decimal, threshold: Decimal) -> str | None:
    """The alert an account at `balance` should have: depleted at zero or below, low below its threshold."""
    if balance <= 0:
        return Kind.DEPLETED
    if balance < threshold:
        return Kind.LOW
    return None


def alerts_evaluate(*, accounts: Sequence[CreditAccount]) -> list[dict]:
    """Opens, escalates and resolves the alerts of `accounts` to match their balances; returns the events.

    The caller holds the accounts' row locks in the current transaction and passes them with
    their new balance and their agent loaded. Two queries (the outlets' thresholds and
    contacts, the accounts' open alerts) plus one write per kind of change, whatever the
    number of accounts. The events are enqueued for sending when the transaction commits.
    """
    accounts = [account for account in accounts if not account.is_pool]  # low-balance alerts are the agents'
    if not accounts:
        return []
    outlets = Outlet.objects.only("name", "low_balance_threshold", "billing_contacts", "webhook_url").in_bulk(
        {account.outlet_id for account in accounts}
    )
    open_alerts = {
        alert.account_id: alert
        for alert in CreditAlert.objects.filter(status=Status.OPEN, account_id__in=[account.pk for account in accounts])
    }
    now = timezone.now()
    opened, escalated, resolved = [], [], []
    for account in accounts:
        agent = account.agent
        threshold = agent.low_balance_threshold
        if threshold is None:
            threshold = outlets[agent.outlet_id].low_balance_threshold
        kind = alert_kind(balance=account.balance, threshold=threshold)
        alert = open_alerts.get(account.pk)
        if alert is None and kind is not None:
            alert = CreditAlert(
                outlet_id=agent.outlet_id, account=account, kind=kind, status=Status.OPEN, threshold=threshold,
                opening_balance=account.balance, opened_at=now, depleted_at=now if kind == Kind.DEPLETED else None,
            )
            opened.append((alert, account))
        elif alert is not None and kind is None:
            alert.status, alert.resolved_at, alert.resolution_balance = Status.RESOLVED, now, account.balance
            resolved.append((alert, account))
        elif alert is not None and kind == Kind.DEPLETED and alert.kind == Kind.LOW:
            # Escalation in place: the alert is the episode, its kind the worst the episode reached.
            alert.kind, alert.depleted_at = Kind.DEPLETED, now
            escalated.append((alert, account))

    _save_changes(opened, escalated, resolved, now)
    changes = [
        *((EVENT_DEPLETED if alert.kind == Kind.DEPLETED else EVENT_OPENED, alert, account) for alert, account in opened),
        *((EVENT_DEPLETED, alert, account) for alert, account in escalated),
        *((EVENT_RESOLVED, alert, account) for alert, account in resolved),
    ]
    events = []
    for event_type, alert, account in changes:
        outlet = outlets[account.outlet_id]
        event = _event(event_type, alert, account, outlet, now)
        _send_after_commit(event, outlet)
        events.append(event)
    return events


def _save_changes(opened: list, escalated: list, resolved: list, now: datetime) -> None:
    """One write per kind of change, whatever the number of accounts."""
    if opened:
        CreditAlert.objects.bulk_create([alert for alert, _ in opened])
    if escalated:
        CreditAlert.objects.filter(pk__in=[alert.pk for alert, _ in escalated]).update(kind=Kind.DEPLETED, depleted_at=now)
    if resolved:
        CreditAlert.objects.bulk_update(
            [alert for alert, _ in resolved], ["status", "resolved_at", "resolution_balance"]
        )


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else utc_iso(moment)


def _credits(value: Decimal | None) -> str | None:
    return None if value is None else format_credits(value)


def _event(event_type: str, alert: CreditAlert, account: CreditAccount, outlet: Outlet, now: datetime) -> dict:
    """The event as sent: a snapshot at the moment of the change, the same body for every delivery attempt."""
    agent = account.agent
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created": _timestamp(now),
        "data": {
            "alert": {
                "id": alert.pk,
                "kind": alert.kind,
                "status": alert.status,
                "threshold": _credits(alert.threshold),
                "opening_balance": _credits(alert.opening_balance),
                "opened_at": _timestamp(alert.opened_at),
                "depleted_at": _timestamp(alert.depleted_at),
                "resolved_at": _timestamp(alert.resolved_at),
                "resolution_balance": _credits(alert.resolution_balance),
            },
            "balance": _credits(account.balance),
            "agent": {"id": str(agent.pk), "name": agent.name, "external_id": agent.external_id},
            "outlet": {"id": str(outlet.pk), "name": outlet.name},
        },
    }


def _send_after_commit(event: dict, outlet: Outlet) -> None:
    """Enqueues the event's email and webhook once the transaction commits, only where someone listens."""
    if outlet.billing_contacts:
        _on_commit(SEND_ALERT_EMAIL_TASK, event)
    if outlet.webhook_url:
        _on_commit(DELIVER_ALERT_WEBHOOK_TASK, event)


def _on_commit(task_name: str, event: dict) -> None:
    task = current_app.tasks[task_name]  # now, in the transaction: a wrong name fails the change, not silently later

    def enqueue():
        task.delay(event)

    # Robust: the change is committed either way; a broker that is down must not turn it into an error.
    transaction.on_commit(enqueue, robust=True)


def alerts_check() -> dict[str, int]:
    """Opens missing alerts and escalates or resolves stale ones for every account; idempotent.

    One query finds the accounts whose alert disagrees with their balance; they are then locked
    (in key order, as the ledger services lock) and evaluated like any balance change, in chunks.
    Accounts that never had a ledger entry (a new agent at zero) raise no alert, as no balance
    change has happened to them.
    """
    open_kind = CreditAlert.objects.filter(account=OuterRef("pk"), status=Status.OPEN).values("kind")[:1]
    below = Q(balance__lte=0) | Q(balance__lt=F("threshold"))
    disagreeing = (
        CreditAccount.objects.filter(Exists(CreditLedgerEntry.objects.filter(account=OuterRef("pk"))), agent__isnull=False)
        .annotate(
            threshold=Coalesce("agent__low_balance_threshold", "agent__outlet__low_balance_threshold"),
            open_kind=Subquery(open_kind),
        )
        .filter(
            (Q(open_kind__isnull=True) & below)
            | (Q(open_kind__isnull=False) & ~below)
            | Q(open_kind=Kind.LOW, balance__lte=0)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    pks = list(disagreeing)
    counts = dict.fromkeys(EVENTS, 0)
    for start in range(0, len(pks), CHECK_CHUNK_SIZE):
        with transaction.atomic():
            accounts = list(
                CreditAccount.objects.select_for_update(of=("self",))
                .select_related("agent")
                .filter(pk__in=pks[start : start + CHECK_CHUNK_SIZE])
                .order_by("pk")
            )
            for event in alerts_evaluate(accounts=accounts):
                counts[event["type"]] += 1
    return {event.removeprefix("credit_alert."): count for event, count in counts.items()}


SUBJECTS = {
    EVENT_OPENED: "Low balance: {agent} ({outlet})",
    EVENT_DEPLETED: "Credits depleted: {agent} ({outlet})",
    EVENT_RESOLVED: "Balance restored: {agent} ({outlet})",
}
SUMMARIES = {
    EVENT_OPENED: "The credit balance of {agent} at {outlet} has fallen below its threshold.",
    EVENT_DEPLETED: "{agent} at {outlet} has run out of credits: its balance is zero or below.",
    EVENT_RESOLVED: "The credit balance of {agent} at {outlet} is back at or above its threshold.",
}


def alert_email_send(*, event: dict) -> int:
    """Emails one event to its outlet's billing contacts as they are now; returns the number of messages sent."""
    data = event["data"]
    outlet = Outlet.objects.filter(pk=data["outlet"]["id"]).only("billing_contacts").first()
    recipients = outlet.billing_contact_list if outlet else []
    if not recipients:
        return 0
    names = {"agent": data["agent"]["name"], "outlet": data["outlet"]["name"]}
    alert = data["alert"]
    lines = [
        SUMMARIES[event["type"]].format(**names),
        "",
        f"Balance:    {data['balance']}",
        f"Threshold:  {alert['threshold']}",
        f"Agent:      {data['agent']['name']} ({data['agent']['external_id']})",
        f"Alert:      #{alert['id']}, {alert['kind']}, opened {alert['opened_at']}",
    ]
    if alert["resolved_at"]:
        lines.append(f"Resolved:   {alert['resolved_at']}")
    lines += ["", f"Event {event['id']} at {event['created']}."]
    return send_mail(
        subject=SUBJECTS[event["type"]].format(**names),
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
