import csv
import gc
import io
import json
import multiprocessing
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from credits import services as credit_services
from credits.models import Agent, CreditAccount, CreditLedgerEntry
from tests.factories import AgentFactory, PriceFactory
from usage.management.commands import import_usage
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

WHEN = datetime(2025, 3, 1, 12, tzinfo=UTC)
SUMMARY = re.compile(
    r"^Imported (?P<accepted>[\d,]+) records? \((?P<duplicates>[\d,]+) duplicates?\) from (?P<name>.+) "
    r"in \d+\.\d s \([\d,]+ records/s\)(?P<rest>.*)$"
)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_usage", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def record(agent: Agent, n: int, **fields) -> dict:
    return {
        "event_id": f"evt-{n}",
        "agent_id": str(agent.pk),
        "type": "CONVERSATION",
        "model": "gpt-4o",
        "count": 100 + n,
        "unit": "tokens",
        "credits": "0.25",
        "cost_usd": "0.001",
        "latency_ms": 800,
        "meta": {"lang": "en"},
        "occurred_at": (WHEN + timedelta(minutes=n)).isoformat(),
        **fields,
    }


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(item) + "\n" for item in records))
    return str(path)


def top_up(agent: Agent, amount: str = "1000") -> None:
    credit_services.credits_add(
        agent=agent, amount=Decimal(amount), actor=credit_services.Actor.system("test"), reason="setup"
    )


def summary(out: str) -> dict:
    [line] = out.splitlines()
    match = SUMMARY.match(line)
    assert match, line
    return match.groupdict()


# storing


def test_jsonl_import_stores_every_record_and_debits_each_agent_once_per_batch(tmp_path, outlet, agent):
    other = AgentFactory(outlet=outlet)
    top_up(agent)
    top_up(other)
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent if n % 2 else other, n) for n in range(10)])

    out, _ = run(path, "--outlet", str(outlet.pk), "--batch-size", "4")

    assert UsageRecord.objects.filter(outlet=outlet).count() == 10
    batch_ids = set(UsageRecord.objects.values_list("ingest_batch_id", flat=True))
    assert len(batch_ids) == 3  # 4 + 4 + 2 records
    consumed = CreditLedgerEntry.objects.filter(kind="CONSUME")
    assert consumed.count() == 6  # each batch holds records of both agents: one entry per agent per batch
    for entry in consumed:
        batch_credits = sum(
            UsageRecord.objects.filter(ingest_batch_id=entry.ingest_batch_id, agent_id=entry.account_id)
            .values_list("credits", flat=True)
        )
        assert entry.amount == -batch_credits
        assert entry.actor_label.startswith("cli:import_usage:")
    assert {entry.ingest_batch_id for entry in consumed} == batch_ids
    assert CreditAccount.objects.get(pk=agent.pk).balance == Decimal("1000") - 5 * Decimal("0.25")
    assert summary(out) == {"accepted": "10", "duplicates": "0", "name": path, "rest": "."}


def test_import_takes_the_outlet_by_name(tmp_path, outlet, agent):
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, 1)])

    run(path, "--outlet", outlet.name)

    assert UsageRecord.objects.get().outlet == outlet


def test_the_summary_counts_one_record_in_the_singular(tmp_path, outlet, agent):
    top_up(agent)
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, 1)])

    out, _ = run(path, "--outlet", str(outlet.pk))

    assert out.startswith(f"Imported 1 record (0 duplicates) from {path} in ")


def test_jsonl_import_keeps_every_field(tmp_path, outlet, agent):
    path = write_jsonl(
        tmp_path / "usage.ndjson",
        [
            record(
                agent, 1, agent_id=None, agent_external_id=agent.external_id, credits=0.125, cost_usd=0.00012345,
                voice="alloy", conversation_id="conv-1", meta={"lang": "en", "turns": 3},
            )
        ],
    )

    run(path, "--outlet", str(outlet.pk))

    stored = UsageRecord.objects.get()
    assert (stored.agent_id, stored.voice, stored.conversation_id) == (agent.pk, "alloy", "conv-1")
    assert (stored.count, stored.credits, stored.cost_usd) == (Decimal("101"), Decimal("0.125"), Decimal("0.00012345"))
    assert stored.latency_ms == 800
    assert stored.meta == {"lang": "en", "turns": 3}
    assert stored.occurred_at == WHEN + timedelta(minutes=1)


def test_csv_import_with_a_header_stores_records(tmp_path, outlet, agent):
    path = tmp_path / "usage.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["event_id", "agent_external_id", "type", "model", "voice", "count", "unit", "credits",
                         "cost_usd", "latency_ms", "meta", "occurred_at"])
        writer.writerow(["c-1", agent.external_id, "TTS", "", "nova", "1200", "characters", "0.5", "0.0036", "350",
                         '{"lang": "fr", "campaign": "spring"}', "2025-03-01T12:00:00Z"])
        writer.writerow(["c-2", agent.external_id, "TELEPHONY", "", "", "90.5", "seconds", "1.25", "0", "", "",
                         "2025-03-01T12:05:00+01:00"])

    out, _ = run(str(path), "--outlet", str(outlet.pk))

    first, second = UsageRecord.objects.order_by("event_id")
    assert (first.type, first.voice, first.model, first.count, first.credits) == (
        "TTS", "nova", "", Decimal("1200"), Decimal("0.5")
    )
    assert (first.latency_ms, first.meta) == (350, {"lang": "fr", "campaign": "spring"})
    assert (second.count, second.cost_usd, second.latency_ms, second.meta) == (Decimal("90.5"), 0, None, {})
    assert second.occurred_at == datetime(2025, 3, 1, 11, 5, tzinfo=UTC)
    assert CreditLedgerEntry.objects.get(kind="CONSUME").amount == Decimal("-1.75")
    assert summary(out)["accepted"] == "2"


def test_importing_the_same_file_twice_stores_each_record_once_and_debits_once(tmp_path, outlet, agent):
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, n) for n in range(7)])

    run(path, "--outlet", str(outlet.pk), "--batch-size", "3")
    balance = CreditAccount.objects.get(pk=agent.pk).balance
    out, _ = run(path, "--outlet", str(outlet.pk), "--batch-size", "3")

    assert UsageRecord.objects.count() == 7
    assert CreditLedgerEntry.objects.filter(kind="CONSUME").count() == 3
    assert CreditAccount.objects.get(pk=agent.pk).balance == balance == Decimal("-1.75")
    assert summary(out)["accepted"] == "0"
    assert summary(out)["duplicates"] == "7"


def test_a_bad_line_in_a_large_file_rejects_only_its_batch(tmp_path, outlet, agent):
    """10,000 lines, one bad in the middle: its batch stores nothing, the 4 others are stored.

    Batches of 2,000 (each still far past a pipe's 64 KiB on its way from the reader process) keep it near 2 s.
    """
    path = tmp_path / "big.jsonl"
    bad_line = 5_235
    template = json.dumps(record(agent, 0, event_id="@ID@"))
    with path.open("w") as file:
        for line in range(1, 10_001):
            text = template.replace("@ID@", f"e{line}")
            if line == bad_line:
                text = text.replace('"unit": "tokens"', '"unit": "litres"')
            file.write(text + "\n")

    with pytest.raises(CommandError, match="^1 batch rejected: fix the lines reported above") as excinfo:
        call_command(
            "import_usage", str(path), "--outlet", str(outlet.pk), "--batch-size", "2000",
            stdout=(out := io.StringIO()), stderr=(err := io.StringIO()),
        )

    assert "\n" not in str(excinfo.value)
    assert UsageRecord.objects.count() == 8_000
    stored = set(UsageRecord.objects.values_list("event_id", flat=True))
    assert not {f"e{line}" for line in range(4_001, 6_001)} & stored
    assert {f"e{line}" for line in (1, 4_000, 6_001, 10_000)} <= stored
    assert CreditLedgerEntry.objects.filter(kind="CONSUME").count() == 4
    assert err.getvalue().splitlines() == [
        f"line {bad_line}: event_id e{bad_line}: unit: Required: one of characters, requests, seconds, tokens.",
        "lines 4001-6000: none of this batch's 2,000 records was stored (1 bad).",
    ]
    assert summary(out.getvalue()) == {
        "accepted": "8,000", "duplicates": "0", "name": str(path),
        "rest": "; 1 batch of 2,000 records rejected: see the errors above.",
    }


def test_every_bad_line_of_a_batch_is_reported_with_its_fields(tmp_path, outlet, agent):
    lines = [
        json.dumps(record(agent, 1)),
        '{"event_id": "evt-2", "type": ',  # cut short
        json.dumps(record(agent, 3, type="tts", credits="-1")),
        "",  # blank lines are skipped
        json.dumps(record(agent, 5, agent_external_id=None, agent_id=None, event_id=None)),
        json.dumps(record(agent, 6)),
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n")

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_usage", str(path), "--outlet", str(outlet.pk), "--batch-size", "3", stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "line 2: not valid JSON: Expecting value at column 31.",
        "line 3: event_id evt-3: type: Required: an upper-case slug such as CONVERSATION, TTS or TELEPHONY "
        "(at most 32); credits: Must be 0 or more.",
        "lines 1-3: none of this batch's 3 records was stored (2 bad).",
        "line 5: event_id: Required: a string of 1 to 255 characters; "
        "agent_id: Required: agent_id (UUID) or agent_external_id.",
        "lines 5-6: none of this batch's 2 records was stored (1 bad).",
    ]
    assert not UsageRecord.objects.exists()
    assert summary(out.getvalue())["rest"] == "; 2 batches (5 records) rejected: see the errors above."


def test_csv_line_numbers_count_the_header_and_bad_cells_are_reported(tmp_path, outlet, agent):
    PriceFactory(type="STT", unit="seconds")  # the records carry no credits: the book prices them
    path = tmp_path / "usage.csv"
    path.write_text(
        "event_id,agent_id,type,unit,count,latency_ms,meta,occurred_at\n"
        f"a,{agent.pk},STT,seconds,12,90,,2025-03-01T12:00:00Z\n"
        f"b,{agent.pk},STT,seconds,12,1.5,,2025-03-01T12:00:00Z\n"
        f"c,{agent.pk},STT,seconds,12,90,{{oops,2025-03-01T12:00:00Z\n"
        f"d,{agent.pk},STT,seconds,12\n"
        f"e,{agent.pk},STT,seconds,twelve,90,,2025-03-01T12:00:00Z\n"
    )

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_usage", str(path), "--outlet", str(outlet.pk), stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "line 3: event_id b: latency_ms: Must be a whole number of milliseconds, 0 or more.",
        "line 4: meta: not valid JSON.",
        "line 5: has 5 cells, the header 8.",
        "line 6: event_id e: count: 'twelve' is not a number.",
        "lines 2-6: none of this batch's 5 records was stored (4 bad).",
    ]
    assert not UsageRecord.objects.exists()


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_given(tmp_path, outlet, agent):
    """Rows travel as COPY text: its special characters are escaped, and an absent latency stays NULL."""
    tricky = "a\tb\nc\\d\re \\N zoë"
    path = write_jsonl(
        tmp_path / "usage.jsonl",
        [
            record(agent, 1, model=tricky, meta={"note": tricky, "n": 1.5}),
            record(agent, 2, voice="\\N", product="", latency_ms=None),
        ],
    )

    run(path, "--outlet", str(outlet.pk))

    first, second = UsageRecord.objects.order_by("event_id")
    assert (first.model, first.meta) == (tricky, {"note": tricky, "n": 1.5})
    assert (second.voice, second.product, second.latency_ms) == ("\\N", "", None)


# the reading process


def test_the_file_is_read_and_checked_in_another_process(tmp_path, outlet, agent, monkeypatch):
    """A forked reader parses and checks the next batch while this process stores the current one."""
    pids = tmp_path / "pids"
    check_records = import_usage.check_records

    def check_noting_the_process(records, now):
        with pids.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return check_records(records, now)

    monkeypatch.setattr(import_usage, "check_records", check_noting_the_process)
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, n) for n in range(5)])

    run(path, "--outlet", str(outlet.pk), "--batch-size", "2")

    assert UsageRecord.objects.count() == 5
    [reader] = set(pids.read_text().split())  # one process checked all three batches
    assert int(reader) != os.getpid()


@pytest.mark.parametrize("failure", [RuntimeError("the database went away"), KeyboardInterrupt()])
def test_a_failure_while_storing_stops_the_reader(tmp_path, outlet, agent, monkeypatch, failure):
    """The reader is ahead, blocked on a full pipe: it is ended, not left behind."""

    def store_records(**kwargs):
        raise failure

    monkeypatch.setattr(import_usage, "store_records", store_records)
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, n) for n in range(1000)])

    with pytest.raises(type(failure)):
        run(path, "--outlet", str(outlet.pk), "--batch-size", "2")

    assert multiprocessing.active_children() == []
    assert gc.get_freeze_count() == 0


def test_a_reader_that_dies_fails_the_import_in_one_line(tmp_path, outlet, agent, monkeypatch):
    monkeypatch.setattr(import_usage, "check_records", lambda records, now: os._exit(3))
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, 1)])

    with pytest.raises(CommandError) as excinfo:
        run(path, "--outlet", str(outlet.pk))

    assert str(excinfo.value) == "The reading process ended unexpectedly (exit code 3)."
    assert not UsageRecord.objects.exists()


def test_stdin_is_read_by_the_reader_and_left_open(outlet, agent, monkeypatch):
    """The reader reads a duplicate of stdin's descriptor: multiprocessing closes stdin in the child."""
    read_end, write_end = os.pipe()
    os.write(write_end, "".join(json.dumps(record(agent, n)) + "\n" for n in range(3)).encode())
    os.close(write_end)
    stdin = open(read_end, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)

    out, _ = run("-", "--format", "jsonl", "--outlet", str(outlet.pk))

    assert UsageRecord.objects.count() == 3
    assert summary(out)["name"] == "stdin"
    assert not stdin.closed
    stdin.close()


def test_stdin_is_read_batch_by_batch_as_the_file_streams_in(outlet, agent, monkeypatch):
    """Each batch is stored before the next line is read: the import never holds the whole file.

    A stand-in for stdin without a descriptor is read in the importing process, so this can watch it.
    """
    stored_before_line = {}

    def lines():
        for n in range(1, 7):
            stored_before_line[n] = UsageRecord.objects.count()
            yield json.dumps(record(agent, n)) + "\n"

    class Stdin:
        def __iter__(self):
            return lines()

    monkeypatch.setattr("sys.stdin", Stdin())

    out, _ = run("-", "--format", "jsonl", "--outlet", str(outlet.pk), "--batch-size", "2")

    assert stored_before_line == {1: 0, 2: 0, 3: 2, 4: 2, 5: 4, 6: 4}
    assert UsageRecord.objects.count() == 6
    assert summary(out)["name"] == "stdin"


def test_stdin_bytes_are_read_as_utf8(outlet, agent, monkeypatch):
    data = (json.dumps(record(agent, 1, end_user_id="zoë")) + "\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))

    run("-", "--format", "jsonl", "--outlet", str(outlet.pk))

    assert UsageRecord.objects.get().end_user_id == "zoë"


# progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_shows_records_per_second(tmp_path, outlet, agent):
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, n) for n in range(5)])
    err = Terminal()

    call_command("import_usage", path, "--outlet", str(outlet.pk), stdout=io.StringIO(), stderr=err)

    assert re.search(r"100%\|.*\| 5 records, [\d,]+ records/s", err.getvalue())


@pytest.mark.parametrize("terminal, option", [(True, ("--no-progress",)), (False, ())])
def test_no_progress_bar_when_asked_or_not_on_a_terminal(tmp_path, outlet, agent, terminal, option):
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, n) for n in range(5)])
    err = Terminal() if terminal else io.StringIO()

    call_command("import_usage", path, "--outlet", str(outlet.pk), *option, stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == ""
    assert UsageRecord.objects.count() == 5


# bad input


@pytest.mark.parametrize(
    "outlet_option, message",
    [
        ("nope", "Outlet 'nope' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
        ("7d5e1a6c-0000-4000-8000-000000000000", "Outlet '7d5e1a6c-0000-4000-8000-000000000000' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
    ],
)
def test_unknown_outlet_fails_in_one_line(tmp_path, agent, outlet_option, message):
    path = write_jsonl(tmp_path / "usage.jsonl", [record(agent, 1)])

    with pytest.raises(CommandError) as excinfo:
        run(path, "--outlet", outlet_option)

    assert str(excinfo.value) == message
    assert not UsageRecord.objects.exists()


def test_a_missing_file_fails_in_one_line(tmp_path, outlet):
    with pytest.raises(CommandError) as excinfo:
        run(str(tmp_path / "missing.jsonl"), "--outlet", str(outlet.pk))

    assert str(excinfo.value) == f"File not found: {tmp_path / 'missing.jsonl'}."


def test_a_file_of_unknown_format_fails_unless_the_format_is_given(tmp_path, outlet, agent):
    path = write_jsonl(tmp_path / "usage.txt", [record(agent, 1)])

    with pytest.raises(CommandError) as excinfo:
        run(path, "--outlet", str(outlet.pk))
    assert str(excinfo.value) == f"Cannot tell the format of {path}: pass --format jsonl or --format csv."
    assert not UsageRecord.objects.exists()

    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        run(path, "--outlet", str(outlet.pk), "--format", "xml")

    run(path, "--outlet", str(outlet.pk), "--format", "jsonl")
    assert UsageRecord.objects.count() == 1


def test_a_csv_header_with_unknown_columns_fails_in_one_line(tmp_path, outlet):
    path = tmp_path / "usage.csv"
    path.write_text("event_id,agent,type,cost\nx,y,TTS,1\n")

    with pytest.raises(CommandError) as excinfo:
        run(str(path), "--outlet", str(outlet.pk))

    assert str(excinfo.value) == (
        "The CSV header (line 1) has unknown columns: agent, cost; its columns must be usage record fields."
    )


def test_a_batch_size_below_one_is_refused(tmp_path, outlet):
    with pytest.raises(CommandError, match="^--batch-size must be 1 or more, got 0.$"):
        run(str(tmp_path / "usage.jsonl"), "--outlet", str(outlet.pk), "--batch-size", "0")


def test_a_file_that_is_not_utf8_stops_with_one_line(tmp_path, outlet, agent):
    path = tmp_path / "usage.jsonl"
    path.write_bytes(json.dumps(record(agent, 1)).encode() + b"\n" + b'{"event_id": "\xff"}\n')

    with pytest.raises(CommandError, match="usage.jsonl is not UTF-8 text near line"):
        run(str(path), "--outlet", str(outlet.pk))
