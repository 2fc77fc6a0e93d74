"""The price book: versioned prices per (outlet or platform default, type, model or any, unit).

A version is never edited once a usage record used it: a later `effective_from` of the same key supersedes it.
Registered with the credits app by `CreditsConfig.import_models`.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from config.money import COST_PLACES, COUNT_PLACES, CREDIT_DIGITS, CREDIT_PLACES, quantum
from credits.models import Outlet

TYPE_PATTERN = r"^[A-Z][A-Z0-9_]{0,31}$"  # as a usage record's type


class Price(models.Model):
    class Unit(models.TextChoices):  # as a usage record's units
        TOKENS = "tokens", "tokens"
        CHARACTERS = "characters", "characters"
        SECONDS = "seconds", "seconds"
        REQUESTS = "requests", "requests"

    outlet = models.ForeignKey(
        Outlet, on_delete=models.PROTECT, null=True, blank=True, related_name="prices",
        help_text="Empty: the platform default, for every outlet without its own price.",
    )
    type = models.CharField(max_length=32, help_text="The usage type it prices: an upper-case slug such as TELEPHONY.")
    model = models.CharField(max_length=128, blank=True, default="", help_text="Empty: any model.")
    unit = models.CharField(max_length=16, choices=Unit.choices)
    credits_per_unit = models.DecimalField(
        max_digits=CREDIT_DIGITS, decimal_places=CREDIT_PLACES, validators=[MinValueValidator(0)]
    )
    cost_usd_per_unit = models.DecimalField(max_digits=20, decimal_places=COST_PLACES, validators=[MinValueValidator(0)])
    increment = models.DecimalField(
        max_digits=20, decimal_places=COUNT_PLACES, default=1, validators=[MinValueValidator(quantum(COUNT_PLACES))],
        help_text="Billable units round up to a multiple of this (e.g. 30 seconds).",
    )
    minimum = models.DecimalField(
        max_digits=20, decimal_places=COUNT_PLACES, default=0, validators=[MinValueValidator(0)],
        help_text="Units billed at least, per record.",
    )
    effective_from = models.DateTimeField(help_text="Prices records that occurred at or after this time.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        app_label = "credits"
        ordering = ("type", "model", "unit", "-effective_from", "-id")
        constraints = [
            # One version per key and time; the defaults apart, their NULL outlet never equal to another.
            models.UniqueConstraint(
                fields=("outlet", "type", "model", "unit", "effective_from"),
                condition=Q(outlet__isnull=False),
                name="price_version_unique",
                violation_error_message="This outlet has a version of this price from this time already.",
            ),
            models.UniqueConstraint(
                fields=("type", "model", "unit", "effective_from"),
                condition=Q(outlet__isnull=True),
                name="price_default_version_unique",
                violation_error_message="The platform default has a version of this price from this time already.",
            ),
            models.CheckConstraint(condition=Q(credits_per_unit__gte=0), name="price_credits_not_negative"),
            models.CheckConstraint(condition=Q(cost_usd_per_unit__gte=0), name="price_cost_not_negative"),
            models.CheckConstraint(condition=Q(increment__gt=0), name="price_increment_positive"),
            models.CheckConstraint(condition=Q(minimum__gte=0), name="price_minimum_not_negative"),
            models.CheckConstraint(condition=Q(type__regex=TYPE_PATTERN), name="price_type_upper_slug"),
            models.CheckConstraint(
                condition=Q(unit__in=["tokens", "characters", "seconds", "requests"]), name="price_unit_valid"
            ),
        ]
        indexes = [models.Index(fields=("type", "unit", "effective_from"), name="price_lookup")]

    def __str__(self) -> str:
        return f"{self.type} {self.model or '(any model)'} per {self.unit} from {self.effective_from:%Y-%m-%d %H:%M}"

    @property
    def is_used(self) -> bool:
        """Whether a usage record was priced by it (then it is never changed: a new version supersedes it)."""
        return self.pk is not None and self.usage_records.exists()

    def save(self, *args, **kwargs):
        if not self._state.adding and self.is_used:
            raise ValidationError("A price that priced usage cannot be changed: add a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_used:
            raise ValidationError("A price that priced usage cannot be deleted.")
        return super().delete(*args, **kwargs)
