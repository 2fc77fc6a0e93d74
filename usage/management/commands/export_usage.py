"""`manage.py export_usage [--outlet O] [filters] [--output FILE]`: usage records as CSV or JSON lines, streamed.

The filters, their defaults (the last 30 days, newest first) and the lines are the API's records list's
(`usage.exports`). Rows come from a server-side cursor and each line is written as it comes, so memory
stays flat whatever the count. The summary goes to stdout, or to stderr when stdout carries the data.
"""

import os
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.http import QueryDict
from rest_framework.exceptions import ValidationError
from tqdm import tqdm

from config.api.pagination import ORDERS
from credits.management.options import agent_from_option, outlet_from_option
from usage.exports import FORMATS, csv_lines, jsonl_lines, usage_record_export
from usage.management.commands.import_usage import EXTENSIONS

# The API's parameter behind each option, to name the option in an error.
OPTION_OF_PARAMETER = {
    "type": "--type", "model": "--model", "agent_id": "--agent", "meta": "--meta",
    "start_date": "--start-date", "end_date": "--end-date", "order": "--order",
}
PROGRESS_EVERY = 2000  # records between progress bar updates


def api_parameters(*, agent, type, model, start_date, end_date, meta, order) -> QueryDict:
    """The options as the API's query parameters: `--meta key=value` is `meta[key]=value`."""
    params = QueryDict(mutable=True)
    for name, value in (
        ("agent_id", agent and str(agent.pk)), ("type", type), ("model", model),
        ("start_date", start_date), ("end_date", end_date), ("order", order),
    ):
        if value:
            params[name] = value
    for pair in meta:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--meta '{pair}' is not key=value, e.g. --meta channel=web.")
        params.appendlist(f"meta[{key}]", value)
    return params


def one_line(error: ValidationError) -> str:
    """The API's `{parameter: [message]}` as one line naming the option."""
    parameter, messages = next(iter(error.detail.items()))
    message = messages[0] if isinstance(messages, list) else messages
    return f"{OPTION_OF_PARAMETER.get(parameter, parameter)}: {message}"


class Command(BaseCommand):
    help = (
        "Export usage records as CSV or JSON lines to a file or stdout, with the API's filters "
        "(default: the last 30 days, newest first), streamed with flat memory."
    )

    def add_arguments(self, parser):
        parser.add_argument("--outlet", help="Only this outlet's records (default: every outlet).")
        parser.add_argument("--agent", help="Only this agent's records.")
        parser.add_argument("--type", help="Exact type, e.g. CONVERSATION or TTS.")
        parser.add_argument("--model", help="Exact model, e.g. gpt-4o.")
        parser.add_argument(
            "--start-date", metavar="YYYY-MM-DD",
            help="First day: the outlet's local date with --outlet, else UTC. Default: 30 days before the end.",
        )
        parser.add_argument(
            "--end-date", metavar="YYYY-MM-DD",
            help="Last day (inclusive): the outlet's local date with --outlet, else UTC. Default: today there.",
        )
        parser.add_argument(
            "--meta", action="append", default=[], metavar="KEY=VALUE",
            help="Records whose meta has this string value at KEY; repeat for several keys (all must match).",
        )
        parser.add_argument("--format", choices=FORMATS, help="csv or jsonl (default: from --output's extension, else csv).")
        parser.add_argument("--output", default="-", metavar="FILE", help="The file to write (default: - for stdout).")
        parser.add_argument("--order", choices=ORDERS, default="desc", help="By time: desc (default) or asc.")
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (there is none when stderr is not a terminal)."
        )

    def handle(self, *args, outlet, agent, output, format, no_progress, **options):
        target = outlet_from_option(outlet) if outlet else None
        chosen = agent_from_option(agent) if agent else None
        if chosen is not None and target is not None and chosen.outlet_id != target.pk:
            raise CommandError(f"Agent {chosen.pk} is not in outlet {target.pk}.")
        params = api_parameters(agent=chosen, meta=options["meta"], **{
            name: options[name] for name in ("type", "model", "start_date", "end_date", "order")
        })
        try:
            export = usage_record_export(outlet=target, params=params)
        except ValidationError as error:
            raise CommandError(one_line(error)) from None
        to_stdout = output == "-"
        format = format or ("csv" if to_stdout else EXTENSIONS.get(Path(output).suffix.lower(), "csv"))
        show_bar = not no_progress and self.stderr.isatty() and not (to_stdout and self.stdout.isatty())
        bar = self._progress_bar(export.records.count()) if show_bar else None
        lines = csv_lines(export) if format == "csv" else jsonl_lines(export.records)
        started = time.monotonic()
        try:
            written = self._write_to(output, lines, header=format == "csv", bar=bar)
        except BrokenPipeError:
            if self.stdout._out is sys.stdout:
                self._quiet_stdout()  # the reader (`| head`) has all it wanted
            return
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.monotonic() - started
        scope = f"outlet {target.name}" if target else "every outlet"
        span = export.date_range
        summary = (
            f"Exported {written:,} records ({scope}, {span.start} to {span.end}) to {'stdout' if to_stdout else output} "
            f"as {format} in {elapsed:.1f} s ({written / elapsed if elapsed else 0:,.0f} records/s)."
        )
        (self.stderr if to_stdout else self.stdout).write(summary)

    def _write_to(self, output: str, lines, *, header: bool, bar) -> int:
        if output == "-":
            return self._write(lines, self.stdout._out, header=header, bar=bar)
        try:
            file = open(output, "w", encoding="utf-8", newline="")  # csv's lines end in \r\n already
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        try:
            with file:
                return self._write(lines, file, header=header, bar=bar)
        except BaseException:
            if Path(output).is_file():  # a regular file, never a device such as /dev/null
                Path(output).unlink()  # no half export left looking like a whole one
            raise

    def _write(self, lines, out, *, header: bool, bar) -> int:
        """Writes every line as it comes; returns the records written."""
        written = -1 if header else 0
        # Inside a transaction PostgreSQL streams the cursor's rows; outside one Django declares it WITH HOLD,
        # which computes every row before the first arrives.
        with transaction.atomic():
            for line in lines:
                out.write(line)
                written += 1
                if bar is not None and written % PROGRESS_EVERY == 0:
                    bar.update(written - bar.n)
        out.flush()
        if bar is not None:
            bar.update(written - bar.n)
        return max(written, 0)

    def _quiet_stdout(self) -> None:
        """Points stdout at /dev/null, so the interpreter's last flush raises no second BrokenPipeError."""
        try:
            descriptor = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, descriptor)
        os.close(devnull)

    def _progress_bar(self, total: int) -> tqdm:
        """Records written against the records matching, with records/s, as import_usage's bar reads."""
        return tqdm(
            total=total, unit=" records", unit_scale=False, file=self.stderr._out, dynamic_ncols=True, mininterval=0.5,
            bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} records, {rate_fmt} [{elapsed}<{remaining}]",
        )
