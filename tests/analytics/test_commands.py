"""`manage.py rollup`: the dirty buckets, or a range of days."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.checks import check_rollups
from analytics.models import DirtyBucket, UsageHourlyRollup
from tests.analytics.rollup_usage import DAYS, FIRST_DAY, LAST_DAY, ROLLUP_MODELS, rollup_rows, unbuild
from tests.commands import run
from tests.factories import OutletFactory

pytestmark = pytest.mark.django_db

BUILT = re.compile(r"^Built (\d+) days? of (\d+) outlets? \((\d+) dirty buckets? cleared\) in \d+\.\d s\.\n$")


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
        (("--outlet", "nope"), "Outlet 'nope' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
        (("--outlet", "7d5e1a6c-0000-4000-8000-000000000000"), "Outlet '7d5e1a6c-0000-4000-8000-000000000000' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
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
