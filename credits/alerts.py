"""Low-balance alerts: an account below its threshold has exactly one open alert, and none once it is back.

`alerts_evaluate` runs inside every balance change of an agent (through `credits.topups.balances_changed`, after
the top-ups), on accounts the caller has locked, so one account's alerts are only ever
written by one transaction at a time; a partial unique index (one open alert per account)
backs that up in the database. `alerts_check` is the periodic safety net for what no balance
change announces (a threshold edited in the admin, a crash between commit and enqueue). The
events an evaluation produces are sent after commit by `credits.tasks` (email) and
`credits.webhooks` (signed POST); a rolled-back change notifies nobody.

A pool has no low-balance alert but a `pool_low` one: opened when it cannot pay an auto top-up
(`credits.topups`), its threshold the top-up's amount; resolved by the first posting on the pool
after which its balance covers that amount again (an add, a reclaim; see docs/webhooks.md).
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
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
from credits.models import Agent, CreditAccount, CreditAlert, CreditLedgerEntry, Outlet

logger = logging.getLogger(__name__)

Kind = CreditAlert.Kind
Status = CreditAlert.Status

EVENT_OPENED = "credit_alert.opened"
EVENT_DEPLETED = "credit_alert.depleted"
EVENT_RESOLVED = "credit_alert.resolved"
EVENTS = (EVENT_OPENED, EVENT_DEPLETED, EVENT_RESOLVED)

# What an event and its sending read of the outlet.
OUTLET_FIELDS = ("name", "low_balance_threshold", "billing_contacts", "webhook_url")
# The safety net locks and evaluates this many accounts per transaction.
CHECK_CHUNK_SIZE = 500

# Enqueued by name: the tasks module imports this one.
SEND_ALERT_EMAIL_TASK = "credits.tasks.send_alert_email"
# One task delivers every webhook event, alerts' and top-ups'; the name predates the top-ups.
DELIVER_WEBHOOK_TASK = "credits.tasks.deliver_alert_webhook"


def alert_kind(*, balance: Decimal, threshold: Decimal) -> str | None:
    """The alert an account at `balance` should have: depleted at zero or below, low below its threshold."""
    if balance <= 0:
        return Kind.DEPLETED
    if balance < threshold:
        return Kind.LOW
    return None


def alerts_evaluate(*, accounts: Sequence[CreditAccount], outlets: Mapping | None = None) -> list[dict]:
    """Opens, escalates and resolves the alerts of `accounts` to match their balances; returns the events.

    The caller holds the accounts' row locks in the current transaction and passes them with
    their new balance and their agent loaded. Two queries (the outlets' thresholds and
    contacts, the accounts' open alerts) plus one write per kind of change, whatever the
    number of accounts. The events are enqueued for sending when the transaction commits.
    `outlets` (by id, with OUTLET_FIELDS) saves the first query when the caller has read them already.
    """
    accounts = [account for account in accounts if not account.is_pool]  # low-balance alerts are the agents'
    if not accounts:
        return []
    if outlets is None:
        outlets = Outlet.objects.only(*OUTLET_FIELDS).in_bulk({account.outlet_id for account in accounts})
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
    return [_notify(event_type, alert, account, outlets[account.outlet_id], now) for event_type, alert, account in changes]


def pool_low_open(*, pool: CreditAccount, outlet: Outlet, amount: Decimal, now: datetime) -> CreditAlert | None:
    """Opens the locked pool's `pool_low` alert for a top-up of `amount` it could not pay, unless one is open."""
    if CreditAlert.objects.filter(account=pool, status=Status.OPEN).exists():
        return None
    alert = CreditAlert.objects.create(
        outlet_id=pool.outlet_id, account=pool, kind=Kind.POOL_LOW, threshold=amount, opening_balance=pool.balance,
        opened_at=now,
    )
    _notify(EVENT_OPENED, alert, pool, outlet, now)
    return alert


def pool_low_resolve(*, pools: Sequence[CreditAccount], now: datetime) -> list[dict]:
    """Resolves the open `pool_low` alerts of these locked pools whose balance covers their top-up again."""
    by_pk = {pool.pk: pool for pool in pools}
    open_alerts = CreditAlert.objects.filter(status=Status.OPEN, kind=Kind.POOL_LOW, account_id__in=list(by_pk))
    covered = [alert for alert in open_alerts if by_pk[alert.account_id].balance >= alert.threshold]
    if not covered:
        return []
    for alert in covered:
        alert.status, alert.resolved_at, alert.resolution_balance = Status.RESOLVED, now, by_pk[alert.account_id].balance
    CreditAlert.objects.bulk_update(covered, ["status", "resolved_at", "resolution_balance"])
    outlets = Outlet.objects.only(*OUTLET_FIELDS).in_bulk({alert.outlet_id for alert in covered})
    return [_notify(EVENT_RESOLVED, alert, by_pk[alert.account_id], outlets[alert.outlet_id], now) for alert in covered]


def _notify(event_type: str, alert: CreditAlert, account: CreditAccount, outlet: Outlet, now: datetime) -> dict:
    event = _event(event_type, alert, account, outlet, now)
    _send_after_commit(event, outlet)
    return event


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
    return event_envelope(
        event_type,
        now,
        {
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
            **subjects(account.agent, outlet),
        },
    )


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def event_envelope(event_type: str, now: datetime, data: dict, *, event_id: str | None = None) -> dict:
    """Every webhook event's shape (alerts' and top-ups'): id, type, created, data."""
    return {"id": event_id or new_event_id(), "type": event_type, "created": _timestamp(now), "data": data}


def subjects(agent: Agent | None, outlet: Outlet) -> dict:
    """Whom an event is about: the agent (null for an outlet's pool) and its outlet."""
    return {
        "agent": None if agent is None else {"id": str(agent.pk), "name": agent.name, "external_id": agent.external_id},
        "outlet": {"id": str(outlet.pk), "name": outlet.name},
    }


def _send_after_commit(event: dict, outlet: Outlet) -> None:
    """Enqueues the event's email and webhook once the transaction commits, only where someone listens."""
    if outlet.billing_contacts:
        enqueue_on_commit(SEND_ALERT_EMAIL_TASK, event)
    if outlet.webhook_url:
        enqueue_on_commit(DELIVER_WEBHOOK_TASK, event)


def enqueue_on_commit(task_name: str, event: dict) -> None:
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
# A pool's alert (`pool_low`): its threshold is the auto top-up it could not pay.
POOL_SUBJECTS = {EVENT_OPENED: "Pool too low for an auto top-up ({outlet})", EVENT_RESOLVED: "Pool refilled ({outlet})"}
POOL_SUMMARIES = {
    EVENT_OPENED: "The pool of {outlet} could not pay an auto top-up: it holds less than the top-up's amount.",
    EVENT_RESOLVED: "The pool of {outlet} holds enough again for the auto top-up it could not pay.",
}


def alert_email_send(*, event: dict) -> int:
    """Emails one event to its outlet's billing contacts as they are now; returns the number of messages sent."""
    data = event["data"]
    outlet = Outlet.objects.filter(pk=data["outlet"]["id"]).only("billing_contacts").first()
    recipients = outlet.billing_contact_list if outlet else []
    if not recipients:
        return 0
    agent, alert = data["agent"], data["alert"]
    subjects, summaries = (SUBJECTS, SUMMARIES) if agent else (POOL_SUBJECTS, POOL_SUMMARIES)
    names = {"agent": agent["name"] if agent else "", "outlet": data["outlet"]["name"]}
    lines = [summaries[event["type"]].format(**names), "", f"Balance:    {data['balance']}", f"Threshold:  {alert['threshold']}"]
    if agent:
        lines.append(f"Agent:      {agent['name']} ({agent['external_id']})")
    lines.append(f"Alert:      #{alert['id']}, {alert['kind']}, opened {alert['opened_at']}")
    if alert["resolved_at"]:
        lines.append(f"Resolved:   {alert['resolved_at']}")
    lines += ["", f"Event {event['id']} at {event['created']}."]
    return send_mail(
        subject=subjects[event["type"]].format(**names),
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
