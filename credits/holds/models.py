"""Holds (credit reserved for a call, kept alive as a lease) and auto top-ups.

Registered with the credits app by `CreditsConfig.import_models`.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from config.db import ImmutableModel
from config.money import display_amount
from credits.controls import TopUpSource
from credits.models import ZERO, ApiKey, CreditAccount, Outlet, credit_field


def live_holds(now) -> Q:
    """Holds that reserve credit at `now`: active and not past their expiry, whether or not the sweep marked them."""
    return Q(status=CreditHold.Status.ACTIVE, expires_at__gt=now)


class CreditHold(models.Model):
    """Credits reserved on an agent's account: they count against `available` until captured, released or expired.

    `captured` is the credit of the usage records that carry the hold's id (reconcile proves it); only the
    uncaptured rest, `amount - captured` when positive, is held.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="credit_holds")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    amount = credit_field(help_text="Credits reserved: the first hold and every extension's added amount.")
    captured = credit_field(default=ZERO, help_text="Credits of the usage records that captured the hold.")
    reference = models.CharField(
        max_length=255, blank=True, default="", help_text="The call's interaction id: its usage captures the hold."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    ttl_seconds = models.PositiveIntegerField(help_text="The lease: an extension without a ttl renews it by this.")
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was released, captured or expired.")
    actor_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            # What `available` subtracts: the account's active holds, read under the account lock or by a check.
            models.Index(fields=("account", "expires_at"), condition=Q(status="active"), name="hold_active_account"),
            models.Index(fields=("expires_at",), condition=Q(status="active"), name="hold_active_expiry"),
            models.Index(fields=("outlet", "-created_at"), name="hold_outlet_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(condition=Q(captured__gte=0), name="hold_captured_not_negative"),
            models.CheckConstraint(condition=Q(status__in=["active", "captured", "released", "expired"]), name="hold_status_valid"),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True) | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="hold_ended_matches_status",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="hold_expires_after_creation"),
            # One live lease per call: a second hold for the same reference would let usage capture either.
            models.UniqueConstraint(
                fields=("account", "reference"), condition=Q(status="active") & ~Q(reference=""),
                name="hold_one_active_per_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.pk}: {display_amount(self.amount, 'credits')} ({self.status})"

    @property
    def uncaptured(self):
        return max(self.amount - self.captured, ZERO)

    def is_live(self, now) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at > now


class CreditHoldEvent(ImmutableModel):
    """One request that placed, extended or released a hold: the hold's history, and what an Idempotency-Key replays."""

    class Kind(models.TextChoices):
        PLACE = "place", "Placed"
        EXTEND = "extend", "Extended"
        RELEASE = "release", "Released"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="+")
    hold = models.ForeignKey(CreditHold, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=7, choices=Kind.choices)
    amount = credit_field(help_text="Credits it reserved (place, extend) or gave back (release).")
    expires_at = models.DateTimeField(help_text="The hold's expiry after it.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("hold", "id"), name="hold_event_hold")]
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "idempotency_key"), condition=Q(idempotency_key__isnull=False),
                name="hold_event_idempotency_key_unique_per_outlet",
            ),
            models.CheckConstraint(condition=Q(kind__in=["place", "extend", "release"]), name="hold_event_kind_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="hold_event_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {display_amount(self.amount, 'credits')}"


class CreditTopUp(models.Model):
    """One auto top-up: an allocation from the pool, a request to the platform, or a pool too low to give one."""

    class Status(models.TextChoices):
        ALLOCATED = "allocated", "Allocated from the pool"
        REQUESTED = "requested", "Requested from the platform"
        POOL_LOW = "pool_low", "Refused: the pool was too low"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_id = models.CharField(
        max_length=64, unique=True, help_text="The webhook event's id, the Idempotency-Key the platform adds with."
    )
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="credit_top_ups")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="top_ups")
    source = models.CharField(max_length=8, choices=TopUpSource.choices)
    status = models.CharField(max_length=9, choices=Status.choices)
    amount = credit_field()
    threshold = credit_field(help_text="The rule's threshold the balance fell below.")
    balance = credit_field(help_text="The balance that fell below it.")
    local_date = models.DateField(help_text="The outlet-local day it counts against the rule's max_per_day.")
    transfer_id = models.UUIDField(null=True, blank=True, help_text="The allocation's pair of ledger entries.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("account", "local_date"), name="top_up_account_day")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="top_up_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=["allocated", "requested", "pool_low"]), name="top_up_status_valid"),
            models.CheckConstraint(
                condition=Q(status="allocated", source="pool", transfer_id__isnull=False)
                | Q(status="pool_low", source="pool", transfer_id__isnull=True)
                | Q(status="requested", source="external", transfer_id__isnull=True),
                name="top_up_status_matches_source",
            ),
        ]

    def __str__(self) -> str:
        return f"Top-up {self.event_id}: {display_amount(self.amount, 'credits')} ({self.status})"
