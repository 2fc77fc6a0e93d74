"""What an agent may spend and how it is refilled, set on the agent or, as a default for its agents, on the outlet.

The agent's value wins when set; unset everywhere, an agent is not enforced (`off`), has no overdraft and no
auto top-up: what every agent did before these existed.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from config.money import CREDIT_DIGITS, CREDIT_PLACES, quantum

TOP_UP_FIELDS = ("top_up_threshold", "top_up_amount", "top_up_source", "top_up_max_per_day")
MAX_TOP_UPS_PER_DAY = 1000


class Enforcement(models.TextChoices):
    OFF = "off", "Off: holds are always granted"
    BLOCK = "block", "Block: refuse a hold past the overdraft limit"


class TopUpSource(models.TextChoices):
    POOL = "pool", "The outlet pool"
    EXTERNAL = "external", "External: a webhook asks the platform to add credits"


def _credits(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=CREDIT_DIGITS, decimal_places=CREDIT_PLACES, null=True, blank=True, **kwargs)


class SpendControls(models.Model):
    """Enforcement, overdraft and the auto top-up rule; every field empty means "inherit" (see module doc)."""

    enforcement = models.CharField(max_length=5, choices=Enforcement.choices, null=True, blank=True)
    overdraft_limit = _credits(
        validators=[MinValueValidator(0)], help_text="How far below zero holds may take available credit under block."
    )
    top_up_threshold = _credits(validators=[MinValueValidator(0)], help_text="Auto top-up when the balance falls below this.")
    top_up_amount = _credits(validators=[MinValueValidator(quantum(CREDIT_PLACES))], help_text="Credits each top-up adds.")
    top_up_source = models.CharField(max_length=8, choices=TopUpSource.choices, null=True, blank=True)
    top_up_max_per_day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_TOP_UPS_PER_DAY)],
        help_text="Top-ups per outlet-local day at most; 0 turns the rule off.",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(enforcement__isnull=True) | Q(enforcement__in=Enforcement.values), name="%(class)s_enforcement_valid"
            ),
            models.CheckConstraint(
                condition=Q(overdraft_limit__isnull=True) | Q(overdraft_limit__gte=0), name="%(class)s_overdraft_not_negative"
            ),
            # A rule is whole or absent: all four fields, or none.
            models.CheckConstraint(
                condition=Q(**{f"{name}__isnull": True for name in TOP_UP_FIELDS})
                | Q(
                    top_up_threshold__gte=0, top_up_amount__gt=0, top_up_source__in=TopUpSource.values,
                    top_up_max_per_day__isnull=False,
                ),
                name="%(class)s_top_up_rule_whole",
            ),
        ]
