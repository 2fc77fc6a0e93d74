"""`manage.py import_usage FILE --outlet UUID`: stream a JSONL or CSV file of usage records into an outlet.

The file is read line by line and handled one batch at a time, so memory stays flat whatever
its size. Each batch goes through the ingest service the API uses, in its two halves: a forked
process reads the file and runs `check_records` (plain Python) one batch ahead, while this process
runs `resolve_records` (the agents, one query) and `store_records` (on PostgreSQL a COPY into a
staging table and one set-based insert), so parsing overlaps storing on a second core. Every event
is stored once and each agent is debited once per batch. A batch with any bad line stores nothing
and its bad lines are reported on stderr by line number; the other batches are stored, so fixing
those lines and importing the file again stores only what is missing.
"""

import contextlib
import csv
import gc
import io
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import reset_queries
from django.utils import timezone
from tqdm import tqdm

from config.commands import plural
from credits.management.options import OUTLET_HELP, outlet_from_option
from credits.models import Outlet
from credits.services import Actor
from usage.services import resolve_records, store_records
from usage.validation import RECORD_FIELDS, check_records

FORMATS = ("jsonl", "csv")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
DEFAULT_BATCH_SIZE = 20000  # a batch's fixed costs (its dirty hours, debits, commit) spread over more records
# fork, not spawn: the reader starts at once with the opened file and the settings, and needs nothing pickled.
FORK = multiprocessing.get_context("fork")

# (line number, record, why the line could not be read): exactly one of record and problem is set.
Item = tuple[int, object, str | None]


@dataclass
class Batch:
    records: list = field(default_factory=list)  # as read, until checked
    checked: list[tuple[list, dict]] = field(default_factory=list)  # `check_records`' rows and errors
    lines: list[int] = field(default_factory=list)  # the line each record came from
    problems: dict[int, str] = field(default_factory=dict)  # lines that could not be read, and why
    size: int = 0
    first_line: int = 0
    last_line: int = 0
    position: int = 0  # bytes of the file read once the batch was complete


@dataclass
class Totals:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_batches: int = 0
    rejected_records: int = 0


def jsonl_items(stream: Iterable[str]) -> Iterator[Item]:
    decode = json.JSONDecoder(parse_float=Decimal).decode  # built once: json.loads(**kw) builds one per call
    for number, line in enumerate(stream, 1):
        try:
            yield number, decode(line), None
        except (ValueError, RecursionError) as exc:
            if line and not line.isspace():  # blank lines are skipped
                if isinstance(exc, json.JSONDecodeError):
                    column = min(exc.pos, len(line.rstrip("\r\n"))) + 1  # not past the end of the line
                    reason = f"{exc.msg} at column {column}"
                else:
                    reason = str(exc)
                yield number, None, f"not valid JSON: {reason}."


def csv_items(stream: Iterable[str]) -> Iterator[Item]:
    """Rows as records: empty cells are absent, `meta` holds JSON, `latency_ms` becomes an int."""
    reader = csv.reader(stream)
    header = [name.strip() for name in next(reader, [])]
    unknown = sorted(set(header) - RECORD_FIELDS)
    if unknown or len(set(header)) != len(header):
        problem = f"unknown columns: {', '.join(unknown)}" if unknown else "a column twice"
        raise CommandError(f"The CSV header (line 1) has {problem}; its columns must be usage record fields.")
    decode = json.JSONDecoder(parse_float=Decimal).decode
    line = reader.line_num
    for values in reader:
        number, line = line + 1, reader.line_num  # a quoted cell may span lines: name the line the row starts on
        if len(values) != len(header):
            if values:  # blank lines are skipped
                yield number, None, f"has {len(values)} cells, the header {len(header)}."
            continue
        record = {name: value for name, value in zip(header, values) if value != ""}
        if "meta" in record:
            try:
                record["meta"] = decode(record["meta"])
            except (ValueError, RecursionError):
                yield number, None, "meta: not valid JSON."
                continue
        if "latency_ms" in record:
            try:
                record["latency_ms"] = int(record["latency_ms"])
            except ValueError:
                pass  # the validator names the field
        yield number, record, None


def batches(items: Iterator[Item], size: int, position: Callable[[], int], name: str) -> Iterator[Batch]:
    batch, number = Batch(), 0
    try:
        for number, record, problem in items:
            if problem is None:
                batch.records.append(record)
                batch.lines.append(number)
            else:
                batch.problems[number] = problem
            batch.size += 1
            if batch.size == 1:
                batch.first_line = number
            if batch.size == size:
                batch.last_line, batch.position = number, position()
                yield batch
                batch = Batch()
    except UnicodeDecodeError:
        raise CommandError(
            f"{name} is not UTF-8 text near line {number + 1}: the import stopped there "
            f"(lines before {batch.first_line or number + 1} were processed)."
        ) from None
    if batch.size:
        batch.last_line, batch.position = number, position()
        yield batch


def checked_batches(stream, format: str, size: int, name: str) -> Iterator[Batch]:
    """The file's batches with their records checked: everything that needs no database."""
    items = csv_items(stream) if format == "csv" else jsonl_items(stream)
    for batch in batches(items, size, lambda: bytes_read(stream), name):
        batch.checked, batch.records = check_records(batch.records, timezone.now()), []
        yield batch


def bytes_read(stream) -> int:
    """Bytes read so far (ahead by at most the read buffer): enough for a progress bar."""
    try:
        return stream.buffer.tell()
    except (AttributeError, OSError, ValueError):
        return 0


def read_ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """`batches`, produced in a forked process one batch ahead of the caller, so both run at once on two cores.

    A process, not a thread: a reader thread was measured slower, the two halves contending for the GIL. The
    reader never touches the database. Close this generator to stop the reader at once (even mid-file).
    """
    receiver, sender = FORK.Pipe(duplex=False)
    reader = FORK.Process(target=send_batches, args=(batches, sender), name="import_usage reader", daemon=True)
    # Both processes' full collections then skip the many objects loaded before (Django, the app): ~3 us a record.
    gc.freeze()
    reader.start()
    sender.close()  # the reader holds the only sending end now: its end shows here as EOFError
    try:
        while (message := receiver.recv()) is not None:
            if isinstance(message, Exception):
                raise message  # the reader's error, e.g. a bad CSV header: as if it was raised here
            yield message
    except EOFError:
        reader.join(5)
        raise CommandError(f"The reading process ended unexpectedly (exit code {reader.exitcode}).") from None
    finally:
        receiver.close()
        reader.terminate()  # does nothing once it has finished; otherwise it is reading ahead for nothing
        reader.join()
        gc.unfreeze()


def send_batches(batches: Iterator[Batch], sender) -> None:
    """The reader process: sends each batch (a full pipe blocks it: one batch ahead), then None or its error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops it
    try:
        for batch in batches:
            sender.send(batch)
        sender.send(None)
    except BrokenPipeError:
        pass  # the importing process is gone
    except Exception as exc:
        sender.send(exc)


def has_descriptor(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Command(BaseCommand):
    help = (
        "Import usage records from a JSONL or CSV file (- reads stdin), batch by batch through the ingest service. "
        "A batch with a bad line stores nothing; its lines are reported and the command exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="A .jsonl/.ndjson or .csv file, or - for stdin.")
        parser.add_argument(
            "--outlet", required=True, metavar="OUTLET", help=f"The outlet the records belong to: {OUTLET_HELP}"
        )
        parser.add_argument("--format", choices=FORMATS, help="jsonl or csv (default: from the file's extension).")
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
            help=f"Records per batch: validated together, stored in one transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (there is none when stderr is not a terminal)."
        )

    def handle(self, *args, file, outlet, format, batch_size, no_progress, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size must be 1 or more, got {batch_size}.")
        name = "stdin" if file == "-" else file
        format = format or EXTENSIONS.get(Path(file).suffix.lower() if file != "-" else "")
        if format is None:
            raise CommandError(f"Cannot tell the format of {name}: pass --format jsonl or --format csv.")
        target = outlet_from_option(outlet)
        stream = self._open(file, format)
        actor = Actor.for_operator("import_usage")
        totals = Totals()
        bar = self._progress_bar(stream) if not no_progress and self.stderr.isatty() else None
        started = time.monotonic()

        ready = checked_batches(stream, format, batch_size, name)
        if has_descriptor(stream):  # a stand-in for stdin without one (a test's) is read in this process
            ready = read_ahead(ready)
        try:
            with contextlib.closing(ready):  # stops the reader process at once if storing fails
                for batch in ready:
                    self._import(target, batch, actor, totals, bar)
                    reset_queries()  # with DEBUG on, Django would otherwise keep every statement of the import
                    if bar is not None:
                        rate = totals.read / max(bar.format_dict["elapsed"], 0.001)
                        bar.set_description_str(f"{totals.read:,} records, {rate:,.0f} records/s", refresh=False)
                        bar.update(batch.position - bar.n)
        finally:
            if bar is not None:
                bar.close()
            if stream is sys.stdin:
                pass  # left to whoever called the command
            elif stream.buffer is getattr(sys.stdin, "buffer", None):
                stream.detach()  # a wrapper of stdin's own buffer: closing it would close stdin
            else:
                stream.close()  # a file, or a duplicate of stdin's descriptor
        elapsed = time.monotonic() - started

        summary = (
            f"Imported {plural(totals.accepted, 'record')} ({plural(totals.duplicates, 'duplicate')}) from {name} "
            f"in {elapsed:.1f} s "
            f"({totals.read / elapsed if elapsed else 0:,.0f} records/s)"
        )
        if not totals.rejected_batches:
            self.stdout.write(f"{summary}.")
            return
        if totals.rejected_batches == 1:
            rejected = "1 batch"
            self.stdout.write(
                f"{summary}; 1 batch of {plural(totals.rejected_records, 'record')} rejected: see the errors above."
            )
        else:
            rejected = f"{totals.rejected_batches:,} batches"
            self.stdout.write(
                f"{summary}; {rejected} ({totals.rejected_records:,} records) rejected: see the errors above."
            )
        raise CommandError(
            f"{rejected} rejected: fix the lines reported above and import the file again "
            "(records already stored are skipped as duplicates)."
        )

    def _open(self, file: str, format: str):
        newline = "" if format == "csv" else None
        if file == "-":
            if has_descriptor(sys.stdin):
                # A duplicate: the reader process would otherwise find stdin closed by multiprocessing.
                return open(os.dup(sys.stdin.fileno()), encoding="utf-8-sig", newline=newline)
            if not hasattr(sys.stdin, "buffer"):
                return sys.stdin
            return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=newline)
        try:
            return open(file, encoding="utf-8-sig", newline=newline)
        except FileNotFoundError:
            raise CommandError(f"File not found: {file}.") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None

    def _import(self, outlet: Outlet, batch: Batch, actor: Actor, totals: Totals, bar) -> None:
        """Stores the batch, or reports every bad line of it and stores none of it."""
        totals.read += batch.size
        rows, errors = resolve_records(outlet, batch.checked)
        if not errors and not batch.problems:
            result = store_records(outlet=outlet, rows=rows, actor=actor)
            totals.accepted += result.accepted
            totals.duplicates += result.duplicates
            return
        totals.rejected_batches += 1
        totals.rejected_records += batch.size
        bad_lines = dict(batch.problems)
        for error in errors:
            fields = "; ".join(f"{name}: {' '.join(texts).rstrip('.')}" for name, texts in error["errors"].items())
            event = f"event_id {error['event_id']}: " if isinstance(error["event_id"], str) else ""
            bad_lines[batch.lines[error["index"]]] = f"{event}{fields}."
        lines = [f"line {number}: {problem}" for number, problem in sorted(bad_lines.items())]
        lines.append(
            f"lines {batch.first_line}-{batch.last_line}: none of this batch's {batch.size:,} records was stored "
            f"({len(bad_lines):,} bad)."
        )
        if bar is not None:
            bar.clear()
        for line in lines:
            self.stderr.write(line)
        if bar is not None:
            bar.refresh()

    def _progress_bar(self, stream) -> tqdm:
        """Bytes read against the file's size, with records and records/s."""
        try:
            size = Path(stream.name).stat().st_size if Path(stream.name).is_file() else None
        except (AttributeError, TypeError, OSError):
            size = None
        bar_format = "{percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]" if size else "{desc} [{elapsed}]"
        return tqdm(
            total=size, desc="0 records", file=self.stderr._out, bar_format=bar_format, dynamic_ncols=True,
            mininterval=0.5,
        )
