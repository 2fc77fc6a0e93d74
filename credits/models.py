import re
import secrets
import uuid
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
    URLValidator,
    validate_email,
)
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from config.db import ImmutableModel
from config.money import CREDIT_DIGITS, CREDIT_PLACES, display_amount
from credits.controls import SpendControls

ZERO = Decimal("0")


def credit_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=CREDIT_DIGITS, decimal_places=CREDIT_PLACES, **kwargs)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone.")


def parse_email_list(value: str) -> list[str]:
    """Addresses separated by commas, semicolons or white space, each once; a ValidationError names the bad ones."""
    addresses = list(dict.fromkeys(part for part in re.split(r"[,;\s]+", value or "") if part))
    invalid = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            invalid.append(address)
    if invalid:
        raise ValidationError(f"Not an email address: {', '.join(invalid)}.")
    return addresses


def validate_email_list(value: str) -> None:
    parse_email_list(value)


def new_webhook_secret() -> str:
    """A signing secret in Stripe's shape: the whole string, prefix included, is the HMAC key."""
    return f"whsec_{secrets.token_urlsafe(32)}"


class Outlet(SpendControls):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    currency = models.CharField(
        max_length=3, default="USD", validators=[RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 code such as USD.")]
    )
    billing_cycle_day = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    low_balance_threshold = credit_field(
        default=ZERO, validators=[MinValueValidator(ZERO)], help_text="Default threshold for agents without their own."
    )
    is_active = models.BooleanField(default=True)
    billing_contacts = models.TextField(
        blank=True,
        default="",
        validators=[validate_email_list],
        help_text="Email addresses that receive low-balance alerts, separated by commas or new lines.",
    )
    webhook_url = models.URLField(
        blank=True,
        default="",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Low-balance alerts are POSTed here, signed with the webhook secret (see docs/webhooks.md).",
    )
    webhook_secret = models.CharField(
        max_length=64, default=new_webhook_secret, editable=False, help_text="Signs webhook requests."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            *SpendControls.Meta.constraints,
            models.CheckConstraint(
                condition=Q(billing_cycle_day__gte=1, billing_cycle_day__lte=28), name="outlet_billing_cycle_day_1_28"
            ),
            models.CheckConstraint(condition=Q(low_balance_threshold__gte=0), name="outlet_threshold_not_negative"),
        ]

    @property
    def zone(self) -> zoneinfo.ZoneInfo:  # its days, hours, months and billing periods are local to it
        return zoneinfo.ZoneInfo(self.timezone)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        try:
            self.billing_contacts = ", ".join(parse_email_list(self.billing_contacts))
        except ValidationError as exc:
            raise ValidationError({"billing_contacts": exc.messages}) from None

    @property
    def alert_recipients(self) -> list[str]:
        """Who a low-balance alert of this outlet goes to, as people read it; empty when nobody."""
        return [label for label, value in (("billing contacts", self.billing_contacts), ("webhook", self.webhook_url)) if value]

    def save(self, *args, **kwargs):
        # Every outlet has exactly one pool account, opened with the outlet whatever door created it.
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                CreditAccount.objects.create(outlet=self)

    @property
    def billing_contact_list(self) -> list[str]:
        try:
            return parse_email_list(self.billing_contacts)
        except ValidationError:
            return []  # a bad address written around the validators notifies nobody rather than failing the task


class Agent(SpendControls):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=200, help_text="The platform's id for this agent, unique per outlet.")
    low_balance_threshold = credit_field(
        null=True, blank=True, validators=[MinValueValidator(ZERO)], help_text="Leave empty to use the outlet's."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            *SpendControls.Meta.constraints,
            models.UniqueConstraint(fields=("outlet", "external_id"), name="agent_external_id_unique_per_outlet"),
            models.CheckConstraint(
                condition=Q(low_balance_threshold__isnull=True) | Q(low_balance_threshold__gte=0),
                name="agent_threshold_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Every agent has exactly one account, opened with the agent whatever door created it.
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                CreditAccount.objects.create(id=self.pk, agent=self, outlet_id=self.outlet_id)

    @property
    def effective_threshold(self) -> Decimal:
        if self.low_balance_threshold is not None:
            return self.low_balance_threshold
        return self.outlet.low_balance_threshold


class ApiKey(AbstractAPIKey):
    class Scope(models.TextChoices):
        READ = "read", "read"
        INGEST = "ingest", "ingest"
        CREDITS_WRITE = "credits:write", "credits:write"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="api_keys")
    scopes = models.JSONField(default=list, help_text="Any of read, ingest, credits:write.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def clean(self) -> None:
        super().clean()
        unknown = set(self.scopes or []) - set(self.Scope.values)
        if not isinstance(self.scopes, list) or unknown:
            raise ValidationError({"scopes": f"Unknown scopes: {', '.join(sorted(map(str, unknown)))}."})

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class CreditAccount(models.Model):
    """A balance: a cache of its ledger, always the sum of its entries. An agent's, or its outlet's pool (no agent)."""

    # An agent's account takes its agent's id as its own, so ledger rows and lookups by agent id keep working.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="credit_accounts")
    agent = models.OneToOneField(Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="account")
    balance = credit_field(default=ZERO)
    debt = credit_field(default=ZERO, help_text="Consumption no grant could pay; the next grant pays it first.")
    top_up_armed = models.BooleanField(
        default=True, help_text="False from an auto top-up until the balance is back at or above the rule's threshold."
    )
    hold_refused_at = models.DateTimeField(null=True, blank=True, help_text="When a hold or extension was last refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("agent__name",)
        constraints = [
            models.CheckConstraint(condition=Q(debt__gte=0), name="account_debt_not_negative"),
            models.UniqueConstraint(
                fields=("outlet",), condition=Q(agent__isnull=True), name="credit_account_one_pool_per_outlet"
            ),
            models.CheckConstraint(
                condition=Q(agent__isnull=True) | Q(agent=F("id")), name="credit_account_agent_id_is_account_id"
            ),
        ]

    def __str__(self) -> str:
        owner = "Pool" if self.is_pool else self.agent
        return f"{owner} ({display_amount(self.balance, 'credits')})"  # page titles: two places

    @property
    def is_pool(self) -> bool:
        return self.agent_id is None

    @property
    def owner_label(self) -> str:
        return f"pool of {self.outlet.name}" if self.is_pool else self.agent.name


class CreditLedgerEntry(ImmutableModel):
    class Kind(models.TextChoices):
        ADD = "ADD", "Add"
        SET = "SET", "Set"
        CLEAR = "CLEAR", "Clear"
        CONSUME = "CONSUME", "Consume"
        ADJUST = "ADJUST", "Adjust"
        EXPIRE = "EXPIRE", "Expire"
        VOID = "VOID", "Void"
        ALLOCATE = "ALLOCATE", "Allocate"
        RECLAIM = "RECLAIM", "Reclaim"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="ledger_entries")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = credit_field(help_text="Signed change; SET and CLEAR record the delta that reaches the new balance.")
    balance_after = credit_field()
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=200, help_text="Who did it, as shown in history.")
    reason = models.TextField()
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    ingest_batch_id = models.UUIDField(null=True, blank=True, help_text="The ingest batch a consumption debits.")
    transfer_id = models.UUIDField(
        null=True, blank=True, help_text="Pairs the two entries of a move between an outlet's pool and an agent."
    )
    effective_at = models.DateTimeField(
        help_text="When the change took effect: a top-up's payment, a consumption's latest usage. Never after posting."
    )
    # Set by the services from the same clock reading as a default effective_at, so the two are equal then.
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When the entry was posted; balances chain in this order."
    )

    class Meta:
        ordering = ("-effective_at", "-id")
        verbose_name_plural = "credit ledger entries"
        indexes = [
            models.Index(fields=("account", "id"), name="ledger_account_id"),
            models.Index(fields=("outlet", "created_at", "id"), name="ledger_outlet_created"),
            models.Index(fields=("outlet", "effective_at", "id"), name="ledger_outlet_effective"),
            models.Index(fields=("transfer_id",), condition=Q(transfer_id__isnull=False), name="ledger_transfer"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "idempotency_key"),
                condition=Q(idempotency_key__isnull=False),
                name="ledger_idempotency_key_unique_per_outlet",
            ),
            models.UniqueConstraint(
                fields=("account", "ingest_batch_id"),
                condition=Q(ingest_batch_id__isnull=False),
                name="ledger_one_consume_per_account_and_batch",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["ADD", "SET", "CLEAR", "CONSUME", "ADJUST", "EXPIRE", "VOID", "ALLOCATE", "RECLAIM"]),
                name="ledger_kind_valid",
            ),
            models.CheckConstraint(condition=~Q(kind="ADD") | Q(amount__gt=0), name="ledger_add_positive"),
            models.CheckConstraint(
                condition=~Q(kind__in=["CONSUME", "EXPIRE", "VOID"]) | Q(amount__lt=0), name="ledger_write_off_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["ALLOCATE", "RECLAIM"]) | ~Q(amount=0), name="ledger_transfer_nonzero"
            ),
            models.CheckConstraint(condition=~Q(kind="ADJUST") | ~Q(amount=0), name="ledger_adjust_nonzero"),
            models.CheckConstraint(condition=~Q(kind="SET") | Q(balance_after__gte=0), name="ledger_set_not_negative"),
            models.CheckConstraint(condition=~Q(kind="CLEAR") | Q(balance_after=0), name="ledger_clear_reaches_zero"),
            models.CheckConstraint(
                condition=~(Q(actor_user__isnull=False) & Q(actor_api_key__isnull=False)), name="ledger_one_actor"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="ledger_reason_required"),
            models.CheckConstraint(condition=Q(effective_at__lte=F("created_at")), name="ledger_effective_not_after_posting"),
        ]

    def __str__(self) -> str:
        amount, after = (display_amount(value, "credits") for value in (self.amount, self.balance_after))
        return f"{self.kind} {amount} -> {after}"  # page titles: two places


class CreditGrant(models.Model):
    """A block of credits on one account, drawn down in a known order; the balance is what the grants hold, less debt."""

    class Source(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        PROMOTION = "promotion", "Promotion"
        ALLOCATION = "allocation", "Allocation"
        AUTO_TOP_UP = "auto_top_up", "Auto top-up"
        ADJUSTMENT = "adjustment", "Adjustment"
        OPENING = "opening", "Opening balance"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DEPLETED = "depleted", "Depleted"
        EXPIRED = "expired", "Expired"
        VOIDED = "voided", "Voided"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="credit_grants")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="grants")
    entry = models.ForeignKey(
        CreditLedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="created_grants",
        help_text="The entry that created the grant; none for the opening grants balances became.",
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PURCHASE)
    amount = credit_field()
    remaining = credit_field()
    priority = models.PositiveIntegerField(default=100, help_text="Lower is drawn first.")
    effective_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    reason = models.TextField()
    actor_label = models.CharField(max_length=200)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("priority", F("expires_at").asc(nulls_last=True), "effective_at", "id")
        indexes = [
            models.Index(
                fields=("account", "priority", "expires_at", "effective_at", "id"),
                condition=Q(status="active"),
                name="grant_draw_down_order",
            ),
            models.Index(fields=("expires_at",), condition=Q(status="active"), name="grant_active_expiry"),
            models.Index(fields=("outlet", "-created_at"), name="grant_outlet_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="grant_amount_positive"),
            models.CheckConstraint(condition=Q(remaining__gte=0, remaining__lte=F("amount")), name="grant_remaining_in_range"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("effective_at")), name="grant_expires_after_effect"
            ),
            # Only an active grant holds credits: one written off, voided or used up holds none.
            models.CheckConstraint(
                condition=Q(status="active", remaining__gt=0) | Q(status__in=["depleted", "expired", "voided"], remaining=0),
                name="grant_status_matches_remaining",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="grant_reason_required"),
        ]

    def __str__(self) -> str:
        return f"Grant {self.pk}: {self.get_source_display().lower()} {display_amount(self.amount, 'credits')}"

    def is_usable(self, now) -> bool:
        return self.status == self.Status.ACTIVE and (self.expires_at is None or self.expires_at > now)


class CreditGrantMovement(ImmutableModel):
    """Credits taken out of a grant by one ledger entry: `remaining` is always `amount` less these."""

    class Kind(models.TextChoices):
        DRAW = "draw", "Draw-down"
        DEBT = "debt", "Paid debt"
        WRITE_OFF = "write_off", "Written off"

    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="movements")
    entry = models.ForeignKey(CreditLedgerEntry, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=9, choices=Kind.choices)
    amount = credit_field()

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=("entry",), name="grant_movement_entry")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="grant_movement_positive"),
            models.CheckConstraint(condition=Q(kind__in=["draw", "debt", "write_off"]), name="grant_movement_kind_valid"),
            # An expiry or a void writes a grant off once, whoever gets there first.
            models.UniqueConstraint(fields=("grant",), condition=Q(kind="write_off"), name="grant_written_off_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {display_amount(self.amount, 'credits')}"


class CreditAlert(models.Model):
    """One episode of an account below its threshold: opens when it falls below, resolves when it is back.

    A `low` alert escalates in place to `depleted` when the balance reaches zero or below, and stays
    `depleted` until it resolves (docs/decisions.md). The database allows one open alert per account.
    """

    class Kind(models.TextChoices):
        LOW = "low", "Low balance"
        DEPLETED = "depleted", "Depleted"
        POOL_LOW = "pool_low", "Pool too low for a top-up"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="credit_alerts")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    threshold = credit_field(help_text="The threshold that applied when the alert opened.")
    opening_balance = credit_field(help_text="The balance that opened the alert.")
    opened_at = models.DateTimeField()
    depleted_at = models.DateTimeField(null=True, blank=True, help_text="When the balance reached zero or below.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_balance = credit_field(null=True, blank=True, help_text="The balance that resolved the alert.")

    class Meta:
        ordering = ("-opened_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("account",), condition=Q(status="open"), name="credit_alert_one_open_per_account"
            ),
            models.CheckConstraint(condition=Q(kind__in=["low", "depleted", "pool_low"]), name="credit_alert_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind__in=["low", "pool_low"], depleted_at__isnull=True) | Q(kind="depleted", depleted_at__isnull=False),
                name="credit_alert_depleted_at_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True, resolution_balance__isnull=True)
                | Q(status="resolved", resolved_at__isnull=False, resolution_balance__isnull=False),
                name="credit_alert_resolution_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display().lower()}): {self.account.agent or 'the pool'}"


class WebhookDelivery(models.Model):
    """One attempt to POST one event (an alert's, or an auto top-up's request) to its outlet's webhook URL."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(CreditAlert, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries")
    top_up = models.ForeignKey(
        "credits.CreditTopUp", null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    event_id = models.CharField(max_length=64, help_text="The same for every attempt of one event.")
    event = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=9, choices=Status.choices)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: no HTTP response.")
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "webhook delivery attempt"
        constraints = [
            models.CheckConstraint(
                condition=Q(alert__isnull=True, top_up__isnull=False) | Q(alert__isnull=False, top_up__isnull=True),
                name="webhook_delivery_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt}: {self.status}"
