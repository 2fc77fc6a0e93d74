"""`manage.py rollup`: build the dirty buckets now, or rebuild a range of days from raw rows.

With no option it does the worker's job at once: every day with a dirty mark is rebuilt, oldest
mark first, and one line says what was built. With --since and/or --until (or --outlet alone) every
day of the range is rebuilt, marked or not, for one outlet or each of them: after a restore, a fix
to the rollups or a failed `reconcile`. A missing --since is the outlet's first day with usage or
interactions, a missing --until its last (today for an outlet with neither). Days are each outlet's local dates.
"""

import re
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Min
from tqdm import tqdm

from analytics.facts import FACTS
from analytics.services import rollup_dirty_buckets, rollups_rebuild_range
from analytics.zones import date_of
from config.api.dates import today_in
from config.commands import plural
from credits import selectors
from credits.management.options import OUTLET_HELP, outlet_from_option
from credits.models import Outlet

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day_from_option(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        if DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise CommandError(f"{option} must be a date as YYYY-MM-DD, got '{value}'.")


def usage_span(outlet: Outlet) -> tuple[date | None, date | None]:
    """The outlet's first and last local day with a usage record or an interaction (None, None if it has neither)."""
    moments = []
    for fact in FACTS:
        span = fact.raw.objects.filter(outlet=outlet).aggregate(first=Min(fact.time_field), last=Max(fact.time_field))
        moments.extend(moment for moment in span.values() if moment is not None)
    if not moments:
        return None, None
    return date_of(min(moments), outlet.zone), date_of(max(moments), outlet.zone)


class Command(BaseCommand):
    help = (
        "Build the rollups of every dirty bucket now (no option), or rebuild every day from --since to --until "
        "(each outlet's local dates, inclusive) of one outlet or all of them from raw rows."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--outlet", metavar="OUTLET",
            help=f"Rebuild this outlet's days only (default: every outlet); alone, its whole history. {OUTLET_HELP}",
        )
        parser.add_argument(
            "--since", metavar="YYYY-MM-DD", help="First day to rebuild (default: the outlet's first day with usage)."
        )
        parser.add_argument(
            "--until", metavar="YYYY-MM-DD",
            help="Last day to rebuild, inclusive (default: the outlet's last day with usage, or today).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (there is none when stderr is not a terminal)."
        )

    def handle(self, *args, outlet, since, until, no_progress, **options):
        since, until = day_from_option(since, "--since"), day_from_option(until, "--until")
        if since is not None and until is not None and since > until:
            raise CommandError(f"--since {since} is after --until {until}.")
        target = outlet_from_option(outlet) if outlet is not None else None
        started = time.monotonic()
        if target is None and since is None and until is None:
            self._build_dirty(started)
        else:
            self._rebuild(target, since, until, started, progress=not no_progress and self.stderr.isatty())

    def _build_dirty(self, started: float) -> None:
        run = rollup_dirty_buckets()
        elapsed = time.monotonic() - started
        if not run.days and not run.busy_outlets:
            self.stdout.write("Nothing to build: no dirty buckets.")
            return
        summary = (
            f"Built {plural(run.days, 'day')} of {plural(run.outlets, 'outlet')} "
            f"({plural(run.buckets, 'dirty bucket')} cleared) in {elapsed:.1f} s"
        )
        if run.busy_outlets:
            summary += f"; {plural(run.busy_outlets, 'outlet')} left to the build already running on it"
        self.stdout.write(f"{summary}.")

    def _rebuild(self, target: Outlet | None, since: date | None, until: date | None, started: float, progress: bool):
        plans = []
        for outlet in [target] if target is not None else selectors.outlet_list().order_by("name", "pk"):
            today = today_in(outlet.zone)
            first, last = usage_span(outlet) if since is None or until is None else (None, None)
            start, end = since or first or today, until or last or today
            if start <= end:  # else the outlet has no usage in the range asked for
                plans.append((outlet, start, end))
        total = sum((end - start).days + 1 for _, start, end in plans)
        bar = self._progress_bar(total) if progress else None
        days = 0
        try:
            for outlet, start, end in plans:
                if bar is not None:
                    bar.set_description_str(outlet.name, refresh=False)
                days += rollups_rebuild_range(
                    outlet_id=outlet.pk, start=start, end=end, progress=bar.update if bar is not None else None
                )
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.monotonic() - started

        rate = f"{days / elapsed if elapsed else 0:,.0f} days/s"
        if target is not None:
            span = f" from {plans[0][1]} to {plans[0][2]}" if plans else ""
            self.stdout.write(
                f"Rebuilt {plural(days, 'day')} of outlet {target.name} ({target.pk}){span} in {elapsed:.1f} s ({rate})."
            )
        else:
            self.stdout.write(
                f"Rebuilt {plural(days, 'day')} of {plural(len(plans), 'outlet')} in {elapsed:.1f} s ({rate})."
            )

    def _progress_bar(self, total: int) -> tqdm:
        """Days rebuilt against the days asked for, with the outlet being rebuilt."""
        return tqdm(
            total=total, unit="day", file=self.stderr._out, dynamic_ncols=True, mininterval=0.5,
            bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} days, {desc} [{elapsed}<{remaining}]",
        )
