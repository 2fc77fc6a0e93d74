"""Ledgerline benchmark: ingest and read paths against their PostgreSQL ceilings, in one run.

    make bench                         # 1,000,000 records
    make bench BENCH_ARGS="--records 200000 --http-records 50000"
    make bench BENCH_ARGS="--exports-only --records 10000000"   # export_usage alone, records loaded in SQL
    make bench BENCH_ARGS="--pricing-only --http-records 20000"  # HTTP ingest, priced by the book vs carried
    make bench BENCH_ARGS="--check-only"                          # GET credits/check/ alone

It creates (and afterwards drops) a scratch database, then measures on the same machine:
1. the raw ceilings, straight from psycopg into a copy of the usage table with its indexes:
   COPY, and multi-row INSERT ... ON CONFLICT DO NOTHING in batches of 1000;
2. `import_usage` on a JSONL file of the same records: records/s and peak memory;
   then `export_usage` of them (CSV of a fifth and of all, JSONL of all): records/s and peak memory;
3. `POST /api/v1/usage/records/` over real HTTP to gunicorn (2 workers), 4 clients, 1000 per batch: records
   that carry their credits and cost, then the same records without them, priced from the price book (the
   issue asks priced ingest to stay within 15% of carried);
4. a records page at the top of the list and at a cursor 500,000 records deep;
5. `GET /api/v1/credits/check/` from 4 clients: p50 and p95 (skipped where the endpoint is absent).
With --exports-only it loads the records in PostgreSQL itself (generate_series) and measures step 2's exports
alone: 10,000,000 records through import_usage would take most of an hour. With --pricing-only it measures
step 3 alone, with --check-only step 5 alone.
Results are printed and written to bench/out/results.json.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.check import measure_credits_check, report_check  # noqa: E402
from bench.records import LOAD_USAGE, TYPES, create_kinds, generate  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
COLUMNS = (
    "outlet_id", "agent_id", "event_id", "interaction_id", "type", "model", "provider", "product", "voice",
    "api_key_label", "end_user_id", "count", "unit", "credits", "cost_usd", "latency_ms", "conversation_id",
    "message_id", "task_id", "contact_id", "blueprint_id", "bot_id", "dataset_id", "skillset_id", "ability_id",
    "meta", "ingest_batch_id", "occurred_at", "created_at",
)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def recreate_database(name: str) -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True, text=True, cwd=ROOT)


def copy_line(record: dict, outlet_id: str, batch_id: str, now: str) -> str:
    values = {
        **record, "outlet_id": outlet_id, "ingest_batch_id": batch_id, "created_at": now,
        "meta": json.dumps(record["meta"], separators=(",", ":")),
    }
    cells = []
    for column in COLUMNS:
        value = values.get(column, "")  # absent text fields are stored as "", as the ingest service does
        cells.append("\\N" if value is None else str(value).replace("\\", "\\\\"))
    return "\t".join(cells) + "\n"


def measure_ceilings(url: str, records: list[dict], outlet_id: str) -> dict:
    """COPY and batched INSERT ... ON CONFLICT into a copy of the usage table, indexes included."""
    batch_id, now = str(uuid.uuid4()), datetime.now(UTC).isoformat()
    text = "".join(copy_line(record, outlet_id, batch_id, now) for record in records).encode()
    columns = ", ".join(COLUMNS)
    results = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ceiling")
        conn.execute("CREATE TABLE bench_ceiling (LIKE usage_usagerecord INCLUDING ALL)")
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(f"COPY bench_ceiling ({columns}) FROM STDIN") as copy:
            for start in range(0, len(text), 1 << 20):
                copy.write(text[start : start + (1 << 20)])
        results["copy_rows_per_s"] = len(records) / (time.perf_counter() - started)
        conn.execute("TRUNCATE bench_ceiling")

        # Native $n placeholders: psycopg re-parses a long %s query on every call, which is not PostgreSQL's cost.
        width = len(COLUMNS)
        values = ", ".join("(" + ", ".join(f"${row * width + k + 1}" for k in range(width)) + ")" for row in range(1000))
        statement = (
            f"INSERT INTO bench_ceiling ({columns}) VALUES {values} ON CONFLICT (outlet_id, event_id) DO NOTHING"
        )
        elapsed = 0.0
        with psycopg.RawCursor(conn) as cursor:
            for start in range(0, len(records) - len(records) % 1000, 1000):
                params = [
                    None if value == "\\N" else value
                    for record in records[start : start + 1000]
                    for value in copy_line(record, outlet_id, batch_id, now).rstrip("\n").split("\t")
                ]
                began = time.perf_counter()
                cursor.execute(statement, params)
                elapsed += time.perf_counter() - began
        results["insert_rows_per_s"] = (len(records) - len(records) % 1000) / elapsed
        conn.execute("DROP TABLE bench_ceiling")
    return results


# The probe's own peak, in KiB: VmHWM, not ru_maxrss, which Linux carries over exec from the (large) parent.
PEAK_RSS_KIB = "next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM'))"


def run_probe(env: dict, probe: str) -> list[str]:
    """Runs `probe` in a fresh Python, so that its peak memory is its own; the fields of its BENCH line."""
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=env, check=True, text=True, capture_output=True, cwd=ROOT
    )
    return next(line for line in completed.stdout.splitlines() if line.startswith("BENCH")).split()[1:]


def measure_import(env: dict, path: Path, outlet_id: str, records: int) -> dict:
    """import_usage in its own process, so its peak memory is its own."""
    seconds, max_rss_kib = run_probe(
        env,
        "import time, django; django.setup(); "
        "from django.core.management import call_command; started = time.perf_counter(); "
        f"call_command('import_usage', {str(path)!r}, outlet={outlet_id!r}, no_progress=True); "
        f"print('BENCH', time.perf_counter() - started, {PEAK_RSS_KIB})",
    )
    return {"import_records_per_s": records / float(seconds), "import_peak_rss_mb": int(max_rss_kib) / 1024}


def measure_export(env: dict, outlet_id: str, format: str, start_date: str) -> dict:
    """export_usage of the outlet's records from `start_date` to /dev/null, in its own process: records/s, peak memory."""
    seconds, max_rss_kib, records = run_probe(
        env,
        "import io, re, time, django; django.setup(); "
        "from django.core.management import call_command; out = io.StringIO(); started = time.perf_counter(); "
        f"call_command('export_usage', outlet={outlet_id!r}, start_date={start_date!r}, format={format!r}, "
        "output='/dev/null', no_progress=True, stdout=out); "
        "elapsed = time.perf_counter() - started; "
        "records = re.match(r'Exported ([0-9,]+) records', out.getvalue())[1].replace(',', ''); "
        f"print('BENCH', elapsed, {PEAK_RSS_KIB}, records)",
    )
    return {
        "records": int(records), "seconds": float(seconds), "records_per_s": int(records) / float(seconds),
        "peak_rss_mb": int(max_rss_kib) / 1024,
    }


def measure_exports(env: dict, outlet_id: str) -> dict:
    """CSV and JSONL of every record, and CSV of the last 18 of the 90 days (a fifth): the peak must not grow."""
    everything, fifth = "2000-01-01", (datetime.now(UTC) - timedelta(days=17)).date().isoformat()
    results = {}
    for name, format, start_date in (("csv_fifth", "csv", fifth), ("csv", "csv", everything), ("jsonl", "jsonl", everything)):
        log(f"export_usage --format {format} --start-date {start_date}")
        results[f"export_{name}"] = measure_export(env, outlet_id, format, start_date)
    return results


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--access-logfile", "/dev/null"],
        # Plain http on loopback: production's redirect to https is off here.
        env={"SERVER_WORKERS": "2", "SECURE_SSL_REDIRECT": "false", **env}, cwd=ROOT,
    )
    for _ in range(100):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not start")


@contextmanager
def serving(env: dict, port: int):
    """gunicorn on `port` while the block runs."""
    server = start_gunicorn(env, port)
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_http_ingest(port: int, key: str, bodies: list[bytes], clients: int = 4) -> dict:
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            connection.request("POST", "/api/v1/usage/records/", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"{response.status} {payload[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} ingest requests failed, first: {failures[0]}")
    return {"http_records_per_s": len(bodies) * 1000 / elapsed}


def timed_get(port: int, key: str, path: str, repeat: int) -> float:
    """Median milliseconds of `repeat` GETs after one warm-up."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        if attempt:
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure_pages(port: int, key: str, outlet_id: str, depth: int) -> dict:
    from django.db import connection

    from config.api.pagination import KeysetPagination

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT occurred_at, id FROM usage_usagerecord WHERE outlet_id = %s "
            "ORDER BY occurred_at DESC, id DESC OFFSET %s LIMIT 1",
            [outlet_id, depth],
        )
        occurred_at, record_id = cursor.fetchone()
    cursor_token = KeysetPagination.encode_cursor([occurred_at, record_id], fields=("occurred_at", "id"), order="desc")
    span = "start_date=2000-01-01&take=50"
    first = timed_get(port, key, f"/api/v1/usage/records/?{span}", repeat=20)
    deep = timed_get(port, key, f"/api/v1/usage/records/?{span}&cursor={cursor_token}", repeat=20)
    return {"page_first_ms": first, "page_deep_ms": deep, "page_depth": depth}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records for the ceilings and import_usage")
    parser.add_argument("--http-records", type=int, default=200_000, help="records sent over HTTP (multiple of 1000)")
    parser.add_argument("--database", default="ledgerline_bench")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--exports-only", action="store_true", help="load --records in SQL and measure export_usage alone"
    )
    parser.add_argument("--pricing-only", action="store_true", help="HTTP ingest alone: carried vs priced records")
    parser.add_argument("--check-only", action="store_true", help="GET credits/check/ alone: p50 and p95")
    return parser.parse_args()


def prepare(database: str) -> tuple[str, dict, str, list[str], str]:
    """A migrated scratch database with one outlet, 40 agents and an ingest key: its URL, env, outlet, agents, key."""
    url = recreate_database(database)
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdef"),
        "API_THROTTLE_RATE": "1000000/minute",
    }
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    log(f"migrating {database}")
    manage(env, "migrate", "--noinput", "-v", "0")

    import django

    django.setup()
    from credits.models import Agent, Outlet
    from credits.prices.models import Price
    from credits.services import api_key_create

    outlet = Outlet.objects.create(name="Bench outlet")
    # Platform defaults at the generator's rates, so that priced records cost what carried ones say.
    for record_type, unit, _, _, credit_rate, cost_rate, _ in TYPES:
        Price.objects.create(
            type=record_type, unit=unit, credits_per_unit=Decimal(str(credit_rate)),
            cost_usd_per_unit=Decimal(f"{cost_rate:.8f}"), effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
    agent_ids = [str(Agent.objects.create(outlet=outlet, name=f"Agent {n}", external_id=f"agent-{n}").pk) for n in range(40)]
    _, key = api_key_create(outlet=outlet, name="bench", scopes=["read", "ingest"])
    return url, env, str(outlet.pk), agent_ids, key


def live_batches(count: int, agent_ids: list[str], *, priced: bool = False) -> list[bytes]:
    """Bodies of 1000 records each: events of the last two hours, as a platform sends them; `priced`: the same
    records without credits and cost, for the price book to price."""
    bodies, batch = [], []
    for record in generate(count=count, agent_ids=agent_ids, hours=2, seed=7, prefix="priced" if priced else "http"):
        if priced:
            del record["credits"], record["cost_usd"]
        batch.append(record)
        if len(batch) == 1000:
            bodies.append(json.dumps({"records": batch}, separators=(",", ":")).encode())
            batch = []
    return bodies


def measure_files(url: str, env: dict, outlet_id: str, agent_ids: list[str], count: int) -> dict:
    """The COPY and INSERT ceilings, then import_usage over the same records written as JSON lines."""
    log(f"generating {count:,} records")
    records = list(generate(count=count, agent_ids=agent_ids))
    path = OUT / "records.jsonl"
    with path.open("w") as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    log("ceilings: COPY and batched INSERT ... ON CONFLICT into a copy of the usage table")
    results = measure_ceilings(url, records, outlet_id)
    del records
    log("import_usage")
    results |= measure_import(env, path, outlet_id, count)
    path.unlink()
    return results


def load_in_sql(url: str, outlet_id: str, agent_ids: list[str], count: int) -> dict:
    """`count` records over 90 days made by PostgreSQL (generate_series), a million per statement."""
    log(f"loading {count:,} records in SQL")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE bench_agent (n int PRIMARY KEY, id uuid, outlet_id uuid)")
        with conn.cursor().copy("COPY bench_agent FROM STDIN") as copy:
            for n, agent_id in enumerate(agent_ids):
                copy.write_row((n, agent_id, outlet_id))
        create_kinds(conn, temporary=True)
        end = conn.execute("SELECT date_trunc('minute', now()) - interval '1 minute'").fetchone()[0]
        parameters = {"agents": len(agent_ids), "span": 90 * 86400, "end": end, "batch": str(uuid.uuid4())}
        # Indexes built once over the loaded rows, not row by row: the constraints' own indexes stay.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_usagerecord' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for first in range(0, count, 1_000_000):
            last = min(count, first + 1_000_000) - 1
            conn.execute(LOAD_USAGE, {**parameters, "first": first, "last": last})
            log(f"  {last + 1:,} records")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE usage_usagerecord")
    return {"load_seconds": time.perf_counter() - started}


def measure_server(
    env: dict, port: int, key: str, outlet_id: str, agent_ids: list[str], bodies: list[bytes], priced: list[bytes],
    records: int,
) -> dict:
    with serving(env, port):
        results = measure_carried_and_priced(port, key, bodies, priced)
        depth = min(500_000, records // 2)
        log(f"records page: first, and at a cursor {depth:,} records deep")
        results |= measure_pages(port, key, outlet_id, depth)
        log("credits/check: 4 clients")
        return results | measure_credits_check(port, key, agent_ids)


def measure_carried_and_priced(port: int, key: str, carried: list[bytes], priced: list[bytes]) -> dict:
    """Both kinds of batch in alternating halves (carried, priced, carried, priced), so that neither has the
    cold server to itself: each figure is its records over its two halves' time."""
    log(f"HTTP ingest: {len(carried)} batches of 1000 carrying credits and {len(priced)} priced by the book, "
        "alternating halves, 4 clients, gunicorn with 2 workers")
    seconds = {"carried": 0.0, "priced": 0.0}
    for name, bodies in (("carried", carried), ("priced", priced)) * 2:
        half = bodies[: len(bodies) // 2] if seconds[name] == 0 else bodies[len(bodies) // 2 :]
        seconds[name] += len(half) * 1000 / measure_http_ingest(port, key, half)["http_records_per_s"]
    return {
        "http_records_per_s": len(carried) * 1000 / seconds["carried"],
        "http_priced_records_per_s": len(priced) * 1000 / seconds["priced"],
    }


def measure_pricing(env: dict, port: int, key: str, carried: list[bytes], priced: list[bytes]) -> dict:
    """HTTP ingest of records that carry credits and cost, then of the same records priced by the book."""
    with serving(env, port):
        return measure_carried_and_priced(port, key, carried, priced)


def report_pricing(results: dict) -> None:
    results["priced_vs_carried"] = results["http_priced_records_per_s"] / results["http_records_per_s"]
    print(f"HTTP ingest, carried       {results['http_records_per_s']:>12,.0f} records/s")
    print(f"HTTP ingest, priced        {results['http_priced_records_per_s']:>12,.0f} records/s  "
          f"{results['priced_vs_carried']:.0%} of carried (goal: 85% or more)")


def report_ingest(results: dict) -> None:
    results["import_vs_copy"] = results["import_records_per_s"] / results["copy_rows_per_s"]
    results["http_vs_insert"] = results["http_records_per_s"] / results["insert_rows_per_s"]
    results["deep_vs_first_page"] = results["page_deep_ms"] / results["page_first_ms"]
    print(f"COPY ceiling               {results['copy_rows_per_s']:>12,.0f} rows/s")
    print(f"INSERT ceiling (1000/stmt) {results['insert_rows_per_s']:>12,.0f} rows/s")
    print(f"import_usage               {results['import_records_per_s']:>12,.0f} records/s  "
          f"{results['import_vs_copy']:.0%} of COPY, peak {results['import_peak_rss_mb']:.0f} MB")
    print(f"HTTP ingest                {results['http_records_per_s']:>12,.0f} records/s  "
          f"{results['http_vs_insert']:.0%} of batched INSERT")
    print(f"records page, first        {results['page_first_ms']:>12.1f} ms")
    print(f"records page, {results['page_depth']:,} deep {results['page_deep_ms']:>8.1f} ms  "
          f"{results['deep_vs_first_page']:.2f}x the first page")


def report(results: dict) -> None:
    print()
    if "copy_rows_per_s" in results:
        report_ingest(results)
    if "http_priced_records_per_s" in results:
        report_pricing(results)
    report_check(results)
    if "export_csv" not in results:
        (OUT / "results.json").write_text(json.dumps(results, indent=2))
        return
    for name, label in (("csv_fifth", "export_usage csv, a fifth"), ("csv", "export_usage csv"), ("jsonl", "export_usage jsonl")):
        export = results[f"export_{name}"]
        print(f"{label:<27}{export['records_per_s']:>12,.0f} records/s  "
              f"{export['records']:,} records in {export['seconds']:,.0f} s, peak {export['peak_rss_mb']:.0f} MB")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    url, env, outlet_id, agent_ids, key = prepare(args.database)
    results: dict = {"records": args.records, "http_records": args.http_records, "cpus": os.cpu_count()}
    if args.check_only:
        with serving(env, args.port):
            results |= measure_credits_check(args.port, key, agent_ids)
    elif args.pricing_only:
        carried = live_batches(args.http_records, agent_ids)
        priced = live_batches(args.http_records, agent_ids, priced=True)
        results |= measure_pricing(env, args.port, key, carried, priced)
    elif args.exports_only:
        results |= load_in_sql(url, outlet_id, agent_ids, args.records)
        results |= measure_exports(env, outlet_id)
    else:
        results |= measure_files(url, env, outlet_id, agent_ids, args.records)
        results |= measure_exports(env, outlet_id)
        bodies = live_batches(args.http_records, agent_ids)
        priced = live_batches(args.http_records, agent_ids, priced=True)
        results |= measure_server(env, args.port, key, outlet_id, agent_ids, bodies, priced, args.records)
    report(results)
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(args.database)


if __name__ == "__main__":
    main()
