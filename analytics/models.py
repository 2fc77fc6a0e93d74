"""The rollup tables and the dirty-bucket queue that keeps them exact.

Each rollup sums usage records (or interactions) over a time bucket and a few dimensions;
`analytics.facts` says which rollup holds which dimensions, and the query layer answers a
question from the coarsest rollup that holds every dimension it groups or filters by.
"""

import math

from django.conf import settings
from django.db import models

from config.money import COST_PLACES, COUNT_PLACES, CREDIT_PLACES, DURATION_PLACES
from credits.models import Agent, ApiKey, Outlet
from usage.models import ID_LENGTH

# Lower bounds (ms) of the latency histogram's buckets: 0 alone, then three buckets per doubling
# (a width of at most 26% of the value) up to 131,072 ms, the last bucket open-ended.
LATENCY_FLOORS_MS = (0, *sorted({math.ceil(2 ** (step / 3)) for step in range(52)}))
# Lower bounds (s) of the call duration histogram: the spend overview's drop-off buckets.
DURATION_FLOORS_S = (0, 30, 60, 180, 300)


def latency_column(index: int) -> str:
    return f"latency_h{index:02d}"


def duration_column(index: int) -> str:
    return f"duration_h{index}"


LATENCY_COLUMNS = tuple(latency_column(index) for index in range(len(LATENCY_FLOORS_MS)))
DURATION_COLUMNS = tuple(duration_column(index) for index in range(len(DURATION_FLOORS_S)))


class DirtyBucket(models.Model):
    """An (outlet, hour) whose rollups no longer match its raw usage records or interactions.

    Ingestion marks it in the same transaction as the records; the rollup task rebuilds
    its day and deletes the mark only if it was not marked again meanwhile (`marked_at`).
    """

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=("outlet", "hour"), name="dirty_bucket_unique")]
        indexes = [models.Index(fields=("marked_at",), name="dirty_bucket_marked")]

    def __str__(self) -> str:
        return f"{self.outlet_id} {self.hour:%Y-%m-%d %H}:00"


class RollupZone(models.Model):
    """The zone an outlet's rollups were bucketed in: while it differs from the outlet's, none of its rollups is read.

    Written by the builder under the outlet's lock. So however the outlet's zone changes (the admin, a
    migration, SQL), answers come from raw rows until the next run has rebuilt its rollups in the new zone.
    """

    outlet = models.OneToOneField(Outlet, on_delete=models.CASCADE, primary_key=True, related_name="rollup_zone")
    timezone = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.outlet_id} {self.timezone}"


# The columns of UsageMeasures that it sums, which a covering index of a usage rollup includes.
USAGE_MEASURE_COLUMNS = ("records", "units", "credits", "cost", "latency_sum", "latency_count")


class UsageMeasures(models.Model):
    """What every usage rollup row sums; `units` only ever adds up one unit (unit is in every key)."""

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.DateTimeField(help_text="The local hour's first instant, or the local date's midnight UTC.")
    type = models.CharField(max_length=32)
    unit = models.CharField(max_length=16)
    records = models.BigIntegerField()
    units = models.DecimalField(max_digits=28, decimal_places=COUNT_PLACES)
    credits = models.DecimalField(max_digits=28, decimal_places=CREDIT_PLACES)
    cost = models.DecimalField(max_digits=28, decimal_places=COST_PLACES)
    latency_sum = models.BigIntegerField()
    latency_count = models.BigIntegerField()

    class Meta:
        abstract = True


LatencyHistogram = type(
    "LatencyHistogram",
    (models.Model,),
    {
        "__module__": __name__,
        "__doc__": f"Record counts per latency bucket; bucket i starts at LATENCY_FLOORS_MS[i] ({len(LATENCY_COLUMNS)}).",
        "Meta": type("Meta", (), {"abstract": True}),
        **{name: models.IntegerField(default=0) for name in LATENCY_COLUMNS},
    },
)


class UsageDailyRollup(UsageMeasures, LatencyHistogram):
    """Per outlet, day, type, model and unit, with the latency histogram: the coarsest, for most questions."""

    model = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "type", "model", "unit"), name="usage_daily_rollup_unique")
        ]
        indexes = [models.Index(fields=("bucket",), name="usage_daily_rollup_bucket")]


class UsageHourlyRollup(UsageMeasures):
    """Per outlet, hour, type, model and unit: hourly intervals.

    No latency histogram: percentiles are asked over whole days, which the daily rollup answers,
    and 50 more columns made its rows five times as wide to scan and to build.
    """

    model = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "bucket", "type", "model", "unit"), name="usage_hourly_rollup_unique"
            )
        ]
        indexes = [
            models.Index(fields=("bucket",), name="usage_hourly_rollup_bucket"),
            # An outlet's hours read from the index alone: its rows lie on as many heap pages as there are rows.
            models.Index(
                fields=("outlet", "bucket"),
                include=("type", "model", "unit", *USAGE_MEASURE_COLUMNS),
                name="usage_hourly_rollup_outlet",
            ),
        ]


class UsageHourlyTypeRollup(UsageMeasures):
    """Per outlet, hour, type and unit: an hourly breakdown by type, its rows already the answer's groups.

    Grouping one outlet's month of hourly rows per model into its (type, unit, hour) sums was most of that
    answer's SQL; read from here, one outlet's rows need no grouping at all.
    """

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "type", "unit"), name="usage_hourly_type_rollup_unique")
        ]
        indexes = [
            models.Index(fields=("bucket",), name="usage_hourly_type_bucket"),
            # One outlet's hours read from the index alone, as usage_hourly_rollup_outlet.
            models.Index(
                fields=("outlet", "bucket"),
                include=("type", "unit", *USAGE_MEASURE_COLUMNS),
                name="usage_hourly_type_outlet",
            ),
        ]


class UsageAgentDailyRollup(UsageMeasures):
    """Per outlet, day, agent, type, model and unit: summaries and breakdowns by agent."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+", db_index=False)
    model = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "bucket", "agent", "type", "model", "unit"), name="usage_agent_daily_rollup_unique"
            )
        ]
        indexes = [models.Index(fields=("bucket",), name="usage_agent_rollup_bucket")]


class PivotedUsageMeasures(models.Model):
    """Usage sums with units pivoted into one column per unit, so no unit is needed in the key."""

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.DateTimeField(help_text="The local date, as its midnight UTC.")
    records = models.BigIntegerField()
    credits = models.DecimalField(max_digits=28, decimal_places=CREDIT_PLACES)
    cost = models.DecimalField(max_digits=28, decimal_places=COST_PLACES)
    latency_sum = models.BigIntegerField()
    latency_count = models.BigIntegerField()
    units_tokens = models.DecimalField(max_digits=28, decimal_places=COUNT_PLACES)
    units_characters = models.DecimalField(max_digits=28, decimal_places=COUNT_PLACES)
    units_seconds = models.DecimalField(max_digits=28, decimal_places=COUNT_PLACES)
    units_requests = models.DecimalField(max_digits=28, decimal_places=COUNT_PLACES)

    class Meta:
        abstract = True


class UsageAgentTotalsDailyRollup(PivotedUsageMeasures):
    """Per outlet, day and agent: agent-level totals over every outlet read few rows."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "agent"), name="usage_agent_totals_rollup_unique")
        ]
        indexes = [
            models.Index(fields=("bucket",), name="usage_agent_totals_bucket"),
            # A breakdown by agent reads the points of the few agents it keeps.
            models.Index(fields=("agent", "bucket"), name="usage_agent_totals_agent"),
        ]


class UsageEndUserDailyRollup(PivotedUsageMeasures):
    """Per outlet, day and end user: breakdowns by user, which has as many values as an outlet has callers."""

    end_user_id = models.CharField(max_length=ID_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "end_user_id"), name="usage_end_user_rollup_unique")
        ]
        indexes = [
            models.Index(fields=("bucket",), name="usage_end_user_rollup_bucket"),
            # One outlet's callers ranked and their points read from the index alone, as usage_hourly_rollup_outlet.
            models.Index(
                fields=("outlet", "bucket"),
                include=(
                    "end_user_id", "records", "credits", "cost",
                    "units_tokens", "units_characters", "units_seconds", "units_requests",
                ),
                name="usage_end_user_rollup_outlet",
            ),
            # A breakdown by user sums every user's rows in user order (no hash table of 50,000 groups), then
            # reads the points of the few users it keeps: both from the index alone.
            models.Index(
                fields=("end_user_id", "bucket"),
                include=(
                    "records", "credits", "cost", "units_tokens", "units_characters", "units_seconds", "units_requests"
                ),
                name="usage_end_user_rollup_sums",
            ),
        ]


class UsageDimensionDailyRollup(UsageMeasures):
    """Per outlet, day, type, model, unit, voice, product and API key: breakdowns by those."""

    model = models.CharField(max_length=128)
    voice = models.CharField(max_length=128)
    product = models.CharField(max_length=128)
    api_key_label = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "bucket", "type", "model", "unit", "voice", "product", "api_key_label"),
                name="usage_dimension_daily_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=("bucket",), name="usage_dimension_rollup_bucket")]


DurationHistogram = type(
    "DurationHistogram",
    (models.Model,),
    {
        "__module__": __name__,
        "__doc__": "Calls per duration bucket; bucket i starts at DURATION_FLOORS_S[i].",
        "Meta": type("Meta", (), {"abstract": True}),
        **{name: models.IntegerField(default=0) for name in DURATION_COLUMNS},
    },
)


class InteractionMeasures(models.Model):
    """What every interaction rollup row sums, over the interactions that started on its day."""

    outlet = models.ForeignKey(Outlet, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.DateTimeField(help_text="The local date, as its midnight UTC.")
    calls = models.BigIntegerField()
    duration_sum = models.DecimalField(max_digits=20, decimal_places=DURATION_PLACES)
    messages = models.BigIntegerField()

    class Meta:
        abstract = True


class InteractionStatusDailyRollup(InteractionMeasures, DurationHistogram):
    """Interactions by the day they started, per outlet, status and sentiment: outcomes over many agents."""

    status = models.CharField(max_length=16)
    sentiment = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "status", "sentiment"), name="interaction_status_rollup_unique")
        ]
        indexes = [models.Index(fields=("bucket",), name="interaction_status_bucket")]


class InteractionAgentDailyRollup(InteractionMeasures):
    """Interactions by the day they started, per outlet and agent: per-agent calls over many outlets."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("outlet", "bucket", "agent"), name="interaction_agent_rollup_unique")
        ]
        indexes = [models.Index(fields=("bucket",), name="interaction_agent_bucket")]


class InteractionDailyRollup(InteractionMeasures, DurationHistogram):
    """Interactions by the day they started, per outlet, agent, status and sentiment."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16)
    sentiment = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("outlet", "bucket", "agent", "status", "sentiment"), name="interaction_daily_rollup_unique"
            )
        ]
        indexes = [models.Index(fields=("bucket",), name="interaction_rollup_bucket")]


class RequestLog(models.Model):
    """One API request: who called, which route, how it ended, how long it took, how busy the process was.

    Written in batches by `analytics.requestlog.writer` (never in the request). The outlet, key and
    user columns carry no database constraint: a row must not be lost because its key or
    outlet went away between the request and the batch's write (the ORM still cascades).
    """

    UNMATCHED_ROUTE = "<unmatched>"

    time = models.DateTimeField(help_text="When the request arrived (UTC).")
    outlet = models.ForeignKey(
        Outlet, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False, help_text="The calling key's outlet; empty for staff and unauthenticated calls.",
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        db_constraint=False,
    )
    key_prefix = models.CharField(
        max_length=16, blank=True, default="",
        help_text="The key's public prefix (never its secret); for a rejected key, the prefix it claimed.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, db_constraint=False, help_text="The staff user of an admin-session call.",
    )
    method = models.CharField(max_length=10)
    route = models.CharField(
        max_length=255, help_text=f"The URL pattern, e.g. api/v1/usage/records/<int:pk>/; {UNMATCHED_ROUTE} for none."
    )
    status = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField(help_text="Until the response was produced (a streamed CSV: sent to its last row).")
    in_flight = models.PositiveIntegerField(
        help_text="Requests in flight in this server process when it arrived, itself included."
    )
    request_id = models.CharField(
        max_length=128, blank=True, default="", help_text="The response's Request-Id header: what a caller quotes."
    )
    # Failures only (4xx, 5xx): what the error body said, and what was asked.
    code = models.CharField(
        max_length=64, blank=True, default="", help_text="The error body's code, e.g. invalid_parameter."
    )
    message = models.CharField(max_length=500, blank=True, default="", help_text="The error body's message, cut at 500.")
    query = models.CharField(
        max_length=2000, blank=True, default="", help_text="The query string, secrets as [redacted], cut at 2,000."
    )

    class Meta:
        indexes = [
            # An outlet's list and analytics: a time range of one outlet, in cursor order.
            models.Index(fields=("outlet", "time", "id"), name="request_log_outlet_time"),
            # Staff over every outlet, and the retention purge.
            models.Index(fields=("time", "id"), name="request_log_time"),
            # The `code` filter, for staff and for one outlet (so another outlet's many failures are not scanned).
            # Partial: only failures carry a code, so the many successful rows are neither indexed nor slowed.
            models.Index(fields=("code", "time", "id"), name="request_log_code_time", condition=~models.Q(code="")),
            models.Index(
                fields=("outlet", "code", "time", "id"), name="request_log_outlet_code_time", condition=~models.Q(code="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.status}"
