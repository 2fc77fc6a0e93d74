from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from config.db import ImmutableModel
from config.money import COST_PLACES, COUNT_PLACES, DURATION_PLACES
from credits.holds.models import CreditHold
from credits.models import Agent, Outlet, credit_field
from credits.prices.models import TYPE_PATTERN, Price

ID_LENGTH = 255
RELATION_IDS = (
    "conversation_id", "message_id", "task_id", "contact_id", "blueprint_id", "bot_id", "dataset_id",
    "skillset_id", "ability_id",
)


class Interaction(models.Model):
    """One call or chat session; its usage records point at it by the platform's `interaction_id`."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEUTRAL = "neutral", "Neutral"
        NEGATIVE = "negative", "Negative"
        UNKNOWN = "unknown", "Unknown"

    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="interactions", db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="interactions", db_index=False)
    interaction_id = models.CharField(max_length=ID_LENGTH, help_text="The platform's id, unique per outlet.")
    channel = models.CharField(max_length=32, default="voice")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=DURATION_PLACES, default=0)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, default=Sentiment.UNKNOWN)
    end_user_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    message_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-started_at", "-id")
        constraints = [
            # interaction_id first: the same per-outlet uniqueness, and staff can find one by its id alone.
            models.UniqueConstraint(fields=("interaction_id", "outlet"), name="interaction_id_unique_per_outlet"),
            models.CheckConstraint(condition=Q(duration_seconds__gte=0), name="interaction_duration_not_negative"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="interaction_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=("outlet", "started_at", "id"), name="interaction_outlet_started"),
            models.Index(fields=("agent", "started_at", "id"), name="interaction_agent_started"),
            models.Index(fields=("started_at", "id"), name="interaction_started"),
            # The admin's search and the API's end_user_id filter; only interactions that name an end user.
            models.Index(
                fields=("end_user_id", "outlet"), name="interaction_end_user_outlet", condition=~Q(end_user_id="")
            ),
        ]

    def __str__(self) -> str:
        return self.interaction_id


class UsageRecord(ImmutableModel):
    """What the platform consumed, once and for good: no update, no delete."""

    Unit = Price.Unit

    # No single-column FK indexes: the composite indexes below lead with these columns.
    outlet = models.ForeignKey(Outlet, on_delete=models.PROTECT, related_name="usage_records", db_index=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="usage_records", db_index=False)
    event_id = models.CharField(max_length=ID_LENGTH, help_text="The platform's idempotency key, unique per outlet.")
    interaction_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    type = models.CharField(max_length=32, help_text="CONVERSATION, TRANSITION, TTS, STT, TELEPHONY or any upper-case slug.")
    model = models.CharField(max_length=128, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    product = models.CharField(max_length=128, blank=True, default="")
    voice = models.CharField(max_length=128, blank=True, default="")
    api_key_label = models.CharField(max_length=128, blank=True, default="")
    end_user_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    count = models.DecimalField(max_digits=20, decimal_places=COUNT_PLACES, default=0)
    unit = models.CharField(max_length=16, choices=Unit.choices)
    credits = credit_field(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=COST_PLACES, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    price = models.ForeignKey(
        Price, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_records", db_index=False,
        help_text="The price book version that priced it; empty when the platform sent its credits and cost.",
    )
    hold = models.ForeignKey(
        CreditHold, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_records", db_index=False,
        help_text="The hold it captured: named by the record, or the agent's live hold on its interaction.",
    )
    conversation_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    message_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    task_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    contact_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    blueprint_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    bot_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    dataset_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    skillset_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    ability_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    meta = models.JSONField(default=dict, blank=True)
    ingest_batch_id = models.UUIDField(help_text="The ingest batch that stored it; its CONSUME entries carry the same id.")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ("-occurred_at", "-id")
        constraints = [
            # event_id first: the same per-outlet uniqueness, and it also finds an event by its id alone.
            models.UniqueConstraint(fields=("event_id", "outlet"), name="usage_event_id_unique_per_outlet"),
            models.CheckConstraint(condition=Q(count__gte=0), name="usage_count_not_negative"),
            models.CheckConstraint(condition=Q(credits__gte=0), name="usage_credits_not_negative"),
            models.CheckConstraint(condition=Q(cost_usd__gte=0), name="usage_cost_not_negative"),
            models.CheckConstraint(condition=Q(type__regex=TYPE_PATTERN), name="usage_type_upper_slug"),
            models.CheckConstraint(
                condition=Q(unit__in=["tokens", "characters", "seconds", "requests"]), name="usage_unit_valid"
            ),
        ]
        indexes = [
            models.Index(fields=("outlet", "occurred_at", "id"), name="usage_outlet_occurred"),
            models.Index(fields=("agent", "occurred_at", "id"), name="usage_agent_occurred"),
            models.Index(fields=("occurred_at", "id"), name="usage_occurred"),
            # Whether a price was used (it is then never changed); only priced records are indexed.
            models.Index(fields=("price",), name="usage_price", condition=Q(price__isnull=False)),
            models.Index(fields=("hold",), name="usage_hold", condition=Q(hold__isnull=False)),
            models.Index(fields=("interaction_id", "outlet"), name="usage_interaction_outlet"),
            models.Index(fields=("conversation_id", "outlet"), name="usage_conversation_outlet"),
            # For the admin's search by message id; measured: no cost to ingest within the benchmark's noise.
            models.Index(
                fields=("message_id", "outlet"), name="usage_message_outlet", condition=~Q(message_id="")
            ),
        ]

    def __str__(self) -> str:
        return self.event_id

    @property
    def updated_at(self):
        """Records never change; kept for API compatibility."""
        return self.created_at
