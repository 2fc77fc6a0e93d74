import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.query import QuerySet

from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.management.commands import export_usage
from usage.services import ingest_records

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/usage/records/"
TODAY_NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
RECENT = TODAY_NOON - timedelta(days=1)  # inside the default 30 days, never in the future
SUMMARY = re.compile(
    r"^Exported (?P<records>[\d,]+) records \((?P<scope>[^,]+), \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\) "
    r"to (?P<name>.+) as (?P<format>csv|jsonl) in \d+\.\d s \([\d,]+ records/s\)\.\n$"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def export(*args: str, stdout=None, stderr=None) -> tuple[str, str]:
    out, err = stdout or io.StringIO(), stderr or io.StringIO()
    call_command("export_usage", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def usage(agent, event_id: str, *, at: datetime = RECENT, **fields) -> dict:
    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "CONVERSATION", "unit": "tokens", "count": 100,
        "credits": "1.5", "cost_usd": "0.002", "latency_ms": 420, "model": "gpt-4o", "occurred_at": at.isoformat(),
        **fields,
    }


def ingest(agent, *records: dict) -> list[int]:
    return ingest_records(outlet=agent.outlet, records=list(records), actor=Actor.system("tests")).ids


def api_items(client, params: dict) -> list[dict]:
    response = client.get(RECORDS, {**params, "take": 1000})
    assert response.status_code == 200, response.content
    return response.json()["items"]


def api_csv(client, params: dict) -> str:
    response = client.get(RECORDS, {**params, "format": "csv"})
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def jsonl_ids(*args: str) -> list[int]:
    out, _ = export("--format", "jsonl", *args)
    return [json.loads(line)["id"] for line in out.splitlines()]


@pytest.fixture
def records(agent):
    """Six records of one outlet, one of another: each filter below keeps a different part of them."""
    other = AgentFactory(outlet=agent.outlet, external_id="other")
    ingest(
        agent,
        usage(agent, "conv", meta={"channel": "web", "tier": "gold"}, interaction_id="call-1",
              at=RECENT.replace(microsecond=123456)),
        usage(agent, "tts", type="TTS", unit="characters", model="tts-1", voice="nova", latency_ms=None,
              meta={"channel": "phone"}, at=RECENT - timedelta(minutes=1)),
        usage(agent, "old", at=RECENT - timedelta(days=10), meta={"channel": "web"}),
        usage(agent, "ancient", at=RECENT - timedelta(days=60)),
        usage(other, "other-agent", model="gpt-4o-mini", at=RECENT - timedelta(minutes=2), meta={"tier": 5}),
        usage(agent, "unicode", product="café ☕", at=RECENT - timedelta(minutes=3)),
    )
    stranger = AgentFactory()
    ingest(stranger, usage(stranger, "stranger"))
    return agent


def test_csv_equals_the_apis_records_csv_for_the_same_filters(records, staff_client):
    outlet = str(records.outlet_id)
    out, err = export("--outlet", outlet, "--type", "CONVERSATION", "--order", "asc")
    assert out == api_csv(staff_client, {"outlet_id": outlet, "type": "CONVERSATION", "order": "asc"})
    assert len(list(csv.DictReader(io.StringIO(out)))) == 4
    assert SUMMARY.match(err)["records"] == "4"


def test_jsonl_lines_equal_the_apis_json_items(records, staff_client):
    outlet = str(records.outlet_id)
    out, _ = export("--outlet", outlet, "--format", "jsonl")
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == api_items(staff_client, {"outlet_id": outlet})
    assert len(lines) == 5 and "café ☕" in out  # unescaped, as the API writes it


@pytest.mark.parametrize(
    ("options", "params"),
    [
        ((), {}),  # every outlet, the last 30 days, newest first
        (("--type", "TTS"), {"type": "TTS"}),
        (("--model", "gpt-4o-mini"), {"model": "gpt-4o-mini"}),
        (("--start-date", "{day_60}"), {"start_date": "{day_60}"}),
        (("--start-date", "{day_60}", "--end-date", "{day_60}"), {"start_date": "{day_60}", "end_date": "{day_60}"}),
        (("--meta", "channel=web"), {"meta[channel]": "web"}),
        (("--meta", "channel=web", "--meta", "tier=gold"), {"meta[channel]": "web", "meta[tier]": "gold"}),
        (("--meta", "tier=5"), {"meta[tier]": "5"}),  # JSON strings only, as the API compares them
        (("--order", "asc"), {"order": "asc"}),
    ],
)
def test_each_filter_keeps_the_records_the_api_keeps(records, staff_client, options, params):
    day_60 = (RECENT - timedelta(days=60)).date().isoformat()
    options = [option.format(day_60=day_60) for option in options]
    params = {name: value.format(day_60=day_60) for name, value in params.items()}
    assert jsonl_ids(*options) == [item["id"] for item in api_items(staff_client, params)]


def test_outlet_and_agent_narrow_the_export(records, staff_client):
    outlet = str(records.outlet_id)
    assert len(jsonl_ids()) == 6  # the stranger's record too
    assert jsonl_ids("--outlet", outlet) == [item["id"] for item in api_items(staff_client, {"outlet_id": outlet})]
    by_agent = api_items(staff_client, {"agent_id": str(records.pk)})
    assert jsonl_ids("--outlet", outlet, "--agent", str(records.pk)) == [item["id"] for item in by_agent]
    assert len(by_agent) == 4


def test_an_outlets_export_reads_its_local_dates_and_writes_its_offset_every_outlets_is_utc(staff_client):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    seventh_evening = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # 01:30 on the 8th in Kolkata
    early, late = ingest(
        agent, usage(agent, "early", at=seventh_evening), usage(agent, "late", at=seventh_evening + timedelta(days=1))
    )
    the_8th = ("--start-date", "2026-03-08", "--end-date", "2026-03-08")
    outlet = str(agent.outlet_id)
    out, _ = export("--outlet", outlet, *the_8th)
    assert out == api_csv(staff_client, {"outlet_id": outlet, "start_date": "2026-03-08", "end_date": "2026-03-08"})
    assert [row["occurred_at"] for row in csv.DictReader(io.StringIO(out))] == ["2026-03-08T01:30:00+05:30"]
    lines, _ = export("--outlet", outlet, "--format", "jsonl", *the_8th)
    assert [json.loads(line)["occurred_at"] for line in lines.splitlines()] == ["2026-03-07T20:00:00Z"]  # the API's JSON
    assert jsonl_ids("--outlet", outlet, *the_8th) == [early]
    every_outlet, _ = export(*the_8th)
    assert [row["occurred_at"] for row in csv.DictReader(io.StringIO(every_outlet))] == ["2026-03-08T20:00:00Z"]
    assert jsonl_ids(*the_8th) == [late]


def test_a_file_gets_the_data_and_stdout_the_summary(records, tmp_path):
    path = tmp_path / "usage.jsonl"
    out, err = export("--outlet", str(records.outlet_id), "--output", str(path))
    match = SUMMARY.match(out)
    assert (match["records"], match["scope"], match["name"], match["format"]) == (
        "5", f"outlet {records.outlet.name}", str(path), "jsonl"  # the format from the extension
    )
    assert err == ""
    assert len([json.loads(line) for line in path.read_text().splitlines()]) == 5
    export("--output", str(tmp_path / "usage.txt"))
    assert (tmp_path / "usage.txt").read_text().startswith("id,event_id,")  # CSV otherwise


def test_rows_stream_through_a_server_side_cursor_never_a_list(records, monkeypatch):
    chunks = []
    original = QuerySet.iterator

    def iterator(self, chunk_size=None):
        chunks.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    def refuse(self):
        raise AssertionError("the export loaded the whole queryset")

    monkeypatch.setattr(QuerySet, "iterator", iterator)
    monkeypatch.setattr(QuerySet, "_fetch_all", refuse)
    for format in ("csv", "jsonl"):
        out, _ = export("--format", format, "--no-progress")
        assert out.count("\n") >= 6
    assert chunks == [2000, 2000]


def test_lines_are_written_as_they_come(records):
    class Recording(io.StringIO):
        writes = 0

        def write(self, text):
            self.writes += 1
            return super().write(text)

    out = Recording()
    export("--format", "jsonl", stdout=out)
    assert out.writes == 6  # one write per record, none holding the whole export


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--start-date", "2025-13-01"), "--start-date: '2025-13-01' is not a date: use YYYY-MM-DD."),
        (("--start-date", "2025-02-01", "--end-date", "2025-01-01"),
         "--start-date: start_date 2025-02-01 is after end_date 2025-01-01."),
        (("--meta", "channel"), "--meta 'channel' is not key=value, e.g. --meta channel=web."),
        (("--meta", "a=1", "--meta", "a=2"), "--meta: 'meta[a]' is given 2 times: give each key once."),
        (("--output", "/no/such/dir/usage.csv"), "Cannot write /no/such/dir/usage.csv: No such file or directory."),
    ],
)
def test_a_bad_option_is_one_line(records, options, message):
    with pytest.raises(CommandError) as error:
        export(*options)
    assert str(error.value) == message


def test_an_agent_of_another_outlet_is_an_error(records):
    stranger = AgentFactory()
    with pytest.raises(CommandError, match=r"^Agent .+ is not in outlet .+\.$"):
        export("--outlet", str(records.outlet_id), "--agent", str(stranger.pk))


def test_a_closed_pipe_ends_the_export_quietly(records):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError

    out, err = export(stdout=ClosedPipe())
    assert err == ""  # no summary, no traceback


def test_a_progress_bar_on_a_terminal_none_when_piped(records, tmp_path):
    _, err = export("--output", str(tmp_path / "usage.csv"), stderr=Terminal())
    assert "6/6 records" in err
    _, err = export("--output", str(tmp_path / "usage.csv"))
    assert err == ""
    _, err = export("--output", str(tmp_path / "usage.csv"), "--no-progress", stderr=Terminal())
    assert err == ""


def test_an_export_that_fails_leaves_no_partial_file(records, tmp_path, monkeypatch):
    def failing_lines(queryset):
        yield '{"id": 1}\n'
        raise RuntimeError("the database went away")

    monkeypatch.setattr(export_usage, "jsonl_lines", failing_lines)
    path = tmp_path / "usage.jsonl"
    with pytest.raises(RuntimeError):
        export("--output", str(path))
    assert not path.exists()
