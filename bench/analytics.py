"""Ledgerline analytics benchmark: rollup builds and every analytics endpoint at 10,000,000 records.

    make bench-analytics                                # 10,000,000 records, 50 outlets, 2,000 agents
    make bench-analytics BENCH_ARGS="--records 1000000 --reuse"
    make bench-analytics BENCH_ARGS="--reuse --rebuild"         # the full build again on the loaded records

It loads a scratch database (kept for `--reuse`: loading 10M records takes minutes) with
usage records over 90 days and one interaction per 12 records, straight in SQL: this measures
reads, and the ingest path has its own benchmark (bench/run.py). The outlets take the zones of
`--zones` in turn (by default UTC and four zones with DST changes, half and quarter hours), and
the one-outlet questions ask as an outlet of `--outlet-zone`. Then, on the same machine:

1. a full rollup build of every (outlet, hour), and the rollup of 1,000,000 freshly ingested
   records (the last 24 hours of every outlet), with each rollup's compression;
2. each endpoint over real HTTP (gunicorn, 2 workers, the answer cache off): p50/p95 of a
   30-day query for one outlet (an outlet key) and of a 90-day query over every outlet (staff);
3. the same questions answered from the raw table alone (the selectors with no rollup), in
   process, and the ratio to the rollup answer.
Results are printed and written to bench/out/analytics.json.
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.asking import asking_headers, asking_outlet, http_times, p95, question_dates, warm_up  # noqa: E402
from bench.records import LOAD_USAGE, create_kinds  # noqa: E402
from bench.run import PG, log, manage, start_gunicorn  # noqa: E402

# Outlets take these in turn: whole hours with and without DST, half (Kolkata), 45 minutes (Kathmandu),
# and Lord Howe's 30-minute DST shift.
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu")
FRESH_BATCH = "00000000-0000-0000-0000-000000000002"

LOAD_INTERACTIONS = """
INSERT INTO usage_interaction (
    outlet_id, agent_id, interaction_id, channel, status, started_at, ended_at, duration_seconds, sentiment,
    end_user_id, message_count, metadata, created_at, updated_at)
SELECT a.outlet_id, a.id, 'call-' || c, 'voice',
       (ARRAY['completed', 'completed', 'completed', 'completed', 'failed', 'in_progress'])[1 + (hashint4(c) & 65535) %% 6],
       s.started, s.started + make_interval(secs => d.seconds), d.seconds,
       (ARRAY['positive', 'neutral', 'negative', 'unknown'])[1 + (hashint4(c # 7) & 3)],
       'user-' || (c %% 50000), 2 + c %% 20, '{}'::jsonb, now(), now()
FROM generate_series(%(first)s::int, %(last)s::int) AS c
JOIN bench_agent AS a ON a.n = (c::bigint * 7919) %% %(agents)s
CROSS JOIN LATERAL (SELECT (ARRAY[12, 25, 45, 90, 150, 240, 420, 900])[1 + (hashint4(c # 99) & 7)]::numeric AS seconds) AS d
CROSS JOIN LATERAL (SELECT %(end)s - make_interval(secs => (c::bigint * 104729) %% %(span)s) AS started) AS s
"""


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def load(url: str, *, records: int, outlets: int, agents_per_outlet: int, days: int, zones: list[str]) -> None:
    """Outlets (in `zones` in turn) and agents through the models, which open their accounts; usage and interactions in SQL."""
    from credits.models import Agent, Outlet

    outlet_objects = [  # each opens its pool
        Outlet.objects.create(name=f"Bench outlet {n}", timezone=zones[n % len(zones)]) for n in range(outlets)
    ]
    agents = []
    for index in range(outlets * agents_per_outlet):
        agent = Agent(outlet=outlet_objects[index % outlets], name=f"Agent {index}", external_id=f"agent-{index}")
        agent.save()
        agents.append(agent)
    with connect(url) as conn:
        conn.execute("CREATE TABLE bench_agent (n int PRIMARY KEY, id uuid, outlet_id uuid)")
        with conn.cursor().copy("COPY bench_agent FROM STDIN") as copy:
            for n, agent in enumerate(agents):
                copy.write_row((n, agent.pk, agent.outlet_id))
        create_kinds(conn)
        end = conn.execute("SELECT date_trunc('minute', now()) - interval '1 minute'").fetchone()[0]
        parameters = {"agents": len(agents), "span": days * 86400, "end": end, "batch": "00000000-0000-0000-0000-000000000001"}
        step = 1_000_000
        for first in range(0, records, step):
            last = min(records, first + step) - 1
            conn.execute(LOAD_USAGE, {**parameters, "first": first, "last": last})
            log(f"  {last + 1:,} usage records")
        conn.execute(LOAD_INTERACTIONS, {**parameters, "first": 0, "last": (records - 1) // 12})
        log(f"  {(records - 1) // 12 + 1:,} interactions")
        conn.execute("DROP TABLE bench_agent")
        conn.execute("DROP TABLE bench_kind")
        conn.execute("VACUUM ANALYZE")


def mark_dirty(url: str, hours_sql: str) -> None:
    """Marks each (outlet, hour) that `hours_sql` yields dirty, as ingestion marks them (`buckets_mark_dirty`)."""
    from analytics.services import buckets_mark_dirty

    with connect(url) as conn:
        rows = conn.execute(
            f"SELECT outlet_id, array_agg(DISTINCT hour) FROM ({hours_sql}) AS hours GROUP BY outlet_id"
        ).fetchall()
    for outlet_id, hours in rows:
        buckets_mark_dirty(outlet_id=outlet_id, hours=hours)


def mark_everything_dirty(url: str) -> None:
    mark_dirty(
        url,
        "SELECT outlet_id, date_trunc('hour', occurred_at) AS hour FROM usage_usagerecord "
        "UNION SELECT outlet_id, date_trunc('hour', started_at) FROM usage_interaction",
    )


def forget_rollups(url: str) -> None:
    """No rollup, no dirty mark and no zone built in, so the next full build starts as on the first load (earlier fresh
    batches stay)."""
    from analytics.facts import FACTS
    from analytics.models import RollupZone

    tables = [rollup.model._meta.db_table for fact in FACTS for rollup in fact.rollups] + [RollupZone._meta.db_table]
    with connect(url) as conn:
        conn.execute(f"TRUNCATE analytics_dirtybucket, {', '.join(tables)}")
        conn.execute("VACUUM ANALYZE")


def timed_build() -> float:
    from analytics.services import rollup_dirty_buckets

    started = time.perf_counter()
    rollup_dirty_buckets()
    return time.perf_counter() - started


def settle(url: str) -> None:
    """VACUUM ANALYZE after a build, as autovacuum would: the planner needs the rollups' statistics.

    Not part of any timing; it matters where the server runs with autovacuum off, as this machine's does.
    """
    with connect(url) as conn:
        conn.execute("VACUUM ANALYZE")


def fresh_ingest(url: str, count: int) -> None:
    """`count` new records over the last 24 hours of every outlet, marked dirty as ingestion marks them."""
    with connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_agent AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, outlet_id "
            "FROM credits_agent"
        )
        create_kinds(conn, temporary=True)
        agents = conn.execute("SELECT count(*) FROM bench_agent").fetchone()[0]
        first = conn.execute("SELECT count(*) FROM usage_usagerecord").fetchone()[0] * 2  # new event ids
        end = conn.execute("SELECT now()").fetchone()[0]
        conn.execute(
            LOAD_USAGE,
            {"agents": agents, "span": 86400, "end": end, "batch": FRESH_BATCH, "first": first, "last": first + count - 1},
        )
    mark_dirty(
        url,
        "SELECT outlet_id, date_trunc('hour', occurred_at) AS hour FROM usage_usagerecord "
        f"WHERE ingest_batch_id = '{FRESH_BATCH}'",
    )


def compression() -> dict:
    from analytics.facts import FACTS

    result = {}
    for fact in FACTS:
        raw = fact.raw.objects.count()
        for rollup in fact.rollups:
            rows = rollup.model.objects.count()
            result[rollup.model.__name__] = {"raw_rows": raw, "rollup_rows": rows, "ratio": raw / rows if rows else None}
    return result


def questions(outlet_id: str) -> list[tuple[str, str, str]]:
    """(name, path for one outlet over 30 days, path for every outlet over 90 days)."""
    one, every = "start_date={start30}&end_date={end}", "start_date={start90}&end_date={end}"
    paths = [
        ("series", "/api/v1/usage/series/?days=30", "/api/v1/usage/series/?days=90"),
        ("snapshot", "/api/v1/usage/snapshot/", f"/api/v1/usage/snapshot/?outlet_id={outlet_id}"),
        ("summary by agent", f"/api/v1/usage/summary/?group_by=AGENT&{one}", f"/api/v1/usage/summary/?group_by=AGENT&{every}"),
        ("summary by outlet", f"/api/v1/usage/summary/?group_by=OUTLET&{one}", f"/api/v1/usage/summary/?group_by=OUTLET&{every}"),
        ("models", f"/api/v1/analytics/models/?{one}", f"/api/v1/analytics/models/?{every}"),
        ("spend", f"/api/v1/analytics/spend/?{one}", f"/api/v1/analytics/spend/?{every}"),
    ]
    for breakdown in ("model", "voice", "product", "api_key", "agent", "type"):
        paths.append((
            f"usage by {breakdown}",
            f"/api/v1/analytics/usage/?metric=credits&breakdown={breakdown}&interval=day&{one}",
            f"/api/v1/analytics/usage/?metric=credits&breakdown={breakdown}&interval=day&{every}",
        ))
    paths.append((
        "usage by type, hourly",
        f"/api/v1/analytics/usage/?metric=units&breakdown=type&interval=hour&{one}",
        "/api/v1/analytics/usage/?metric=units&breakdown=type&interval=hour&start_date={start30}&end_date={end}",
    ))
    paths.append((
        "usage by user",
        f"/api/v1/analytics/usage/?metric=credits&breakdown=user&interval=month&{one}",
        f"/api/v1/analytics/usage/?metric=credits&breakdown=user&interval=month&{every}",
    ))
    paths.append(("credit history", f"/api/v1/credits/history/?interval=day&{one}", f"/api/v1/credits/history/?interval=week&{every}"))
    return paths






def selector_calls(outlet, outlet_id, date_range, dates: dict, staff: bool) -> dict:
    """The selector behind each endpoint, by the endpoint's name in `questions`, asked as the endpoint asks it."""
    from analytics.questions.breakdown import Breakdown, usage_breakdown
    from analytics.questions.credit_history import credit_history
    from analytics.questions.series import usage_series
    from analytics.questions.snapshot import usage_snapshot
    from analytics.questions.spend import spend_overview
    from analytics.questions.summary import model_usage, usage_summary
    from config.api.dates import DateRange

    calls = {
        "series": lambda: usage_series(outlet_id=outlet_id, days=date_range.days),
        "snapshot": lambda: usage_snapshot(outlet=outlet),
        "credit history": lambda: credit_history(
            outlet_id=outlet_id, date_range=date_range, interval="week" if staff else "day"
        ),
        "usage by type, hourly": lambda: usage_breakdown(
            outlet_id=outlet.pk, date_range=DateRange(dates["start30"], dates["end"], outlet.zone),
            question=Breakdown("units", "type", "hour", {}, 10),
        ),
        "summary by agent": lambda: usage_summary(outlet_id=outlet_id, date_range=date_range, group_by="AGENT"),
        "summary by outlet": lambda: usage_summary(outlet_id=outlet_id, date_range=date_range, group_by="OUTLET"),
        "models": lambda: model_usage(outlet_id=outlet_id, date_range=date_range),
        "spend": lambda: spend_overview(outlet_id=outlet_id, date_range=date_range),
    }
    for breakdown in ("model", "voice", "product", "api_key", "agent", "type"):
        calls[f"usage by {breakdown}"] = lambda breakdown=breakdown: usage_breakdown(
            outlet_id=outlet_id, date_range=date_range, question=Breakdown("credits", breakdown, "day", {}, 10)
        )
    calls["usage by user"] = lambda: usage_breakdown(
        outlet_id=outlet_id, date_range=date_range, question=Breakdown("credits", "user", "month", {}, 10)
    )
    return calls


def raw_ratio(name: str, outlet, staff: bool, dates: dict) -> dict:
    """The selector behind an endpoint, in process: answered from rollups, then from the raw table alone.

    Best of 5 for one outlet, where both sides take milliseconds and the machine's noise moves either
    by half; best of 3 over every outlet, where the raw side takes seconds.
    """
    repeat = 3 if staff else 5
    from analytics import facts
    from config.api.dates import DateRange

    outlet_id = None if staff else outlet.pk
    # As the endpoints read them: an outlet's dates in its zone, every outlet's in UTC.
    date_range = DateRange(dates["start90" if staff else "start30"], dates["end"], UTC if staff else outlet.zone)
    calls = selector_calls(outlet, outlet_id, date_range, dates, staff)
    if name not in calls:
        return {}

    def best_of(call) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return min(times)

    with_rollups = best_of(calls[name])
    originals = [(fact, fact.rollups) for fact in facts.FACTS]
    try:
        for fact in facts.FACTS:
            object.__setattr__(fact, "rollups", ())  # no rollup can answer: the raw table does
        raw = best_of(calls[name])
    finally:
        for fact, rollups in originals:
            object.__setattr__(fact, "rollups", rollups)
    return {"rollup_ms": with_rollups, "raw_ms": raw, "raw_over_rollup": raw / with_rollups}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--agents", type=int, default=2000, help="agents in all (spread evenly over the outlets)")
    parser.add_argument(
        "--fresh", type=int, default=1_000_000, help="freshly ingested records to roll up (0: none, nothing built)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="requests per endpoint and scope")
    parser.add_argument("--database", default="ledgerline_bench_analytics")
    parser.add_argument("--reuse", action="store_true", help="reuse a database loaded by an earlier run")
    parser.add_argument(
        "--rebuild", action="store_true",
        help="with --reuse: drop every rollup and time the full build again (of the records loaded and fresh so far)",
    )
    parser.add_argument(
        "--zones", type=lambda text: text.split(","), default=list(ZONES),
        help="comma-separated IANA zones the outlets take in turn when loaded (default: %(default)s)",
    )
    parser.add_argument(
        "--outlet-zone", default="Asia/Kolkata",
        help="the one-outlet questions ask as the first outlet (by name) in this zone, else the first outlet",
    )
    parser.add_argument(
        "--skip-raw", action="store_true",
        help="no raw/rollup ratios: at 10M records on a loaded machine they are most of the endpoints' time",
    )
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--peers", action="store_true",
        help="instead of every endpoint: seven questions asked of Ledgerline and of DuckDB (and chDB), see bench/peers.py",
    )
    return parser.parse_args()


def prepare(database: str, reuse: bool) -> tuple[str, dict, bool]:
    """The scratch database (kept with --reuse), migrated, and Django set up on it: its URL, env, and whether it was kept."""
    url = f"{PG}/{database}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not (reuse and exists):
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-0123456789abcdef"),
        "API_THROTTLE_RATE": "1000000/minute", "ANALYTICS_CACHE_SECONDS": "0",
    }
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    manage(env, "migrate", "--noinput", "-v", "0")

    import django

    django.setup()
    return url, env, bool(reuse and exists)


def build_rollups(args: argparse.Namespace, url: str, kept: bool) -> dict:
    """Loads and builds everything unless a kept database has it, then rolls up the fresh records."""
    from credits.models import Outlet

    results = {}
    loaded = kept and Outlet.objects.exists()
    if not loaded:
        log(f"loading {args.records:,} records over 90 days, {args.outlets} outlets in {len(args.zones)} zones, "
            f"{args.agents:,} agents")
        started = time.perf_counter()
        load(url, records=args.records, outlets=args.outlets, agents_per_outlet=args.agents // args.outlets, days=90,
             zones=args.zones)
        log(f"  loaded in {time.perf_counter() - started:.0f} s")
    elif args.rebuild:
        forget_rollups(url)
    if not loaded or args.rebuild:
        mark_everything_dirty(url)
        log("full rollup build")
        results["full_build_s"] = timed_build()
        log(f"  {results['full_build_s']:.1f} s")
        settle(url)
        results["compression"] = compression()
    if args.fresh:
        log(f"rolling up {args.fresh:,} freshly ingested records (the last 24 hours)")
        fresh_ingest(url, args.fresh)
        results["fresh_records"] = args.fresh
        results["fresh_build_s"] = timed_build()
        log(f"  {results['fresh_build_s']:.1f} s")
        settle(url)
    if "compression" not in results and not args.peers:
        results["compression"] = compression()
    return results



def measure_endpoints(args: argparse.Namespace, env: dict) -> dict:
    """p50/p95 of every question over HTTP, for one outlet's key and for staff, with each one's raw/rollup ratio."""
    outlet = asking_outlet(args.outlet_zone)
    outlet_auth, staff_auth = asking_headers(outlet)
    dates = question_dates()
    server = start_gunicorn(env, args.port)
    endpoints = {}
    try:
        warm_up(args.port, outlet_auth, "/api/v1/usage/series/?days=1")
        warm_up(args.port, staff_auth, "/api/v1/usage/series/?days=1")
        for name, outlet_path, staff_path in questions(str(outlet.pk)):
            outlet_samples = http_times(args.port, outlet_auth, outlet_path.format(**dates), args.repeat)
            staff_samples = http_times(args.port, staff_auth, staff_path.format(**dates), args.repeat)
            endpoints[name] = {
                "outlet_30d_p50_ms": statistics.median(outlet_samples), "outlet_30d_p95_ms": p95(outlet_samples),
                "all_90d_p50_ms": statistics.median(staff_samples), "all_90d_p95_ms": p95(staff_samples),
                "outlet_raw": {} if args.skip_raw else raw_ratio(name, outlet, False, dates),
                "all_raw": {} if args.skip_raw else raw_ratio(name, outlet, True, dates),
            }
            log(f"  {name}: {endpoints[name]['outlet_30d_p95_ms']:.0f} ms / {endpoints[name]['all_90d_p95_ms']:.0f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return endpoints


def report(results: dict, fresh: int) -> None:
    print()
    print(f"one outlet: {results['one_outlet']['name']} ({results['one_outlet']['zone']})")
    print(f"full rollup build: {results.get('full_build_s', float('nan')):.1f} s; "
          f"{fresh:,} fresh records rolled up in {results.get('fresh_build_s', float('nan')):.1f} s")
    for name, figures in results["compression"].items():
        print(f"  {name:28} {figures['rollup_rows']:>12,} rows  {figures['ratio'] or 0:6.1f}x fewer than raw")
    print(f"{'endpoint':28} {'30d outlet p95':>15} {'90d all p95':>12} {'raw/rollup 30d':>15} {'raw/rollup 90d':>15}")
    for name, figures in results["endpoints"].items():
        outlet_ratio = figures["outlet_raw"].get("raw_over_rollup")
        all_ratio = figures["all_raw"].get("raw_over_rollup")
        print(
            f"{name:28} {figures['outlet_30d_p95_ms']:>12.1f} ms {figures['all_90d_p95_ms']:>9.1f} ms "
            f"{(f'{outlet_ratio:.0f}x' if outlet_ratio else '-'):>15} {(f'{all_ratio:.0f}x' if all_ratio else '-'):>15}"
        )


def main() -> None:
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    url, env, kept = prepare(args.database, args.reuse)
    results: dict = {"records": args.records, "outlets": args.outlets, "agents": args.agents, "cpus": os.cpu_count()}
    results |= build_rollups(args, url, kept)
    outlet = asking_outlet(args.outlet_zone)
    if args.peers:
        from bench.peers import measure_peers  # reads Django's modules: after setup

        measure_peers(args, env, outlet, url, OUT)
        return
    results["one_outlet"] = {"name": outlet.name, "zone": outlet.timezone}
    results["endpoints"] = measure_endpoints(args, env)
    (OUT / "analytics.json").write_text(json.dumps(results, indent=2, default=str))
    report(results, args.fresh)


if __name__ == "__main__":
    main()
