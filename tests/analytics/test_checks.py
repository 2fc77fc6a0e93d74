"""Reconcile's rollups check: every rollup row of a clean day equals its raw rows, row by row."""

import io
import random
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from analytics.checks import ROWS_SHOWN, _exact, check_rollups
from analytics.models import InteractionDailyRollup, UsageDimensionDailyRollup, UsageHourlyRollup
from config.checks import CheckResult
from tests.analytics.rollup_usage import ACTOR, FIRST_DAY, make_records, rollup_rows
from tests.commands import run
from usage.services import ingest_records

pytestmark = pytest.mark.django_db


# reconcile: rollups = raw rows


def test_reconcile_passes_after_a_build_and_counts_the_rollup_rows(usage):
    run("rollup")

    out, err = run("reconcile")

    assert out.endswith(f", {rollup_rows()} rollup rows consistent.\n") and out.startswith("OK: ")
    assert err == ""


def test_reconcile_leaves_days_with_a_dirty_mark_to_raw_rows(usage):
    first, _ = usage
    run("rollup")
    agent = first.agents.first()
    ingest_records(outlet=first, records=make_records(random.Random(1), [agent], 3, "late", days=1), actor=ACTOR)

    clean_rows = rollup_rows() - rollup_rows(first, FIRST_DAY)
    assert check_rollups() == CheckResult(checked=f"{clean_rows} rollup rows (1 dirty outlet day left to raw rows)")
    out, _ = run("reconcile")
    assert out.startswith("OK: ")

    run("rollup")
    assert check_rollups() == CheckResult(checked=f"{rollup_rows()} rollup rows")


def test_reconcile_fails_and_names_the_rollup_and_row_that_differ(usage):
    run("rollup")
    row = UsageHourlyRollup.objects.order_by("bucket", "pk").first()
    UsageHourlyRollup.objects.filter(pk=row.pk).update(credits=F("credits") + 1, latency_count=F("latency_count") + 2)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("reconcile", stdout=out, stderr=err)

    assert str(excinfo.value) == "1 mismatch found."
    assert excinfo.value.returncode == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        f"rollups: UsageHourlyRollup outlet {row.outlet_id} {row.bucket:%Y-%m-%d %H}:00 UTC "
        f"model={row.model} type={row.type} unit={row.unit}: "
        f"credits {row.credits + 1} in the rollup, {row.credits} in the raw rows; "
        f"latency_count {row.latency_count + 2} in the rollup, {row.latency_count} in the raw rows."
    ]


def test_reconcile_names_a_missing_rollup_row_and_one_without_raw_rows(usage):
    first, _ = usage
    run("rollup")
    missing = InteractionDailyRollup.objects.order_by("bucket", "pk").first()
    InteractionDailyRollup.objects.filter(pk=missing.pk).delete()
    extra = UsageDimensionDailyRollup.objects.filter(outlet=first).order_by("bucket", "pk").first()
    extra.pk, extra.type, extra.voice, extra.api_key_label = None, "STT", "", ""
    extra.save()

    gone, orphan = sorted(check_rollups().problems)

    assert gone.startswith(
        f"InteractionDailyRollup outlet {missing.outlet_id} {missing.bucket:%Y-%m-%d} agent_id={missing.agent_id} "
        f"sentiment={missing.sentiment} status={missing.status}: no rollup row; "
        f"the raw rows add up to calls {missing.calls}, duration_sum {missing.duration_sum}"
    )
    assert orphan.startswith(
        f"UsageDimensionDailyRollup outlet {first.pk} {extra.bucket:%Y-%m-%d} api_key_label=\"\" "
        f"model={extra.model} product={extra.product} type=STT unit={extra.unit} voice=\"\": "
        f"no raw rows, yet the rollup row holds records {extra.records}, "
    )


def test_reconcile_lists_at_most_a_few_rows_per_rollup_and_counts_the_rest(usage):
    run("rollup")
    UsageHourlyRollup.objects.update(records=F("records") + 1)
    differing = UsageHourlyRollup.objects.count()
    assert differing > ROWS_SHOWN

    problems = check_rollups().problems

    assert len(problems) == ROWS_SHOWN + 1
    assert all(line.startswith("UsageHourlyRollup outlet ") for line in problems[:ROWS_SHOWN])
    assert problems[-1] == (
        f"UsageHourlyRollup: {differing - ROWS_SHOWN} more rows differ from the raw rows ({differing} in all)."
    )


def test_sums_are_compared_at_the_columns_places_whatever_type_the_database_returns():
    assert _exact(0.1 + 0.2, 6) == Decimal("0.300000") == _exact(Decimal("0.3"), 6)
    assert _exact(1234567.123456, 6) == Decimal("1234567.123456")
    assert _exact(Decimal("5"), None) == 5 == _exact(5, None)
    assert _exact(uuid.uuid4().int % 10**27, 0) >= 0  # wider than the default context: no InvalidOperation
