"""`manage.py rollup` (dirty buckets, or a range of days) and reconcile's rollups check, row by row."""

import io
import random
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from analytics.checks import ROWS_SHOWN, _exact, check_rollups
from analytics.facts import FACTS
from analytics.models import DirtyBucket, InteractionDailyRollup, UsageDimensionDailyRollup, UsageHourlyRollup
from config.checks import CheckResult
from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.services import ingest_records, upsert_interactions

ACTOR = Actor.system("tests")
FIRST_DAY = date(2026, 10, 1)
DAYS = 5
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
TYPES = (("CONVERSATION", "tokens", ("gpt-4o", "gpt-4o-mini")), ("TTS", "characters", ("tts-1",)))
BUILT = re.compile(r"^Built (\d+) days? of (\d+) outlets? \((\d+) dirty buckets? cleared\) in \d+\.\d s\.\n$")
ROLLUP_MODELS = [rollup.model for fact in FACTS for rollup in fact.rollups]

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def at(day: date, seconds: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=seconds)


def make_records(rng: random.Random, agents, count: int, prefix: str, first_day: date = FIRST_DAY, days: int = DAYS):
    records = []
    for index in range(count):
        record_type, unit, models = rng.choice(TYPES)
        records.append({
            "event_id": f"{prefix}-{index}", "agent_id": str(rng.choice(agents).pk), "type": record_type, "unit": unit,
            "model": rng.choice(models), "voice": rng.choice(("", "alloy")), "product": rng.choice(("a", "b")),
            "count": rng.randrange(0, 5000), "credits": f"{rng.randrange(0, 10**7) / 10**6:.6f}",
            "cost_usd": f"{rng.randrange(0, 10**8) / 10**8:.8f}",
            "latency_ms": rng.choice((None, rng.randrange(1, 200), rng.randrange(200, 200000))),
            # at least one record a day: every day of the span has usage
            "occurred_at": at(first_day, (index % days) * 86400 + rng.randrange(86400)).isoformat(),
        })
    return records


@pytest.fixture
def usage():
    """Two outlets with usage records and interactions on each of DAYS days; nothing built yet."""
    rng = random.Random(8)
    outlets = [OutletFactory(), OutletFactory()]
    for outlet in outlets:
        agents = [AgentFactory(outlet=outlet) for _ in range(2)]
        ingest_records(outlet=outlet, records=make_records(rng, agents, 80, f"{outlet.pk}"), actor=ACTOR)
        upsert_interactions(outlet=outlet, interactions=[
            {
                "interaction_id": f"call-{index}", "agent_id": str(rng.choice(agents).pk),
                "status": rng.choice(("completed", "failed")), "sentiment": rng.choice(("positive", "unknown")),
                "started_at": at(FIRST_DAY, (index % DAYS) * 86400 + rng.randrange(86400)).isoformat(),
                "duration_seconds": rng.choice((5, 29.999, 61, 400)), "message_count": rng.randrange(20),
            }
            for index in range(20)
        ])
    return outlets


def rollup_rows(outlet=None, day: date | None = None) -> int:
    total = 0
    for model in ROLLUP_MODELS:
        rows = model.objects.all()
        if outlet is not None:
            rows = rows.filter(outlet=outlet)
        if day is not None:
            rows = rows.filter(bucket__gte=at(day), bucket__lt=at(day + timedelta(days=1)))
        total += rows.count()
    return total


def unbuild(outlet, day: date) -> None:
    for model in ROLLUP_MODELS:
        model.objects.filter(outlet=outlet, bucket__gte=at(day), bucket__lt=at(day + timedelta(days=1))).delete()


# rollup: the dirty buckets


def test_rollup_without_dates_builds_every_dirty_bucket(usage):
    marks = DirtyBucket.objects.count()
    assert marks and not rollup_rows()

    out, err = run("rollup")

    assert BUILT.match(out).groups() == (str(2 * DAYS), "2", str(marks))
    assert err == ""
    assert not DirtyBucket.objects.exists()
    assert all(model.objects.exists() for model in ROLLUP_MODELS)
    assert check_rollups().problems == []


def test_rollup_without_dirty_buckets_says_there_is_nothing_to_build(usage):
    run("rollup")
    built = rollup_rows()

    out, _ = run("rollup")

    assert out == "Nothing to build: no dirty buckets.\n"
    assert rollup_rows() == built


# rollup: a range of days


def test_rollup_with_dates_rebuilds_those_days_of_one_outlet_only(usage):
    first, second = usage
    run("rollup")
    day = FIRST_DAY + timedelta(days=1)
    per_day = {outlet.pk: rollup_rows(outlet, day) for outlet in usage}
    unbuild(first, day)
    unbuild(second, day)

    out, err = run("rollup", "--outlet", str(first.pk), "--since", f"{day}", "--until", f"{day}", "--no-progress")

    assert re.fullmatch(
        rf"Rebuilt 1 day of outlet {first.name} \({first.pk}\) from {day} to {day} in \d+\.\d s \([\d,]+ days/s\)\.\n",
        out,
    )
    assert err == ""
    assert rollup_rows(first, day) == per_day[first.pk]
    assert rollup_rows(second, day) == 0


def test_rollup_with_dates_clears_the_dirty_marks_of_those_days(usage):
    first, second = usage

    run("rollup", "--outlet", str(first.pk), "--since", f"{FIRST_DAY}", "--until", f"{LAST_DAY}")

    assert not DirtyBucket.objects.filter(outlet=first).exists()
    assert DirtyBucket.objects.filter(outlet=second).exists()
    assert rollup_rows(first) and not rollup_rows(second)


@pytest.mark.parametrize(
    "options, days_per_outlet",
    [
        (("--since", f"{FIRST_DAY + timedelta(days=2)}"), 3),  # to each outlet's last day with usage
        (("--until", f"{FIRST_DAY + timedelta(days=1)}"), 2),  # from each outlet's first day with usage
    ],
)
def test_rollup_with_one_date_takes_the_other_from_each_outlets_usage(usage, options, days_per_outlet):
    out, _ = run("rollup", *options)

    assert re.fullmatch(rf"Rebuilt {2 * days_per_outlet} days of 2 outlets in \d+\.\d s \([\d,]+ days/s\)\.\n", out)
    rebuilt = {hour.date() for hour in UsageHourlyRollup.objects.values_list("bucket", flat=True)}
    assert len(rebuilt) == days_per_outlet
    assert DirtyBucket.objects.count() and check_rollups().problems == []


def test_rollup_with_an_outlet_alone_rebuilds_its_whole_usage(usage):
    first, _ = usage

    out, _ = run("rollup", "--outlet", str(first.pk))

    assert out.startswith(f"Rebuilt {DAYS} days of outlet {first.name} ({first.pk}) from {FIRST_DAY} to {LAST_DAY} in ")
    assert not DirtyBucket.objects.filter(outlet=first).exists()


def test_rollup_of_an_outlet_without_usage_rebuilds_today_only():
    outlet = OutletFactory()

    out, _ = run("rollup", "--outlet", str(outlet.pk))

    today = datetime.now(UTC).date()
    assert out.startswith(f"Rebuilt 1 day of outlet {outlet.name} ({outlet.pk}) from {today} to {today} in ")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_rollup_with_dates_shows_a_progress_bar_on_a_terminal(usage):
    err = Terminal()

    call_command("rollup", "--since", f"{FIRST_DAY}", "--until", f"{LAST_DAY}", stdout=io.StringIO(), stderr=err)

    assert re.search(rf"100%\|.*\| {2 * DAYS}/{2 * DAYS} days, ", err.getvalue())


@pytest.mark.parametrize("terminal, option", [(True, ("--no-progress",)), (False, ())])
def test_rollup_shows_no_progress_bar_when_asked_or_not_on_a_terminal(usage, terminal, option):
    err = Terminal() if terminal else io.StringIO()

    call_command("rollup", "--since", f"{FIRST_DAY}", *option, stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == ""
    assert rollup_rows()


# rollup: bad input


@pytest.mark.parametrize(
    "options, message",
    [
        (("--outlet", "nope"), "Outlet 'nope' not found: --outlet must be a UUID."),
        (("--outlet", "7d5e1a6c-0000-4000-8000-000000000000"), "Outlet 7d5e1a6c-0000-4000-8000-000000000000 not found."),
        (("--since", "2026-13-01"), "--since must be a date as YYYY-MM-DD, got '2026-13-01'."),
        (("--until", "yesterday"), "--until must be a date as YYYY-MM-DD, got 'yesterday'."),
        (("--since", "20261001"), "--since must be a date as YYYY-MM-DD, got '20261001'."),
        (("--since", "2026-10-05", "--until", "2026-10-01"), "--since 2026-10-05 is after --until 2026-10-01."),
    ],
)
def test_rollup_refuses_bad_input_in_one_line(usage, options, message):
    marks = DirtyBucket.objects.count()

    with pytest.raises(CommandError) as excinfo:
        run("rollup", *options)

    assert str(excinfo.value) == message
    assert excinfo.value.returncode == 1
    assert DirtyBucket.objects.count() == marks and not rollup_rows()


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
        f"rollups: UsageHourlyRollup outlet {row.outlet_id} {row.bucket:%Y-%m-%d %H}:00 "
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
